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

__all__ = ["A_BOUNDS", "A_GRID", "K_BOUNDS", "K_GRID", "RunTerms", "eval_index", "run_terms"]

A_BOUNDS = (-1.0, 1.0)
A_GRID = np.round(np.arange(-1.5, 1.5 + 1e-9, 0.25), 10)
K_BOUNDS = (0.5, 50.0)
K_GRID = np.linspace(np.log(0.35), np.log(70.0), 12)
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
    """Cached X_t, P_t and splines of Y_t for one LR sequence (all steps).

    Gradient-profile families g_t (G_t = G·g_t), one shape number θ each:
      "power": g_t = (t/t_ref)^θ                 (θ = a; spline grid A_GRID)
      "exp":   g_t = exp(−θ·t/(2·T_end))         (θ = κ > 0, so g_t² = e^(−κ t/T_end);
                                                  spline grid over log κ, K_GRID)
    t counts from the start of training (``offset`` = steps before lrs[0], for a bound
    restarted at a burn-in step); T_end = offset + len(lrs).
    """

    def __init__(self, lrs: np.ndarray, t_ref: float, offset: int = 0) -> None:
        self.lrs = lrs
        self.t_ref = float(t_ref)
        self.P = np.cumsum(lrs)
        self._t = np.arange(offset + 1, offset + lrs.size + 1, dtype=np.float64)
        self.T_end = float(offset + lrs.size)
        self._spline: dict[str, CubicSpline] = {}
        self._exact: dict[tuple[str, float], np.ndarray] = {}

    def profile(self, a: float, family: str = "power") -> np.ndarray:
        """g_t of the family at shape θ = a."""
        if family == "power":
            return (self._t / self.t_ref) ** a
        if family == "exp":
            return np.exp(-0.5 * a * self._t / self.T_end)
        raise ValueError(f"unknown gradient-profile family {family!r}")

    def exact_Y(self, a: float, family: str = "power") -> np.ndarray:
        """Y_t at every step from the fast bound (cached per family and θ)."""
        key = (family, float(a))
        if key not in self._exact:
            if len(self._exact) > 8:
                self._exact.pop(next(iter(self._exact)))
            self._exact[key] = bound_terms(self.lrs, grad_scale=self.profile(a, family))[1]
        return self._exact[key]

    def _build_spline(self, family: str) -> CubicSpline:
        if family not in self._spline:
            grid = A_GRID if family == "power" else K_GRID
            ys = np.stack([self.exact_Y(float(v if family == "power" else np.exp(v)),
                                        family) for v in grid])
            self._exact.clear()
            with np.errstate(divide="ignore", invalid="ignore"):
                logy = np.log(ys)
            logy[~np.isfinite(logy)] = 0.0  # η_t = 0 columns: never evaluated (eval_index)
            self._spline[family] = CubicSpline(grid, logy, axis=0)
        return self._spline[family]

    def Y(self, a: float, idx: np.ndarray, exact: bool = False,
          family: str = "power") -> np.ndarray:
        """Y_t at 0-based indices ``idx``: exact (one fast-bound call, cached), or from
        the family's spline (for the shape search; built on first use)."""
        a = float(a)
        grid = A_GRID if family == "power" else K_GRID
        x = a if family == "power" else (np.log(a) if a > 0 else -np.inf)
        if exact or (family == "power" and a == 0.0) or not grid[0] <= x <= grid[-1]:
            return self.exact_Y(a, family)[idx]
        cs = self._build_spline(family)
        i = int(np.clip(np.searchsorted(grid, x) - 1, 0, grid.size - 2))
        dx = x - grid[i]
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
