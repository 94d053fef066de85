"""What a schedule design minimises: a fitted curve model's predicted loss.

For a learning-rate sequence η = p·m (peak p, shape m with max 1) the objective is

    F(m, p) = Σ_i w_i · L̂_{T_i}(p·m_{1:T_i}),      Σ_i w_i = 1, T_i ≤ T

(one horizon: the predicted loss at T; several: a run that may be stopped early). With a
tuned peak it is F*(m) = min_p F(m, p).

Every bound-based fit (``convex``, ``convex-gt``, ``convex-ed*``; see
``convexlaw.curve.convex``) predicts L̂_t = L∞ + s_D·D²·½P_t^(c−1) + s_G·G²·Y_t(a) with
s = (p/p_ref)^γ. Both terms are powers of the peak (P_t and Y_t scale as p), so at a
fixed shape

    F(m, p) = L∞ + α(m)·p^e1 + β(m)·p^e2,    e1 = c − 1 + γ_D,  e2 = 1 + γ_G,

and for e1 < 0 < e2 the peak has a closed form, p* = (−e1·α / (e2·β))^(1/(e2−e1)). With
the G-part written by summation by parts (``convexlaw.bound``),
Y_n = ½(w_n + w_{n−1})/η_n + ½ Σ_{k≤n−2} w_k/R_k, w_k = η_k²g_k², R_k = η_{k+1} + … + η_n,
its gradient in η is O(n): ∂Y/∂η_j = [j ≤ n−2]·η_j g_j²/R_j − ½ Σ_{k<j, k≤n−2} w_k/R_k²
plus the two end terms; the tuned loss's gradient follows by the envelope theorem. This
fast path is checked against the model's own ``predict`` when it is built (relative
difference ≤ 1e-9), and any other fit (``mpl``, ``tissue``, ...) is evaluated through
``predict`` with a bracketed search over the peak.

>>> import numpy as np
>>> from convexlaw.curve import ConvexModel
>>> m = ConvexModel.from_params({"L_inf": 0.0, "D2": 1.0, "G2": 1.0})
>>> obj = Objective(m, 10_000)
>>> shape = 1.0 - np.arange(10_000) / 10_000          # linear decay to 0
>>> p, loss = obj.tuned(shape)
>>> round(loss * 10_000 ** 0.5, 3)                     # → 2DG/√T (DESIGN §1)
2.001
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["DesignError", "Objective", "horizon_weights"]

PEAK_GRID = 10.0 ** np.arange(-7.0, 1.01, 0.25)  # bracket for fits without a closed form
_CHECK_RTOL = 1e-9


class DesignError(ValueError):
    """A design request that cannot be answered (the message names the bad input)."""


def horizon_weights(steps: int, weights: Mapping[int, float] | None) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Validated horizons T_i (sorted, ≤ steps) and weights w_i (normalised to sum 1)."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 2:
        raise DesignError(f"steps must be an integer ≥ 2 (the run's length T), got {steps!r}")
    if not weights:
        return np.array([int(steps)]), np.array([1.0])
    Ts, ws = [], []
    for t, w in sorted(weights.items()):
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 1 <= t <= steps:
            raise DesignError(f"weighted horizon {t!r} must be an integer step in 1..{steps}")
        if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
            raise DesignError(f"weight of horizon {t} must be a finite number ≥ 0, got {w!r}")
        Ts.append(int(t))
        ws.append(float(w))
    total = sum(ws)
    if total <= 0:
        raise DesignError("the horizon weights are all zero: give at least one positive weight")
    return np.array(Ts), np.array(ws) / total


def _bound_layout(model: Any, horizons: np.ndarray) -> dict[str, float] | None:
    """Exponents and coefficients of a bound-based fit, or None for any other model.

    Read from the documented parameters of ``convexlaw.curve.convex`` (L_inf, D2, G2, c,
    a, gamma/beta/gamma_D/gamma_G) and hyper-parameters (grad, peak, t_ref, peak_ref).
    A ``-hz`` fit (``convexlaw.curve.horizon``) is a convex-ed fit with c = c(T) for a run
    of T steps: at one horizon that constant is its layout; over several horizons each
    would have its own exponent of the peak (no closed-form peak), so None.
    """
    from convexlaw.curve import ConvexED, ConvexEDHorizon, ConvexGT, ConvexModel

    hyper = model.get_params()
    p = dict(model.params_)
    if isinstance(model, ConvexEDHorizon):
        if horizons.size != 1:
            return None
        p["c"] = model.c_at(int(horizons[0]))
    elif not isinstance(model, ConvexModel | ConvexGT | ConvexED):
        return None
    grad = hyper.get("grad", "constant")
    if grad not in ("constant", "power") or hyper.get("restart", False):
        return None  # three-term gradients and restarted bounds: through predict()
    if isinstance(model, ConvexGT):
        grad = "power"
    peak = hyper.get("peak")
    gD = gG = 0.0
    if peak == "bound":
        gD = gG = p["gamma"]
    elif peak == "grad":
        gG = -2.0 * p["beta"]
    elif peak == "split":
        gD, gG = p["gamma_D"], p["gamma_G"]
    elif peak is not None:
        return None
    return {"L_inf": p["L_inf"], "D2": p["D2"], "G2": p["G2"], "c": p.get("c", 0.0),
            "a": p.get("a", 0.0) if grad == "power" else 0.0, "gD": gD, "gG": gG,
            "t_ref": float(hyper.get("t_ref", 1000.0)),
            "p_ref": float(hyper.get("peak_ref", 1e-3))}


def _last_positive(m: np.ndarray, n: int) -> int:
    """1-based step at which the bound is evaluated for horizon n (the last with η > 0)."""
    pos = np.flatnonzero(m[:n] > 0)
    if pos.size == 0:
        raise DesignError(f"the schedule has no positive learning rate up to step {n}")
    return int(pos[-1]) + 1


def _gpart(m: np.ndarray, g2: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    """Y_n of the bound (G = 1, profile g² = g2) for LRs m[:n], and its gradient in m[:n]."""
    e, gg = m[:n], g2[:n]
    w = e * e * gg
    grad = np.zeros(n)
    if n == 1:
        return 0.5 * w[0] / e[0], np.array([0.5 * gg[0]])
    y = 0.5 * (w[-1] + w[-2]) / e[-1]
    grad[-1] += gg[-1] - y / e[-1]
    grad[-2] += e[-2] * gg[-2] / e[-1]
    if n > 2:
        R = np.cumsum(e[::-1])[::-1][1:n - 1]  # R_k = η_{k+1} + … + η_n, k = 1..n−2
        wk = w[:n - 2]
        y += 0.5 * float(np.sum(wk / R))
        grad[:n - 2] += e[:n - 2] * gg[:n - 2] / R
        c = np.concatenate([[0.0], np.cumsum(wk / R**2)])  # Σ over k ≤ j−1, capped at n−2
        grad -= 0.5 * c[np.minimum(np.arange(n), n - 2)]
    return float(y), grad


class Objective:
    """Predicted loss of a fitted curve model as a function of a schedule (module doc).

    ``steps`` T and optional ``weights`` {T_i: w_i}; ``peak`` fixed, or None to tune it.
    ``fast`` is True when the closed-form bound path (with gradients) is used.
    """

    def __init__(self, model: Any, steps: int, weights: Mapping[int, float] | None = None,
                 peak: float | None = None) -> None:
        self.model = model
        self.steps = int(steps)
        self.horizons, self.weights = horizon_weights(steps, weights)
        if peak is not None and not (isinstance(peak, int | float) and math.isfinite(peak)
                                     and peak > 0):
            raise DesignError(f"peak must be a finite learning rate > 0, got {peak!r}")
        self.peak = None if peak is None else float(peak)
        self.layout = _bound_layout(model, self.horizons)
        self.notes: list[str] = []
        if self.layout is not None:
            t = np.arange(1, self.steps + 1, dtype=np.float64)
            self._g2 = (t / self.layout["t_ref"]) ** (2.0 * self.layout["a"])
            self._check_fast()
        self.fast = self.layout is not None

    # ---- the fast bound path -----------------------------------------------------------
    def _split(self, m: np.ndarray, grad: bool = False):
        """(L∞, α, β, e1, e2[, ∂α/∂m, ∂β/∂m]) of F(m, p) = L∞ + α p^e1 + β p^e2."""
        L = self.layout
        e1, e2 = L["c"] - 1.0 + L["gD"], 1.0 + L["gG"]
        kD = L["D2"] * L["p_ref"] ** (-L["gD"]) * 0.5
        kG = L["G2"] * L["p_ref"] ** (-L["gG"])
        alpha = beta = 0.0
        da = np.zeros(m.size) if grad else None
        db = np.zeros(m.size) if grad else None
        P = np.cumsum(m)
        for T, w in zip(self.horizons, self.weights, strict=True):
            n = _last_positive(m, int(T))
            a_i = kD * P[n - 1] ** (L["c"] - 1.0)
            alpha += w * a_i
            if grad:
                y, gy = _gpart(m, self._g2, n)
                da[:n] += w * a_i * (L["c"] - 1.0) / P[n - 1]
                db[:n] += w * kG * gy
            else:
                y = self._y_only(m, n)
            beta += w * kG * y
        out = (L["L_inf"], alpha, beta, e1, e2)
        return out + (da, db) if grad else out

    def _y_only(self, m: np.ndarray, n: int) -> float:
        e = m[:n]
        w = e * e * self._g2[:n]
        y = 0.5 * (w[-1] + (w[-2] if n > 1 else 0.0)) / e[-1]
        if n > 2:
            R = np.cumsum(e[::-1])[::-1][1:n - 1]
            y += 0.5 * float(np.sum(w[:n - 2] / R))
        return y

    @staticmethod
    def _best_peak(alpha: float, beta: float, e1: float, e2: float) -> float | None:
        if not (e1 < 0 < e2 and alpha > 0 and beta > 0):
            return None
        return (-e1 * alpha / (e2 * beta)) ** (1.0 / (e2 - e1))

    def _check_fast(self) -> None:
        """The fast path must reproduce the model's predict(); else fall back to it."""
        m = 0.5 * (1.0 + np.cos(np.pi * np.arange(self.steps) / self.steps)) + 1e-3
        m /= m.max()
        p = self.peak or self.layout["p_ref"]
        fast = self.loss(m, p)
        self.layout, slow = None, self.loss(m, p)
        if abs(fast - slow) <= _CHECK_RTOL * abs(slow):
            self.layout = _bound_layout(self.model, self.horizons)
        else:
            self.notes.append(f"the closed-form bound path disagrees with {self.model.label}."
                              f"predict ({fast!r} vs {slow!r}); using predict()")

    # ---- the objective -----------------------------------------------------------------
    def loss(self, m: np.ndarray, p: float) -> float:
        """F(m, p): the weighted predicted loss of the LRs p·m."""
        if self.layout is not None:
            L0, a, b, e1, e2 = self._split(m)
            return float(L0 + a * p**e1 + b * p**e2)
        lrs = p * np.asarray(m, dtype=np.float64)
        total = 0.0
        for T, w in zip(self.horizons, self.weights, strict=True):
            total += w * float(self.model.predict(lrs[:T], [int(T)], peak=p)[0])
        return total

    def tuned(self, m: np.ndarray) -> tuple[float, float]:
        """(p*, F(m, p*)): the peak that minimises the predicted loss of shape m."""
        if self.layout is not None:
            L0, a, b, e1, e2 = self._split(m)
            p = self._best_peak(a, b, e1, e2)
            if p is None:
                raise DesignError(self._no_optimum(e1, e2, a, b))
            return p, float(L0 + a * p**e1 + b * p**e2)
        vals = np.array([self.loss(m, p) for p in PEAK_GRID])
        i = int(np.nanargmin(vals))
        if i in (0, PEAK_GRID.size - 1) or not np.isfinite(vals[i]):
            raise DesignError(
                f"{self.model.label} predicts no interior optimal peak learning rate (the best "
                f"of {PEAK_GRID[0]:g}…{PEAK_GRID[-1]:g} is {PEAK_GRID[i]:g}, at the edge): "
                "give the peak with --peak")
        lo, hi = math.log(PEAK_GRID[i - 1]), math.log(PEAK_GRID[i + 1])
        r = minimize_scalar(lambda x: self.loss(m, math.exp(x)), bounds=(lo, hi),
                            method="bounded", options={"xatol": 1e-6})
        best = (float(r.x), float(r.fun)) if r.fun <= vals[i] else (math.log(PEAK_GRID[i]),
                                                                   float(vals[i]))
        return math.exp(best[0]), best[1]

    def _no_optimum(self, e1: float, e2: float, a: float, b: float) -> str:
        what = []
        if not e1 < 0 or not a > 0:
            what.append(f"its distance term does not fall with the peak (exponent {e1:.3g}, "
                        f"coefficient {a:.3g})")
        if not e2 > 0 or not b > 0:
            what.append(f"its gradient term does not grow with the peak (exponent {e2:.3g}, "
                        f"coefficient {b:.3g})")
        return (f"{self.model.label} has no finite optimal peak learning rate: "
                + "; ".join(what) + " — give the peak with --peak")

    def value(self, m: np.ndarray) -> float:
        """F(m, peak) at the fixed peak, or F*(m) with the peak tuned."""
        return self.loss(m, self.peak) if self.peak is not None else self.tuned(m)[1]

    def peak_of(self, m: np.ndarray) -> float:
        """The peak a shape runs at: the fixed one or its tuned one."""
        return self.peak if self.peak is not None else self.tuned(m)[0]

    def value_and_grad(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        """F and ∂F/∂m (fast path only; with a tuned peak by the envelope theorem)."""
        if self.layout is None:
            raise RuntimeError("gradients need the closed-form bound path")
        L0, a, b, e1, e2, da, db = self._split(m, grad=True)
        if self.peak is not None:
            p = self.peak
        else:
            p = self._best_peak(a, b, e1, e2)
            if p is None:
                raise DesignError(self._no_optimum(e1, e2, a, b))
        return float(L0 + a * p**e1 + b * p**e2), da * p**e1 + db * p**e2
