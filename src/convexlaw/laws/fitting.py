"""Robust fitting of the laws: named bounded parameters, variable-projection starts,
log-space Huber polish, stderr from the Jacobian, bootstrap over runs.

Every law here is linear in some coefficients once its exponents are fixed::

    L̂ = Σ_j coef_j(θ_lin) · basis_j(θ_nonlin; data)

so the start search is a grid over the nonlinear parameters (exponents) with the linear
coefficients solved by bounded least squares on relative residuals (variable projection,
no bad local minima in the linear part), and the best few starts are polished jointly by
``scipy.optimize.least_squares`` on log residuals log L̂ − log L with a Huber loss
(δ ≈ 1e-3, the practice of Hoffmann et al. and Besiroglu et al.). Positive parameters are
fitted as logarithms; every parameter has bounds.

>>> p = Param("q1", 1e-8, 1e8, log=True, power=2)
>>> p.to_coef(3.0), p.from_coef(9.0)
(9.0, 3.0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear

__all__ = ["FitResult", "Param", "fit_params", "huber_cost", "log_residuals"]

_BAD = 1e3  # log residual given to a non-positive prediction (keeps the solver finite)


@dataclass(frozen=True)
class Param:
    """A named, bounded parameter.

    ``log``: fitted as log(value) (value > 0). ``power``: when the parameter is linear,
    the model is linear in value**power (q² for q). ``grid``: start values of a nonlinear
    parameter for the variable-projection search.
    """

    name: str
    lower: float
    upper: float
    log: bool = False
    linear: bool = False
    power: int = 1
    grid: tuple[float, ...] = ()

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


@dataclass
class FitResult:
    values: dict[str, float]
    stderr: dict[str, float]
    at_bound: list[str]
    cost: float
    residuals: np.ndarray  # log residuals at the solution
    prediction: np.ndarray
    n_starts: int
    success: bool


def log_residuals(pred: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """log L̂ − log L, with a large finite residual where L̂ ≤ 0 or is not finite."""
    ok = np.isfinite(pred) & (pred > 0)
    r = np.full(loss.shape, _BAD)
    r[ok] = np.log(pred[ok]) - np.log(loss[ok])
    return r


def huber_cost(r: np.ndarray, delta: float) -> float:
    """½ Σ ρ(r) with ρ the Huber function of scale δ (what least_squares minimises)."""
    a = np.abs(r)
    rho = np.where(a <= delta, a * a, 2 * delta * a - delta * delta)
    return 0.5 * float(rho.sum())


Predict = Callable[[dict[str, float], np.ndarray], np.ndarray]
Basis = Callable[[dict[str, float], np.ndarray], dict[str, np.ndarray]]


def _values_from_z(params: Sequence[Param], z: np.ndarray, fixed: dict[str, float]
                   ) -> dict[str, float]:
    out = dict(fixed)
    out.update({p.name: p.from_z(zi) for p, zi in zip(params, z, strict=True)})
    return out


def _vp_starts(params: Sequence[Param], fixed: dict[str, float], basis: Basis,
               loss: np.ndarray, idx: np.ndarray, keep: int, max_grid: int
               ) -> list[dict[str, float]]:
    """Grid over nonlinear parameters, bounded linear least squares for the rest."""
    lin = [p for p in params if p.linear]
    nonlin = [p for p in params if not p.linear]
    grids = [p.grid or (0.5 * (p.lower + p.upper),) for p in nonlin]
    combos = list(itertools.product(*grids))
    if len(combos) > max_grid:  # keep the search bounded: an even subsample of the grid
        pick = np.linspace(0, len(combos) - 1, max_grid).round().astype(int)
        combos = [combos[i] for i in pick]
    y = loss[idx]
    found: list[tuple[float, dict[str, float]]] = []
    for combo in combos:
        vals = dict(fixed)
        vals.update({p.name: v for p, v in zip(nonlin, combo, strict=True)})
        cols = basis(vals, idx)
        offset = cols.pop("__offset__", np.zeros(idx.size))
        # relative residuals (M·coef + offset − y)/y ≈ log residuals for small errors
        M = np.column_stack([cols[p.name] for p in lin]) / y[:, None]
        if not np.all(np.isfinite(M)):
            continue
        lo = np.array([p.to_coef(p.lower) for p in lin])
        hi = np.array([p.to_coef(p.upper) for p in lin])
        try:
            sol = lsq_linear(M, 1.0 - offset / y, bounds=(lo, hi), method="bvls")
        except (ValueError, np.linalg.LinAlgError):
            continue
        vals.update({p.name: p.from_coef(c) for p, c in zip(lin, sol.x, strict=True)})
        found.append((float(sol.cost), vals))
    found.sort(key=lambda item: item[0])
    return [v for _, v in found[:keep]]


def _jacobian(fun: Callable[[np.ndarray], np.ndarray], z: np.ndarray,
              lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    cols = []
    for j in range(z.size):  # a loop over parameters, not over data
        h = 1e-6 * max(1.0, abs(z[j]))
        zp, zm = z.copy(), z.copy()
        zp[j] = min(z[j] + h, hi[j])
        zm[j] = max(z[j] - h, lo[j])
        cols.append((fun(zp) - fun(zm)) / (zp[j] - zm[j]))
    return np.column_stack(cols)


def fit_params(params: Sequence[Param], fixed: dict[str, float], predict: Predict,
               basis: Basis | None, loss: np.ndarray, idx: np.ndarray | None = None,
               delta: float = 1e-3, starts: Sequence[dict[str, float]] = (),
               n_starts: int = 4, max_grid: int = 400, with_stderr: bool = True
               ) -> FitResult:
    """Fit ``params`` (the free ones; ``fixed`` holds the rest) to ``loss[idx]``.

    ``predict(values, idx)`` returns L̂ at the points ``idx``; ``basis(values, idx)``
    returns the column of each linear parameter (and optionally an ``__offset__``) for the
    variable-projection start search. Extra ``starts`` (e.g. a previous solution) are
    polished too; the lowest Huber cost wins.
    """
    idx = np.arange(loss.size) if idx is None else np.asarray(idx)
    y = loss[idx]
    k = len(params)
    if idx.size < k:
        raise ValueError(f"{idx.size} points cannot determine {k} parameters "
                         f"({', '.join(p.name for p in params)}): need at least {k}")
    cand = list(starts)
    if basis is not None:
        cand += _vp_starts(params, fixed, basis, loss, idx, n_starts, max_grid)
    if not cand:
        cand = [{p.name: (math.sqrt(p.lower * p.upper) if p.log else 0.5 * (p.lower + p.upper))
                 for p in params}]
    lo = np.array([p.z_bounds[0] for p in params])
    hi = np.array([p.z_bounds[1] for p in params])

    def fun(z: np.ndarray) -> np.ndarray:
        return log_residuals(predict(_values_from_z(params, z, fixed), idx), y)

    best = None
    for start in cand:
        z0 = np.array([p.to_z(start.get(p.name, fixed.get(p.name, 1.0))) for p in params])
        z0 = np.clip(z0, lo + 1e-12 * (hi - lo), hi - 1e-12 * (hi - lo))
        try:
            res = least_squares(fun, z0, bounds=(lo, hi), loss="huber", f_scale=delta,
                                x_scale="jac", max_nfev=200 * (k + 1))
        except (ValueError, FloatingPointError):
            continue
        cost = huber_cost(res.fun, delta)
        if best is None or cost < best[0]:
            best = (cost, res)
    if best is None:
        raise RuntimeError("every start of the fit failed (the model is not finite at any "
                           "start); check the data")
    cost, res = best
    z = res.x
    values = _values_from_z(params, z, fixed)
    r = fun(z)
    span = hi - lo
    at_bound = [p.name for p, zi, a, b, s in zip(params, z, lo, hi, span, strict=True)
                if min(zi - a, b - zi) <= 1e-6 * max(s, 1.0)]
    stderr = {p.name: float("nan") for p in params}
    if with_stderr and idx.size > k:
        J = _jacobian(fun, z, lo, hi)
        s2 = float(r @ r) / (idx.size - k)
        try:
            cov = s2 * np.linalg.pinv(J.T @ J)
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            for p, zi, si in zip(params, z, sd, strict=True):
                if p.name not in at_bound:
                    stderr[p.name] = float(math.exp(zi) * si if p.log else si)
        except np.linalg.LinAlgError:
            pass
    pred = predict(values, idx)
    return FitResult(values, stderr, at_bound, cost, r, pred, len(cand), bool(res.success))
