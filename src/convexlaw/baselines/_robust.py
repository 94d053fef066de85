"""Shared fitting for the peer laws: robust least squares on log-loss residuals.

Each peer declares its parameters (``convexlaw.fitting.Param``: name, bounds,
log-parametrised) and a vectorised ``_evaluate(params, d)``; ``L0``-like floors get the
upper bound min(loss). The fit is ``convexlaw.fitting.polish`` from the peer's starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from convexlaw.curve.base import CurveModel
from convexlaw.curve.data import CurveData
from convexlaw.fitting import Param, Problem, polish

__all__ = ["RobustModel"]


class RobustModel(CurveModel):
    """A peer law fitted by ``least_squares(loss="soft_l1", f_scale=1e-3)`` on log L.

    ``floor_param`` names the asymptote bounded by min(observed loss) (None: no such bound,
    for laws whose loss-drop term legitimately takes the loss below their L0).
    """

    name = "robust"
    floor_param = "L0"

    def __init__(self, kind: str | None = None, burn_in: int = 0, loss: str = "soft_l1",
                 f_scale: float = 1e-3) -> None:
        super().__init__(kind=kind, burn_in=burn_in)
        self.loss = loss
        self.f_scale = f_scale

    # subclasses -------------------------------------------------------------------------
    def _spec(self) -> list[Param]:
        """The parameters, in order; the floor's upper bound is set to min(loss) at fit."""
        raise NotImplementedError

    def _starts(self, data: list[CurveData]) -> list[dict[str, float]]:
        raise NotImplementedError

    def _evaluate(self, params: dict[str, float], d: CurveData) -> np.ndarray:
        raise NotImplementedError

    def _gradient(self, params: dict[str, float], d: CurveData) -> np.ndarray:
        """Optional analytic d prediction / d parameter, shape (n_obs, k)."""
        raise NotImplementedError

    # machinery --------------------------------------------------------------------------
    def _validate_hyper(self) -> None:
        super()._validate_hyper()
        if self.loss not in ("linear", "soft_l1", "huber", "cauchy", "arctan"):
            raise ValueError(f"loss must be a scipy least_squares loss, got {self.loss!r}")
        if not (isinstance(self.f_scale, int | float) and self.f_scale > 0):
            raise ValueError(f"f_scale must be positive, got {self.f_scale!r}")

    def _fit_data(self, data: list[CurveData]) -> tuple[dict[str, float], dict[str, Any]]:
        y = np.concatenate([d.y for d in data])
        params = [dataclasses.replace(p, upper=float(y.min())) if p.name == self.floor_param
                  else p for p in self._spec()]

        def predict(v: dict[str, float], idx: np.ndarray) -> np.ndarray:
            return np.concatenate([self._evaluate(v, d) for d in data])

        gradient = None
        if type(self)._gradient is not RobustModel._gradient:
            def gradient(v: dict[str, float], idx: np.ndarray) -> np.ndarray:
                return np.vstack([self._gradient(v, d) for d in data])  # d pred / d value

        # a loss-drop term can push the prediction through zero: log ŷ is taken at
        # max(ŷ, 1e-3·y)
        problem = Problem(params, predict, y, gradient=gradient, floor=1e-3)
        starts = [problem.z(s) for s in self._starts(data)]
        z, _, _ = polish(problem, starts, np.arange(y.size), loss=self.loss,
                         delta=self.f_scale, max_nfev=2000, tol=1e-10, margin=1e-6,
                         xtol=1e-8)
        return problem.values(z), {p.name: (p.lower, p.upper) for p in params}

    def _predict_data(self, params: dict[str, float], d: CurveData) -> np.ndarray:
        return self._evaluate(params, d)


def lr_area(d: CurveData) -> np.ndarray:
    """P_t = η_1 + … + η_t at the observed steps (cached on d)."""
    if "P_obs" not in d.cache:
        d.cache["P_obs"] = np.cumsum(d.lrs)[d.steps - 1]
    return d.cache["P_obs"]


def decay_changes(lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, Δ_k = η_{k−1} − η_k) for 0-based updates k after the (first) peak, Δ ≠ 0.

    The warm-up ramp before the peak is not a decay: the peers count drops from the peak.
    """
    kp = int(np.argmax(lrs))
    k = np.arange(kp + 1, lrs.size)
    delta = lrs[k - 1] - lrs[k]
    nz = delta != 0
    return k[nz], delta[nz]
