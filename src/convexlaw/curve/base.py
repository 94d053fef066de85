"""The estimator interface every loss-curve model shares (scikit-learn style).

A model maps a run's learning-rate sequence η_1..η_T to predicted losses L̂_t at chosen
steps t (1-based: the loss after t updates). ``fit(runs)`` fits ONE set of coefficients
to all given runs (that is how a fit transfers across schedules, peaks and horizons),
``predict`` evaluates it on any run or LR sequence, ``score`` is the pooled R².

>>> import numpy as np
>>> from convexlaw.curve import ConvexModel
>>> lrs = np.full(2000, 1e-3)
>>> m = ConvexModel.from_params({"L_inf": 2.0, "D2": 1.0, "G2": 100.0})
>>> bool(m.predict(lrs, [1000, 2000])[1] < m.predict(lrs, [1000, 2000])[0])
True
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings as _warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.curve.data import (
    CurveData,
    as_curve_data,
    check_lrs,
    check_steps,
    constant_windows,
    degenerate,
)
from convexlaw.fitting import param_lines, standard_errors
from convexlaw.metrics import r2

__all__ = ["CurveModel", "FitWarning", "outside", "registry"]

_REGISTRY: dict[str, type[CurveModel]] = {}


_OUTSIDE = 1.01  # beyond this factor, a peak or horizon is outside the fitted range


def outside(x: float, lo: float, hi: float) -> tuple[str, float, float] | None:
    """Where x > 0 lies outside [lo, hi] by more than 1 %: ("below the smallest", ×k, lo)
    or ("above the largest", ×k, hi); None inside.

    >>> outside(1e-4, 1e-3, 2e-3), outside(1.5e-3, 1e-3, 2e-3)
    (('below the smallest', 10.0, 0.001), None)
    """
    if x < lo / _OUTSIDE:
        return "below the smallest", lo / x, lo
    if x > hi * _OUTSIDE:
        return "above the largest", x / hi, hi
    return None

class FitWarning(UserWarning):
    """A fit that converged but whose parameters the data do not determine."""


def registry() -> dict[str, type[CurveModel]]:
    """Model classes by class name (every subclass registers itself)."""
    return dict(_REGISTRY)


class CurveModel:
    """Base class: subclasses define ``_fit_data`` and ``_predict_data``.

    Fitted attributes: ``params_`` (name → value, ordered), ``stderr_`` (name → standard
    error from the Jacobian of the relative residuals at the optimum; nan at a bound),
    ``bounds_`` (name → (lo, hi)), ``warnings_`` (list of str), ``identified_`` (bool),
    ``fit_info_`` (points, runs, RSS, R² on the fitted points, seconds).
    """

    name: ClassVar[str] = ""

    def __init__(self, kind: str | None = None, burn_in: int = 0) -> None:
        self.kind = kind
        self.burn_in = burn_in

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY[cls.__name__] = cls

    # ---- hyper-parameters ------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters given to __init__ (scikit-learn convention)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def _validate_hyper(self) -> None:
        if not (isinstance(self.burn_in, int | np.integer) and self.burn_in >= 0):
            raise ValueError(f"burn_in must be a non-negative integer step, got {self.burn_in!r}")

    # ---- data ------------------------------------------------------------------------
    def _data(self, runs: Any, lo: int | None = None) -> list[CurveData]:
        if not isinstance(runs, Sequence | Iterable) or hasattr(runs, "lrs"):
            runs = [runs]
        lo = self.burn_in if lo is None else lo
        data = [as_curve_data(r, self.kind, lo=lo) for r in runs]
        if not data:
            raise ValueError("no runs given to fit")
        empty = [d.name for d in data if d.steps.size == 0]
        if empty:
            raise ValueError(f"no loss observations after the burn-in step {lo} in: "
                             f"{', '.join(empty)}")
        return data

    # ---- the estimator interface -----------------------------------------------------
    def fit(self, runs: Any) -> CurveModel:
        """Fit one shared set of coefficients to all runs; returns self."""
        self._validate_hyper()
        data = self._fit_points(self._data(runs))
        error, rising = degenerate(data)
        if error:
            raise ValueError(error)
        n = sum(d.steps.size for d in data)
        t0 = time.perf_counter()
        params, bounds = self._fit_data(data)
        self.params_ = dict(params)
        self.bounds_ = dict(bounds)
        if n <= len(self.params_):
            raise ValueError(f"{n} observations cannot determine {len(self.params_)} "
                             f"parameters of {self.name}")
        self._uncertainty(data)
        yhat = np.concatenate([self._predict_data(self.params_, d) for d in data])
        y = np.concatenate([d.y for d in data])
        rel = (yhat - y) / y
        self.fit_info_: dict[str, Any] = {
            "runs": [d.name for d in data], "points": int(n),
            "rss_rel": float(rel @ rel), "r2": r2(y, yhat),
            "mean_rel_error": float(np.mean(np.abs(rel))),
            "seconds": round(time.perf_counter() - t0, 3),
            # what the fit has seen, for ``extrapolation``: the peaks and the horizons
            "peaks": [min(d.peak for d in data), max(d.peak for d in data)],
            "horizons": [min(d.T for d in data), max(d.T for d in data)],
        }
        self._flag_degenerate(rising)
        for w in self.warnings_:
            _warnings.warn(f"{self.label}: {w}", FitWarning, stacklevel=2)
        return self

    def _flag_degenerate(self, rising: list[str]) -> None:
        """Flag what the fit statistics say: a fit no better than the curve's mean, or with
        no parameter pinned down, is not identified. A rising loss is only a warning: a
        growing gradient scale (``convex-gt``) can make a constant-LR loss rise."""
        self.warnings_.extend(rising)
        value = self.fit_info_["r2"]
        reasons = []
        if not np.isfinite(value):
            reasons.append("R² is undefined: the fitted points do not vary")
        elif value < 0:
            reasons.append(f"R² = {value:.3g} < 0: the fit describes the curve worse than its "
                           "mean does")
        free = [k for k, v in self.stderr_.items() if not self._at_bound(k)]
        if free and not any(np.isfinite(self.stderr_[k]) for k in free):
            reasons.append("no standard error is finite: no parameter is pinned down")
        if reasons:
            self.identified_ = False
            self.warnings_.extend(reasons)

    def _require_fit(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"{self.name} is not fitted: call fit(runs) or from_dict first")

    def predict(self, run_or_lrs: Any, steps: ArrayLike | None = None,
                peak: float | None = None) -> np.ndarray:
        """Predicted loss at 1-based ``steps`` of a Run or of an LR sequence.

        For a Run, ``steps`` defaults to its logged steps (of ``kind``); for an array, to
        every step 1..T. ``peak`` (the peak LR) defaults to the run's or max(lrs).
        """
        self._require_fit()
        if hasattr(run_or_lrs, "lrs"):
            name = getattr(run_or_lrs, "name", "run")
            lrs = check_lrs(run_or_lrs.lrs, name)
            if steps is None:
                steps = as_curve_data(run_or_lrs, self.kind).steps
            if peak is None:
                peak = getattr(run_or_lrs, "peak_lr", None)
        else:
            name = "lrs"
            lrs = check_lrs(run_or_lrs, name)
            if steps is None:
                steps = np.arange(1, lrs.size + 1)
        st = check_steps(np.atleast_1d(steps), lrs.size, name)
        peak = float(peak) if peak else float(lrs.max())
        last = int(np.flatnonzero(lrs > 0)[-1]) + 1 if np.any(lrs > 0) else lrs.size
        if last < lrs.size:  # trailing zero-LR updates do not move the weights
            lrs, st = lrs[:last], np.minimum(st, last)
        # one evaluation per distinct step: a BLAS product can round two equal rows apart
        # (kernels differ between CPUs and thread counts), and one step gets one prediction
        st, back = np.unique(st, return_inverse=True)
        d = CurveData(name, lrs, st, np.ones(st.size), peak)
        return self._predict_data(self.params_, d)[back]

    def score(self, runs: Any) -> float:
        """Pooled R² of the prediction on all observations (after burn-in) of runs."""
        self._require_fit()
        data = self._data(runs)
        y = np.concatenate([d.y for d in data])
        yhat = np.concatenate([self._predict_data(self.params_, d) for d in data])
        return r2(y, yhat)

    @property
    def label(self) -> str:
        """The model's name including its variant (as the CLI spells it)."""
        return self.name

    @property
    def n_params(self) -> int:
        """Number of fitted parameters k."""
        self._require_fit()
        return len(self.params_)

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        self._require_fit()
        return dict(self.bounds_)

    # ---- uncertainty and identifiability ---------------------------------------------
    def _at_bound(self, name: str) -> bool:
        lo, hi = self.bounds_[name]
        v = self.params_[name]
        tol = 1e-7 * max(1.0, abs(v))
        return (np.isfinite(lo) and v - lo <= tol) or (np.isfinite(hi) and hi - v <= tol)

    def _uncertainty(self, data: list[CurveData]) -> None:
        """Standard errors s²(JᵀJ)⁻¹ from central differences of the relative residuals
        (``convexlaw.fitting.standard_errors``).

        Parameters at a bound are held fixed (stderr nan). A near-singular Jacobian (its
        column-normalised condition number above 1e6, or a parameter with no effect) means
        the data do not identify some combination of parameters: that goes to warnings_.
        """
        self.warnings_ = list(getattr(self, "_extra_warnings", []))
        names = list(self.params_)
        y = np.concatenate([d.y for d in data])

        def resid(x: np.ndarray) -> np.ndarray:
            p = dict(zip(names, x.tolist(), strict=True))
            return np.concatenate([self._predict_data(p, d) for d in data]) / y - 1.0

        x = np.array([self.params_[k] for k in names])
        lo = np.array([self.bounds_[k][0] for k in names])
        hi = np.array([self.bounds_[k][1] for k in names])
        held = [i for i, k in enumerate(names) if self._at_bound(k)]
        se = standard_errors(resid, x, lo, hi, rel_step=1e-4, min_step=0.05, hold=held)
        self.stderr_ = {k: float(v) for k, v in zip(names, se.stderr, strict=True)}
        self.identified_ = True
        free = [k for i, k in enumerate(names) if i not in held]
        if free:
            if se.dead or se.cond > 1e6:
                self.identified_ = False
                which = [names[i] for i in (se.dead or se.weak)]
                self.warnings_.append(
                    f"not identified: the Jacobian is near-singular (condition number "
                    f"{se.cond:.2g}); the data do not pin down {', '.join(which)}")
            else:
                poor = [k for k in free
                        if self.stderr_[k] / max(abs(self.params_[k]), 1e-12) > 1.0]
                if poor:
                    self.warnings_.append(
                        "poorly determined (relative stderr > 100 %): " + ", ".join(poor))
        if constant_windows(data):
            self.identified_ = False
            self.warnings_.append(
                "not identified: every fitting window has a constant learning rate, so the "
                "response of the loss to an LR change is an extrapolation")

    def extrapolation(self, peak: float, steps: int) -> list[str]:
        """How far a prediction for a run of ``steps`` updates at peak LR ``peak`` lies
        outside what the fit has seen (its runs' peaks and horizons), one note each; none
        inside, or for a fit file written before these were recorded.

        A peak ×k outside the fitted peaks makes the LR response (the peak terms, the
        effective distance) an extrapolation that no held-out split of those runs checked.
        """
        self._require_fit()
        info = getattr(self, "fit_info_", {}) or {}
        notes = []
        lo, hi = info.get("peaks", (None, None))
        where = outside(peak, lo, hi) if lo and hi else None
        if where:
            side, k, edge = where
            notes.append(f"peak {peak:.3g} is ×{k:.3g} {side} fitted peak ({edge:.3g}): the "
                         "loss's response to the LR is extrapolated")
        longest = info.get("horizons", (None, None))[1]
        if longest and steps > longest * _OUTSIDE:
            notes.append(f"T = {steps} is ×{steps / longest:.3g} beyond the longest fitted "
                         f"run ({longest})")
        return notes

    # ---- reporting and persistence ---------------------------------------------------
    def report(self) -> str:
        """lmfit-style text: name, value ± stderr, bounds, at-bound flag; fit statistics."""
        self._require_fit()
        lines = [f"[[Model]] {self.label}  ({type(self).__name__}, k = {self.n_params})"]
        info = getattr(self, "fit_info_", None)
        if info:
            lines.append(f"[[Fit]] runs = {len(info['runs'])}, points = {info['points']}, "
                         f"R² = {info['r2']:.5f}, mean rel. error = "
                         f"{100 * info['mean_rel_error']:.3f} %, {info['seconds']:.2f} s")
        lines.append("[[Parameters]]")
        lines += param_lines(self.params_, self.stderr_, self.bounds_,
                             [k for k in self.params_ if self._at_bound(k)])
        for w in self.warnings_:
            lines.append(f"[[Warning]] {w}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of fit.json)."""
        self._require_fit()
        hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        return {
            "model": self.label, "class": type(self).__name__, "hyper": hyper,
            "params": {k: float(v) for k, v in self.params_.items()},
            "stderr": {k: _json_float(v) for k, v in self.stderr_.items()},
            "bounds": {k: [_json_float(a), _json_float(b)] for k, (a, b) in self.bounds_.items()},
            "identified": bool(self.identified_), "warnings": list(self.warnings_),
            "fit": dict(getattr(self, "fit_info_", {})),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CurveModel:
        """Rebuild a fitted model from to_dict() output."""
        name = d.get("class")
        if name not in _REGISTRY:
            raise ValueError(f"unknown model class {name!r} in fit file; known: "
                             f"{', '.join(sorted(_REGISTRY))}")
        klass = _REGISTRY[name]
        model = klass(**d.get("hyper", {}))
        model.params_ = {k: float(v) for k, v in d["params"].items()}
        model.stderr_ = {k: _from_json(v) for k, v in d.get("stderr", {}).items()}
        model.bounds_ = {k: (_from_json(a), _from_json(b))
                         for k, (a, b) in d.get("bounds", {}).items()}
        for k in model.params_:
            model.bounds_.setdefault(k, (-math.inf, math.inf))
            model.stderr_.setdefault(k, float("nan"))
        model.identified_ = bool(d.get("identified", True))
        model.warnings_ = list(d.get("warnings", []))
        model.fit_info_ = dict(d.get("fit", {}))
        return model

    @classmethod
    def from_params(cls, params: dict[str, float], **hyper: Any) -> CurveModel:
        """A model with given coefficients (for synthetic curves and tests)."""
        model = cls(**hyper)
        model.params_ = {k: float(v) for k, v in params.items()}
        model.bounds_ = {k: (-math.inf, math.inf) for k in params}
        model.stderr_ = {k: float("nan") for k in params}
        model.identified_, model.warnings_ = True, []
        return model

    def clone(self) -> CurveModel:
        """An unfitted copy with the same hyper-parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- subclass hooks --------------------------------------------------------------
    def _fit_points(self, data: list[CurveData]) -> list[CurveData]:
        """The observations a fit uses (all of them; a model whose cost grows faster than
        linearly in the observations may thin them)."""
        return data

    def _fit_data(self, data: list[CurveData]) -> tuple[dict[str, float],
                                                         dict[str, tuple[float, float]]]:
        raise NotImplementedError

    def _predict_data(self, params: dict[str, float], d: CurveData) -> np.ndarray:
        raise NotImplementedError


def _json_float(v: float) -> float | str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _from_json(v: Any) -> float:
    return float(v)
