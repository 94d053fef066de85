"""The fitting problem: named bounded parameters (``Param``), residuals on log loss and
the robust costs, and ``Problem`` — a model ŷ(values) of observations y > 0 with its free
and fixed parameters, evaluated one parameter set or a batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LOSSES", "Param", "Problem", "Values", "huber_cost", "log_residuals",
           "robust_cost"]

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
def log_residuals(pred: np.ndarray, y: np.ndarray, floor: float = 0.0,
                  logy: np.ndarray | None = None) -> np.ndarray:
    """log ŷ − log y. ŷ is clamped at floor·y (floor = 0: a non-positive ŷ is not clamped
    but gets the large residual ``_BAD``, as does a non-finite ŷ). ``logy``: log y, if
    known."""
    pred = np.asarray(pred, dtype=np.float64)
    if floor > 0:
        pred = np.maximum(pred, floor * y)
    logy = np.log(y) if logy is None else logy
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred) - logy
    bad = ~np.isfinite(r)
    if bad.any():  # ŷ ≤ 0, nan or inf
        r[bad] = _BAD
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
        with np.errstate(divide="ignore", invalid="ignore"):
            self.logy = np.log(self.y)
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
        return log_residuals(self.predict(self.values(z), idx), self.y[idx], self.floor,
                             self.logy[idx])

    def batch_residuals(self, Z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Log residuals (B, len(idx)) for every row of Z."""
        if self.batched:
            pred = np.broadcast_to(self.predict(self.batch_values(Z), idx), (len(Z), idx.size))
        else:
            pred = np.array([self.predict(self.values(z), idx) for z in Z]).reshape(
                len(Z), idx.size)
        return log_residuals(pred, self.y[idx], self.floor, self.logy[idx])

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
