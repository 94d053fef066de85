"""A :class:`~convexlaw.runs.Run` as rows of the run store's tables and back: the metadata
columns, the little-endian blobs of learning rates and curves, and the curves of a stored
run read on first access."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np

from convexlaw.runs.record import Run

if TYPE_CHECKING:
    from convexlaw.runs.store import RunStore

__all__ = ["run_rows"]

_META = ("id", "name", "T", "peak_lr", "schedule", "warmup", "N", "optimizer", "batch_size",
         "seed", "status", "tags", "kinds", "n_points", "final_loss")


def _blob(a: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


class _LazyCurves(MutableMapping):
    """Curves of a stored run, read from the database on first access."""

    def __init__(self, store: RunStore, run_id: str, kinds: list[str]):
        self._store, self._id, self._kinds = store, run_id, kinds
        self._data: dict[str, tuple] | None = None

    def _load(self) -> dict:
        if self._data is None:
            got = self._store._read_curves([self._id]).get(self._id, {})
            self._data = {k: got[k] for k in self._kinds if k in got}
        return self._data

    def __getitem__(self, k):
        return self._load()[k]

    def __setitem__(self, k, v):
        self._load()[k] = v

    def __delitem__(self, k):
        del self._load()[k]

    def __iter__(self):
        return iter(self._load() if self._data is not None else self._kinds)

    def __len__(self):
        return len(self._load() if self._data is not None else self._kinds)

    def __contains__(self, k):
        return k in (self._data if self._data is not None else self._kinds)

    def __repr__(self):
        return f"<curves of {self._id}: {', '.join(self)} (not loaded)>" if self._data is None \
            else repr(self._data)


def run_rows(run: Run) -> tuple[tuple, list[tuple]]:
    """The ``runs`` row (``_META`` columns, then the LR blob) and the ``curves`` rows of a run."""
    curves = {k: run.curves[k] for k in run.curves}
    n_points = int(sum(len(s) for s, _ in curves.values()))
    final = run.final_loss() if ("val" in curves or "train" in curves) else None
    row = (run.id, run.name, run.T, _opt_float(run.peak_lr), run.schedule,
           _opt_int(run.warmup), _opt_float(run.N), run.optimizer, _opt_int(run.batch_size),
           _opt_int(run.seed), run.status, json.dumps(run.tags, sort_keys=True),
           json.dumps(list(curves)), n_points, final, _blob(run.lrs, "<f8"))
    return row, [(run.id, k, len(s), _blob(s, "<i8"), _blob(v, "<f8"))
                 for k, (s, v) in curves.items()]


def _meta_dict(row: tuple) -> dict[str, Any]:
    m = dict(zip(_META, row, strict=True))
    m["tags"] = json.loads(m["tags"])
    m["kinds"] = json.loads(m["kinds"])
    return m


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _opt_int(x: Any) -> int | None:
    return None if x is None else int(x)
