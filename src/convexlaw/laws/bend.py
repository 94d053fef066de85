"""Does the pilots' measured optimal LR bend with the horizon? (``optimum_bend``)

Every forecaster of a plan carries η* to a longer horizon with one exponent in T (a law's
κ, or a curve model's fixed shape). The pilots' own optima say whether that is safe: a
parabola in ln T through ln η* of the bracketed cells of one size,

    ln η*(T) = a + b·u + q·u²,    u = ln(T / T_n),

has b = the local exponent at the longest pilot horizon T_n and q the curvature: q > 0
means η* flattens as T grows (the local exponent at T is b + 2q·ln(T/T_n)), and a
one-exponent forecast beyond T_n then comes out low; q < 0, high. The noise of each cell's
ln η* comes from a seed bootstrap (the runs at each peak resampled) where the pilots repeat
peaks, else from the parabola's residuals; the bend is reported as significant when
|q| > 2·s.e.(q) (bootstrap) or beyond the two-sided 95 % t quantile (residuals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["optimum_bend"]

SIGMA_FLOOR = 0.01  # no cell's ln η* is known better than 1 %: the grid's own resolution


def _vertices(x: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``measured_optimum`` of every row of M (mean losses at sorted log-peaks x) at once:
    ln η* of the parabola through the best peak and its neighbours, the best peak itself
    at an end of the grid, beside a diverged (+inf) neighbour or where the three points do
    not curve up; NaN for a row without a finite loss."""
    rows = np.arange(M.shape[0])
    i = np.argmin(M, axis=1)
    out = np.where(np.isfinite(M[rows, i]), x[i], np.nan)
    r = np.flatnonzero(np.isfinite(out) & (i > 0) & (i < x.size - 1))
    x0, x1, x2 = x[i[r] - 1], x[i[r]], x[i[r] + 1]
    y0, y1, y2 = M[r, i[r] - 1], M[r, i[r]], M[r, i[r] + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        curv = ((y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)) / (x2 - x0)
        top = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        bot = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        v = np.clip(x1 - 0.5 * top / bot, x0, x2)
    out[r] = np.where(np.isfinite(y0) & np.isfinite(y2) & (curv > 0), v, x1)
    return out


def _seed_sigma(cell: dict[str, Any], n_boot: int, rng: np.random.Generator) -> float | None:
    """σ of ln η* of one cell over resamples of its runs at each peak; None when no peak
    was run twice (then resampling has nothing to vary)."""
    P, L = np.asarray(cell["peaks"], float), np.asarray(cell["losses"], float)
    levels, inv = np.unique(P, return_inverse=True)
    groups = [np.flatnonzero(inv == j) for j in range(levels.size)]
    if max(g.size for g in groups) < 2:
        return None
    # every replicate's mean loss at every peak; mostly diverged is +inf (measured_optimum)
    M = np.empty((n_boot, levels.size))
    for j, g in enumerate(groups):
        draw = L[g][rng.integers(0, g.size, size=(n_boot, g.size))]
        fin = np.isfinite(draw)
        n_fin = fin.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(fin, draw, 0.0).sum(axis=1) / n_fin
        M[:, j] = np.where(2 * n_fin > g.size - 1e-9, mean, np.inf)
    logs = _vertices(np.log(levels), M)
    logs = logs[np.isfinite(logs)]
    if logs.size < 2:
        return None
    # the bootstrap of n runs at a peak shrinks their variance by (n − 1)/n: undo it
    n = min(g.size for g in groups if g.size > 1)
    return float(np.std(logs) * math.sqrt(n / (n - 1)))


def optimum_bend(cells: Sequence[dict[str, Any]], n_boot: int = 200,
                 random_state: int = 0) -> dict[str, Any] | None:
    """The curvature of ln η* in ln T over the bracketed cells (``cell_optima``) of one
    size; None with fewer than four such horizons (a parabola needs a residual).

    Returns T, eta_star, sigma (per cell, None without repeated peaks), local (the
    exponent between consecutive horizons), kappa_line (slope of a straight line),
    kappa_end (b: the exponent at the longest horizon), q and q_se, significant, and the
    noise source ("seeds" or "residuals").

    >>> T = [50, 100, 200, 400, 800]
    >>> u = np.log(np.array(T) / 800.0)
    >>> eta = np.exp(-4.1 - 0.22 * u + 0.07 * u ** 2)
    >>> cells = [{"T": t, "N": None, "eta_star": e, "bracketed": True, "peaks": [e],
    ...           "losses": [1.0]} for t, e in zip(T, eta)]
    >>> b = optimum_bend(cells)
    >>> round(b["q"], 6), round(b["kappa_end"], 6), b["significant"]
    (0.07, -0.22, True)
    """
    ok = [c for c in cells if c.get("bracketed") and c["eta_star"] > 0]
    if len({c.get("N") for c in ok}) > 1:  # the largest size: the one a plan extrapolates
        big = max(c["N"] for c in ok)
        ok = [c for c in ok if c["N"] == big]
    ok = sorted(ok, key=lambda c: c["T"])
    if len({c["T"] for c in ok}) < 4 or len({c["T"] for c in ok}) != len(ok):
        return None
    T = np.array([c["T"] for c in ok], dtype=np.float64)
    y = np.log([c["eta_star"] for c in ok])
    u = np.log(T / T[-1])
    X = np.column_stack([np.ones(T.size), u, u * u])
    rng = np.random.default_rng(random_state)
    sig = [_seed_sigma(c, n_boot, rng) for c in ok]
    seeds = all(s is not None for s in sig)
    if seeds:
        w = 1.0 / np.maximum(np.array(sig, dtype=np.float64), SIGMA_FLOOR) ** 2
        A = X.T @ (X * w[:, None])
        coef = np.linalg.solve(A, X.T @ (w * y))
        chi2 = float(np.sum(w * (y - X @ coef) ** 2)) / (T.size - 3)
        cov = np.linalg.inv(A) * max(chi2, 1.0)  # scatter beyond the seeds' σ widens it
        crit = 2.0
    else:
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        dof = T.size - 3
        s2 = float(np.sum((y - X @ coef) ** 2)) / dof
        cov = max(s2, SIGMA_FLOOR ** 2) * np.linalg.inv(X.T @ X)
        from scipy.special import stdtrit  # not scipy.stats: its import alone costs 0.3 s

        crit = float(stdtrit(dof, 0.975))
    q, q_se = float(coef[2]), float(math.sqrt(cov[2, 2]))
    line = np.polyfit(u, y, 1)[0]
    return {"T": T.tolist(), "eta_star": np.exp(y).tolist(),
            "sigma": [None if s is None else float(s) for s in sig],
            "local": (np.diff(y) / np.diff(np.log(T))).tolist(),
            "kappa_line": float(line), "kappa_end": float(coef[1]), "q": q, "q_se": q_se,
            "significant": bool(abs(q) > crit * q_se),
            "noise": "seeds" if seeds else "residuals"}
