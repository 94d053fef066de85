"""Momentum law of Tissue et al. 2024 ("Scaling law with learning-rate annealing").

    L̂_t = L0 + A·S1(t)^(−α) − C·S2(t)
    S1(t) = η_1 + … + η_t                               (forward area)
    m_k  = λ·m_{k−1} + (η_{k−1} − η_k),  S2(t) = Σ_{k ≤ t} m_k   (annealing momentum)

with λ fixed (default 0.999, the paper's recommendation) and the decay counted from the
peak (the warm-up ramp is not annealing). k = 4 fitted parameters (L0, A, α, C).
The momentum recursion is a linear filter: evaluated with ``scipy.signal.lfilter``.

>>> import numpy as np
>>> m = TissueLaw.from_params({"L0": 2.0, "A": 1.0, "alpha": 0.5, "C": 0.0})
>>> round(float(m.predict(np.full(100, 0.01), [100])[0]), 12)
3.0
"""

from __future__ import annotations

import numpy as np

from convexlaw.baselines._robust import RobustModel, decay_changes, lr_area
from convexlaw.baselines.powerlaw import powerlaw_starts
from convexlaw.fitting import Param

__all__ = ["TissueLaw", "annealing_area"]


def annealing_area(lrs: np.ndarray, steps: np.ndarray, lam: float) -> np.ndarray:
    """S2 at 1-based ``steps``: cumulative sum of the momentum of LR drops after the peak."""
    from scipy.signal import lfilter  # scipy.signal is slow to import: only when needed

    delta = np.zeros(lrs.size)
    k, dk = decay_changes(lrs)
    delta[k] = dk
    m = lfilter([1.0], [1.0, -lam], delta)
    return np.cumsum(m)[np.asarray(steps) - 1]


class TissueLaw(RobustModel):
    """``tissue``: L0 + A·S1^(−α) − C·S2 with momentum λ (hyper-parameter)."""

    name = "tissue"
    floor_param = None  # −C·S2 takes the loss below L0: no L0 ≤ min(loss) bound

    def __init__(self, kind: str | None = None, burn_in: int = 0, lam: float = 0.999,
                 loss: str = "soft_l1", f_scale: float = 1e-3) -> None:
        super().__init__(kind=kind, burn_in=burn_in, loss=loss, f_scale=f_scale)
        self.lam = lam

    def _validate_hyper(self):
        super()._validate_hyper()
        if not (0.0 <= self.lam < 1.0):
            raise ValueError(f"lam (momentum λ) must be in [0, 1), got {self.lam!r}")

    def _spec(self):
        return [Param("L0", 0.0, np.inf), Param("A", 1e-12, 1e12, log=True),
                Param("alpha", 1e-3, 5.0), Param("C", 1e-9, 1e12, log=True)]

    def _s2(self, d):
        key = ("S2", self.lam)
        if key not in d.cache:
            d.cache[key] = annealing_area(d.lrs, d.steps, self.lam)
        return d.cache[key]

    def _starts(self, data):
        peak = max(d.peak for d in data)
        out = []
        for s in powerlaw_starts(data):
            for c in (0.1, 1.0):
                # S2 saturates near (1/(1−λ))·(total drop) ≈ 1000·peak: C·S2 ~ 0.1–1 nats
                out.append({**s, "C": c / (peak / (1 - self.lam))})
        return out

    def _evaluate(self, p, d):
        return p["L0"] + p["A"] * lr_area(d) ** (-p["alpha"]) - p["C"] * self._s2(d)
