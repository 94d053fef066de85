"""``convex-ed-*-hz``: the effective-distance exponent c drifts with the run's horizon.

Fitted one horizon at a time, the exponent c of the effective distance ½D²·P_t^(c−1)
(``ConvexED``) rises with T on the testbeds (bench/results/cdrift.md). This variant lets
it, with one more named, bounded parameter c1:

    L̂_t = L∞ + s_D·D²·½·P_t^(c(T)−1) + s_G·G²·Y_t(a),
    c(T) = clip(c + c1·ln(T/T_ref), −0.5, 0.95)

where T is the run's OWN horizon (its number of updates with η > 0), not the step t:

- the bound holds for any comparator u, and the one that makes it tight depends on how far
  the run is going, so a per-run effective distance is a per-run choice of comparator;
  every run's curve keeps convex-ed's shape in t (c fixed within a run), and what changes
  between horizons is only the exponent, which is what the per-horizon fits show;
- c depending on the step t would instead bend every curve (ln X quadratic in ln P_t),
  a different law that the per-horizon fits, each good with one constant c, do not ask for.
The price: the prediction at step t of a run depends on where the run will end (two runs
identical up to t but of different lengths get different losses at t). Predict a run with
its whole LR sequence.

T_ref (``horizon_ref``) is where c is reported: given, or the geometric mean of the fitted
runs' horizons (kept in ``fit_info_["horizon_ref"]``). When every fitted run has the same
horizon, c1 is not identified: it is held at 0 (reported at its bound, with a warning) and
the fit is exactly convex-ed's. c(T) is clipped to c's bounds far outside the fitted
horizons (``extrapolation`` says so).

>>> import numpy as np
>>> m = ConvexEDHorizon.from_params({"L_inf": 2.0, "D2": 0.3, "G2": 50.0, "c": 0.5,
...                                  "c1": 0.1}, horizon_ref=1000.0)
>>> round(float(m.c_at(4000)), 4)
0.6386
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from convexlaw.curve.convex import C_BOUNDS, BoundModel, ed_label
from convexlaw.curve.data import CurveData
from convexlaw.fitting import Param

__all__ = ["ConvexEDHorizon"]


class ConvexEDHorizon(BoundModel):
    """``convex-ed-hz`` (+ ``grad="power"``: convex-ed-gt-hz, ``peak="bound"``:
    convex-ed-peak-hz …): ``ConvexED`` with c(T) = c + c1·ln(T/T_ref) (module doc).

    Not a subclass of ConvexED on purpose: code that reads a ConvexED's constant c must
    not read c(T_ref) for c(T). The design's closed-form path reads ``c_at(T)`` at its
    one horizon (``convexlaw.design.objective``).
    """

    name = "convex-ed"
    _ed = True
    # one Nelder–Mead start (from the best grid point at c1 = 0, ``_params``): on 72 fits
    # (the plan's pilot sets of bench/plan_kappa.py and the bend study's seven MLP designs,
    # whole and horizon-split, burn-in 0, 8, 20) a second start never found a lower
    # minimum (RSS within 1.6e-8), and it cost a third of the fit
    n_starts = 1

    def __init__(self, kind: str | None = None, burn_in: int = 0, grad: str = "constant",
                 peak: str | None = None, t_ref: float = 1000.0, peak_ref: float = 1e-3,
                 horizon_ref: float | None = None) -> None:
        super().__init__(kind=kind, burn_in=burn_in)
        self.grad = grad
        self.peak = peak
        self.t_ref = t_ref
        self.peak_ref = peak_ref
        self.horizon_ref = horizon_ref

    @property
    def label(self) -> str:
        return ed_label(self.name, self.grad, self.peak) + "-hz"

    def _validate_hyper(self) -> None:
        super()._validate_hyper()
        h = self.horizon_ref
        if h is not None and not (isinstance(h, int | float) and h > 0):
            raise ValueError(f"horizon_ref must be a positive number of steps or None, got "
                             f"{h!r}")

    def _shape_names(self) -> list[str]:
        names = super()._shape_names()
        return names[:1] + ["c1"] + names[1:]

    def _params(self, upper: float) -> list[Param]:
        # the search starts from the constant-c fit's grid (c1 = 0, ×3 fewer points than a
        # grid over c1 too) and lets Nelder–Mead move c1: the drift is a small correction
        # to convex-ed, and the fits land where the c1 grid (−0.1, 0, 0.1) with two starts
        # took them, or lower (tests/test_curve_horizon.py compares both)
        return [replace(p, grid=(0.0,)) if p.name == "c1" else p
                for p in super()._params(upper)]

    # -- the horizon ---------------------------------------------------------------------
    def _href(self) -> float:
        if self.horizon_ref is not None:
            return float(self.horizon_ref)
        if getattr(self, "_href_fit", None) is not None:
            return float(self._href_fit)
        ref = getattr(self, "fit_info_", {}).get("horizon_ref")
        if ref is None:
            raise RuntimeError("convex-ed-hz: no horizon_ref (give it, or fit the model)")
        return float(ref)

    def _c(self, shape: dict[str, float], T: Any) -> Any:
        c = shape.get("c", 0.0) + shape.get("c1", 0.0) * np.log(np.asarray(T) / self._href())
        return np.clip(c, *C_BOUNDS)

    def c_at(self, T: float) -> float:
        """The fitted exponent c(T) for a run of T steps."""
        self._require_fit()
        return float(self._c(self.params_, float(T)))

    def _held(self, data: list[CurveData]) -> dict[str, float]:
        Ts = sorted({d.T for d in data})
        self._href_fit = (float(self.horizon_ref) if self.horizon_ref is not None else
                          float(np.round(np.exp(np.mean(np.log([d.T for d in data]))))))
        self._extra_warnings = []
        if len(Ts) > 1:
            return {}
        self._extra_warnings = [f"c1 held at 0: every fitted run has horizon T = {Ts[0]}, so "
                                "the drift of c with T is not identified (the fit is "
                                "convex-ed's)"]
        return {"c1": 0.0}

    def fit(self, runs: Any) -> ConvexEDHorizon:
        super().fit(runs)
        self.fit_info_["horizon_ref"] = self._href_fit
        return self

    def extrapolation(self, peak: float, steps: int) -> list[str]:
        notes = super().extrapolation(peak, steps)
        raw = self.params_["c"] + self.params_["c1"] * np.log(steps / self._href())
        if not C_BOUNDS[0] <= raw <= C_BOUNDS[1]:
            notes.append(f"c(T = {steps}) = {raw:.3g} is outside c's bounds {C_BOUNDS}: "
                         f"clipped to {self.c_at(steps):.3g}")
        return notes
