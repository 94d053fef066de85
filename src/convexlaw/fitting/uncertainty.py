"""Uncertainty: standard errors from the Jacobian (with the identifiability diagnosis)
and the bootstrap over groups of points (runs), all replicates refitted in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convexlaw.fitting.problem import Problem
from convexlaw.fitting.solvers import polish_batch

__all__ = ["StdErr", "bootstrap", "standard_errors"]


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
