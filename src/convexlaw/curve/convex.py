"""Bound-based loss-curve models: the paper's literal bound and its measured repairs.

All share  L̂_t = L∞ + s_D·D²·X_t^(c) + s_G·G²·Y_t(a)  with
    X_t^(c) = ½·P_t^(c−1)          (c = 0: the bound's D²/(2P_t); c > 0: effective distance
                                    D² → D²·P_t^c that grows with the LR area)
    Y_t(a)  = G-part of Ω_t at G = 1 with G_t = G·(t/t_ref)^a   (a = 0: constant G)
    s_D, s_G = (η_peak/η_ref)^γ_D, (η_peak/η_ref)^γ_G           (across peak LRs)
and P_t = η_1 + … + η_t. The model is linear in (L∞, D², G²): fitted by variable
projection (``convexlaw.fitting.search`` over the exponents, exact bounded least squares
for the rest, ``convexlaw.fitting.solve_linear``). Variants (names as in REFERENCE-RESULTS.md):

    convex        ConvexModel()                       V0   L∞, D², G²            k = 3
    convex-gt     ConvexGT()                          V1   + a                   k = 4
                  ConvexGT(grad="three-term")         Schaipp-style G_t², κ, p    k = 7
    convex-ed     ConvexED()                          V4   + c                   k = 4
                  ConvexED(grad="power")              V4+1 + c, a                k = 5
                  ConvexED(peak="bound")              V4+5 + c, γ (s_D = s_G)    k = 5
                  ConvexED(peak="grad")               + c, β with G ∝ η_peak^(−β) (s_G only)
                  ConvexED(peak="split")              + c, γ_D, γ_G              k = 6

>>> import numpy as np
>>> from convexlaw.curve import ConvexED
>>> m = ConvexED.from_params({"L_inf": 2.5, "D2": 0.3, "G2": 50.0, "c": 0.5})
>>> lrs = np.full(3000, 3e-4)
>>> bool(np.all(np.diff(m.predict(lrs, [1000, 2000, 3000])) < 0))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convexlaw.curve.base import CurveModel
from convexlaw.curve.data import CurveData
from convexlaw.curve.terms import (
    A_BOUNDS,
    A_GRID,
    K_BOUNDS,
    ObsTerms,
    eval_index,
    run_terms,
    spline_Y,
)
from convexlaw.fitting import Param, search, solve_linear

__all__ = ["C_BOUNDS", "BoundModel", "ConvexED", "ConvexGT", "ConvexModel"]

C_BOUNDS = (-0.5, 0.95)
_GRID_C = (-0.25, 0.0, 0.2, 0.4, 0.55, 0.7, 0.85)
_GRID_A = (-0.75, -0.4, -0.15, 0.0, 0.15, 0.4, 0.75)
_GRID_G = (-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0)
_SHAPE = {p.name: p for p in (  # the exponents, searched on their grids
    Param("c", *C_BOUNDS, grid=_GRID_C),
    # drift of c per e-fold of the run's horizon (``ConvexEDHorizon``)
    Param("c1", -0.25, 0.25, grid=(-0.1, 0.0, 0.1)),
    Param("a", *A_BOUNDS, grid=_GRID_A),
    Param("gamma", -2.0, 2.0, grid=_GRID_G),
    Param("beta", -2.0, 2.0, grid=_GRID_G),
    Param("gamma_D", -2.0, 2.0, grid=_GRID_G),
    Param("gamma_G", -2.0, 2.0, grid=_GRID_G),
    Param("kappa", *K_BOUNDS, grid=(1.0, 3.0, 10.0, 30.0)),
    Param("p", 0.0, 2.0, grid=(0.25, 0.75, 1.25, 1.75)),
)}
_GRADS = ("constant", "power", "three-term")
_PEAKS = (None, "bound", "grad", "split")


class BoundModel(CurveModel):
    """Shared machinery; subclasses choose which exponents are fitted."""

    name = "bound"
    _ed = False
    n_starts = 2

    # -- layout --------------------------------------------------------------------------
    def _grad(self) -> str:
        return getattr(self, "grad", "constant")

    def _peak(self) -> str | None:
        return getattr(self, "peak", None)

    def _shape_names(self) -> list[str]:
        names = ["c"] if self._ed else []
        if self._grad() == "power":
            names.append("a")
        elif self._grad() == "three-term":
            names += ["kappa", "p"]
        names += {None: [], "bound": ["gamma"], "grad": ["beta"],
                  "split": ["gamma_D", "gamma_G"]}[self._peak()]
        return names

    def _validate_hyper(self) -> None:
        super()._validate_hyper()
        if self._grad() not in _GRADS:
            raise ValueError(f"grad must be one of {_GRADS}, got {self._grad()!r}")
        if self._peak() not in _PEAKS:
            raise ValueError(f"peak must be one of {_PEAKS}, got {self._peak()!r}")
        for key in ("t_ref", "peak_ref"):
            v = getattr(self, key, 1.0)
            if not (isinstance(v, int | float) and v > 0):
                raise ValueError(f"{key} must be a positive number, got {v!r}")

    def _linear_names(self) -> list[str]:
        if self._grad() == "three-term":
            return ["L_inf", "D2", "G2_exp", "G2_pow", "G2_const"]
        return ["L_inf", "D2", "G2"]

    def _offset(self) -> int:
        return int(self.burn_in) if getattr(self, "restart", False) else 0

    # -- design matrix -------------------------------------------------------------------
    def _terms(self, d: CurveData) -> tuple[np.ndarray, Any, np.ndarray, ObsTerms | None]:
        """(observed steps kept, run terms, 0-based evaluation index, kernel terms): cached
        on the run's data; the kernel terms only while fitting (``d.cache["fit"]``)."""
        t0 = self._offset()
        key = ("terms", t0, getattr(self, "t_ref", 1000.0))
        if key not in d.cache:
            keep = d.steps > t0
            terms = run_terms(d.lrs[t0:], getattr(self, "t_ref", 1000.0), t0)
            idx = eval_index(terms.lrs, d.steps[keep] - t0)
            obs = ObsTerms(terms, idx) if d.cache.get("fit") else None
            d.cache[key] = (keep, terms, idx, obs)
        return d.cache[key]

    def _columns(self, shape: dict[str, float], d: CurveData, exact: bool) -> np.ndarray:
        keep, terms, idx, obs = self._terms(d)

        def Y(a: float, family: str = "power") -> np.ndarray:
            if obs is not None:
                return obs.Y(a, exact=exact, family=family)
            return terms.Y_at(a, idx, family)

        X = terms.X(idx, self._c(shape, d.T))
        if self._grad() == "three-term":
            # G_t² = G2_exp·e^(−κ t/T) + G2_pow·(t/T)^p + G2_const: Y is linear in G_t²
            p = shape["p"]
            Ys = [Y(shape["kappa"], "exp"), Y(p / 2.0) * (terms.t_ref / terms.T_end) ** p,
                  Y(0.0)]
        else:
            Ys = [Y(shape.get("a", 0.0))]
        sD, sG = self._peak_factors(shape, d.peak / getattr(self, "peak_ref", 1e-3))
        M = np.full((d.steps.size, 2 + len(Ys)), np.nan)
        M[keep] = np.column_stack([np.ones(idx.size), sD * X] + [sG * Y for Y in Ys])
        return M

    def _c(self, shape: dict[str, float], T: Any) -> Any:
        """Exponent c of the effective distance for a run of horizon T (a number, or one
        per row): the fitted constant here; ``ConvexEDHorizon`` makes it depend on T."""
        return shape.get("c", 0.0)

    def _held(self, data: list[CurveData]) -> dict[str, float]:
        """Exponents held at a value for these data (none here)."""
        return {}

    def _peak_factors(self, shape: dict[str, float], r: Any) -> tuple[Any, Any]:
        """(s_D, s_G) at the peak ratio r = η_peak/η_ref (a number, or one per row)."""
        peak = self._peak()
        if peak == "bound":
            s = r ** shape["gamma"]
            return s, s
        if peak == "grad":
            return 1.0, r ** (-2.0 * shape["beta"])
        if peak == "split":
            return r ** shape["gamma_D"], r ** shape["gamma_G"]
        return 1.0, 1.0

    def _stacked(self, data: list[CurveData]):
        """The search's design matrix of all runs at once, or None where it does not apply
        (three-term gradients, steps cut by a restart).

        ``_columns`` per run costs ~20 Python-level numpy calls a run; the search evaluates
        hundreds of designs. Here every per-run constant is stacked once — P at the
        observed steps, each row's peak ratio, Y at a = 0 and the coefficients of the
        per-run splines of log Y(a) — so a design is a handful of whole-array operations.
        Same values as ``_columns`` (same formulas, elementwise)."""
        if self._grad() not in ("constant", "power"):
            return None
        parts = [self._terms(d) for d in data]
        if any(not keep.all() for keep, *_ in parts):
            return None
        P = np.concatenate([terms.P[idx] for _, terms, idx, _ in parts])
        T = np.concatenate([np.full(idx.size, float(d.T))
                            for d, (_, _, idx, _) in zip(data, parts, strict=True)])
        r = np.concatenate([np.full(idx.size, d.peak / getattr(self, "peak_ref", 1e-3))
                            for d, (_, _, idx, _) in zip(data, parts, strict=True)])
        obs = [o for *_, o in parts if o is not None]
        if len(obs) < len(parts):
            return None
        Y0 = np.concatenate([o.Y(0.0) for o in obs])
        coef = (np.concatenate([o.log_spline("power") for o in obs], axis=2)
                if self._grad() == "power" else None)
        ones = np.ones(P.size)

        def design(shape: dict[str, float]) -> np.ndarray | None:
            X = 0.5 * P ** (self._c(shape, T) - 1.0)
            a = float(shape.get("a", 0.0))
            if a == 0.0 or coef is None:
                Y = Y0
            elif A_GRID[0] <= a <= A_GRID[-1]:
                Y = spline_Y(coef, A_GRID, a)
            else:
                return None  # exact Y per run: ``_columns``
            sD, sG = self._peak_factors(shape, r)
            return np.column_stack([ones, sD * X, sG * Y])

        return design

    # -- fit / predict -------------------------------------------------------------------
    def _params(self, upper: float) -> list[Param]:
        """Linear coefficients (L∞ ≤ min loss, the rest ≥ 0), then the exponents."""
        lin = [Param(k, 0.0, upper if k == "L_inf" else np.inf, linear=True)
               for k in self._linear_names()]
        return lin + [_SHAPE[k] for k in self._shape_names()]

    def _fit_data(self, data: list[CurveData]):
        t0 = self._offset()
        if t0 and any(d.steps.min() <= t0 for d in data):
            raise ValueError(f"burn-in restart at step {t0}: observations at or before it "
                             "cannot be fitted")
        y = np.concatenate([d.y for d in data])
        held = self._held(data)
        params = [p for p in self._params(float(y.min())) if p.name not in held]
        lin = [p for p in params if p.linear]
        shape = [p for p in params if not p.linear]
        lower = np.array([p.lower for p in lin])
        upper = np.array([p.upper for p in lin])
        for d in data:
            d.cache["fit"] = True  # evaluate Y through the kernel of the fitted steps

        fast = self._stacked(data)

        def design(theta: np.ndarray, exact: bool = False) -> np.ndarray:
            values = {p.name: v for p, v in zip(shape, theta, strict=True)} | held
            if fast is not None and not exact:
                M = fast(values)
                if M is not None:
                    return M
            return np.concatenate([self._columns(values, d, exact) for d in data])

        def objective(theta: np.ndarray) -> float:
            M = design(theta)
            if not np.all(np.isfinite(M)):
                return np.inf
            return solve_linear(M, y, lower, upper)[1]

        theta, _ = search(objective, shape, n_starts=self.n_starts)
        beta, _ = solve_linear(design(theta, exact=True), y, lower, upper)
        values = dict(zip([p.name for p in lin], beta, strict=True))
        values.update(zip([p.name for p in shape], theta, strict=True))
        values.update(held)
        bounds = {p.name: (p.lower, p.upper) for p in params}
        bounds.update({k: (v, v) for k, v in held.items()})  # held: at its bound
        return {k: float(v) for k, v in values.items()}, bounds

    def _predict_data(self, params: dict[str, float], d: CurveData) -> np.ndarray:
        M = self._columns(params, d, exact=True)
        return M @ np.array([params[k] for k in self._linear_names()])


