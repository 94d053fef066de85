"""The solvers: variable projection (the linear parameters exactly, a grid and Nelder–Mead
over the nonlinear ones) and the robust polish of all parameters jointly, one fit at a
time (``least_squares``) or many at once (a batched Levenberg–Marquardt).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares, lsq_linear, minimize

from convexlaw.fitting.problem import LOSSES, Param, Problem, Values, robust_cost

__all__ = ["grid_starts", "polish", "polish_batch", "project", "search", "solve_linear"]


# ------------------------------------------------------------------------- 1. variable projection
def solve_linear(M: np.ndarray, y: np.ndarray, lower: np.ndarray | float = 0.0,
                 upper: np.ndarray | float = np.inf) -> tuple[np.ndarray, float]:
    """argmin_β Σ (Mβ/y − 1)² subject to lower ≤ β ≤ upper; returns (β, RSS).

    Columns are scaled to unit norm first (the coefficients span many decades); a column
    that is zero or not finite gets coefficient 0.
    """
    A = M / y[:, None]
    k = A.shape[1]
    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (k,))
    hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (k,))
    norms = np.linalg.norm(A, axis=0)
    ok = np.isfinite(norms) & (norms > 0)
    norms = np.where(ok, norms, 1.0)
    As = np.where(ok, A / norms, 0.0)
    lo_s, hi_s, ones = lo * norms, hi * norms, np.ones_like(y)
    # the unconstrained solution, when it is unique and inside the box, is the bounded
    # one too (a convex problem); lsq_linear's set-up costs ~10× this solve
    x, _, rank, _ = np.linalg.lstsq(As, ones, rcond=None)
    if not (rank == k and np.all(x >= lo_s) and np.all(x <= hi_s)):
        x = lsq_linear(As, ones, bounds=(lo_s, hi_s), method="bvls").x
    beta = np.where(ok, x / norms, 0.0)
    r = A @ beta - 1.0
    return beta, float(r @ r)


def project(problem: Problem, theta: Values, idx: np.ndarray) -> tuple[Values, float]:
    """The linear parameters solved exactly at given nonlinear values: (values, RSS)."""
    assert problem.basis is not None
    lin = [p for p in problem.params if p.linear]
    vals = dict(problem.fixed)
    vals.update(theta)
    cols = problem.basis(vals, idx)
    M = np.column_stack([cols[p.name] for p in lin])
    if not np.all(np.isfinite(M)):
        return vals, math.inf
    lo = np.array([p.to_coef(p.lower) for p in lin])
    hi = np.array([p.to_coef(p.upper) for p in lin])
    try:
        coef, rss = solve_linear(M, problem.y[idx], lo, hi)
    except (ValueError, np.linalg.LinAlgError):
        return vals, math.inf
    vals.update({p.name: p.from_coef(c) for p, c in zip(lin, coef, strict=True)})
    return vals, rss


def grid_starts(problem: Problem, idx: np.ndarray, keep: int = 4, max_grid: int = 400
                ) -> list[Values]:
    """The ``keep`` best points of the grid over the nonlinear parameters (``Param.grid``,
    else the middle of the bounds), each with its linear parameters projected out."""
    nonlin = [p for p in problem.params if not p.linear]
    combos = list(itertools.product(*[p.grid or (0.5 * (p.lower + p.upper),) for p in nonlin]))
    if len(combos) > max_grid:  # keep the search bounded: an even subsample of the grid
        pick = np.linspace(0, len(combos) - 1, max_grid).round().astype(int)
        combos = [combos[i] for i in pick]
    found = []
    for combo in combos:
        vals, rss = project(problem, {p.name: v for p, v in zip(nonlin, combo, strict=True)},
                            idx)
        if math.isfinite(rss):
            found.append((rss, vals))
    found.sort(key=lambda item: item[0])
    return [v for _, v in found[:keep]]


def search(objective: Callable[[np.ndarray], float], params: Sequence[Param],
           n_starts: int = 2) -> tuple[np.ndarray, float]:
    """Minimise ``objective(θ)`` over the box of ``params``: their full grid, then bounded
    Nelder–Mead from the ``n_starts`` best distinct grid points. Returns (θ, objective).
    With no parameters returns (empty, objective([]))."""
    if not params:
        return np.zeros(0), float(objective(np.zeros(0)))
    bounds = [(p.lower, p.upper) for p in params]
    pts = [np.array(q, dtype=np.float64) for q in itertools.product(*[p.grid for p in params])]
    vals = np.array([objective(q) for q in pts])
    order = np.argsort(vals)
    best_x, best_f = pts[order[0]], float(vals[order[0]])
    scale = max(best_f, 1e-300)
    starts: list[np.ndarray] = []
    for i in order:
        if len(starts) >= n_starts:
            break
        if all(np.max(np.abs(pts[i] - s)) > 1e-9 for s in starts):
            starts.append(pts[i])
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    widths = hi - lo
    for x0 in starts:
        step = 0.05 * widths * np.where(x0 + 0.05 * widths <= hi, 1.0, -1.0)
        simplex = [x0] + [np.clip(x0 + np.eye(x0.size)[j] * step[j], lo, hi)
                          for j in range(x0.size)]
        res = minimize(lambda x: objective(x) / scale, x0, method="Nelder-Mead",
                       bounds=bounds,
                       options={"initial_simplex": np.array(simplex), "xatol": 1e-5,
                                "fatol": 1e-9, "maxfev": 400})
        f = float(objective(res.x))
        if f < best_f:
            best_x, best_f = np.asarray(res.x, dtype=np.float64), f
    return best_x, best_f


# ------------------------------------------------------------------------- 2. robust polish
def polish(problem: Problem, starts: Sequence[np.ndarray], idx: np.ndarray,
           loss: str = "huber", delta: float = 1e-3, max_nfev: int | None = None,
           tol: float = 1e-8, xtol: float | None = None, margin: float = 1e-12
           ) -> tuple[np.ndarray, float, bool]:
    """Best of ``least_squares`` runs (robust ``loss`` of scale ``delta`` on log
    residuals) from the starts (coordinates z, moved ``margin`` inside the box);
    ``tol`` is its ftol and gtol, ``xtol`` (default ``tol``) its xtol.

    Returns (z, cost, success). Raises RuntimeError when every start fails.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    jac: Any = "2-point"
    if problem.gradient is not None:
        def jac(z: np.ndarray, ii: np.ndarray) -> np.ndarray:
            return problem.log_jacobian(z, ii)
    best = None
    for z0 in starts:
        try:
            res = least_squares(problem.residuals, problem.inside(z0, margin), jac=jac,
                                bounds=(problem.lo, problem.hi), loss=loss, f_scale=delta,
                                x_scale="jac", max_nfev=max_nfev or 200 * (problem.k + 1),
                                xtol=tol if xtol is None else xtol, ftol=tol,
                                gtol=tol, args=(idx,))
        except (ValueError, FloatingPointError):
            continue
        if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
            best = res
    if best is None:
        raise RuntimeError("every start of the fit failed (the model is not finite at any "
                           "start); check the data")
    return np.asarray(best.x, dtype=np.float64), float(best.cost), bool(best.success)


