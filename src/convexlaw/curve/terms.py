"""Bound terms per run: the columns the bound-based curve models are linear in.

For a run with LRs η and a gradient profile G_t = G·g_t, the bound is
Ω_t = D²·X_t + G²·Y_t(g) (``convexlaw.bound_terms``) with, for w_k = η_k²·g_k²,

    Y_t = ½(w_t + w_{t−1})/η_t + ½ Σ_{k ≤ t−2} w_k/(P_t − P_k)

A fit evaluates Y at the same observed steps for many profiles (a grid and a search over
the exponent a of g_t = (t/t_ref)^a), so ``ObsTerms`` keeps the kernel
K_ik = 1/(P_{t_i} − P_k) of those steps once (differences of P by reversed running sums,
as ``convexlaw.cauchy.causal_sum_at`` takes them) and every exact Y at the observed steps
is then one matrix product, for all profiles of a grid at once. A kernel larger than
``KERNEL_BUDGET`` entries is not kept: a grid of profiles is then summed over kernel
blocks built on the fly, a single profile by the fast bound at every step.

The search itself reads Y(a) from a cubic spline in a of log Y over ``A_GRID`` (step 1/4,
one step beyond the search range; ``K_GRID`` over log κ for the exponential family): the
interpolation error, measured on the published 25M and 124M runs, is at most 3e-3 relative
inside the search range; so the spline only guides the search, and the final coefficients,
standard errors and every prediction use the exact Y at the fitted exponent.

Steps with η_t = 0 (the bound is +∞ there) are evaluated at the last earlier step with a
positive LR, as DESIGN §1 asks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from scipy.interpolate import CubicSpline

from convexlaw.bound import bound_terms

__all__ = ["A_BOUNDS", "A_GRID", "KERNEL_BUDGET", "K_BOUNDS", "K_GRID", "ObsTerms",
           "RunTerms", "eval_index", "run_terms"]

A_BOUNDS = (-1.0, 1.0)
A_GRID = np.round(np.arange(-1.5, 1.5 + 1e-9, 0.25), 10)
K_BOUNDS = (0.5, 50.0)
K_GRID = np.linspace(np.log(0.35), np.log(70.0), 12)
KERNEL_BUDGET = 12_000_000  # kernel entries kept per run (96 MB); larger: see ObsTerms
_FEW = 32  # predictions at up to this many steps: the bound at those steps only
_ROWS = 16  # kernel rows per block
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
    """P_t, X_t and exact Y_t (every step, cached) of one LR sequence.

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

    def Y_at(self, a: float, idx: np.ndarray, family: str = "power") -> np.ndarray:
        """Exact Y at 0-based ``idx``: the bound at those steps only when they are few,
        else the cached Y at every step."""
        key = (family, float(a))
        if idx.size <= _FEW and key not in self._exact:
            return bound_terms(self.lrs, self.profile(a, family), at=idx + 1)[1]
        return self.exact_Y(a, family)[idx]

    def X(self, idx: np.ndarray, c: float = 0.0) -> np.ndarray:
        """Distance part ½·P_t^(c−1) (c = 0: the bound's 1/(2P_t))."""
        return 0.5 * self.P[idx] ** (c - 1.0)


