"""Horizon law and size law: final loss against peak LR, horizon T and model size N.

With the bound's shape constants x = X_T(s) and y = Y_T(s; g) of a schedule shape s at
peak 1 (``LawData``; in table mode x = 1/T, y = 1), the loss at peak η is::

    L(T, η) = L∞ + q1²·x^(1−c)·η^(c−1) + q2²·y_a·η

- ``literal`` (c = 0, a = 0): L = L∞ + q1²/(T·η) + q2²·η, the bound as written, so
  η*(T) = q1/(q2·√T) and L*(T) = L∞ + 2·q1·q2/√T; transfer η*(T) = η_ref/√T, η_ref = q1/q2.
- ``distance`` (c free): effective distance D² → D²·P^c; the bias decays like
  (T·η)^(c−1), η* ∝ T^κ with κ = −(1−c)/(2−c).
- ``gradient`` (a free): gradient scale G_t ∝ t^a inside the bound (y from
  ``bound_terms`` with that profile; in table mode y = (T/t_ref)^(2a)), κ = −(1+2a)/2
  without the distance term.
- ``peak`` (γ free): the whole excess × (η/η_p)^γ, η_p the pilots' geometric-mean peak
  (REFERENCE-RESULTS "V4+5"); it reshapes the loss-versus-peak curve, not κ.
- any '+'-combination, e.g. ``distance+gradient``: in table mode κ = −(1 − c + 2a)/(2 − c).

In every variant the optimum is closed-form: with B1 = q1²·x^(1−c), B2 = q2²·y_a,
η* = ((1−c−γ)·B1/((1+γ)·B2))^(1/(2−c)) and L* = L∞ + (η*/η_p)^γ·(B1·η*^(c−1) + B2·η*).

``SizeLaw`` makes the coefficients power laws in n = N/N_ref (N_ref the pilots' geometric
mean): L∞(N) = E + A·n^(−α), q1(N) = q1·n^β1, q2(N) = q2·n^β2, so the transfer constant
η_ref ∝ n^(β1−β2) and C = 2q1q2 ∝ n^(β1+β2); everything is fitted jointly over all
(N, T, η) points.

>>> import numpy as np
>>> T = np.repeat([1e3, 4e3, 16e3], 4); eta = np.tile([3e-4, 1e-3, 3e-3, 1e-2], 3)
>>> loss = 2.0 + 4.0 / (T * eta) + 25.0 * eta
>>> law = HorizonLaw(n_boot=0).fit(LawData.from_arrays(T=T, loss=loss, peak=eta))
>>> round(law.params_["q1"], 4), round(law.params_["q2"], 4)
(2.0, 5.0)
>>> eta_star, loss_star = law.optimal_peak(4e3)
>>> round(float(eta_star[0] * 4e3 ** 0.5), 6)   # η_ref = q1/q2
0.4
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.fitting import Param
from convexlaw.laws.base import Law, LinfForm, reach_warnings
from convexlaw.laws.data import LawData

__all__ = ["HorizonLaw", "SizeLaw"]

_C_MAX = 0.95


class _BoundLaw(Law):
    """Shared formula of the horizon and size laws (see the module docstring)."""

    _POWER = {"q1": 2, "q2": 2}

    # ------------------------------------------------------------ structure
    def _fixed(self) -> dict[str, float]:
        fixed = {}
        if "distance" not in self.flags_:
            fixed["c"] = 0.0
        if "gradient" not in self.flags_:
            fixed["a"] = 0.0
        if "peak" not in self.flags_:
            fixed["gamma"] = 0.0
        return fixed

    def _shape_params(self) -> list[Param]:
        out = []
        if "distance" in self.flags_:
            out.append(Param("c", 0.0, _C_MAX, grid=(0.0, 0.3, 0.6)))
        if "gradient" in self.flags_:
            out.append(Param("a", -1.0, 1.0, grid=(-0.4, -0.2, 0.0, 0.2)))
        if "peak" in self.flags_:
            out.append(Param("gamma", -0.9, 0.9, grid=(-0.3, 0.0, 0.3)))
        return out

    def _check_data(self, data: LawData, idx: np.ndarray) -> None:
        if data.peak is None:
            raise ValueError(f"{data.source}: the {self.kind} needs the peak LR of every "
                             "point; rows tuned at their optimum (no peak_lr) are fitted by "
                             "OptimumLaw")
        self.peak_ref_ = float(np.exp(np.mean(np.log(data.peak[idx]))))

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"peak_ref": self.peak_ref_}

    def _restore(self, d: dict[str, Any]) -> None:
        self.peak_ref_ = float(d["peak_ref"])

    def _n(self, data: LawData, idx: np.ndarray) -> np.ndarray | float:
        return 1.0

    def _linear_cols(self, v: dict[str, float], n: np.ndarray | float, size: int
                     ) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _units(self, v: dict[str, float], data: LawData, idx: np.ndarray
               ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(L∞ columns, u1, u2) with B1 = q1²·u1 and B2 = q2²·u2 per unit coefficient."""
        n = self._n(data, idx)
        c, a = v["c"], v["a"]
        u1 = data.x[idx] ** (1.0 - c)
        u2 = np.exp(data.logy(a, self.t_ref_)[..., idx])  # a may be a batch (B, 1)
        if not isinstance(n, float):
            u1 = u1 * n ** (2 * v.get("beta1", 0.0))
            u2 = u2 * n ** (2 * v.get("beta2", 0.0))
        return self._linear_cols(v, n, idx.size), u1, u2

    def _basis(self, v: dict[str, float], data: LawData, idx: np.ndarray
               ) -> dict[str, np.ndarray]:
        cols, u1, u2 = self._units(v, data, idx)
        assert data.peak is not None  # checked by _check_data
        eta = data.peak[idx]
        f = (eta / self.peak_ref_) ** v["gamma"]
        cols["q1"] = u1 * eta ** (v["c"] - 1.0) * f
        cols["q2"] = u2 * eta * f
        return cols

    def _predict(self, v: dict[str, float], data: LawData, idx: np.ndarray) -> np.ndarray:
        cols = self._basis(v, data, idx)
        return sum((v[k] ** self._POWER.get(k, 1) * col for k, col in cols.items()),
                   np.zeros(idx.size))

    def _optimum(self, v: dict[str, float], data: LawData, idx: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        cols, u1, u2 = self._units(v, data, idx)
        linf = sum(v[k] * col for k, col in cols.items())
        c, g = v["c"], v["gamma"]
        B1, B2 = v["q1"] ** 2 * u1, v["q2"] ** 2 * u2
        if 1.0 - c - g <= 0:  # the excess keeps falling with η: no interior optimum
            nan = np.full(idx.size, np.nan)
            return nan, nan
        eta = ((1.0 - c - g) * B1 / ((1.0 + g) * B2)) ** (1.0 / (2.0 - c))
        f = (eta / self.peak_ref_) ** g
        return eta, linf + f * (B1 * eta ** (c - 1.0) + B2 * eta)

    # ------------------------------------------------------------ diagnostics
    def _diagnose(self, data: LawData, idx: np.ndarray) -> list[str]:
        """Is the fitted optimum inside the peaks tried at each pilot horizon (and size)?"""
        out = []
        assert data.peak is not None  # checked by _check_data
        eta_star, _ = self._optimum(self.params_, data, idx)
        N = data.N[idx] if (data.N is not None and self.sized) else np.ones(idx.size)
        keys = np.column_stack([data.horizon[idx], N])
        for h, nn in np.unique(keys, axis=0):
            sel = (data.horizon[idx] == h) & (N == nn)
            # the last point of each run at this horizon: its final loss
            final = sel & (data.T[idx] == data.T[idx][sel].max())
            peaks = np.unique(data.peak[idx][sel])
            if peaks.size < 2 or not final.any():
                continue
            es = float(np.median(eta_star[final]))
            where = f"horizon {h:.6g}" + (f", N = {nn:.4g}" if self.sized else "")
            if es > peaks.max() * 1.05:
                out.append(f"at {where} the fitted optimum η* = {es:.3g} lies above every "
                           f"pilot peak ({peaks.min():.3g} … {peaks.max():.3g}): the optimum "
                           "is not bracketed, η* there is an extrapolation")
            elif es < peaks.min() / 1.05:
                out.append(f"at {where} the fitted optimum η* = {es:.3g} lies below every "
                           f"pilot peak ({peaks.min():.3g} … {peaks.max():.3g}): the optimum "
                           "is not bracketed, η* there is an extrapolation")
        return out

    # ------------------------------------------------------------ prediction
    def _query(self, T: ArrayLike, peak: ArrayLike | None, N: ArrayLike | None,
               shape: str | ArrayLike | None, at: ArrayLike | None) -> LawData:
        self._check_fitted()
        if self.sized and N is None:
            raise ValueError("a SizeLaw needs the model size N of the prediction")
        if not self.sized and N is not None:
            raise ValueError("a HorizonLaw has no size dependence (N); fit a SizeLaw on "
                             "pilots at several sizes")
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        for name, val in (("T", T), ("peak", peak), ("N", N)):
            if val is not None and not np.all(np.isfinite(val) & (np.asarray(val) > 0)):
                raise ValueError(f"{name} must be finite and > 0, got {val!r}")
        shape = self.spec_ if shape is None else shape
        return LawData.query(T, peak, N, self.mode_, shape, at)

    def predict(self, T: ArrayLike, peak: ArrayLike, N: ArrayLike | None = None,
                shape: str | ArrayLike | None = None, at: ArrayLike | None = None
                ) -> np.ndarray:
        """Predicted loss at horizon(s) T and peak LR(s) (broadcast)."""
        T_b, p_b = np.broadcast_arrays(np.asarray(T, float), np.asarray(peak, float))
        q = self._query(T_b.ravel(), p_b.ravel(), N, shape, at)
        return self._predict(self.params_, q, np.arange(q.n)).reshape(T_b.shape)

    def optimal_peak(self, T: ArrayLike, N: ArrayLike | None = None,
                     shape: str | ArrayLike | None = None, at: ArrayLike | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(η*(T), L*(T)): the closed-form minimiser of the law and its loss."""
        q = self._query(T, None, N, shape, at)
        return self._optimum(self.params_, q, np.arange(q.n))

    def forecast(self, T: float, N: float | None = None, peak: float | None = None,
                 shape: str | ArrayLike | None = None, at: int | None = None
                 ) -> dict[str, Any]:
        """η*(T) and L*(T) (or the loss at ``peak``) with bootstrap intervals and warnings."""
        q = self._query([T], None, N, shape, at)
        ii = np.arange(1)
        e, e_lo, e_hi = self._with_interval(lambda v: self._optimum(v, q, ii)[0])
        ls, ls_lo, ls_hi = self._with_interval(lambda v: self._optimum(v, q, ii)[1])
        out: dict[str, Any] = {
            "T": float(T), "N": None if N is None else float(N),
            "eta_star": float(e[0]), "eta_star_interval": [float(e_lo[0]), float(e_hi[0])],
            "loss_star": float(ls[0]), "loss_star_interval": [float(ls_lo[0]),
                                                              float(ls_hi[0])],
            "level": self.level, "variant": self.variant,
        }
        if peak is not None:
            qp = self._query([T], [peak], N, shape, at)
            lp, lp_lo, lp_hi = self._with_interval(lambda v: self._predict(v, qp, ii))
            out.update(peak=float(peak), loss=float(lp[0]),
                       loss_interval=[float(lp_lo[0]), float(lp_hi[0])])
        out["warnings"] = reach_warnings(self.pilots_ | {"T": self.pilots_["horizon"]},
                                         np.array([T]), None if N is None else np.array([N]))
        if peak is not None and "peak" in self.pilots_:
            lo, hi = self.pilots_["peak"]
            if not lo / 1.0001 <= peak <= hi * 1.0001:
                out["warnings"].append(f"peak = {peak:.3g} is outside the pilots' peaks "
                                       f"({lo:.3g} … {hi:.3g})")
        return out

    def peak_curve(self, T: float, peaks: ArrayLike, N: float | None = None,
                   shape: str | ArrayLike | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The predicted loss-versus-peak-LR curve at T: (loss, lower, upper)."""
        peaks = np.asarray(peaks, dtype=np.float64).ravel()
        q = self._query(np.full(peaks.size, float(T)), peaks, N, shape, None)
        ii = np.arange(q.n)
        return self._with_interval(lambda v: self._predict(v, q, ii))

    def kappa(self, T: float | None = None, N: float | None = None,
              shape: str | ArrayLike | None = None) -> float:
        """Exponent κ of η* ∝ T^κ: closed form in table mode, else the local log-slope
        of η* between T and 2T for the given (or the pilots') schedule."""
        self._check_fitted()
        c, a = self.params_["c"], self.params_["a"]
        if self.mode_ == "table":
            return -(1.0 - c + 2.0 * a) / (2.0 - c)
        if shape is not None and not isinstance(shape, str):
            raise ValueError("kappa needs a schedule spec (it evaluates η* at T and 2T)")
        T = self.pilots_["horizon"][1] if T is None else T
        e = self.optimal_peak([T, 2 * T], N, shape)[0]
        return float(math.log(e[1] / e[0]) / math.log(2.0))

    def _derived_lines(self) -> list[str]:
        v = self.params_
        lines = ["derived:"]
        if self.mode_ == "table" or self.spec_ is not None:
            try:
                k = self.kappa(N=self.N_ref_ if self.sized else None)
                lines.append(f"  kappa    = {k:+.4f}   (η* ∝ T^kappa; literal bound: −0.5)")
            except ValueError:
                pass
        if self.mode_ == "table" and v["c"] == 0 and v["a"] == 0:
            lines.append(f"  eta_ref  = {v['q1'] / v['q2']:.6g}   (η*(T) = eta_ref/√T)")
            lines.append(f"  C        = {2 * v['q1'] * v['q2']:.6g}   (L*(T) = L∞ + C/√T)")
        if self.sized:
            lines.append(f"  eta_ref ∝ N^{v['beta1'] - v['beta2']:+.4f},  "
                         f"C ∝ N^{v['beta1'] + v['beta2']:+.4f}")
        return lines if len(lines) > 1 else []


class HorizonLaw(_BoundLaw):
    """L(T, η) = L∞ + q1²·x^(1−c)·η^(c−1) + q2²·y_a·η at one model size (see module doc).

    Parameters: ``L_inf`` (≤ min observed loss), ``q1``, ``q2`` (> 0, log-fitted), and
    ``c`` ∈ [0, 0.95], ``a`` ∈ [−1, 1], ``gamma`` ∈ [−0.9, 0.9] when the variant frees them.
    """

    kind = "HorizonLaw"
    sized = False

    def _check_data(self, data: LawData, idx: np.ndarray) -> None:
        super()._check_data(data, idx)
        if data.N is not None and np.unique(data.N[idx]).size > 1:
            raise ValueError(f"{data.source}: the points span {np.unique(data.N[idx]).size} "
                             "model sizes; fit a SizeLaw (or one HorizonLaw per size)")

    def _params(self, data: LawData, idx: np.ndarray) -> list[Param]:
        lmin = float(data.loss[idx].min())
        return [Param("L_inf", 0.0, lmin, linear=True),
                Param("q1", 1e-8, 1e8, log=True, linear=True, power=2),
                Param("q2", 1e-8, 1e8, log=True, linear=True, power=2),
                *self._shape_params()]

    def _linear_cols(self, v: dict[str, float], n: np.ndarray | float, size: int
                     ) -> dict[str, np.ndarray]:
        return {"L_inf": np.ones(size)}


class SizeLaw(LinfForm, _BoundLaw):
    """The horizon law with power-law coefficients in N, fitted jointly.

    ``linf``: ``"offset"`` L∞ = E + A·n^(−α), ``"power"`` L∞ = A·n^(−α), ``"constant"``
    L∞ = E, or ``"auto"`` (offset with ≥ 3 sizes, else power). Three sizes suffice for the
    offset form here (unlike a fit of optima alone) because the horizons and peaks separate
    L∞ from the q-terms at each size; and the size split (``convexlaw.laws.sizesplit``)
    refits on one size fewer, which must keep the form of the full fit.
    """

    kind = "SizeLaw"
    sized = True

    def _linf_form(self, sizes: int) -> str:
        if self.linf not in self.FORMS:
            raise ValueError(f"linf must be auto, offset, power or constant; got {self.linf!r}")
        return self.linf if self.linf != "auto" else ("offset" if sizes >= 3 else "power")

    def _check_data(self, data: LawData, idx: np.ndarray) -> None:
        super()._check_data(data, idx)
        if data.N is None:
            raise ValueError(f"{data.source}: a SizeLaw needs the model size N of every point")
        sizes = np.unique(data.N[idx]).size
        if sizes < 2:
            raise ValueError(f"{data.source}: a SizeLaw needs at least 2 model sizes, got "
                             f"{sizes}; fit a HorizonLaw")
        self.linf_ = self._linf_form(sizes)

    def _n(self, data: LawData, idx: np.ndarray) -> np.ndarray:
        assert data.N is not None  # a size law is fitted on sized data
        return data.N[idx] / self.N_ref_

    def _params(self, data: LawData, idx: np.ndarray) -> list[Param]:
        lmin = float(data.loss[idx].min())
        out = []
        if self.linf_ in ("offset", "constant"):
            out.append(Param("E", 0.0, lmin, linear=True))
        if self.linf_ in ("offset", "power"):
            out += [Param("A", 0.0, 1e3 * float(data.loss[idx].max()), linear=True),
                    Param("alpha", 0.0, 3.0, grid=(0.1, 0.3, 0.7))]
        return out + [
            Param("q1", 1e-8, 1e8, log=True, linear=True, power=2),
            Param("beta1", -3.0, 3.0, grid=(-0.4, 0.0, 0.4)),
            Param("q2", 1e-8, 1e8, log=True, linear=True, power=2),
            Param("beta2", -3.0, 3.0, grid=(-0.4, 0.0, 0.4)),
            *self._shape_params()]

    def _fixed(self) -> dict[str, float]:
        fixed = super()._fixed()
        form = getattr(self, "linf_", self.linf)
        if form == "power":
            fixed["E"] = 0.0
        if form == "constant":
            fixed.update(A=0.0, alpha=0.0)
        return fixed

    def _linear_cols(self, v: dict[str, float], n: np.ndarray | float, size: int
                     ) -> dict[str, np.ndarray]:
        nn = np.broadcast_to(np.asarray(n, dtype=np.float64), (size,))
        return {"E": np.ones(size), "A": nn ** (-v["alpha"])}

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"linf_form": self.linf_}

    def _restore(self, d: dict[str, Any]) -> None:
        super()._restore(d)
        self.linf_ = d["linf_form"]
