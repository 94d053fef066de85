"""A prototype curve model for issue 8 (G1): the G-part of the bound split in two.

The bound's gradient part (``convexlaw.curve.terms``), for w_k = η_k²·g_k²,

    Y_t = ½(w_t + w_{t−1})/η_t  +  ½ Σ_{k ≤ t−2} w_k/(P_t − P_k)
        = Y_loc                 +  Y_cs          ("cauchy" split)

At a constant LR η (g = 1) Y_loc = η and Y_cs = ½η·H_{t−2} ≈ ½η·ln t: the Cauchy sum is
what makes the constant-LR bound grow like ln t. The split gives each part its own
non-negative coefficient:

    L̂_t = L∞ + s_D·D²·X_t^(c) + s_G·(G²·Y_loc + G2_cs·Y_cs)

G2_cs = G² is the bound. A second split ("average") separates the averaged-iterate bound
from the last-iterate correction instead: Y = Q_t/(2P_t) + (Y − Q_t/(2P_t)), both ≥ 0.
Still linear in its coefficients: the plan's variable projection applies unchanged.
Imported by bench/g1_schedule.py; not in the registry.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convexlaw.bound import bound_terms
from convexlaw.curve import convex as _cv
from convexlaw.curve.convex import ConvexED
from convexlaw.curve.data import CurveData
from convexlaw.fitting import Param

SPLITS = ("cauchy", "average", "floor")


class ConvexEDYSplit(ConvexED):
    """``ConvexED`` with Y = Y_a + Y_b, each with its own coefficient (module doc)."""

    name = "convex-ed"

    def __init__(self, kind: str | None = None, burn_in: int = 0, grad: str = "constant",
                 peak: str | None = None, t_ref: float = 1000.0, peak_ref: float = 1e-3,
                 ysplit: str = "cauchy") -> None:
        super().__init__(kind=kind, burn_in=burn_in, grad=grad, peak=peak, t_ref=t_ref,
                         peak_ref=peak_ref)
        self.ysplit = ysplit

    def _validate_hyper(self) -> None:
        super()._validate_hyper()
        if self.ysplit not in SPLITS:
            raise ValueError(f"ysplit must be one of {SPLITS}, got {self.ysplit!r}")

    @property
    def label(self) -> str:
        return super().label + {"cauchy": "-ycs", "average": "-yavg",
                                "floor": "-floor"}[self.ysplit]

    def _linear_names(self) -> list[str]:
        return ["L_inf", "D2", "G2", "G2_cs"]

    def _stacked(self, data: list[CurveData]):
        return None  # per-run columns (``_columns``)

    def _columns(self, shape: dict[str, float], d: CurveData, exact: bool) -> np.ndarray:
        keep, terms, idx, obs = self._terms(d)
        a = float(shape.get("a", 0.0))
        Y = obs.Y(a, exact=exact) if obs is not None else terms.Y_at(a, idx)
        w = (terms.lrs * terms.profile(a)) ** 2
        if self.ysplit == "floor":  # G_t² = G²·(t/t_ref)^(2a) + G2_cs (a floor)
            Y0 = obs.Y(0.0, exact=exact) if obs is not None else terms.Y_at(0.0, idx)
            X = terms.X(idx, self._c(shape, d.T))
            sD, sG = self._peak_factors(shape, d.peak / self.peak_ref)
            M = np.full((d.steps.size, 4), np.nan)
            M[keep] = np.column_stack([np.ones(idx.size), sD * X, sG * Y, sG * Y0])
            return M
        if self.ysplit == "cauchy":
            prev = np.where(idx >= 1, w[np.maximum(idx - 1, 0)], 0.0)
            Y1 = 0.5 * (w[idx] + prev) / terms.lrs[idx]
        else:
            Y1 = np.cumsum(w)[idx] / (2.0 * terms.P[idx])
        Y2 = np.maximum(Y - Y1, 0.0)  # ≥ 0 exactly; the spline's Y may dip below Y1
        X = terms.X(idx, self._c(shape, d.T))
        sD, sG = self._peak_factors(shape, d.peak / self.peak_ref)
        M = np.full((d.steps.size, 4), np.nan)
        M[keep] = np.column_stack([np.ones(idx.size), sD * X, sG * Y1, sG * Y2])
        return M


def factory(grad: str, peak: str | None, ysplit: str):
    def make(**kw: Any) -> ConvexEDYSplit:
        return ConvexEDYSplit(**{"grad": grad, "peak": peak, "ysplit": ysplit, **kw})
    return make


VARIANTS = {
    "convex-ed-gt-gpeak-ycs": (factory("power", "grad", "cauchy"),
                               "convex-ed-gt-gpeak, Cauchy sum with its own G², k=7"),
    "convex-ed-gpeak-ycs": (factory("constant", "grad", "cauchy"),
                            "convex-ed-gpeak, Cauchy sum with its own G², k=6"),
    "convex-ed-peak-ycs": (factory("constant", "bound", "cauchy"),
                           "convex-ed-peak, Cauchy sum with its own G², k=6"),
    "convex-ed-gt-gpeak-yavg": (factory("power", "grad", "average"),
                                "convex-ed-gt-gpeak, last-iterate correction with its own "
                                "G², k=7"),
    "convex-ed-gt-gpeak-floor": (factory("power", "grad", "floor"),
                                 "convex-ed-gt-gpeak, G_t² = G²(t/t_ref)^(2a) + a floor, k=7"),
    "convex-ed-gt-peak-floor": (factory("power", "bound", "floor"),
                                "convex-ed-gt-peak, G_t² = G²(t/t_ref)^(2a) + a floor, k=7"),
    "convex-ed-gpeak-yavg": (factory("constant", "grad", "average"),
                             "convex-ed-gpeak, last-iterate correction with its own G², k=6"),
}


# the exponent of G_t in the current LR (prototype: registered beside the library's own)
_cv._SHAPE["beta_lr"] = Param("beta_lr", -1.0, 0.45, grid=(-0.4, -0.1, 0.1, 0.25, 0.4))


class ConvexEDGLR(ConvexED):
    """``convex-ed-gt-glr``: the gradient scale follows the CURRENT learning rate,

        G_t = G·(t/t_ref)^a·(η_t/η_ref)^(−β),   so  w_t = η_t²G_t² ∝ η_t^(2−2β)·t^(2a),

    in place of convex-ed-gt-gpeak's G ∝ η_peak^(−β). At a constant LR the two are the same
    model; under a decaying schedule the local response of the loss to the LR is
    η^(1−2β) instead of η: sub-linear for β > 0, as the pilots' loss is across peaks
    (bench/results/diagnose-124m.md, finding 3). Linear in (L∞, D², G²); β (``beta_lr``,
    bounded below ½ so that the local term still vanishes as η_t → 0) and a are searched,
    with Y exact at every design (the kernel of the observed steps)."""

    name = "convex-ed"

    def __init__(self, kind: str | None = None, burn_in: int = 0, grad: str = "power",
                 peak: str | None = None, t_ref: float = 1000.0,
                 peak_ref: float = 1e-3) -> None:
        super().__init__(kind=kind, burn_in=burn_in, grad=grad, peak=peak, t_ref=t_ref,
                         peak_ref=peak_ref)

    @property
    def label(self) -> str:
        return super().label + "-glr"

    def _shape_names(self) -> list[str]:
        return super()._shape_names() + ["beta_lr"]

    def _stacked(self, data: list[CurveData]):
        return None

    def _profile(self, terms: Any, shape: dict[str, float]) -> np.ndarray:
        lr = terms.lrs / self.peak_ref
        with np.errstate(divide="ignore"):
            g = np.where(lr > 0, lr, 1.0) ** (-shape["beta_lr"])
        return terms.profile(float(shape.get("a", 0.0))) * g

    def _columns(self, shape: dict[str, float], d: CurveData, exact: bool) -> np.ndarray:
        keep, terms, idx, obs = self._terms(d)
        g = self._profile(terms, shape)
        if obs is not None:
            eta = terms.lrs
            w = (eta * g) ** 2
            rows = obs._rows
            prev = np.where(rows >= 1, w[np.maximum(rows - 1, 0)], 0.0)
            Yu = 0.5 * (w[rows] + prev) / eta[rows] + 0.5 * obs._sums(w[:, None])[:, 0]
            Y = Yu[obs._inv]
        else:
            Y = bound_terms(terms.lrs, grad_scale=g, at=idx + 1)[1]
        X = terms.X(idx, self._c(shape, d.T))
        sD, sG = self._peak_factors(shape, d.peak / self.peak_ref)
        M = np.full((d.steps.size, 3), np.nan)
        M[keep] = np.column_stack([np.ones(idx.size), sD * X, sG * Y])
        return M


VARIANTS["convex-ed-gt-glr"] = (ConvexEDGLR, "convex-ed-gt with G_t ∝ t^a·η_t^(−β), k=6")
VARIANTS["convex-ed-glr"] = (lambda **kw: ConvexEDGLR(**{"grad": "constant", **kw}),
                             "convex-ed with G_t ∝ η_t^(−β), k=5")
VARIANTS["convex-ed-gt-gpeak-glr"] = (
    lambda **kw: ConvexEDGLR(**{"peak": "grad", **kw}),
    "convex-ed-gt with G_t ∝ t^a·η_peak^(−β)·η_t^(−β_lr), k=7")
VARIANTS["convex-ed-peak-glr"] = (
    lambda **kw: ConvexEDGLR(**{"grad": "constant", "peak": "bound", **kw}),
    "convex-ed-peak with G_t ∝ η_t^(−β_lr), k=6")
