"""Fitting engines: variable projection (bound models) and robust least squares (peers).

Variable projection. For fixed shape parameters θ (exponents such as a, c, γ) the bound
models are linear, L̂ = M(θ)·β with β = (L∞, D², G², …) ≥ 0. On relative residuals
r = L̂/L − 1 the best β is a bounded linear least-squares problem (0 ≤ L∞ ≤ min L,
other coefficients ≥ 0), solved exactly; only θ (1–3 numbers) is searched, by a grid and
then Nelder–Mead from the best grid points. No start values, no bad local minima in β.

Robust least squares (peers). ``scipy.optimize.least_squares`` on log-loss residuals with
a soft-L1 loss (f_scale 1e-3), positive constants log-parametrised, bounds, several starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import least_squares, lsq_linear, minimize

__all__ = ["robust_fit", "search_shape", "solve_linear"]


def solve_linear(M: np.ndarray, y: np.ndarray, upper0: float) -> tuple[np.ndarray, float]:
    """argmin_β Σ (M β / y − 1)² with 0 ≤ β_0 ≤ upper0 and β_j ≥ 0; returns (β, RSS)."""
    A = M / y[:, None]
    norms = np.linalg.norm(A, axis=0)
    ok = np.isfinite(norms) & (norms > 0)
    norms = np.where(ok, norms, 1.0)
    As = np.where(ok, A / norms, 0.0)
    ub = np.full(A.shape[1], np.inf)
    ub[0] = upper0 * norms[0]
    res = lsq_linear(As, np.ones_like(y), bounds=(np.zeros(A.shape[1]), ub), method="bvls")
    beta = np.where(ok, res.x / norms, 0.0)
    r = A @ beta - 1.0
    return beta, float(r @ r)


def search_shape(objective: Callable[[np.ndarray], float],
                 bounds: Sequence[tuple[float, float]],
                 grids: Sequence[np.ndarray], n_starts: int = 2) -> tuple[np.ndarray, float]:
    """Minimise ``objective`` over a box: full grid, then bounded Nelder–Mead refinements.

    Returns (θ, objective(θ)). With no shape parameters returns (empty, objective([])).
    """
    if not bounds:
        return np.zeros(0), float(objective(np.zeros(0)))
    pts = [np.array(p, dtype=np.float64) for p in itertools.product(*grids)]
    vals = np.array([objective(p) for p in pts])
    order = np.argsort(vals)
    best_x, best_f = pts[order[0]], float(vals[order[0]])
    scale = max(best_f, 1e-300)
    starts: list[np.ndarray] = []
    for i in order:
        if len(starts) >= n_starts:
            break
        if all(np.max(np.abs(pts[i] - s)) > 1e-9 for s in starts):
            starts.append(pts[i])
    for x0 in starts:
        widths = np.array([hi - lo for lo, hi in bounds])
        simplex = [x0] + [np.clip(x0 + np.eye(len(x0))[j] * 0.05 * widths[j] *
                                  (1 if x0[j] + 0.05 * widths[j] <= bounds[j][1] else -1),
                                  [b[0] for b in bounds], [b[1] for b in bounds])
                          for j in range(len(x0))]
        res = minimize(lambda x: objective(x) / scale, x0, method="Nelder-Mead",
                       bounds=bounds,
                       options={"initial_simplex": np.array(simplex), "xatol": 1e-5,
                                "fatol": 1e-9, "maxfev": 400})
        f = float(objective(res.x))
        if f < best_f:
            best_x, best_f = np.asarray(res.x, dtype=np.float64), f
    return best_x, best_f


def robust_fit(residuals: Callable[[np.ndarray], np.ndarray], starts: Sequence[np.ndarray],
               lower: np.ndarray, upper: np.ndarray, f_scale: float = 1e-3,
               loss: str = "soft_l1", max_nfev: int = 2000,
               jac: Callable[[np.ndarray], np.ndarray] | None = None
               ) -> tuple[np.ndarray, float]:
    """Best of several ``least_squares`` runs (robust loss) from the given starts.

    Returns (x, cost). Starts outside the box are clipped into it.
    """
    best_x, best_cost = None, np.inf
    finite = np.isfinite(lower) & np.isfinite(upper)
    span = np.where(finite, upper - np.where(finite, lower, 0.0), 1.0)
    inner_lo = np.where(np.isfinite(lower), lower + 1e-6 * span, lower)
    inner_hi = np.where(np.isfinite(upper), upper - 1e-6 * span, upper)
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, dtype=np.float64), inner_lo, inner_hi)
        try:
            res = least_squares(residuals, x0, jac=jac if jac is not None else "2-point",
                                bounds=(lower, upper), loss=loss,
                                f_scale=f_scale, x_scale="jac", max_nfev=max_nfev,
                                xtol=1e-8, ftol=1e-10, gtol=1e-10)
        except ValueError:
            continue
        if np.isfinite(res.cost) and res.cost < best_cost:
            best_x, best_cost = res.x, float(res.cost)
    if best_x is None:
        raise RuntimeError("every start of the robust fit failed (residuals not finite)")
    return best_x, best_cost
