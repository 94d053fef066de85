"""Forecasters: a final-loss law or a loss-curve model behind one interface, so that
held-out errors can choose between them (``convexlaw.choice``, for ``convexlaw.plan``).

A forecaster is fitted on pilot runs (whole, or truncated copies for a held-out split) and
then answers, for any learning-rate sequence: the loss at a step (``loss``), and for a
schedule shape at a horizon the optimal peak and its loss (``optimum``).

- ``LawForecaster(variant)``: the horizon law (``convexlaw.laws``; the size law when the
  pilots span several sizes) fitted on each pilot's final loss — the last logged point,
  which for a truncated copy is a point inside the run; shape mode, so the schedule enters
  through the bound's shape constants. The optimum is the law's closed form.
- ``CurveForecaster(model, burn_in)``: a loss-curve model (``convexlaw.protocols.MODELS``)
  fitted on every logged point after the burn-in of every pilot. The optimum is found
  numerically: the predicted final loss over a log grid of peaks, refined by a bounded
  scalar search.

``flags_`` lists what forbids choosing a forecaster silently: a parameter at a bound, an
unidentified fit, no interior optimum.

>>> from convexlaw import optimal_peak, schedule
>>> from convexlaw.curve import ConvexModel
>>> truth = ConvexModel.from_params({"L_inf": 1.0, "D2": 0.5, "G2": 0.1})
>>> f = CurveForecaster("convex").set_fitted(truth)
>>> eta, loss = f.optimum(schedule("linear", 1000, 1.0), (1e-3, 10.0))
>>> e, omega = optimal_peak("linear", 1000, D=0.5 ** 0.5, G=0.1 ** 0.5)  # closed form
>>> round(eta / e, 4), round(loss - 1.0 - omega, 8)
(1.0, 0.0)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from convexlaw.drift import drift

__all__ = ["CurveForecaster", "FitMemo", "Forecaster", "LawForecaster", "drift", "run_peak"]

_GRID = 25


def run_peak(run: Any) -> float:
    """A pilot's peak learning rate: its recorded ``peak_lr``, else the largest LR."""
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


class Forecaster:
    """Base: ``fit(runs)`` returns self; ``loss(lrs, steps, peak, N)``; ``optimum``."""

    source = ""

    @property
    def label(self) -> str:
        raise NotImplementedError

    def fit(self, runs: Sequence[Any]) -> Forecaster:
        raise NotImplementedError

    def loss(self, lrs: np.ndarray, steps: Sequence[int] | np.ndarray, peak: float,
             N: float | None = None) -> np.ndarray:
        raise NotImplementedError

    def predict_run(self, run: Any, steps: Sequence[int]) -> np.ndarray:
        """Loss of ``run`` (its LRs, peak and size) at ``steps``."""
        return self.loss(np.asarray(run.lrs, dtype=np.float64), steps, run_peak(run),
                         getattr(run, "N", None))

    def final_loss(self, shape: np.ndarray, peak: float, N: float | None = None) -> float:
        """Final loss (last step with a positive LR) of the shape (max 1) at ``peak``."""
        return float(self.loss(peak * shape, [_last_positive(shape)], peak, N)[0])

    def optimum(self, shape: np.ndarray, peaks: tuple[float, float], N: float | None = None
                ) -> tuple[float, float]:
        """(η*, L*) of the final loss over peaks in ``peaks`` for the shape (max 1): a
        log grid, then a bounded scalar search around its best point."""
        grid = np.linspace(math.log(peaks[0]), math.log(peaks[1]), _GRID)
        vals = np.array([self.final_loss(shape, math.exp(g), N) for g in grid])
        vals = np.where(np.isfinite(vals), vals, np.inf)
        i = int(np.argmin(vals))
        if i in (0, grid.size - 1):
            return float(math.exp(grid[i])), float(vals[i])  # at the search edge (flagged)
        res = minimize_scalar(lambda g: self.final_loss(shape, math.exp(g), N),
                              bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                              options={"xatol": 2e-3})
        if res.fun <= vals[i]:
            return float(math.exp(res.x)), float(res.fun)
        return float(math.exp(grid[i])), float(vals[i])

    def basin(self, shape: np.ndarray, eta: float, level: float, N: float | None = None,
              span: float = 30.0) -> tuple[float, float]:
        """The peaks around ``eta`` (the optimum) whose final loss stays ≤ ``level``:
        the edges found by bisection in log η, at most ``span``× away."""
        def edge(sign: int) -> float:
            inside, out = 0.0, sign * math.log(span)
            if self.final_loss(shape, eta * math.exp(out), N) <= level:
                return eta * math.exp(out)
            for _ in range(12):  # ≈ 0.1 % in η
                mid = 0.5 * (inside + out)
                if self.final_loss(shape, eta * math.exp(mid), N) <= level:
                    inside = mid
                else:
                    out = mid
            return eta * math.exp(inside)

        return edge(-1), edge(+1)

    def n_params(self) -> int:
        raise NotImplementedError


def _last_positive(shape: np.ndarray) -> int:
    pos = np.flatnonzero(np.asarray(shape) > 0)
    if pos.size == 0:
        raise ValueError("the target schedule has no step with a positive learning rate")
    return int(pos[-1]) + 1