class ConvexModel(BoundModel):
    """``convex``: L̂_t = L∞ + D²/(2P_t) + G²·Y_t — the last-iterate bound as written (V0)."""

    name = "convex"

    def __init__(self, kind: str | None = None, burn_in: int = 0) -> None:
        super().__init__(kind=kind, burn_in=burn_in)


class ConvexGT(BoundModel):
    """``convex-gt``: the bound with a gradient-norm profile G_t, optionally restarted.

    ``grad="power"`` (V1): G_t = G·(t/t_ref)^a, k = 4.
    ``grad="three-term"``: G_t² = G2_exp·e^(−κ t/T) + G2_pow·(t/T)^p + G2_const, the
    three-term shape Schaipp et al. fitted to measured gradient norms (exponential
    transient, power-law drift, floor), written on G_t² so that every term enters the
    bound linearly (T = the run's horizon), k = 7.

    ``restart=True`` with ``burn_in = t0`` restarts the bound at t0: the LR sequence from
    t0 on, distance D measured from the iterate at t0 ("weakly convex after a short
    period"). Steps ≤ t0 are then not predicted (nan).
    """

    name = "convex-gt"

    def __init__(self, kind: str | None = None, burn_in: int = 0, grad: str = "power",
                 t_ref: float = 1000.0, restart: bool = False) -> None:
        super().__init__(kind=kind, burn_in=burn_in)
        self.grad = grad
        self.t_ref = t_ref
        self.restart = restart

    def _validate_hyper(self) -> None:
        super()._validate_hyper()
        if self.grad not in ("power", "three-term"):
            raise ValueError(f"convex-gt: grad must be 'power' or 'three-term', got "
                             f"{self.grad!r}")

    @property
    def label(self) -> str:
        return self.name + ("-3t" if self.grad == "three-term" else "") + (
            f"-restart{self.burn_in}" if self.restart and self.burn_in else "")


