"""Goodness-of-fit metrics for loss curves, the ones the peer laws publish.

With observations y_i and predictions ŷ_i (i = 1..n):

    R²     = 1 − Σ(ŷ−y)² / Σ(y−ȳ)²
    MAE    = mean |ŷ − y|
    RMSE   = √ mean (ŷ − y)²
    PredE  = mean |ŷ − y| / y          (mean relative error, Multi-Power Law's "PredE")
    WorstE = max  |ŷ − y| / y          (worst relative error)

>>> import numpy as np
>>> m = curve_metrics(np.array([3.0, 2.5, 2.0]), np.array([3.0, 2.5, 2.1]))
>>> round(m["WorstE"], 4), round(m["MAE"], 4)
(0.05, 0.0333)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["METRICS", "curve_metrics", "mae", "mean_rel_error", "pooled_metrics", "r2", "rmse",
           "worst_rel_error"]

METRICS = ("R2", "MAE", "RMSE", "PredE", "WorstE")


def _pair(y: ArrayLike, yhat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    yhat = np.asarray(yhat, dtype=np.float64).ravel()
    if y.shape != yhat.shape:
        raise ValueError(
            f"observed and predicted losses differ in length: {y.size} vs {yhat.size}"
        )
    if y.size == 0:
        raise ValueError("no points to score: the observed loss array is empty")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"observed losses contain {np.sum(~np.isfinite(y))} NaN/inf values")
    return y, yhat


def r2(y: ArrayLike, yhat: ArrayLike) -> float:
    """Coefficient of determination 1 − SS_res/SS_tot (nan for a constant y)."""
    y, yhat = _pair(y, yhat)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((yhat - y) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mae(y: ArrayLike, yhat: ArrayLike) -> float:
    """Mean absolute error."""
    y, yhat = _pair(y, yhat)
    return float(np.mean(np.abs(yhat - y)))


def rmse(y: ArrayLike, yhat: ArrayLike) -> float:
    """Root mean squared error."""
    y, yhat = _pair(y, yhat)
    return float(np.sqrt(np.mean((yhat - y) ** 2)))


def mean_rel_error(y: ArrayLike, yhat: ArrayLike) -> float:
    """Mean of |ŷ − y| / |y|."""
    y, yhat = _pair(y, yhat)
    return float(np.mean(np.abs(yhat - y) / np.abs(y)))


def worst_rel_error(y: ArrayLike, yhat: ArrayLike) -> float:
    """Maximum of |ŷ − y| / |y|."""
    y, yhat = _pair(y, yhat)
    return float(np.max(np.abs(yhat - y) / np.abs(y)))


def curve_metrics(y: ArrayLike, yhat: ArrayLike) -> dict[str, float]:
    """All of METRICS for one set of points (pool several curves by concatenating)."""
    y, yhat = _pair(y, yhat)
    return {
        "R2": r2(y, yhat),
        "MAE": mae(y, yhat),
        "RMSE": rmse(y, yhat),
        "PredE": mean_rel_error(y, yhat),
        "WorstE": worst_rel_error(y, yhat),
    }


def pooled_metrics(pairs: Iterable[tuple[ArrayLike, ArrayLike]]) -> dict[str, float]:
    """curve_metrics over the concatenation of several (y, ŷ) pairs."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("no curves to score")
    y = np.concatenate([np.asarray(p[0], dtype=np.float64).ravel() for p in pairs])
    yhat = np.concatenate([np.asarray(p[1], dtype=np.float64).ravel() for p in pairs])
    return curve_metrics(y, yhat)
