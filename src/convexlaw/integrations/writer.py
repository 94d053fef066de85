"""The store side of a :class:`~convexlaw.integrations.recorder.Recorder`: when to flush,
the run so far as a :class:`~convexlaw.runs.Run`, one ``RunStore.put`` per flush, and
finishing, aborting or resuming a run. ``RunWriter`` is the Recorder's base class."""

from __future__ import annotations

import bisect
import math
import sqlite3
import time

import numpy as np

from convexlaw.runs import Run, RunStoreError

__all__ = ["FLUSH_BUDGET", "LOSS_KINDS", "RunWriter"]

LOSS_KINDS = ("train", "val")  # a non-finite value here means the run diverged
FLUSH_BUDGET = 100.0  # wait at least this many times the last flush's duration


class RunWriter:
    """Writes the run a Recorder has logged so far (see the module doc).

    Reads the Recorder's state: the learning rates ``_lrs`` (``T`` of them), the curve
    points (``_pending`` until the flush turns them into ``_curves``, ``_initial`` for
    step 0, ``_last``, ``_dropped``), the run's ``name``, ``id``, ``steps``, ``peak_lr``,
    ``schedule``, ``meta``, ``config``, ``tags``, ``status``, ``sweep``, ``forecast``, and
    the flush bookkeeping (``flush_every``, ``flush_secs``, ``flushes``, ``_flushed_at``,
    ``_last_flush``, ``_flush_cost``); warns with the Recorder's ``_warn``.
    """

    # ------------------------------------------------------------------ writing
    def maybe_flush(self) -> None:
        """Flush if one is due (``flush_every`` updates, or the time-based spacing)."""
        if self.flush_every is not None:
            if self.T - self._flushed_at >= self.flush_every:
                self.flush()
            return
        wait = max(self.flush_secs, FLUSH_BUDGET * self._flush_cost)
        if time.monotonic() - self._last_flush >= wait:
            self.flush()

    def _materialise(self) -> None:
        for kind, step, value in self._pending:
            try:
                x = float(value)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ValueError(f"curve {kind!r} at step {step}: value {value!r} is not a "
                                 f"number ({err})") from None
            if not math.isfinite(x):
                if kind not in LOSS_KINDS:  # e.g. an AMP step skipped with inf gradients
                    self._dropped[kind] = self._dropped.get(kind, 0) + 1
                    continue
                if self.status != "diverged":
                    self.status = "diverged"
                    self.tags["diverged"] = f"{kind} loss {x} at step {step}"
                    self.tags["diverged_at"] = step
            steps, values = self._curves.setdefault(kind, ([], []))
            steps.append(step)
            values.append(x)
        self._pending.clear()
        for kind, value in list(self._initial.items()):
            x = float(value)
            self.tags[f"initial_{kind}"] = x if math.isfinite(x) else None
            del self._initial[kind]

    def run(self) -> Run | None:
        """The run as logged so far (None before the first positive learning rate)."""
        self._materialise()
        T = self.T
        lrs = np.asarray(self._lrs, dtype=np.float64)
        if T == 0 or not lrs.any():
            return None
        curves = {}
        for kind, (steps, values) in self._curves.items():
            n = bisect.bisect_right(steps, T)  # points past the last logged LR wait
            if n:
                curves[kind] = (np.asarray(steps[:n]), np.asarray(values[:n]))
        tags = {**self.tags, "config": self.config, "source": self.source,
                "steps_done": T, "planned_steps": self.steps,
                "wall_time": round(time.time() - self._t0, 3), "flushes": self.flushes + 1}
        if self.sweep is not None:
            tags["sweep"] = self.sweep
        if self._dropped:
            tags["dropped_nonfinite"] = dict(self._dropped)
        if self.forecast is not None:
            tags["forecast"] = self.forecast
        peak = self.peak_lr if self.peak_lr is not None else float(lrs.max())
        return Run(name=self.name, lrs=lrs, curves=curves, peak_lr=peak,
                   schedule=self.schedule, tags=tags, status=self.status, id=self.id,
                   warmup=self.meta["warmup"] if (self.meta["warmup"] or 0) <= T else None,
                   **{k: v for k, v in self.meta.items() if k != "warmup"})

    def flush(self, *, strict: bool = False) -> bool:
        """Write the run so far in one transaction; False if there is nothing to write yet
        (no positive learning rate) or the store refused (a RecorderWarning says why; with
        ``strict=True`` the error is raised)."""
        t0 = time.perf_counter()
        run = self.run()
        if run is None:
            return False
        try:
            self.store.put(run)
        except (sqlite3.Error, RunStoreError, OSError) as err:
            if strict:
                raise
            self._warn("store", f"could not write run {self.name!r} to {self.store.path}: "
                       f"{err}; will retry at the next flush")
            return False
        finally:
            self._last_flush = time.monotonic()
        self._flushed_at, self.flushes = self.T, self.flushes + 1
        self._flush_cost = time.perf_counter() - t0
        return True

    def finish(self, status: str | None = None) -> str | None:
        """Mark the run finished (or ``diverged``) and write it; returns its id (None when
        no update with a positive learning rate was ever logged)."""
        self._materialise()
        if status is not None:
            self.status = status
        elif self.status == "running":
            self.status = "finished"
        if self.steps is not None and self.T < self.steps:
            self.tags["stopped_early"] = f"{self.T} of {self.steps} planned updates"
        wrote = self.flush(strict=True)
        self.closed = True
        if not wrote:
            self._warn("empty", f"run {self.name!r}: no update with a positive learning rate "
                       "was logged; nothing stored")
            return None
        return self.id

    def abort(self, error: BaseException | str) -> None:
        """Write what there is, status still ``running``, with the error in the tags."""
        self.tags["error"] = error if isinstance(error, str) else \
            f"{type(error).__name__}: {error}"[:500]
        try:
            self.flush()
        finally:
            self.closed = True

    def resume_at(self, step: int) -> None:
        """Continue stored run ``run_id`` from a checkpoint taken after ``step`` updates:
        its first ``step`` updates are kept, later ones (done after the checkpoint, before
        the job died) are dropped; the next update logged must be ``step + 1``."""
        step = self._check_step(step, allow_zero=True)
        if step == 0:
            return
        try:
            old = self.store.get(self.id)
        except KeyError:
            raise ValueError(f"training resumes after update {step}, but run id {self.id!r} "
                             f"is not in {self.store.path}: the learning rates of updates "
                             f"1..{step} are unknown") from None
        if old.T < step:
            raise ValueError(f"training resumes after update {step}, but run {old.name!r} "
                             f"holds only {old.T} updates (the job died before flushing "
                             f"updates {old.T + 1}..{step})")
        self._lrs = old.lrs[:step].tolist()
        self._curves = {}
        for kind, (s, v) in old.curves.items():
            n = int(np.searchsorted(s, step, side="right"))
            if n:
                self._curves[kind] = (s[:n].tolist(), v[:n].tolist())
                self._last[kind] = int(s[n - 1])
        self.tags = {**{k: v for k, v in old.tags.items() if k.startswith("initial_")},
                     **self.tags, "resumed_at": [*old.tags.get("resumed_at", []), step]}
        if old.status == "diverged":
            self.status = old.status
        self._flushed_at = step
