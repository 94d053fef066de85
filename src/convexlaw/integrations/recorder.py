"""Write a run into the store while it trains: the engine under every callback.

A :class:`Recorder` collects the learning rate of every update and any curve points
(training loss, held-out losses, gradient norm...), and writes the run so far with ONE
``RunStore.put`` per flush: status ``"running"`` while it trains, ``"finished"`` (or
``"diverged"``) at the end. A job killed at any moment leaves the store as it was after
the last flush — a valid run with the updates done until then — never a half-written one.

Steps convention (the project's): ``log(t, lr, loss)`` gives the learning rate of update
t = 1, 2, ... (the one the optimizer is about to apply, so log before ``scheduler.step()``)
and the training loss of update t; a held-out loss logged at step t is measured after t
updates, at step 0 before any (kept as ``tags["initial_val"]``).

A flush writes the whole run (its blobs are rewritten: O(T) bytes), so flushes are spaced:
every ``flush_every`` updates if given, and otherwise at most every ``flush_secs`` seconds
and never more often than 100× the time the last flush took (≤ 1 % of wall time).

>>> import os, tempfile, numpy as np
>>> db = os.path.join(tempfile.mkdtemp(), "runs.db")
>>> with record(db, {"model": "toy", "width": 8}, name="toy", steps=4) as rec:
...     for t in range(1, 5):
...         rec.log(t, lr=0.1 / t, loss=2.0 / t)
>>> run = RunStore(db).get("toy")
>>> run.status, run.lrs.tolist() == [0.1 / t for t in range(1, 5)], run.tags["config"]["width"]
('finished', True, 8)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.integrations.forecast import Forecast, Planner, forecast_final
from convexlaw.integrations.tags import config_value
from convexlaw.integrations.tags import versions as versions  # hf and lightning used it here
from convexlaw.integrations.writer import RunWriter
from convexlaw.runs import RunStore

__all__ = ["Recorder", "RecorderWarning", "record"]

log = logging.getLogger("convexlaw.integrations")


class RecorderWarning(UserWarning):
    """Something the recorder could not do (the training itself goes on)."""


def _lr_of(lr: Any, group: int) -> float:
    """A float learning rate, or the current one of an optimizer's param group."""
    if hasattr(lr, "param_groups"):
        lr = lr.param_groups[group]["lr"]
    return float(lr)