def ed_label(name: str, grad: str, peak: str | None) -> str:
    """The label of an effective-distance model: the name, ``-gt`` for G_t ∝ t^a, then the
    peak factor's suffix (``-peak``, ``-gpeak``, ``-split``)."""
    suffix = {None: "", "bound": "-peak", "grad": "-gpeak", "split": "-split"}
    return name + ("-gt" if grad == "power" else "") + suffix.get(peak, f"-{peak}")


class ConvexED(BoundModel):
    """``convex-ed``: effective distance ½D²·P_t^(c−1) (V4), with optional G_t ∝ t^a
    (``grad="power"``, V4+1) and a peak-LR factor (``peak=``: "bound" V4+5, "grad",
    "split"). Report ``c``: c = 0 is the paper's literal bound.
    """

    name = "convex-ed"
    _ed = True

    def __init__(self, kind: str | None = None, burn_in: int = 0, grad: str = "constant",
                 peak: str | None = None, t_ref: float = 1000.0,
                 peak_ref: float = 1e-3) -> None:
        super().__init__(kind=kind, burn_in=burn_in)
        self.grad = grad
        self.peak = peak
        self.t_ref = t_ref
        self.peak_ref = peak_ref

    @property
    def label(self) -> str:
        """convex-ed, convex-ed-gt, convex-ed-peak, convex-ed-gpeak, convex-ed-gt-split…"""
        return ed_label(self.name, self.grad, self.peak)
