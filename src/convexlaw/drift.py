"""The held-out drift of a law's L*: measured at the longest pilot horizon, carried to the
target, with the noise of what it was measured on.

A law reaches a longer horizon only through its exponent in T: an exponent off by δ puts
ln L* off by ≈ δ·ln(T/T_ref) (L* − L∞ ∝ T^κ), an error that grows linearly in ln T. The
plan's horizon split measures it: fitted on the horizons up to T_fit, the law's L* at the
held-out longest horizon T_n is off by e = L*_pred/L*_meas − 1 (``convexlaw.choice.
optimum_error``). The plan's own fit ends at T_n and reaches to T, so the same drift,
carried over the log-distance, is

    ln(L*_pred(T)/L*(T)) ≈ r·ln(1 + e),   r = ln(T/T_n) / ln(T_n/T_fit)

and the corrected L* = L*_fit·(1 + e)^(−r). The measured L*_meas carries the seeds' noise
σ, which the correction carries r-fold to the target: where the pilots repeat a peak
(seeds), σ is estimated from them and reported beside e. It is not used as a gate:
measured on the demo's pilots, e = +1.24 % is 1.6σ (σ = 0.76 %), and the correction still
takes the demo's L* error from +3.15 % to +0.23 % — a 2σ gate would have thrown that away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["drift", "loss_noise"]


def loss_noise(peaks: Sequence[float], finals: Sequence[float], eta: float) -> float | None:
    """Relative standard error of a measured optimum's loss from repeated peaks (seeds).

    σ² = the pooled within-peak variance of final/mean − 1 over the peaks run more than
    once; the optimum's loss is read near ``eta`` from the mean of the n runs at the
    nearest peak, so its standard error is σ/√n. None when no peak was run twice (the
    noise is then unknown).

    >>> round(loss_noise([1, 1, 2, 2], [1.0, 1.02, 0.9, 0.92], 2.0), 5)
    0.01046
    >>> loss_noise([1, 2, 4], [1.0, 0.9, 1.0], 2.0) is None
    True
    """
    p = np.asarray(peaks, dtype=np.float64)
    v = np.asarray(finals, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(p) & (p > 0)
    p, v = p[ok], v[ok]
    if p.size == 0:
        return None
    levels, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    means = np.bincount(inv, weights=v) / counts
    rel = v / means[inv] - 1.0
    dof = int(np.sum(counts - 1))
    if dof == 0:
        return None
    sigma = math.sqrt(float(rel @ rel) / dof)
    n = int(counts[np.argmin(np.abs(np.log(levels / eta)))])
    return sigma / math.sqrt(n)


def drift(row: dict[str, Any], T_longest: int, steps: int) -> dict[str, Any] | None:
    """The held-out drift of a law's L*, carried to the target (see the module).

    Only where the drift was measured like the target's: a law (curve models reach T
    through the whole curve, not an exponent) scored on the optimum of a horizon split
    whose fit spans ≥ 2 horizons (a law fitted on one horizon has no measured exponent),
    and only for T beyond the longest pilot. ``factor`` multiplies L*: (1 + e)^(−r);
    ``noise``: σ of the measured optimum's loss (relative; None with one run per peak).

    >>> row = {"source": "law", "optimum": {"loss_error": 0.02, "T_test": 800,
    ...                                     "fit_horizons": [200, 400]}}
    >>> d = drift(row, 800, 3200)   # r = ln 4 / ln 2 = 2: the 2 % drift twice over
    >>> round(d["r"], 6), round(d["factor"], 6) == round(1.02 ** -2, 6), d["noise"]
    (2.0, True, None)
    """
    o = row.get("optimum")
    if row.get("source") != "law" or not o or "fit_horizons" not in o:
        return None
    fit_T = o["fit_horizons"]
    if len(fit_T) < 2 or steps <= T_longest or o["T_test"] != T_longest \
            or not o["loss_error"] > -1:
        return None
    e = float(o["loss_error"])
    r = math.log(steps / T_longest) / math.log(o["T_test"] / max(fit_T))
    return {"error": e, "r": float(r), "factor": float((1.0 + e) ** (-r)),
            "noise": o.get("loss_noise"), "T_test": int(o["T_test"]),
            "T_fit": int(max(fit_T))}
