"""The chained fit (variable-projection starts, robust polish, standard errors) and its
result, with lmfit-style report lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convexlaw.fitting.problem import Problem, Values
from convexlaw.fitting.solvers import grid_starts, polish_batch
from convexlaw.fitting.uncertainty import standard_errors

__all__ = ["FitResult", "at_bounds", "fit", "param_lines"]


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
