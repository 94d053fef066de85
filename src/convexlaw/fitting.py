"""ONE fitting engine: named bounded parameters, variable projection, robust polish,
standard errors, bootstrap, and a report — used by the curve models, the peers and the laws.

A fit has named parameters (``Param``: bounds, log-parametrised or not, linear or not) and
a ``Problem``: a model ŷ(values) of observations y > 0. The steps, each usable alone:

1. **Variable projection.** For fixed nonlinear parameters θ most models are linear in the
   others, ŷ = M(θ)·β. On relative residuals r = ŷ/y − 1 the best β is a bounded linear
   least-squares problem, solved exactly (``solve_linear``; e.g. 0 ≤ L∞ ≤ min y, other
   coefficients ≥ 0), so only θ (1–3 numbers) is searched: a grid over θ
   (``grid_starts``), then bounded Nelder–Mead from the best points (``search``).
2. **Robust polish.** All parameters jointly, positive ones as logarithms, on log
   residuals log ŷ − log y with a Huber or soft-L1 loss of scale δ ≈ 1e-3 (the practice
   of Hoffmann et al. and Besiroglu et al.): ``polish`` (one fit, ``least_squares``) or
   ``polish_batch`` (many fits at once: a batched Levenberg–Marquardt on the same cost,
   used for multi-start and bootstrap refits).
3. **Standard errors** s²·(JᵀJ)⁻¹ from a central-difference Jacobian, with the diagnosis
   of a near-singular Jacobian (``standard_errors``).
4. **Bootstrap** over groups of points (runs), stratified, every replicate warm-started
   from the full fit and all refitted in one batch (``bootstrap``).
5. **Report** lines in the lmfit style (``param_lines``).

``fit`` chains 1, 2 and 3 (the laws use it); the curve models use 1 and 3, the peers 2
and 3.

>>> import numpy as np
>>> T = np.array([1e3, 2e3, 4e3, 8e3, 16e3])
>>> params = [Param("L", 0.0, 2.0, linear=True), Param("A", 1e-6, 1e6, log=True,
...           linear=True), Param("k", 0.05, 2.0, grid=(0.3, 0.6))]
>>> def predict(v, idx):
...     return v["L"] + v["A"] * (T[idx] / 1e3) ** -v["k"]
>>> def basis(v, idx):
...     return {"L": np.ones(idx.size), "A": (T[idx] / 1e3) ** -v["k"]}
>>> res = fit(Problem(params, predict, 1.5 + 0.8 * (T / 1e3) ** -0.5, basis=basis))
>>> {k: round(v, 6) for k, v in res.values.items()}
{'L': 1.5, 'A': 0.8, 'k': 0.5}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares, lsq_linear, minimize

__all__ = ["FitResult", "Param", "Problem", "StdErr", "bootstrap", "fit", "grid_starts",
           "huber_cost", "log_residuals", "param_lines", "polish", "polish_batch",
           "robust_cost", "search", "solve_linear", "standard_errors"]

_BAD = 1e3  # log residual of a non-finite prediction (keeps the solvers finite)
LOSSES = ("linear", "huber", "soft_l1")


# ------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Param:
    """A named, bounded parameter.

    ``log``: fitted as log(value) (needs lower > 0). ``linear``: the model is linear in
    value**power (q² for q), so variable projection solves it. ``grid``: start values of a
    nonlinear parameter for the grid search.

    >>> p = Param("q1", 1e-8, 1e8, log=True, linear=True, power=2)
    >>> p.to_coef(3.0), p.from_coef(9.0)
    (9.0, 3.0)
    """

    name: str
    lower: float
    upper: float
    log: bool = False
    linear: bool = False
    power: int = 1
    grid: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"parameter {self.name}: lower bound {self.lower!r} must be below "
                             f"the upper bound {self.upper!r}")
        if self.log and not self.lower > 0:
            raise ValueError(f"parameter {self.name}: a log-parametrised parameter needs a "
                             f"lower bound > 0, got {self.lower!r}")

    def to_coef(self, value: float) -> float:
        return float(value) ** self.power

    def from_coef(self, coef: float) -> float:
        return float(max(coef, 0.0)) ** (1.0 / self.power)

    def to_z(self, value: float) -> float:
        v = min(max(float(value), self.lower), self.upper)
        return math.log(v) if self.log else v

    def from_z(self, z: float) -> float:
        return math.exp(z) if self.log else float(z)

    @property
    def z_bounds(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.lower), math.log(self.upper)
        return self.lower, self.upper

    @property
    def middle(self) -> float:
        """A neutral start: geometric mean for log parameters, else the midpoint."""
        return math.sqrt(self.lower * self.upper) if self.log else 0.5 * (self.lower + self.upper)


# ------------------------------------------------------------------------- residuals
def log_residuals(pred: np.ndarray, y: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """log ŷ − log y. ŷ is clamped at floor·y (floor = 0: a non-positive ŷ is not clamped
    but gets the large residual ``_BAD``, as does a non-finite ŷ)."""
    pred = np.asarray(pred, dtype=np.float64)
    y = np.broadcast_to(y, pred.shape)
    if floor > 0:
        pred = np.maximum(pred, floor * y)
    ok = np.isfinite(pred) & (pred > 0)
    r = np.full(pred.shape, _BAD)
    r[ok] = np.log(pred[ok]) - np.log(y[ok])
    return r


def robust_cost(r: np.ndarray, loss: str = "huber", delta: float = 1e-3,
                weights: np.ndarray | None = None) -> np.ndarray:
    """½ Σ w·ρ(r) over the last axis (what ``least_squares`` minimises with f_scale δ).

    Huber: ρ = r² for |r| ≤ δ, else 2δ|r| − δ²; soft-L1: ρ = 2δ²(√(1 + r²/δ²) − 1).
    """
    a = np.abs(r)
    if loss == "huber":
        rho = np.where(a <= delta, a * a, 2 * delta * a - delta * delta)
    elif loss == "soft_l1":
        rho = 2 * delta * delta * (np.sqrt(1 + (a / delta) ** 2) - 1)
    elif loss == "linear":
        rho = a * a
    else:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if weights is not None:
        rho = rho * weights
    return 0.5 * rho.sum(axis=-1)


def huber_cost(r: np.ndarray, delta: float) -> float:
    """½ Σ ρ(r) with ρ the Huber function of scale δ."""
    return float(robust_cost(r, "huber", delta))


# ------------------------------------------------------------------------- the problem
Values = dict[str, Any]


@dataclass
class Problem:
    """What to fit: free ``params`` (``fixed`` holds the rest) of ``predict`` to ``y``.

    ``predict(values, idx)`` returns ŷ at the points ``idx``. With ``batched`` it also
    accepts values that are arrays of shape (B, 1) (one row per parameter set) and returns
    (B, len(idx)). ``basis(values, idx)`` returns the column of each linear parameter (for
    variable projection); ``gradient(values, idx)`` the analytic dŷ/dvalue (n, k) in
    ``params`` order. ``floor`` clamps ŷ at floor·y in the log residuals.
    """

    params: Sequence[Param]
    predict: Callable[[Values, np.ndarray], np.ndarray]
    y: np.ndarray
    fixed: Values = field(default_factory=dict)
    basis: Callable[[Values, np.ndarray], dict[str, np.ndarray]] | None = None
    gradient: Callable[[Values, np.ndarray], np.ndarray] | None = None
    floor: float = 0.0
    batched: bool = False

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.float64)
        self.names = [p.name for p in self.params]
        self.lo = np.array([p.z_bounds[0] for p in self.params], dtype=np.float64)
        self.hi = np.array([p.z_bounds[1] for p in self.params], dtype=np.float64)
        self.is_log = np.array([p.log for p in self.params], dtype=bool)

    @property
    def k(self) -> int:
        return len(self.params)

    def values(self, z: np.ndarray) -> Values:
        """Parameter values (free and fixed) from the fitted coordinates z."""
        out = dict(self.fixed)
        out.update({p.name: p.from_z(zi) for p, zi in zip(self.params, z, strict=True)})
        return out

    def z(self, values: Values) -> np.ndarray:
        return np.array([p.to_z(values.get(p.name, self.fixed.get(p.name, 1.0)))
                         for p in self.params])

    def batch_values(self, Z: np.ndarray) -> Values:
        """Values for a batch of coordinates Z (B, k): arrays of shape (B, 1)."""
        V = np.where(self.is_log, np.exp(np.clip(Z, -700, 700)), Z)
        out: Values = dict(self.fixed)
        out.update({n: V[:, j:j + 1] for j, n in enumerate(self.names)})
        return out

    def residuals(self, z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return log_residuals(self.predict(self.values(z), idx), self.y[idx], self.floor)

    def batch_residuals(self, Z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Log residuals (B, len(idx)) for every row of Z."""
        if self.batched:
            pred = np.broadcast_to(self.predict(self.batch_values(Z), idx), (len(Z), idx.size))
        else:
            pred = np.array([self.predict(self.values(z), idx) for z in Z]).reshape(
                len(Z), idx.size)
        return log_residuals(pred, self.y[idx], self.floor)

    def log_jacobian(self, z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """d(log residual)/dz from the analytic gradient (``gradient`` must be set)."""
        assert self.gradient is not None
        v = self.values(z)
        pred = self.predict(v, idx)
        grad = self.gradient(v, idx)
        vals = np.array([v[n] for n in self.names])
        grad = grad * np.where(self.is_log, vals, 1.0)[None, :]
        return grad / np.maximum(pred, self.floor * self.y[idx])[:, None]

    def inside(self, z: np.ndarray, margin: float) -> np.ndarray:
        """z moved strictly inside the box by ``margin`` × its width (finite sides)."""
        fin = np.isfinite(self.lo) & np.isfinite(self.hi)
        span = np.where(fin, self.hi - np.where(fin, self.lo, 0.0), 1.0)
        lo = np.where(np.isfinite(self.lo), self.lo + margin * span, self.lo)
        hi = np.where(np.isfinite(self.hi), self.hi - margin * span, self.hi)
        return np.clip(np.asarray(z, dtype=np.float64), lo, hi)


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
    res = lsq_linear(As, np.ones_like(y), bounds=(lo * norms, hi * norms), method="bvls")
    beta = np.where(ok, res.x / norms, 0.0)
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
    s = (R / delta) ** 2
    if loss == "huber":
        quad = s <= 1.0
        return np.where(quad, 1.0, 1.0 / np.sqrt(np.maximum(s, 1.0))), quad.astype(float)
    if loss == "soft_l1":
        return 1.0 / np.sqrt(1.0 + s), (1.0 + s) ** -1.5
    return np.ones_like(R), np.ones_like(R)


def polish_batch(problem: Problem, Z0: np.ndarray, idx: np.ndarray,
                 weights: np.ndarray | None = None, loss: str = "huber",
                 delta: float = 1e-3, max_iter: int = 300, ftol: float = 1e-12
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Many robust fits at once: row b minimises ½ Σ_i w_bi·ρ(r_i(z_b)) in the box.

    A batched Levenberg–Marquardt on iteratively reweighted Gauss–Newton steps (the
    weights ρ'(r)/2r majorise the robust cost, so an accepted step lowers it), with a
    forward-difference Jacobian from one batched prediction per iteration; a coordinate at
    a bound whose gradient points outwards is held there. Returns (Z, cost).
    """
    Z = problem.inside(np.atleast_2d(np.asarray(Z0, dtype=np.float64)), 1e-12)
    B, k = Z.shape
    n = idx.size
    W = np.ones((B, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    lo, hi = problem.lo, problem.hi
    R = problem.batch_residuals(Z, idx)
    cost = robust_cost(R, loss, delta, W)
    lam, nu = np.full(B, 1e-3), np.full(B, 2.0)
    todo = np.ones(B, dtype=bool)
    stale = np.ones(B, dtype=bool)  # the local model (g, H) must be rebuilt at Z
    g, H, dmet = np.zeros((B, k)), np.zeros((B, k, k)), np.zeros((B, k))
    eye = np.eye(k)
    for _ in range(max_iter):
        act = np.flatnonzero(todo)
        if act.size == 0:
            break
        new = act[stale[act]]
        if new.size:  # a rejected step leaves Z, and so the local model, unchanged
            Za, Ra = Z[new], R[new]
            h = math.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(Za))
            h = np.where(Za + h > hi, -h, h)
            Zp = (Za[None, :, :] + h[None, :, :] * eye[:, None, :]).reshape(k * new.size, k)
            Rp = problem.batch_residuals(Zp, idx).reshape(k, new.size, n)
            J = np.moveaxis((Rp - Ra[None]) / h.T[:, :, None], 0, -1)  # (b, n, k)
            wg, wh = _loss_weights(Ra, loss, delta)
            wg, wh = W[new] * wg, W[new] * wh
            g[new] = np.einsum("bn,bn,bnk->bk", wg, Ra, J)
            H[new] = np.einsum("bn,bnk,bnl->bkl", wh, J, J)
            # damping metric: the curvature of the reweighted (majorising) problem
            dmet[new] = np.einsum("bn,bnk,bnk->bk", wg, J, J)
            stale[new] = False
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
        Rn = problem.batch_residuals(Zn, idx)
        cn = robust_cost(Rn, loss, delta, W[act])
        ok = np.isfinite(cn) & (cn < cost[act])
        gain = np.where(ok, cost[act] - cn, 0.0)
        dz = Zn - Za  # predicted gain of the local model (Nielsen's damping update)
        pred = -(np.einsum("bk,bk->b", ga, dz) + 0.5 * np.einsum("bk,bkl,bl->b", dz, Hm, dz))
        rho = np.where(pred > 0, gain / np.maximum(pred, 1e-300), 0.0)
        acc = act[ok]
        Z[acc], R[acc], cost[acc] = Zn[ok], Rn[ok], cn[ok]
        stale[acc] = True
        lam[acc] = np.maximum(lam[acc] * np.maximum(1 / 3, 1 - (2 * rho[ok] - 1) ** 3), 1e-12)
        nu[acc] = 2.0
        rej = act[~ok]
        lam[rej] *= nu[rej]
        nu[rej] *= 2.0
        small = ok & (gain <= ftol * np.maximum(cost[act], 1e-300))
        stuck = ~ok & (lam[act] > 1e10)
        todo[act[small | stuck]] = False
    return Z, cost


# ------------------------------------------------------------------------- 3. standard errors
@dataclass
class StdErr:
    """Standard errors and what the Jacobian says about identifiability.

    ``stderr`` is nan for held coordinates; ``cond`` is the condition number of the
    column-normalised Jacobian of the free coordinates, ``dead`` the free coordinates
    with no effect, ``weak`` the two that dominate its weakest direction.
    """

    stderr: np.ndarray
    cond: float
    dead: list[int]
    weak: list[int]


def standard_errors(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray, rel_step: float = 1e-6,
                    min_step: float = 1.0, hold: Sequence[int] = ()) -> StdErr:
    """s²·(JᵀJ)⁻¹ with J the central-difference Jacobian of the residuals ``fun`` at x.

    Step h_j = rel_step·max(|x_j|, min_step), cut at the bounds (one-sided there); the
    coordinates in ``hold`` are not varied; s² = Σ r²/max(n − free, 1).
    """
    x = np.asarray(x, dtype=np.float64)
    free = [j for j in range(x.size) if j not in set(hold)]
    r0 = fun(x)
    cols = []
    for j in free:  # a loop over parameters, not over data
        h = rel_step * max(abs(x[j]), min_step)
        xp, xm = x.copy(), x.copy()
        xp[j], xm[j] = min(x[j] + h, upper[j]), max(x[j] - h, lower[j])
        width = xp[j] - xm[j]
        cols.append((fun(xp) - fun(xm)) / width if width > 0 else np.zeros_like(r0))
    se = np.full(x.size, np.nan)
    if not free:
        return StdErr(se, 1.0, [], [])
    J = np.column_stack(cols)
    s2 = float(r0 @ r0) / max(r0.size - len(free), 1)
    norms = np.linalg.norm(J, axis=0)
    dead = [free[i] for i in np.flatnonzero(norms == 0)]
    Jn = J / np.where(norms > 0, norms, 1.0)
    try:
        _, sv, vt = np.linalg.svd(Jn, full_matrices=False)
        cov = np.linalg.pinv(J.T @ J) * s2
    except np.linalg.LinAlgError:
        return StdErr(se, math.inf, dead, [])
    cond = sv[0] / sv[-1] if sv[-1] > 0 else math.inf
    weak = [free[i] for i in np.argsort(-np.abs(vt[-1]))[:2]]
    se[free] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return StdErr(se, float(cond), dead, weak)


# ------------------------------------------------------------------------- the chained fit
@dataclass
class FitResult:
    """A fit: values (free and fixed), standard errors (nan at a bound), the free
    parameters at a bound, the robust cost, log residuals and prediction at the points."""

    values: dict[str, float]
    stderr: dict[str, float]
    at_bound: list[str]
    cost: float
    residuals: np.ndarray
    prediction: np.ndarray
    n_starts: int
    success: bool
    z: np.ndarray
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def report(self) -> str:
        """lmfit-style parameter lines."""
        return "\n".join(param_lines(self.values, self.stderr, self.bounds, self.at_bound))


def at_bounds(problem: Problem, z: np.ndarray, tol: float = 1e-6) -> list[str]:
    """Names of the free parameters within tol × (box width, at least 1) of a bound."""
    span = np.where(np.isfinite(problem.hi - problem.lo), problem.hi - problem.lo, 1.0)
    near = np.minimum(z - problem.lo, problem.hi - z) <= tol * np.maximum(span, 1.0)
    return [n for n, b in zip(problem.names, near, strict=True) if b]


def fit(problem: Problem, idx: np.ndarray | None = None, starts: Sequence[Values] = (),
        n_starts: int = 4, max_grid: int = 400, loss: str = "huber", delta: float = 1e-3,
        with_stderr: bool = True) -> FitResult:
    """Variable-projection starts (the ``n_starts`` best grid points, plus ``starts``),
    each polished jointly; the lowest robust cost wins; standard errors at the optimum."""
    idx = np.arange(problem.y.size) if idx is None else np.asarray(idx)
    k = problem.k
    if idx.size < k:
        raise ValueError(f"{idx.size} points cannot determine {k} parameters "
                         f"({', '.join(problem.names)}): need at least {k}")
    cand = list(starts)
    if problem.basis is not None:
        cand += grid_starts(problem, idx, n_starts, max_grid)
    if not cand:
        cand = [{p.name: p.middle for p in problem.params}]
    Z, costs = polish_batch(problem, np.array([problem.z(s) for s in cand]), idx,
                            loss=loss, delta=delta)
    if not np.isfinite(costs).any():
        raise RuntimeError("every start of the fit failed (the model is not finite at any "
                           "start); check the data")
    best = int(np.nanargmin(costs))
    z, cost, ok = Z[best], float(costs[best]), True
    values = problem.values(z)
    r = problem.residuals(z, idx)
    bound = at_bounds(problem, z)
    stderr = {n: float("nan") for n in problem.names}
    if with_stderr and idx.size > k:
        se = standard_errors(lambda zz: problem.residuals(zz, idx), z, problem.lo,
                             problem.hi).stderr
        for j, p in enumerate(problem.params):
            if p.name not in bound and np.isfinite(se[j]):
                stderr[p.name] = float(math.exp(z[j]) * se[j] if p.log else se[j])
    return FitResult(values, stderr, bound, cost, r, problem.predict(values, idx), len(cand),
                     ok, z, {p.name: (p.lower, p.upper) for p in problem.params})


# ------------------------------------------------------------------------- 4. bootstrap
def bootstrap(problem: Problem, z: np.ndarray, idx: np.ndarray, groups: np.ndarray,
              n_boot: int, rng: np.random.Generator, strata: Sequence[Sequence[Any]] | None
              = None, loss: str = "huber", delta: float = 1e-3) -> np.ndarray:
    """Resample whole groups (within each stratum) with replacement, refit every replicate
    from the full-data solution ``z``; returns the values of the free parameters (n_ok, k).

    ``groups[i]`` is the group of point ``idx[i]``; replicates with no more distinct
    points than parameters are skipped.
    """
    k = problem.k
    labels = list(np.unique(groups))
    strata = [labels] if strata is None else strata
    where = {g: i for i, g in enumerate(labels)}
    point_group = np.array([where[g] for g in groups])
    rows = []
    for _ in range(n_boot):
        pick = np.concatenate([rng.choice(gs, size=len(gs)) for gs in strata])
        counts = np.bincount([where[g] for g in pick], minlength=len(labels))[point_group]
        if np.unique(idx[counts > 0]).size > k:
            rows.append(counts.astype(np.float64))
    if not rows:
        return np.empty((0, k))
    W = np.array(rows)
    Z, cost = polish_batch(problem, np.tile(z, (len(W), 1)), idx, W, loss, delta)
    Z = Z[np.isfinite(cost)]
    return np.where(problem.is_log, np.exp(Z), Z)


# ------------------------------------------------------------------------- 5. report
def param_lines(values: dict[str, float], stderr: dict[str, float],
                bounds: dict[str, tuple[float, float]], at_bound: Sequence[str] = ()
                ) -> list[str]:
    """lmfit-style lines: name = value +/- stderr (relative), bounds, at-bound flag;
    parameters without bounds are marked fixed."""
    lines = []
    for name, v in values.items():
        if name not in bounds:
            lines.append(f"    {name:<8s} = {v: .6g} (fixed)")
            continue
        se = stderr.get(name, float("nan"))
        lo, hi = bounds[name]
        if math.isfinite(se):
            pct = f" ({100 * se / abs(v):.1f} %)" if v != 0 else ""
            err = f"+/- {se:.3g}{pct}"
        else:
            err = "+/- n/a"
        flag = "  (at bound)" if name in at_bound else ""
        lines.append(f"    {name:<8s} = {v: .6g} {err}  bounds [{lo:g}, {hi:g}]{flag}")
    return lines
