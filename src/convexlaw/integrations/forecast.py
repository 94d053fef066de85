"""Online forecast: from the updates done so far, the loss this run will end at.

The paper's sequence-to-sequence map run live: a loss-curve model (default
``convex-ed``, L̂_t = L∞ + ½D²·P_t^(c−1) + G²·Y_t, the bound with an effective distance;
on published LLM curves it forecasts as well as ``convex-ed-gt`` at a seventh of the
cost and without its failures, see ``bench/forecast.py``) is fitted to the
curve logged so far (after a burn-in, per-update losses averaged into at most ``bins``
points), then evaluated on the planned learning rates of ALL T updates: the forecast is
L̂_T. For a pilot sweep, the forecast is compared with the best final loss among the
finished runs of the same sweep and horizon: ``on_track`` when it is within
``tolerance`` (relative) of it.

>>> import numpy as np, warnings, convexlaw
>>> from convexlaw.runs import Run
>>> T = 400
>>> lrs = convexlaw.schedule("cosine+warmup(20)", T, peak=0.1)
>>> true = 2.0 + convexlaw.bound(lrs, D=0.5, G=2.0)      # the literal model's own curve
>>> half = Run("toy", lrs=lrs[:200], curves={"train": (np.arange(2, 201), true[1:200])})
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     exact = Forecast(model="convex", bin_updates=1)   # noise-free: nothing to average
...     out = forecast_final(half, Planner(lrs, T), exact, T)
>>> round(out["final_loss"], 4), round(float(true[-1]), 4)
(2.4415, 2.4415)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.runs import Run

__all__ = ["Forecast", "Planner", "bin_means", "final_loss", "forecast_final", "sweep_best"]

MIN_POINTS = 10  # a 5-parameter fit needs a margin of points after the burn-in


@dataclass(frozen=True)
class Forecast:
    """When and how the online forecast runs (fractions are of the planned T updates).

    ``model``: a curve-model name of ``convexlaw.protocols.MODELS``; ``kind``: the curve
    to forecast ("train" or "val"); first forecast after ``start``·T updates, then every
    ``every``·T; the first ``burn_in``·T updates are left out of the fit; ``bins``: at most
    this many points enter the fit (means of consecutive losses), each spanning at least
    ``bin_updates`` updates (a per-update minibatch loss is noisy, and the fit weighs
    relative residuals, so unaveraged noise pulls the forecast low); ``tolerance``: a
    forecast within this relative margin of the sweep's best final loss is on track,
    a finished run's final loss being the mean over its last ``final_window``·T updates
    when its curve has every update (one minibatch loss is too noisy to rank peaks by).
    """

    model: str = "convex-ed"
    kind: str = "train"
    start: float = 0.3
    every: float = 0.1
    burn_in: float = 0.1
    bins: int = 200
    bin_updates: int = 8
    tolerance: float = 0.01
    final_window: float = 0.02

    def validate(self) -> Forecast:
        from convexlaw.protocols import MODELS

        if self.model not in MODELS:
            raise ValueError(f"forecast model {self.model!r} is not one of "
                             f"{', '.join(MODELS)}")
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"forecast kind must be a curve name such as 'train', "
                             f"got {self.kind!r}")
        for what, v, lo, hi in (("start", self.start, 0.0, 1.0), ("every", self.every, 0.0, 1.0),
                                ("burn_in", self.burn_in, 0.0, self.start)):
            ok = isinstance(v, (int, float)) and (lo < v < hi if what == "start"
                                                  else lo < v <= hi if what == "every"
                                                  else lo <= v < hi)
            if not ok:
                raise ValueError(f"forecast {what} = {v!r}; expected a fraction of the run in "
                                 f"{'(' if what != 'burn_in' else '['}{lo:g}, {hi:g}"
                                 f"{')' if what != 'every' else ']'}")
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < MIN_POINTS:
            raise ValueError(f"forecast bins = {self.bins!r}; expected an integer >= {MIN_POINTS}")
        if isinstance(self.bin_updates, bool) or not isinstance(self.bin_updates, int) \
                or self.bin_updates < 1:
            raise ValueError(f"forecast bin_updates = {self.bin_updates!r}; expected an "
                             "integer >= 1")
        if not (isinstance(self.tolerance, (int, float)) and self.tolerance >= 0):
            raise ValueError(f"forecast tolerance = {self.tolerance!r}; expected a number >= 0")
        if not (isinstance(self.final_window, (int, float)) and 0 <= self.final_window < 1):
            raise ValueError(f"forecast final_window = {self.final_window!r}; expected a "
                             "fraction of the run in [0, 1)")
        return self

    def width(self, steps: int) -> int:
        """Updates averaged into a dense curve's final loss."""
        return max(1, math.ceil(steps / self.bins), math.ceil(self.final_window * steps))

    def first_step(self, steps: int) -> int | None:
        t = max(1, math.ceil(self.start * steps))
        return t if t < steps else None

    def next_step(self, done: int, steps: int) -> int | None:
        t = done + max(1, math.ceil(self.every * steps))
        return t if t < steps else None