def _loss_weights(R: np.ndarray, loss: str, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(ρ', ρ' + 2ρ''·s) of the robust loss at s = (r/δ)²: the gradient weights
    (∇ = Σ ρ'·r·J) and the Gauss–Newton curvature weights (scipy's Triggs correction:
    0 in the linear part of the Huber loss)."""
    if loss == "huber":
        a = np.abs(R)
        return np.minimum(1.0, delta / np.maximum(a, 1e-300)), (a <= delta).astype(float)
    if loss == "soft_l1":
        s1 = 1.0 + (R / delta) ** 2
        return 1.0 / np.sqrt(s1), s1 ** -1.5
    return np.ones_like(R), np.ones_like(R)


def _with_steps(Z: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z and its forward-difference neighbours stacked: (Z; Z + h_j e_j for each j), and
    h (steps turn back at the upper bound)."""
    b, k = Z.shape
    h = math.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(Z))
    h = np.where(Z + h > hi, -h, h)
    Zp = Z[None, :, :] + h[None, :, :] * np.eye(k)[:, None, :]
    return np.concatenate([Z[None], Zp]).reshape((k + 1) * b, k), h


def _local_model(Rs: np.ndarray, h: np.ndarray, W: np.ndarray, loss: str, delta: float
                 ) -> tuple[np.ndarray, ...]:
    """(R, g, H, d) from the residuals at Z and its neighbours (k + 1, b, n): the robust
    gradient, the Gauss–Newton curvature and the diagonal of the reweighted curvature."""
    R = Rs[0]
    J = ((Rs[1:] - R[None]) / h.T[:, :, None]).transpose(1, 0, 2)  # (b, k, n) = Jᵀ
    wg, wh = _loss_weights(R, loss, delta)
    wg, wh = W * wg, W * wh
    Jg = J * wg[:, None, :]
    g = np.einsum("bkn,bn->bk", Jg, R)
    H = (J * wh[:, None, :]) @ J.transpose(0, 2, 1)
    # damping metric: the curvature of the reweighted (majorising) problem
    d = np.einsum("bkn,bkn->bk", Jg, J)
    return R, g, H, d


