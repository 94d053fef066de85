"""Convexity along the update direction (GeN, Bu & Xu 2025), from five probe losses.

The update of step t+1 is w_{t+1} = w_t − η_{t+1}·d (d: the optimizer's direction per
unit learning rate, momentum and preconditioning included). Along it,
φ(α) = L(w_t − α d) is probed at α ∈ {−2ε, −ε, 0, ε, 2ε}. With L₊ = L(w + εd) = φ(−ε),
L₋ = L(w − εd) = φ(ε) and L₀ = φ(0):

    curvature   κ  = (L₊ + L₋ − 2L₀)/ε²     (= dᵀ∇²L d up to O(ε²); convex-like: κ > 0)
    slope       φ' = (L₋ − L₊)/(2ε)          (= −∇Lᵀd)
    GeN step    α* = −φ'/κ                    (the minimiser of the quadratic; κ > 0 only)

``curvature_normalised`` = κ/‖d‖² is a Rayleigh quotient of the Hessian, so it lies in
[λ_min, λ_max]. ``r2`` is the R² of the least-squares quadratic through all five probes:
how well a quadratic describes the loss along d over ±2ε (three points fit exactly).

>>> e = 0.1
>>> p = probe_quadratic(e, [1 + 2*e + 4*e*e, 1 + e + e*e, 1.0, 1 - e + e*e, 1 - 2*e + 4*e*e])
>>> round(p["curvature"], 9), round(p["slope"], 9), round(p["alpha_star"], 9), p["r2"]
(2.0, -1.0, 0.5, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["PROBES", "probe_quadratic"]

PROBES = (-2, -1, 0, 1, 2)  # multiples of ε in φ(α) = L(w − α d)


def probe_quadratic(eps: float, losses: Sequence[float], d_norm: float | None = None
                    ) -> dict[str, float | None]:
    """Curvature, slope, quadratic R² and GeN step from φ at α = ε·(−2, −1, 0, 1, 2)."""
    phi = np.asarray(losses, dtype=np.float64)
    if phi.shape != (len(PROBES),):
        raise ValueError(f"need {len(PROBES)} probe losses at α = ε·{PROBES}, got {phi.size}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"probe step ε must be finite and > 0, got {eps!r}")
    bad = np.flatnonzero(~np.isfinite(phi))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"probe loss at α = {PROBES[i]}ε is {float(phi[i])}; expected a "
                         "finite loss")
    back, here, fwd = phi[1], phi[2], phi[3]  # φ(−ε) = L₊, φ(0) = L₀, φ(ε) = L₋
    curvature = (back + fwd - 2 * here) / eps**2
    slope = (fwd - back) / (2 * eps)
    alphas = eps * np.asarray(PROBES, dtype=np.float64)
    coef = np.polyfit(alphas / eps, phi, 2)  # scaled abscissa: well-conditioned
    resid = phi - np.polyval(coef, alphas / eps)
    ss_tot = float(np.sum((phi - phi.mean()) ** 2))
    r2 = None if ss_tot <= 0 else 1.0 - float(np.sum(resid**2)) / ss_tot
    return {
        "curvature": float(curvature),
        "curvature_normalised": (float(curvature / d_norm**2) if d_norm else None),
        "slope": float(slope),
        "r2": r2,
        "alpha_star": float(-slope / curvature) if curvature > 0 else None,
    }
