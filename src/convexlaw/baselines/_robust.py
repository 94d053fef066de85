"""Shared fitting for the peer laws: robust least squares on log-loss residuals.

Each peer declares its parameters as (name, lower, upper, log-parametrised) and a
vectorised ``_evaluate(params, d)``; ``L0``-like floors get the upper bound min(loss).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from convexlaw.curve.base import CurveModel
from convexlaw.curve.data import CurveData
from convexlaw.curve.fitting import robust_fit

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
    def _spec(self) -> list[tuple[str, float, float, bool]]:
        """(name, lower, upper, log) per parameter, in order; the floor's upper is set later."""
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
        logy = np.log(y)
        spec = [(n, lo, (float(y.min()) if n == self.floor_param else hi), lg)
                for n, lo, hi, lg in self._spec()]
        names = [s[0] for s in spec]
        is_log = np.array([s[3] for s in spec])
        lower = np.array([math.log(s[1]) if s[3] else s[1] for s in spec])
        upper = np.array([math.log(s[2]) if s[3] else s[2] for s in spec])

        def unpack(x: np.ndarray) -> dict[str, float]:
            v = np.where(is_log, np.exp(np.clip(x, -700, 700)), x)
            return dict(zip(names, v.tolist(), strict=True))

        def residuals(x: np.ndarray) -> np.ndarray:
            p = unpack(x)
            pred = np.concatenate([self._evaluate(p, d) for d in data])
            # a loss-drop term can push the prediction through zero: keep log finite
            return np.log(np.maximum(pred, 1e-3 * y)) - logy

        jac = None
        if type(self)._gradient is not RobustModel._gradient:
            def jac(x: np.ndarray) -> np.ndarray:
                p = unpack(x)
                pred = np.concatenate([self._evaluate(p, d) for d in data])
                grad = np.vstack([self._gradient(p, d) for d in data])  # d pred / d value
                vals = np.array([p[n] for n in names])
                grad = grad * np.where(is_log, vals, 1.0)[None, :]
                return grad / np.maximum(pred, 1e-3 * y)[:, None]

        starts = []
        for s in self._starts(data):
            x0 = np.array([math.log(max(s[n], 1e-300)) if lg else s[n]
                           for n, lg in zip(names, is_log, strict=True)])
            starts.append(x0)
        x, _ = robust_fit(residuals, starts, lower, upper, f_scale=self.f_scale,
                          loss=self.loss, jac=jac)
        params = unpack(x)
        bounds = {s[0]: (s[1], s[2]) for s in spec}
        return params, bounds

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
