"""The run record: one training run's learning rates, loss curves and metadata.

Steps convention (the whole project): ``lrs[t-1]`` is the learning rate of update ``t``
(t = 1..T); a curve point ``(t, value)`` is measured after ``t`` updates, so it is modelled
by the bound at array index ``t-1``. Step 0 (before any update) is not a curve point; an
importer keeps such a value in ``tags`` (e.g. ``initial_val``).

>>> import numpy as np
>>> run = Run("toy", lrs=np.full(4, 0.1), curves={"train": ([1, 2, 4], [3.0, 2.5, 2.2])})
>>> run.T, run.curve()[1].tolist()
(4, [3.0, 2.5, 2.2])
>>> Run.from_dict(run.to_dict()) == run
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.jsonable import plain

__all__ = ["STATUSES", "Run", "RUN_FORMAT"]

STATUSES = ("finished", "diverged", "running")
RUN_FORMAT = "convexlaw-run"
RUN_FORMAT_VERSION = 1

Curve = tuple[np.ndarray, np.ndarray]


def _as_curve(kind: str, pair: Any) -> Curve:
    """Coerce ``(steps, values)`` to ``(int64, float64)`` arrays, refusing non-integral steps."""
    try:
        steps_raw, values_raw = pair
    except (TypeError, ValueError):
        raise ValueError(f"curve {kind!r}: expected a pair (steps, values), got "
                         f"{type(pair).__name__}") from None
    steps_f = np.asarray(steps_raw, dtype=np.float64).ravel()
    values = np.asarray(values_raw, dtype=np.float64).ravel()
    ok = np.isfinite(steps_f) & (steps_f == np.round(steps_f))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"curve {kind!r}: step {float(steps_f[i])!r} at index {i} is not an "
                         "integer")
    return steps_f.astype(np.int64), values


def _json_float(x: float) -> float | str:
    """A float as JSON allows it: non-finite values become the strings nan / inf / -inf."""
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _float_list(a: np.ndarray) -> list[float | str]:
    if np.isfinite(a).all():
        return a.tolist()
    return [_json_float(x) for x in a]


@dataclass(eq=False)
class Run:
    """One training run: per-step learning rates, loss curves by kind, and metadata.

    ``curves`` maps a kind ("train", "val", or extras such as "grad_norm") to
    ``(steps, values)`` with int64 steps in 1..T and float64 values. ``id`` defaults to a
    hash of the name, learning rates and curves, so importing the same data twice gives
    the same id (and the store replaces instead of duplicating).
    """

    name: str
    lrs: np.ndarray
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    peak_lr: float | None = None
    schedule: str | None = None
    warmup: int | None = None
    N: float | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    seed: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    status: str = "finished"
    id: str = ""

    def __post_init__(self) -> None:
        self.lrs = np.asarray(self.lrs, dtype=np.float64).ravel()
        if isinstance(self.curves, dict):  # a store's lazy mapping stays lazy
            self.curves = {str(k): _as_curve(str(k), v) for k, v in self.curves.items()}
        self.tags = plain(self.tags) if isinstance(self.tags, dict) else self.tags
        if not self.id:
            self.id = self.content_id()

    # ------------------------------------------------------------------ accessors
    @property
    def T(self) -> int:
        """Number of optimizer updates (= len(lrs))."""
        return int(self.lrs.size)

    @property
    def onset(self) -> int | None:
        """t0: the step from which the run's convexity diagnostics found it convex-like
        (``tags["convexity"]["t0"]``, written by ``convexlaw train --diagnose``); None when
        the rule never fired or the run has no diagnostics. A candidate burn-in."""
        d = self.tags.get("convexity") if isinstance(self.tags, dict) else None
        t0 = d.get("t0") if isinstance(d, dict) else None
        return None if t0 is None else int(t0)

    @property
    def kinds(self) -> list[str]:
        return list(self.curves.keys())

    def curve(self, kind: str | None = None) -> Curve:
        """``(steps, values)`` of one curve; default "val" if present, else "train"."""
        if kind is None:
            if "val" in self.curves:
                kind = "val"
            elif "train" in self.curves:
                kind = "train"
            else:
                raise KeyError(f"run {self.name!r} has no 'val' or 'train' curve; "
                               f"kinds: {', '.join(self.curves) or 'none'}")
        if kind not in self.curves:
            raise KeyError(f"run {self.name!r} has no curve {kind!r}; "
                           f"kinds: {', '.join(self.curves) or 'none'}")
        return self.curves[kind]

    def finite_curve(self, kind: str | None = None) -> Curve:
        """The curve up to (excluding) its first non-finite value: what a fit can use."""
        steps, values = self.curve(kind)
        bad = np.flatnonzero(~np.isfinite(values))
        end = int(bad[0]) if bad.size else values.size
        return steps[:end], values[:end]

    def final_loss(self, kind: str | None = None) -> float | None:
        """Last finite value of a curve (None if there is none)."""
        try:
            _, values = self.finite_curve(kind)
        except KeyError:
            return None
        return float(values[-1]) if values.size else None

    def content_id(self) -> str:
        """Stable 16-hex-digit hash of name, learning rates and curves."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        h.update(np.ascontiguousarray(self.lrs, dtype="<f8").tobytes())
        for kind in sorted(self.curves):
            steps, values = self.curves[kind]
            h.update(kind.encode())
            h.update(np.ascontiguousarray(steps, dtype="<i8").tobytes())
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ validation
    def validate(self) -> Run:
        """Check every field; raise ValueError naming the bad value and what was expected.

        Rules: lrs 1-D, non-empty, finite, >= 0, not all zero (and <= peak_lr when given);
        each curve has equal-length steps/values, steps strictly increasing in 1..T, values
        finite unless ``status == "diverged"`` (a diverged run keeps its curve, NaN/inf
        included). Returns self.
        """
        who = f"run {self.name!r}" if self.name else "run"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"run name must be a non-empty string, got {self.name!r}")
        if self.status not in STATUSES:
            raise ValueError(f"{who}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        lrs = self.lrs
        if lrs.ndim != 1 or lrs.size == 0:
            raise ValueError(f"{who}: lrs must be a non-empty 1-D array, got shape {lrs.shape}")
        bad = np.flatnonzero(~np.isfinite(lrs) | (lrs < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{who}: lrs[{i}] (update {i + 1}) is {float(lrs[i])!r}; expected "
                             "finite learning rates >= 0")
        if not lrs.any():
            raise ValueError(f"{who}: all {lrs.size} learning rates are zero; expected at least "
                             "one positive learning rate")
        if self.peak_lr is not None:
            p = self.peak_lr
            if not (isinstance(p, (int, float, np.floating)) and math.isfinite(p) and p > 0):
                raise ValueError(f"{who}: peak_lr is {p!r}; expected a finite number > 0")
            if lrs.max() > p * (1 + 1e-9):
                i = int(np.argmax(lrs))
                raise ValueError(f"{who}: lrs[{i}] = {float(lrs[i])!r} exceeds peak_lr = {p!r}")
        for attr, lo in (("warmup", 0), ("batch_size", 1)):
            v = getattr(self, attr)
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool)
                                  or v < lo):
                raise ValueError(f"{who}: {attr} is {v!r}; expected an integer >= {lo}")
        if self.warmup is not None and self.warmup > self.T:
            raise ValueError(f"{who}: warmup = {self.warmup} exceeds T = {self.T}")
        if self.seed is not None and (not isinstance(self.seed, (int, np.integer))
                                      or isinstance(self.seed, bool)):
            raise ValueError(f"{who}: seed is {self.seed!r}; expected an integer")
        if self.N is not None and not (isinstance(self.N, (int, float, np.number))
                                       and math.isfinite(self.N) and self.N > 0):
            raise ValueError(f"{who}: N is {self.N!r}; expected a finite parameter count > 0")
        if not isinstance(self.tags, dict):
            raise ValueError(f"{who}: tags must be a dict, got {type(self.tags).__name__}")
        try:
            json.dumps(self.tags, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{who}: tags must be JSON-serialisable with finite numbers "
                             f"({err})") from None
        if not self.curves and self.status != "running":
            raise ValueError(f"{who}: no curves; expected at least a 'train' or 'val' curve "
                             "(only a run with status 'running' may have none yet)")
        for kind, (steps, values) in self.curves.items():
            self._validate_curve(who, kind, steps, values)
        return self

    def _validate_curve(self, who: str, kind: str, steps: np.ndarray, values: np.ndarray
                        ) -> None:
        where = f"{who}, curve {kind!r}"
        if steps.shape != values.shape:
            raise ValueError(f"{where}: {steps.size} steps but {values.size} values; "
                             "expected equal lengths")
        if steps.size == 0:
            if self.status == "running":
                return
            raise ValueError(f"{where}: empty; expected at least one point")
        d = np.diff(steps)
        if (d <= 0).any():
            i = int(np.flatnonzero(d <= 0)[0]) + 1
            raise ValueError(f"{where}: step {steps[i]} at index {i} follows step {steps[i - 1]};"
                             " expected strictly increasing steps")
        if steps[0] < 1 or steps[-1] > self.T:
            i = 0 if steps[0] < 1 else steps.size - 1
            raise ValueError(f"{where}: step {steps[i]} at index {i} is outside 1..T = "
                             f"1..{self.T}")
        if self.status != "diverged":
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"{where}: value {float(values[i])!r} at step {steps[i]} is not "
                                 "finite; expected finite losses (a run that blew up is kept "
                                 "with status='diverged')")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite numbers as the strings "nan", "inf", "-inf")."""
        return {
            "format": RUN_FORMAT,
            "version": RUN_FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "T": self.T,
            "peak_lr": self.peak_lr,
            "schedule": self.schedule,
            "warmup": self.warmup,
            "N": self.N,
            "optimizer": self.optimizer,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "tags": self.tags,
            "lrs": _float_list(self.lrs),
            "curves": {k: {"steps": s.tolist(), "values": _float_list(v)}
                       for k, (s, v) in self.curves.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        """Inverse of :meth:`to_dict` (also accepts plain float NaN/inf)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a run dict must be a JSON object, got {type(d).__name__}")
        for key in ("name", "lrs"):
            if key not in d:
                raise ValueError(f"run dict: missing field {key!r}; expected the fields of "
                                 "Run.to_dict()")
        version = d.get("version", RUN_FORMAT_VERSION)
        if isinstance(version, int) and version > RUN_FORMAT_VERSION:
            raise ValueError(f"run dict version {version} is newer than this convexlaw reads "
                             f"({RUN_FORMAT_VERSION}); upgrade convexlaw")
        curves = {}
        for kind, c in (d.get("curves") or {}).items():
            if not isinstance(c, Mapping) or "steps" not in c or "values" not in c:
                raise ValueError(f"run dict: curve {kind!r} must be an object with 'steps' and "
                                 "'values'")
            curves[kind] = (c["steps"], _floats(c["values"], f"curve {kind!r} values"))
        known = ("peak_lr", "schedule", "warmup", "N", "optimizer", "batch_size", "seed")
        run = cls(name=d["name"], lrs=_floats(d["lrs"], "lrs"), curves=curves,
                  tags=dict(d.get("tags") or {}), status=d.get("status", "finished"),
                  id=d.get("id") or "", **{k: d.get(k) for k in known})
        if "T" in d and d["T"] != run.T:
            raise ValueError(f"run dict: T = {d['T']} but {run.T} learning rates")
        return run

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Run):
            return NotImplemented
        meta = ("id", "name", "status", "peak_lr", "schedule", "warmup", "N", "optimizer",
                "batch_size", "seed", "tags")
        if any(getattr(self, a) != getattr(other, a) for a in meta):
            return False
        if not np.array_equal(self.lrs, other.lrs) or set(self.curves) != set(other.curves):
            return False
        return all(np.array_equal(self.curves[k][0], other.curves[k][0])
                   and np.array_equal(self.curves[k][1], other.curves[k][1], equal_nan=True)
                   for k in self.curves)

    __hash__ = None  # type: ignore[assignment]  # a mutable record is not hashable

    def __repr__(self) -> str:
        pts = ", ".join(f"{k}:{len(v[0])}" for k, v in self.curves.items())
        return (f"Run(id={self.id!r}, name={self.name!r}, T={self.T}, peak_lr={self.peak_lr!r}, "
                f"schedule={self.schedule!r}, status={self.status!r}, curves={{{pts}}})")


def _floats(values: Any, what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"run dict: {what} must be numbers (or 'nan'/'inf'): {err}") from None