def polish_batch(problem: Problem, Z0: np.ndarray, idx: np.ndarray,
                 weights: np.ndarray | None = None, loss: str = "huber",
                 delta: float = 1e-3, max_iter: int = 300, ftol: float = 1e-12
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Many robust fits at once: row b minimises ½ Σ_i w_bi·ρ(r_i(z_b)) in the box.

    A batched Levenberg–Marquardt on Gauss–Newton steps with the robust loss's curvature
    (as ``least_squares`` scales them), damped by the reweighted curvature (Nielsen's
    update of λ); the forward-difference Jacobian at a trial point is evaluated together
    with the trial point, so each iteration costs one batched prediction. A coordinate at
    a bound whose gradient points outwards is held there. Returns (Z, cost).
    """
    Z = problem.inside(np.atleast_2d(np.asarray(Z0, dtype=np.float64)), 1e-12)
    B, k = Z.shape
    n = idx.size
    W = np.ones((B, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    lo, hi = problem.lo, problem.hi
    eye = np.eye(k)
    Zs, h = _with_steps(Z, hi)
    R, g, H, dmet = _local_model(problem.batch_residuals(Zs, idx).reshape(k + 1, B, n), h, W,
                                 loss, delta)
    cost = robust_cost(R, loss, delta, W)
    lam, nu = np.full(B, 1e-3), np.full(B, 2.0)
    todo = np.ones(B, dtype=bool)
    for _ in range(max_iter):
        act = np.flatnonzero(todo)
        if act.size == 0:
            break
        Za, ga = Z[act], g[act]
        at_lo = (Za <= lo + 1e-12 * np.maximum(1.0, np.abs(lo))) & (ga > 0)
        at_hi = (Za >= hi - 1e-12 * np.maximum(1.0, np.abs(hi))) & (ga < 0)
        held = at_lo | at_hi
        da = dmet[act]
        d = np.where(held, 1.0, np.maximum(da, 1e-12 * da.max(axis=1, keepdims=True) + 1e-300))
        keep = ~held
        Hm = H[act] * (keep[:, :, None] & keep[:, None, :])
        A = Hm + (lam[act][:, None] * d)[:, :, None] * eye + held[:, :, None] * eye
        step = -np.linalg.solve(A, np.where(held, 0.0, ga)[:, :, None])[:, :, 0]
        Zn = np.clip(Za + step, lo, hi)
        Zs, hn = _with_steps(Zn, hi)  # the trial point and its Jacobian, in one prediction
        Rs = problem.batch_residuals(Zs, idx).reshape(k + 1, act.size, n)
        cn = robust_cost(Rs[0], loss, delta, W[act])
        ok = np.isfinite(cn) & (cn < cost[act])
        gain = np.where(ok, cost[act] - cn, 0.0)
        dz = Zn - Za  # predicted gain of the local model (Nielsen's damping update)
        pred = -((ga * dz).sum(axis=1) + 0.5 * (dz[:, None, :] @ Hm @ dz[:, :, None])[:, 0, 0])
        rho = np.where(pred > 0, gain / np.maximum(pred, 1e-300), 0.0)
        acc = act[ok]
        if acc.size:
            Z[acc], cost[acc] = Zn[ok], cn[ok]
            R[acc], g[acc], H[acc], dmet[acc] = _local_model(Rs[:, ok], hn[ok], W[acc], loss,
                                                             delta)
        lam[acc] = np.maximum(lam[acc] * np.maximum(1 / 3, 1 - (2 * rho[ok] - 1) ** 3), 1e-12)
        nu[acc] = 2.0
        rej = act[~ok]
        lam[rej] *= nu[rej]
        nu[rej] *= 2.0
        small = ok & (gain <= ftol * np.maximum(cost[act], 1e-300))
        stuck = ~ok & (lam[act] > 1e10)
        todo[act[small | stuck]] = False
    return Z, cost