def _scalar(value: Any) -> float | Any:
    """Numbers become floats now; anything else (a tensor) is converted at the flush, so a
    GPU loss does not force a device sync on every update."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "detach"):
        return value.detach()
    if not hasattr(value, "item") and not hasattr(value, "__float__"):
        raise ValueError(f"a logged value must be a number or a scalar tensor, got "
                         f"{type(value).__name__}")
    return value


class Recorder(RunWriter):
    """Collects one run and writes it to a :class:`RunStore` as it goes.

    ``store``: a RunStore or a path. ``config``: the run's settings (JSON-plain copy kept in
    ``tags["config"]``). ``name`` defaults to ``config["name"]``, else ``"run-<time>"``;
    ``run_id`` defaults to a fresh id (give one to continue a killed run, see
    :meth:`resume_at`). ``model``: an ``nn.Module`` whose trainable parameters give N
    (or pass ``N``). ``steps``: the planned number of updates T. ``schedule``: a convexlaw
    spec the learning rates follow; it is checked against every logged rate and dropped
    (``tags["schedule_mismatch"]``) at the first that differs. ``forecast``: ``True`` or a
    :class:`Forecast` to fit a curve model online and predict the final loss (needs
    ``steps`` and ``planned`` or ``schedule``); ``planned``: the planned learning rates of
    all T updates, or a callable ``future(k)`` giving those of updates k..T. ``sweep``: a
    name tagged on the run; the forecast compares against finished runs of the same sweep
    and horizon (is this peak on track?). ``param_group``: which group's LR an optimizer
    passed as ``lr`` reports.
    """

    def __init__(self, store: RunStore | str | os.PathLike, config: Mapping | None = None, *,
                 name: str | None = None, run_id: str | None = None, model: Any = None,
                 N: float | None = None, steps: int | None = None,
                 schedule: str | None = None, peak_lr: float | None = None,
                 optimizer: str | None = None, batch_size: int | None = None,
                 seed: int | None = None, warmup: int | None = None,
                 tags: Mapping | None = None, sweep: str | None = None,
                 forecast: Forecast | bool | None = None,
                 planned: ArrayLike | Callable[[int], ArrayLike] | None = None,
                 flush_every: int | None = None, flush_secs: float = 10.0,
                 param_group: int = 0, source: str = "record") -> None:
        if config is not None and not isinstance(config, Mapping):
            raise ValueError(f"config must be a mapping (dict), got {type(config).__name__}")
        self.config = config_value(dict(config or {}))
        for what, v, lo in (("steps", steps, 1), ("flush_every", flush_every, 1),
                            ("batch_size", batch_size, 1), ("warmup", warmup, 0),
                            ("param_group", param_group, 0)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                                  or v < lo):
                raise ValueError(f"{what} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(flush_secs, (int, float)) and flush_secs >= 0):
            raise ValueError(f"flush_secs must be a number of seconds >= 0, got {flush_secs!r}")
        if peak_lr is not None and not (isinstance(peak_lr, (int, float)) and peak_lr > 0
                                        and math.isfinite(peak_lr)):
            raise ValueError(f"peak_lr must be a finite number > 0, got {peak_lr!r}")
        if model is not None and N is None:
            N = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if N is not None and not (N > 0 and math.isfinite(N)):
            raise ValueError(f"N must be a parameter count > 0, got {N!r}")
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.name = str(name or self.config.get("name") or time.strftime("run-%Y%m%d-%H%M%S"))
        self.id = run_id or hashlib.sha256(json.dumps(
            [self.name, self.config, time.time_ns(), os.getpid()], default=str).encode()
        ).hexdigest()[:16]
        self.steps, self.peak_lr, self.sweep = steps, peak_lr, sweep
        self.meta = {"N": None if N is None else float(N), "optimizer": optimizer,
                     "batch_size": batch_size, "seed": seed, "warmup": warmup}
        self.tags: dict[str, Any] = dict(config_value(dict(tags or {})))
        self.source, self.param_group = source, param_group
        self.flush_every, self.flush_secs = flush_every, float(flush_secs)
        self.status, self.closed = "running", False
        self._lrs: list[float] = []
        self._curves: dict[str, tuple[list[int], list[float]]] = {}
        self._pending: list[tuple[str, int, Any]] = []
        self._last: dict[str, int] = {}  # last step logged per curve kind
        self._initial: dict[str, float] = {}
        self._dropped: dict[str, int] = {}
        self._warned: set[str] = set()
        self._t0, self._last_flush, self._flush_cost = time.time(), time.monotonic(), 0.0
        self._flushed_at, self.flushes = 0, 0
        self.schedule = schedule
        self._spec_lrs = None
        if schedule is not None:
            self._spec_lrs = self._spec(schedule, steps, peak_lr)
        self.planner = Planner(planned if planned is not None else self._spec_lrs, steps)
        if forecast is True:
            forecast = Forecast()
        self.forecast_opts = forecast.validate() if isinstance(forecast, Forecast) else None
        if self.forecast_opts is not None and steps is None:
            raise ValueError("forecast needs steps (the planned number of updates T)")
        self.forecast: dict[str, Any] | None = None
        self._next_forecast = (self.forecast_opts.first_step(steps)
                               if self.forecast_opts is not None else None)

    @staticmethod
    def _spec(spec: str, steps: int | None, peak: float | None) -> np.ndarray:
        from convexlaw import schedule as make_schedule

        if steps is None or peak is None:
            raise ValueError(f"schedule {spec!r} needs steps and peak_lr to be checked")
        return make_schedule(spec, steps, peak)

    # ------------------------------------------------------------------ logging
    @property
    def T(self) -> int:
        """Updates whose learning rate is logged so far."""
        return len(self._lrs)

    def last_step(self, kind: str) -> int:
        """The last step logged for curve ``kind`` (0 if none)."""
        return self._last.get(kind, 0)

    def log(self, step: int, lr: Any = None, loss: Any = None, *, val: Any = None,
            grad_norm: Any = None, **curves: Any) -> None:
        """Log update ``step``: its learning rate (a float, or an optimizer to read it from),
        its training loss, and any other curve values at this step (``val``,
        ``grad_norm``, or a kind of your own as a keyword)."""
        step = self._check_step(step)
        if lr is not None:
            self._add_lr(step, lr)
        for kind, value in (("train", loss), ("val", val), ("grad_norm", grad_norm),
                            *curves.items()):
            if value is not None:
                self.log_value(kind, step, value)
        if lr is not None:  # after the values: a flush holds the whole update
            self._check_forecast()
            self.maybe_flush()

    def log_lr(self, step: int, lr: Any, *, flush: bool = True) -> None:
        """The learning rate of update ``step`` (updates must come 1, 2, 3... with none
        missing: the bound needs the whole sequence). ``flush=False`` when the update's
        losses come later: the caller then calls :meth:`maybe_flush` once they are in."""
        self._add_lr(self._check_step(step), lr)
        self._check_forecast()
        if flush:
            self.maybe_flush()

    def _add_lr(self, step: int, lr: Any) -> None:
        if self.closed:
            raise RuntimeError(f"run {self.name!r} is closed; start a new recorder")
        if step != self.T + 1:
            raise ValueError(f"learning rate for update {step}, expected update {self.T + 1}: "
                             "log the learning rate of every update, in order")
        value = _lr_of(lr, self.param_group)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"learning rate {value!r} at update {step}; expected a finite "
                             "number >= 0")
        if self.peak_lr is not None and value > self.peak_lr * (1 + 1e-9):
            self._warn("peak", f"run {self.name!r}: learning rate {value!r} at update {step} "
                       f"exceeds peak_lr = {self.peak_lr!r}; the run's peak_lr is the largest "
                       "rate logged")
            self.peak_lr = None
        if self.steps is not None and step > self.steps:
            self.steps = None  # ran past the plan: the horizon is what was done
            self.tags["ran_past_planned_steps"] = True
        self._lrs.append(value)
        self._check_schedule(step, value)

    def _check_forecast(self) -> None:
        # here, right after an update's LR: the optimizer still holds it (see Planner)
        if self._next_forecast is not None and self.T >= self._next_forecast:
            self._forecast()

    def log_value(self, kind: str, step: int, value: Any) -> None:
        """One point of curve ``kind`` at ``step`` (0 = before any update)."""
        step = self._check_step(step, allow_zero=True)
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"curve kind must be a non-empty string, got {kind!r}")
        if step == 0:
            self._initial[kind] = _scalar(value)
            return
        last = self._last.get(kind, 0)
        if step <= last:
            raise ValueError(f"curve {kind!r}: step {step} after step {last}; expected "
                             "increasing steps")
        self._pending.append((kind, step, _scalar(value)))
        self._last[kind] = step

    @staticmethod
    def _check_step(step: Any, allow_zero: bool = False) -> int:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) \
                or step < (0 if allow_zero else 1):
            raise ValueError(f"step must be an integer >= {0 if allow_zero else 1} (the "
                             f"update's number), got {step!r}")
        return int(step)

    def _check_schedule(self, step: int, value: float) -> None:
        spec = self._spec_lrs
        if spec is None:
            return
        expected = float(spec[step - 1]) if step <= spec.size else math.nan
        if not abs(value - expected) <= 1e-9 * max(abs(expected), 1e-300):
            self.tags["schedule_mismatch"] = (f"{self.schedule!r}: update {step} has learning "
                                              f"rate {value!r}, the spec gives {expected!r}")
            self._warn("schedule", f"run {self.name!r}: {self.tags['schedule_mismatch']}; "
                       "the run is stored without a schedule spec")
            self.schedule = self._spec_lrs = None

    # ------------------------------------------------------------------ forecast
    def _forecast(self) -> None:
        opts = self.forecast_opts
        self._next_forecast = opts.next_step(self.T, self.steps) if self.steps else None
        run = self.run()
        if run is None or self.steps is None:
            return
        result = forecast_final(run, self.planner, opts, self.steps, store=self.store,
                                sweep=self.sweep)
        history = (self.forecast or {}).get("history", [])
        if "final_loss" in result:
            history = [*history, [result["step"], result["final_loss"]]]
            log.info("convexlaw forecast for %s at update %d of %d: final %s loss %.4g%s%s",
                     self.name, result["step"], self.steps, opts.kind, result["final_loss"],
                     "" if result["identified"] else " (not identified by the data so far)",
                     "" if result.get("on_track") is None else
                     f" ({'on track' if result['on_track'] else 'behind'}: best of sweep "
                     f"{result['sweep_best']:.4g})")
        else:
            self._warn("forecast", f"run {self.name!r}: no forecast at update {self.T}: "
                       f"{result['error']}")
            if self.planner.source is None:
                self._next_forecast = None  # it will not get a plan later either
        self.forecast = {**result, "history": history}  # stored by the next flush

    # ------------------------------------------------------------------ helpers
    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:  # once per cause, not once per update
            self._warned.add(key)
            warnings.warn(message, RecorderWarning, stacklevel=3)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.closed:
            return
        if exc is None:
            self.finish()
        else:
            self.abort(exc)

    def __repr__(self) -> str:
        return (f"Recorder(name={self.name!r}, id={self.id!r}, updates={self.T}, "
                f"status={self.status!r}, store={str(self.store.path)!r})")


def record(store: RunStore | str | os.PathLike, config: Mapping | None = None,
           **options: Any) -> Recorder:
    """Record a hand-written training loop into ``store`` (a RunStore or a path).

    Use as a context manager; ``rec.log(step, lr, loss)`` once per update (``lr`` may be
    the optimizer, read before ``scheduler.step()``). On normal exit the run is stored as
    finished; on an exception as running, with the error in its tags. Options are those of
    :class:`Recorder` (``name``, ``model``, ``steps``, ``schedule``, ``forecast``...)::

        with convexlaw.record("runs.db", cfg, model=net, steps=T) as rec:
            for t in range(1, T + 1):
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(); loss.backward()
                rec.log(t, opt, loss)
                opt.step(); sched.step()
    """
    return Recorder(store, config, **options)