class LawForecaster(Forecaster):
    """The final-loss law of one variant, fitted on the pilots' last logged losses."""

    source = "law"

    def __init__(self, variant: str = "literal", kind: str | None = None, n_boot: int = 0,
                 random_state: int = 0) -> None:
        self.variant = variant
        self.kind = kind
        self.n_boot = n_boot
        self.random_state = random_state

    @property
    def label(self) -> str:
        return f"law {self.variant}"

    def fit(self, runs: Sequence[Any]) -> LawForecaster:
        from convexlaw.laws import LawData, law_for
        from convexlaw.laws.selection import bound_flags

        data = LawData.from_runs(list(runs), points="final", kind=self.kind)
        law = law_for(data, self.variant, n_boot=self.n_boot, random_state=self.random_state)
        k = 3 + (0 if self.variant == "literal" else len(self.variant.split("+")))
        k += 3 * bool(law.sized)
        if data.n <= k:  # an exact interpolation would score as if it could predict
            raise ValueError(f"{data.n} final losses cannot test the {k} parameters of the "
                             f"{self.variant} law (needs at least {k + 1})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.law_ = law.fit(data)
        self.flags_ = [f"{self.variant} law: {f}" for f in bound_flags(self.law_)]
        return self

    def loss(self, lrs: np.ndarray, steps: Sequence[int] | np.ndarray, peak: float,
             N: float | None = None) -> np.ndarray:
        lrs = np.asarray(lrs, dtype=np.float64)
        st = np.atleast_1d(np.asarray(steps, dtype=np.int64))
        Nq = N if self.law_.sized else None
        return np.array([float(self.law_.predict(lrs.size, peak, N=Nq, shape=lrs / peak,
                                                 at=int(s))) for s in st])

    def optimum(self, shape: np.ndarray, peaks: tuple[float, float], N: float | None = None
                ) -> tuple[float, float]:
        Nq = N if self.law_.sized else None
        e, L = self.law_.optimal_peak([shape.size], N=Nq, shape=shape)
        return float(e[0]), float(L[0])

    def n_params(self) -> int:
        return len(self.law_.free_)


class FitMemo:
    """Fitted curve models by (model name, burn-in, kind, the runs fitted), so that a fit
    made once is not made again: the plan puts the burn-in selector's fits at the chosen
    start here (``BurnIn.fits``) and then scores that start's optimum on the same split
    (``convexlaw.choice.evaluate``). Runs are keyed by identity (the memo keeps them alive).

    >>> memo = FitMemo(); runs = [object()]
    >>> memo.put("convex", 0, None, runs, "fitted"); memo.get("convex", 0, None, runs)
    'fitted'
    >>> memo.get("convex", 100, None, runs) is None, len(memo)
    (True, 1)
    """

    def __init__(self) -> None:
        self._fits: dict[tuple, tuple[list[Any], Any]] = {}

    def __len__(self) -> int:
        return len(self._fits)

    @staticmethod
    def _key(name: str, burn_in: int, kind: str | None, runs: Sequence[Any]) -> tuple:
        return (name, int(burn_in), kind, tuple(id(r) for r in runs))

    def get(self, name: str, burn_in: int, kind: str | None, runs: Sequence[Any]) -> Any:
        hit = self._fits.get(self._key(name, burn_in, kind, runs))
        return None if hit is None else hit[1]

    def put(self, name: str, burn_in: int, kind: str | None, runs: Sequence[Any],
            model: Any) -> None:
        self._fits[self._key(name, burn_in, kind, runs)] = (list(runs), model)


class CurveForecaster(Forecaster):
    """A loss-curve model (by its CLI name) fitted on the pilots' whole curves
    (``memo``: a ``FitMemo`` to take an existing fit of the same model on the same runs
    from)."""

    source = "curve"

    def __init__(self, model: str = "convex-ed-peak", burn_in: int = 0,
                 kind: str | None = None, memo: FitMemo | None = None) -> None:
        self.model = model
        self.burn_in = burn_in
        self.kind = kind
        self.memo = memo

    @property
    def label(self) -> str:
        return f"curve {self.model}"

    def fit(self, runs: Sequence[Any]) -> CurveForecaster:
        from convexlaw.curve import FitWarning
        from convexlaw.protocols import make_model

        runs = list(runs)
        m = None if self.memo is None else self.memo.get(self.model, self.burn_in, self.kind,
                                                         runs)
        if m is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitWarning)
                m = make_model(self.model, kind=self.kind, burn_in=int(self.burn_in)).fit(runs)
            if self.memo is not None:
                self.memo.put(self.model, self.burn_in, self.kind, runs, m)
        return self.set_fitted(m)

    def set_fitted(self, model: Any) -> CurveForecaster:
        """Use an already fitted curve model."""
        self.model_ = model
        self.flags_ = [f"{self.model}: {k} = {v:.4g} at its bound "
                       f"[{model.bounds_[k][0]:.4g}, {model.bounds_[k][1]:.4g}]"
                       for k, v in model.params_.items() if model._at_bound(k)]
        if not getattr(model, "identified_", True):
            self.flags_.append(f"{self.model}: not identified ("
                               + "; ".join(model.warnings_) + ")")
        return self

    def loss(self, lrs: np.ndarray, steps: Sequence[int] | np.ndarray, peak: float,
             N: float | None = None) -> np.ndarray:
        return np.asarray(self.model_.predict(np.asarray(lrs, dtype=np.float64),
                                              np.atleast_1d(steps), peak=peak))

    def n_params(self) -> int:
        return self.model_.n_params
