"""The law of tuned losses: L*(N, T) when every row was run at its optimal peak LR.

Minimising the horizon law over η leaves (n = N/N_ref, τ = T/t_ref)::

    L*(N, T) = L∞(N) + C·n^(−σ)·τ^κ,      L∞(N) = E + A·n^(−α)  (or A·n^(−α), or E)

The literal bound fixes κ = −1/2 (L* = L∞ + 2q1q2/√T); the other variants free κ, and the
fitted κ is reported with the c (effective distance, κ = −(1−c)/(2−c)) or a (gradient scale,
κ = −1/2 + a) it implies. This is the Chinchilla form in (N, T) with the horizon exponent
tied to the bound. It predicts losses, not learning rates: q1 and q2 enter only through
their product, so the optimal peak is not identified from tuned rows alone.

>>> import numpy as np
>>> T = np.array([1e3, 2e3, 4e3, 8e3, 16e3])
>>> d = LawData.from_arrays(T=T, loss=2.5 + 30.0 / np.sqrt(T))
>>> law = OptimumLaw(n_boot=0).fit(d)
>>> round(law.params_["L_inf"], 6), round(law.params_["C"] * law.t_ref_ ** 0.5, 4)
(2.5, 30.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.fitting import Param
from convexlaw.laws.base import Law, LinfForm, reach_warnings
from convexlaw.laws.data import LawData

__all__ = ["OptimumLaw"]


class OptimumLaw(LinfForm, Law):
    """L*(N, T) = L∞(N) + C·(N/N_ref)^(−σ)·(T/t_ref)^κ for rows tuned at their optimum.

    With a single model size (or no N) it reduces to L*(T) = L∞ + C·(T/t_ref)^κ.
    ``linf`` as in ``SizeLaw`` (used only with several sizes).
    """

    kind = "OptimumLaw"

    def _check_data(self, data: LawData, idx: np.ndarray) -> None:
        sizes = 1 if data.N is None else np.unique(data.N[idx]).size
        form = self._linf_form(sizes)
        self.sized_ = sizes >= 2
        self.linf_ = form if self.sized_ else "constant"

    @property
    def sized(self) -> bool:  # type: ignore[override]
        return bool(getattr(self, "sized_", False))

    def _params(self, data: LawData, idx: np.ndarray) -> list[Param]:
        lmin = float(data.loss[idx].min())
        out = []
        if self.linf_ in ("offset", "constant"):
            out.append(Param("L_inf" if not self.sized else "E", 0.0, lmin, linear=True))
        if self.linf_ in ("offset", "power"):
            out += [Param("A", 0.0, 1e3 * float(data.loss[idx].max()), linear=True),
                    Param("alpha", 0.0, 3.0, grid=(0.1, 0.3, 0.7))]
        out.append(Param("C", 1e-10, 1e10, log=True, linear=True))
        if self.sized:
            out.append(Param("sigma", -3.0, 3.0, grid=(0.0, 0.3, 0.6)))
        if self.variant != "literal":
            out.append(Param("kappa", -2.0, 0.0, grid=(-0.6, -0.4, -0.25, -0.1)))
        return out

    def _fixed(self) -> dict[str, float]:
        fixed: dict[str, float] = {}
        if self.variant == "literal":
            fixed["kappa"] = -0.5
        if not self.sized:
            fixed.update(sigma=0.0, A=0.0, alpha=0.0)
        elif self.linf_ == "power":
            fixed["E"] = 0.0
        elif self.linf_ == "constant":
            fixed.update(A=0.0, alpha=0.0)
        return fixed

    def _n(self, data: LawData, idx: np.ndarray) -> np.ndarray:
        if not self.sized or data.N is None:
            return np.ones(idx.size)
        return data.N[idx] / self.N_ref_

    def _basis(self, v: dict[str, float], data: LawData, idx: np.ndarray
               ) -> dict[str, np.ndarray]:
        n = self._n(data, idx)
        lin = "E" if self.sized else "L_inf"
        return {lin: np.ones(idx.size), "A": n ** (-v["alpha"]),
                "C": n ** (-v["sigma"]) * (data.T[idx] / self.t_ref_) ** v["kappa"]}

    def _predict(self, v: dict[str, float], data: LawData, idx: np.ndarray) -> np.ndarray:
        return sum((v[k] * col for k, col in self._basis(v, data, idx).items()),
                   np.zeros(idx.size))

    # ------------------------------------------------------------ prediction
    def predict(self, T: ArrayLike, N: ArrayLike | None = None) -> np.ndarray:
        """Predicted tuned loss L*(N, T)."""
        q = self._query(T, N)
        return self._predict(self.params_, q, np.arange(q.n))

    def _query(self, T: ArrayLike, N: ArrayLike | None) -> LawData:
        self._check_fitted()
        if self.sized and N is None:
            raise ValueError("this law spans several model sizes: give N")
        if not self.sized and N is not None:
            raise ValueError("this law was fitted at a single model size: it has no N")
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        if not np.all(np.isfinite(T) & (T > 0)):
            raise ValueError(f"T must be finite and > 0, got {T!r}")
        return LawData.query(T, None, N)

    def forecast(self, T: float, N: float | None = None, peak: float | None = None,
                 shape: Any = None, at: Any = None) -> dict[str, Any]:
        """L*(T) (and N) with its bootstrap interval; η* is not identified (None)."""
        if peak is not None:
            raise ValueError("the law was fitted on tuned rows (no peak_lr column): it "
                             "predicts the tuned loss only, not the loss at a given peak")
        q = self._query([T], None if N is None else [N])
        ii = np.arange(1)
        ls, lo, hi = self._with_interval(lambda v: self._predict(v, q, ii))
        return {"T": float(T), "N": None if N is None else float(N), "eta_star": None,
                "eta_star_interval": None, "loss_star": float(ls[0]),
                "loss_star_interval": [float(lo[0]), float(hi[0])], "level": self.level,
                "variant": self.variant,
                "warnings": reach_warnings(self.pilots_, np.array([T]),
                                           None if N is None else np.array([N]))}

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"linf_form": self.linf_, "sized": self.sized}

    def _restore(self, d: dict[str, Any]) -> None:
        self.linf_ = d["linf_form"]
        self.sized_ = bool(d["sized"])

    def _derived_lines(self) -> list[str]:
        k = self.params_["kappa"]
        lines = ["derived:", f"  L* − L∞ ∝ T^{k:+.4f}   (literal bound: −0.5)"]
        if self.variant != "literal" and -1 < k < 0:
            c = (1 + 2 * k) / (1 + k)
            lines.append(f"  implied c = {c:.3f} (effective distance) or a = {k + 0.5:+.3f}"
                         " (gradient scale)")
        if self.sized:
            lines.append(f"  C ∝ N^{-self.params_['sigma']:+.4f}")
        return lines
