"""Plain power law in the LR area: L̂_t = L0 + A·P_t^(−α), P_t = η_1 + … + η_t.

The simplest schedule-aware law (the S1 term of Tissue et al. 2024 and of the
Multi-Power Law): it sees how far the LR has carried the run, not when the LR fell.

>>> import numpy as np
>>> m = PowerLaw.from_params({"L0": 2.0, "A": 1.0, "alpha": 0.5})
>>> round(float(m.predict(np.full(100, 0.01), [100])[0]), 12)
3.0
"""

from __future__ import annotations

import numpy as np

from convexlaw.baselines._robust import RobustModel, lr_area
from convexlaw.curve.data import CurveData
from convexlaw.fitting import Param

__all__ = ["PowerLaw", "powerlaw_starts"]


def powerlaw_starts(data: list[CurveData]) -> list[dict[str, float]]:
    """Starts for (L0, A, α) from the first and last observation of the pooled data."""
    y = np.concatenate([d.y for d in data])
    P = np.concatenate([lr_area(d) for d in data])
    i0, i1 = int(np.argmin(P)), int(np.argmax(P))
    starts = []
    for frac in (0.8, 0.95):
        L0 = frac * float(y.min())
        for alpha in (0.3, 0.7):
            A = max(float(y[i0]) - L0, 1e-3) * float(P[i0]) ** alpha
            starts.append({"L0": L0, "A": A, "alpha": alpha})
    del i1
    return starts


# the contributing page shows this model as the recipe: --8<-- [start:powerlaw]
class PowerLaw(RobustModel):
    """``powerlaw``: L0 + A·P_t^(−α) (k = 3), robust fit on log loss."""

    name = "powerlaw"

    def _spec(self):
        return [Param("L0", 0.0, np.inf), Param("A", 1e-12, 1e12, log=True),
                Param("alpha", 1e-3, 5.0)]

    def _starts(self, data):
        return powerlaw_starts(data)

    def _evaluate(self, p, d):
        return p["L0"] + p["A"] * lr_area(d) ** (-p["alpha"])
# --8<-- [end:powerlaw]