class Planner:
    """The planned learning rates of all T updates, kept consistent with those logged.

    ``source``: an array of T learning rates, or ``future(k)`` returning those of updates
    k..T while the optimizer holds update k's (the callbacks step a copy of the trainer's
    scheduler). A future that stops matching the logged rates (a scheduler that reacts to
    metrics) is asked again.
    """

    def __init__(self, source: ArrayLike | Callable[[int], ArrayLike] | None,
                 steps: int | None) -> None:
        self.source, self.steps = source, steps
        self._cache: np.ndarray | None = None

    @property
    def plan(self) -> np.ndarray | None:
        """The last plan made (None before the first)."""
        return self._cache

    def planned(self, lrs: np.ndarray) -> np.ndarray | str:
        """All T planned learning rates (the logged ones first), or why there are none."""
        T, done = self.steps, lrs.size
        if self.source is None or T is None:
            return ("no planned learning rates for the rest of the run: give steps and a "
                    "schedule spec, or planned=")
        if self._cache is not None and _agree(self._cache[:done], lrs) is None:
            return self._cache
        if callable(self.source):
            future = np.asarray(self.source(done), dtype=np.float64).ravel()
            full = np.concatenate([lrs[:done - 1], future])
        else:
            full = np.asarray(self.source, dtype=np.float64).ravel()
        if full.size != T:
            return f"{full.size} planned learning rates, expected T = {T}"
        if not (np.isfinite(full).all() and (full >= 0).all()):
            return "the planned learning rates are not all finite and >= 0"
        bad = _agree(full[:done], lrs)
        if bad is not None:
            return (f"update {bad + 1} used learning rate {float(lrs[bad])!r}, the plan says "
                    f"{float(full[bad])!r}")
        self._cache = full
        return full


def _agree(planned: np.ndarray, lrs: np.ndarray) -> int | None:
    """Index of the first logged rate that differs from the plan (None: all agree)."""
    off = np.abs(planned - lrs) > 1e-9 * np.maximum(np.abs(lrs), 1e-300)
    return int(np.flatnonzero(off)[0]) if off.any() else None


def bin_means(steps: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``bins`` points: means of consecutive values, at their groups' mean step.

    Averaging k per-update losses divides their noise by √k; the bias of putting a mean at
    the middle of its group is of second order in the group's width.
    """
    if steps.size <= bins:
        return steps, values
    groups = np.array_split(np.arange(steps.size), bins)
    mid = np.array([int(round(steps[g].mean())) for g in groups])
    return mid, np.array([values[g].mean() for g in groups])


def final_loss(run: Run, kind: str, width: int = 1) -> float | None:
    """A finished run's final loss: its last value, averaged over ``width`` per-update
    points for a dense (per-update) curve, as the forecast's fit averages its own."""
    try:
        steps, values = run.finite_curve(kind)
    except KeyError:
        return None
    if values.size == 0 or steps[-1] != run.T:
        return None
    dense = steps.size >= 2 and steps[-1] - steps[-2] == 1
    return float(values[-width:].mean() if dense else values[-1])


def sweep_best(store: Any, sweep: str, steps: int, kind: str, width: int = 1,
               exclude: str | None = None) -> tuple[float, str] | None:
    """(best final loss, its run's name) among the store's finished runs of ``sweep`` with
    horizon ``steps``; None when there is none."""
    best = None
    for r in store.list(curves=True, status="finished", T=steps, tags={"sweep": sweep}):
        if r.id == exclude:
            continue
        fin = final_loss(r, kind, width)
        if fin is not None and (best is None or fin < best[0]):
            best = (fin, r.name)
    return best


def forecast_final(run: Run, planner: Planner, opts: Forecast, steps: int, *,
                   store: Any = None, sweep: str | None = None) -> dict[str, Any]:
    """Fit ``opts.model`` on ``run`` so far and predict the loss after update ``steps``.

    Returns a JSON-plain dict: ``step`` (updates done), ``T``, ``model``, ``kind``,
    ``final_loss``, ``fit_r2``, ``points``, ``identified``, ``warnings``, and with a sweep
    ``sweep_best``, ``sweep_best_run``, ``on_track``; or ``step`` and ``error`` when no
    forecast can be made (never raises: a forecast must not stop the training).
    """
    from convexlaw.protocols import make_model

    done = run.T
    out: dict[str, Any] = {"step": done, "T": steps, "model": opts.model, "kind": opts.kind}
    planned = planner.planned(run.lrs)
    if isinstance(planned, str):
        return {**out, "error": planned}
    if opts.kind not in run.curves:
        return {**out, "error": f"no {opts.kind!r} curve logged yet"}
    s, v = run.finite_curve(opts.kind)
    keep = s > int(opts.burn_in * steps)
    s, v = s[keep], v[keep]
    if s.size < MIN_POINTS:
        return {**out, "error": f"{s.size} {opts.kind!r} points after the burn-in "
                                f"(update {int(opts.burn_in * steps)}); need {MIN_POINTS}"}
    bins = min(opts.bins, max(MIN_POINTS, int(s[-1] - s[0] + 1) // opts.bin_updates))
    s, v = bin_means(s, v, bins)
    peak = float(planned.max())
    fit_run = Run(run.name, lrs=run.lrs, curves={opts.kind: (s, v)}, peak_lr=peak,
                  id=run.id)
    model = make_model(opts.model, kind=opts.kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # identifiability goes into the result
            model.fit(fit_run)
            pred = float(model.predict(planned, [steps], peak=peak)[0])
    except (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError) as err:
        return {**out, "error": f"{opts.model} fit failed: {err}"}
    if not math.isfinite(pred):
        return {**out, "error": f"{opts.model} predicts a non-finite final loss"}
    out.update(final_loss=pred, fit_r2=float(model.fit_info_["r2"]), points=int(s.size),
               identified=bool(model.identified_), warnings=list(model.warnings_))
    if sweep is not None and store is not None:
        best = sweep_best(store, sweep, steps, opts.kind, opts.width(steps), exclude=run.id)
        if best is None:
            out.update(sweep_best=None, sweep_best_run=None, on_track=None)
        else:
            out.update(sweep_best=best[0], sweep_best_run=best[1],
                       on_track=bool(pred <= best[0] * (1 + opts.tolerance)))
    return out
