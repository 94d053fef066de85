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

from convexlaw.fitting.problem import (
    LOSSES,
    Param,
    Problem,
    Values,
    huber_cost,
    log_residuals,
    robust_cost,
)
from convexlaw.fitting.result import FitResult, at_bounds, fit, param_lines
from convexlaw.fitting.solvers import (
    grid_starts,
    polish,
    polish_batch,
    project,
    search,
    solve_linear,
)
from convexlaw.fitting.uncertainty import StdErr, bootstrap, standard_errors

__all__ = ["LOSSES", "FitResult", "Param", "Problem", "StdErr", "Values", "at_bounds",
           "bootstrap", "fit", "grid_starts", "huber_cost", "log_residuals", "param_lines",
           "polish", "polish_batch", "project", "robust_cost", "search", "solve_linear",
           "standard_errors"]