class ObsTerms:
    """Exact Y at fixed 0-based steps ``idx`` of a run for any gradient profile, through
    the kernel of those steps; splines of log Y in the profile's exponent for the search.

    >>> import numpy as np
    >>> lrs = np.linspace(1.0, 0.1, 50)
    >>> obs = ObsTerms(RunTerms(lrs, 10.0), np.array([9, 29, 49]))
    >>> exact = bound_terms(lrs, (np.arange(1, 51) / 10.0) ** 0.3, at=[10, 30, 50])[1]
    >>> bool(np.allclose(obs.exact(0.3), exact, rtol=1e-12, atol=0))
    True
    """

    def __init__(self, terms: RunTerms, idx: np.ndarray) -> None:
        self.terms = terms
        self.idx = np.asarray(idx, dtype=np.int64)
        self._rows, self._inv = np.unique(self.idx, return_inverse=True)
        # blocks of consecutive rows, each as wide as its last row needs (K is triangular)
        cuts = list(range(0, self._rows.size, _ROWS)) + [self._rows.size]
        self._blocks = [(lo, hi, max(int(self._rows[hi - 1]) - 1, 0))
                        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
        size = sum((hi - lo) * w for lo, hi, w in self._blocks)
        self._kernel = ([self._block(*b) for b in self._blocks] if size <= KERNEL_BUDGET
                        else None)
        self._exact: dict[tuple[str, float], np.ndarray] = {}
        self._spline: dict[str, CubicSpline] = {}

    def _block(self, lo: int, hi: int, width: int) -> np.ndarray:
        """Kernel rows lo..hi−1: K[r, k] = 1/(P_i − P_k) for k ≤ i − 2 (i = rows[r])."""
        eta = self.terms.lrs
        K = np.zeros((hi - lo, width))
        for r, i in enumerate(self._rows[lo:hi]):
            if i >= 2:
                gaps = np.cumsum(eta[i:0:-1])  # gaps[m] = P_i − P_{i−1−m}
                K[r, : i - 1] = 1.0 / gaps[::-1][: i - 1]
        return K

    def _sums(self, w: np.ndarray) -> np.ndarray:
        """Σ_{k ≤ i−2} w_k/(P_i − P_k) at the unique rows, for w of shape (T, p)."""
        if self._kernel is not None:
            parts = [K @ w[:b[2]] for K, b in zip(self._kernel, self._blocks, strict=True)]
        else:
            parts = [self._block(*b) @ w[:b[2]] for b in self._blocks]
        return np.vstack(parts)

    def exact_many(self, thetas: np.ndarray, family: str = "power") -> np.ndarray:
        """Exact Y at idx for each θ (rows), from one product with the kernel (a kernel
        too large to keep: rebuilt in blocks for a grid of θ, the fast bound for a few)."""
        if self._kernel is None and len(thetas) < 4:
            return np.array([self.terms.exact_Y(float(a), family)[self.idx] for a in thetas])
        eta = self.terms.lrs
        g = np.column_stack([self.terms.profile(float(a), family) for a in thetas])
        w = (eta[:, None] * g) ** 2
        rows = self._rows
        prev = np.where(rows[:, None] >= 1, w[np.maximum(rows - 1, 0)], 0.0)
        Y = 0.5 * (w[rows] + prev) / eta[rows, None] + 0.5 * self._sums(w)
        return Y[self._inv].T

    def exact(self, a: float, family: str = "power") -> np.ndarray:
        """Exact Y at idx for one θ (cached)."""
        key = (family, float(a))
        if key not in self._exact:
            if len(self._exact) > 16:
                self._exact.pop(next(iter(self._exact)))
            self._exact[key] = self.exact_many(np.array([a]), family)[0]
        return self._exact[key]

    def log_spline(self, family: str = "power") -> np.ndarray:
        """Coefficients (4, grid intervals, len(idx)) of the family's cubic spline of log Y
        in its exponent (on A_GRID for "power", K_GRID = log κ for "exp")."""
        return self._build_spline(family).c

    def _build_spline(self, family: str) -> CubicSpline:
        if family not in self._spline:
            grid = A_GRID if family == "power" else np.exp(K_GRID)
            with np.errstate(divide="ignore", invalid="ignore"):
                logy = np.log(self.exact_many(grid, family))
            logy[~np.isfinite(logy)] = 0.0  # η_t = 0 columns: never evaluated (eval_index)
            self._spline[family] = CubicSpline(A_GRID if family == "power" else K_GRID, logy,
                                               axis=0)
        return self._spline[family]

    def Y(self, a: float, exact: bool = False, family: str = "power") -> np.ndarray:
        """Y at idx: exact, or from the family's spline (for the shape search)."""
        a = float(a)
        grid = A_GRID if family == "power" else K_GRID
        x = a if family == "power" else (np.log(a) if a > 0 else -np.inf)
        if exact or (family == "power" and a == 0.0) or not grid[0] <= x <= grid[-1]:
            return self.exact(a, family)
        return spline_Y(self.log_spline(family), grid, x)


def spline_Y(coef: np.ndarray, grid: np.ndarray, x: float) -> np.ndarray:
    """exp of the cubic spline with coefficients ``coef`` (``ObsTerms.log_spline``; the last
    axis may stack several runs) on ``grid``, at x inside the grid."""
    i = int(np.clip(np.searchsorted(grid, x) - 1, 0, grid.size - 2))
    dx = x - grid[i]
    c = coef[:, i, :]
    return np.exp(((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3])


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
