"""Bound terms per run, cached: the columns the bound-based curve models are linear in.

For a run with LRs η and a gradient profile G_t = G·(t/t_ref)^a, the bound is
Ω_t = D²·X_t + G²·Y_t(a) (``convexlaw.bound_terms``). Fitting searches over a, and each
exact Y(a) is one fast-bound call over the whole run; so a run's Y is computed once on a
grid of a (step 1/4, reaching one step beyond the search range) and interpolated by a
cubic spline in a on log Y. The interpolation error, measured on the published 25M and
124M runs, is at most 3e-3 relative in Y inside the search range; so the spline only
guides the search, and the final coefficients, standard errors and every prediction use
the exact Y at the fitted a.

Steps with η_t = 0 (the bound is +∞ there) are evaluated at the last earlier step with a
positive LR, as DESIGN §1 asks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from scipy.interpolate import CubicSpline

from convexlaw.bound import bound_terms

__all__ = ["A_BOUNDS", "A_GRID", "RunTerms", "eval_index", "run_terms"]

A_BOUNDS = (-1.0, 1.0)
A_GRID = np.round(np.arange(-1.5, 1.5 + 1e-9, 0.25), 10)
_CACHE: OrderedDict[bytes, RunTerms] = OrderedDict()
_CACHE_SIZE = 48


def eval_index(lrs: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """0-based index at which to evaluate the bound for 1-based ``steps``.

    Index t−1, or the last earlier index with a positive LR when η_t = 0.
    """
    pos = np.where(lrs > 0, np.arange(lrs.size), -1)
    last = np.maximum.accumulate(pos)
    idx = last[np.asarray(steps, dtype=np.int64) - 1]
    if np.any(idx < 0):
        bad = np.asarray(steps)[idx < 0][0]
        raise ValueError(f"step {bad} comes before the first positive learning rate: "
                         "the bound is infinite there")
    return idx


class RunTerms:
    """Cached X_t, P_t and the spline of Y_t(a) for one LR sequence (all steps)."""

    def __init__(self, lrs: np.ndarray, t_ref: float, offset: int = 0) -> None:
        self.lrs = lrs
        self.t_ref = float(t_ref)
        self.P = np.cumsum(lrs)
        # offset: steps already taken before lrs[0] (a bound restarted at a burn-in step)
        self._t = np.arange(offset + 1, offset + lrs.size + 1, dtype=np.float64)
        self._spline: CubicSpline | None = None
        self._exact: dict[float, np.ndarray] = {}

    def profile(self, a: float) -> np.ndarray:
        """g_t = (t/t_ref)^a."""
        return (self._t / self.t_ref) ** a

    def exact_Y(self, a: float) -> np.ndarray:
        """Y_t(a) at every step from the fast bound (cached per a)."""
        a = float(a)
        if a not in self._exact:
            if len(self._exact) > 8:
                self._exact.pop(next(iter(self._exact)))
            self._exact[a] = bound_terms(self.lrs, grad_scale=self.profile(a))[1]
        return self._exact[a]

    def _build_spline(self) -> CubicSpline:
        if self._spline is None:
            grid = np.stack([self.exact_Y(a) for a in A_GRID])
            self._exact.clear()
            with np.errstate(divide="ignore", invalid="ignore"):
                logy = np.log(grid)
            logy[~np.isfinite(logy)] = 0.0  # η_t = 0 columns: never evaluated (eval_index)
            self._spline = CubicSpline(A_GRID, logy, axis=0)
        return self._spline

    def Y(self, a: float, idx: np.ndarray, exact: bool = False) -> np.ndarray:
        """Y_t(a) at 0-based indices ``idx``: exact (one fast-bound call, cached), or from
        the spline (for the shape search; built on first use)."""
        a = float(a)
        if exact or a == 0.0 or not A_GRID[0] <= a <= A_GRID[-1]:
            return self.exact_Y(a)[idx]
        cs = self._build_spline()
        i = int(np.clip(np.searchsorted(A_GRID, a) - 1, 0, A_GRID.size - 2))
        dx = a - A_GRID[i]
        c = cs.c[:, i, :][:, idx]
        return np.exp(((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3])

    def X(self, idx: np.ndarray, c: float = 0.0) -> np.ndarray:
        """Distance part ½·P_t^(c−1) (c = 0: the bound's 1/(2P_t))."""
        return 0.5 * self.P[idx] ** (c - 1.0)


def run_terms(lrs: np.ndarray, t_ref: float = 1000.0, offset: int = 0) -> RunTerms:
    """The cached RunTerms of an LR sequence (keyed by its bytes, t_ref and offset)."""
    h = hashlib.blake2b(np.ascontiguousarray(lrs, dtype=np.float64).tobytes(), digest_size=16)
    h.update(np.float64(t_ref).tobytes())
    h.update(np.int64(offset).tobytes())
    key = h.digest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    terms = RunTerms(np.asarray(lrs, dtype=np.float64), t_ref, offset)
    _CACHE[key] = terms
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return terms
