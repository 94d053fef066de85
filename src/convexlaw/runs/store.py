"""A run store on SQLite: one file, versioned schema, one transaction per run.

Layout (schema version 1): ``runs`` holds one row per run (metadata columns, tags as JSON,
the learning rates as a little-endian float64 blob, and a summary for listings);
``curves`` holds one row per (run, kind) with int64 steps and float64 values as blobs.
The database runs in WAL mode with a busy timeout, so several worker processes can write,
and a writer killed mid-transaction leaves the previous state intact (SQLite rolls the
unfinished transaction back on the next open). The file, its schema and its transactions
are ``convexlaw.runs.sqlite``; a run as rows and back, ``convexlaw.runs.rows``.

>>> import numpy as np, tempfile, os
>>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.db"))
>>> run = Run("toy", lrs=np.full(4, 0.1), curves={"train": ([1, 2, 4], [3.0, 2.5, 2.2])})
>>> store.put(run) == run.id, store.get("toy") == run, len(store)
(True, True, 1)
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.record import Run
from convexlaw.runs.rows import _META, _LazyCurves, _meta_dict, run_rows
from convexlaw.runs.sqlite import SCHEMA_VERSION, RunStoreError, RunStoreReadOnlyError, SQLiteFile

__all__ = ["SCHEMA_VERSION", "RunNotFoundError", "RunStore", "RunStoreError",
           "RunStoreReadOnlyError", "default_db_path"]

# filters: exact match (a list means "any of"); name/schedule/id accept globs
_EXACT = ("id", "name", "schedule", "status", "optimizer", "T", "warmup", "batch_size", "seed")
_GLOB = ("id", "name", "schedule")
_FLOAT = ("peak_lr", "N")  # equal within 1e-9 relative
_RANGE = ("T", "peak_lr", "N", "final_loss", "n_points")  # <col>_min / <col>_max


class RunNotFoundError(KeyError):
    """No run (or no unique run) for a key. ``str()`` is the plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "run not found"


def default_db_path() -> Path:
    """``$CONVEXLAW_DB`` if set, else ``./convexlaw.db``."""
    return Path(os.environ.get("CONVEXLAW_DB") or "convexlaw.db")


class RunStore(SQLiteFile):
    """SQLite store of :class:`Run` records.

    ``RunStore(path)`` opens or creates the file (default ``$CONVEXLAW_DB`` or
    ``./convexlaw.db``). ``put`` writes a run in one transaction (replacing a run with the
    same id), ``get`` finds a run by id, unique name or unique id prefix, ``list`` filters
    on metadata, ``delete`` removes a run. Safe for several processes: each opens its own
    connection (re-opened automatically after ``fork``), writers wait up to ``timeout``
    seconds for the lock.
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 60.0):
        self.path = Path(path) if path is not None else default_db_path()
        self.timeout = float(timeout)
        # one connection per (process, thread): sqlite3 connections must not cross either
        self._local = threading.local()
        self._connect()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # ------------------------------------------------------------------ writing
    def put(self, run: Run) -> str:
        """Validate ``run`` and write it in one transaction, replacing any run with its id."""
        return self.put_many([run])[0]

    def put_many(self, runs: Sequence[Run]) -> list[str]:
        """Write several runs in ONE transaction (all or none); returns their ids."""
        rows = [self._rows(run.validate()) for run in runs]
        with self._transaction() as c:
            for run_row, curve_rows in rows:
                c.execute("DELETE FROM curves WHERE run_id = ?", (run_row[0],))
                c.execute("DELETE FROM runs WHERE id = ?", (run_row[0],))
                c.execute(f"INSERT INTO runs ({', '.join(_META)}, lrs, updated) "
                          f"VALUES ({', '.join('?' * (len(_META) + 1))}, julianday('now'))",
                          run_row)
                c.executemany("INSERT INTO curves (run_id, kind, n, steps, vals) "
                              "VALUES (?, ?, ?, ?, ?)", curve_rows)
        return [r[0][0] for r in rows]

    _rows = staticmethod(run_rows)

    def delete(self, key: str) -> None:
        """Delete the run found by ``key`` (id, unique name or unique id prefix)."""
        run_id = self.resolve(key)
        with self._transaction() as c:
            c.execute("DELETE FROM curves WHERE run_id = ?", (run_id,))
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ------------------------------------------------------------------ reading
    def __contains__(self, run_id: object) -> bool:
        return bool(self._connect().execute("SELECT 1 FROM runs WHERE id = ?",
                                            (str(run_id),)).fetchone())

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def __iter__(self) -> Iterator[Run]:
        return iter(self.list())

    def ids(self) -> list[str]:
        return [r[0] for r in self._connect().execute("SELECT id FROM runs ORDER BY name, id")]

    def resolve(self, key: str) -> str:
        """The id of the run named by ``key``: an id, a unique name, or a unique id prefix."""
        conn = self._connect()
        key = str(key)
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (key,)).fetchone():
            return key
        ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE name = ? ORDER BY id",
                                          (key,))]
        if not ids and len(key) >= 4:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id", (len(key), key))]
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise RunNotFoundError(f"{key!r} matches {len(ids)} runs in {self.path} "
                                   f"(ids: {', '.join(ids)}); give one of the ids")
        raise RunNotFoundError(f"no run with id or name {key!r} in {self.path} "
                               f"({len(self)} runs stored)")

    def get(self, key: str) -> Run:
        """The run with id ``key``, else the unique run named ``key``, else the unique id
        prefix; RunNotFoundError (a KeyError) naming the candidates otherwise."""
        run_id = self.resolve(key)
        runs = self._select("id = ?", [run_id], curves=True)
        if not runs:  # deleted between resolve and select
            raise RunNotFoundError(f"run {run_id!r} vanished from {self.path}")
        return runs[0]

    def list(self, *, curves: bool = False, **where: Any) -> builtins.list[Run]:
        """Runs whose metadata match ``where``, ordered by name then id.

        Filters: ``id``, ``name``, ``schedule`` (glob patterns such as ``"cos*"``),
        ``status``, ``optimizer``, ``T``, ``warmup``, ``batch_size``, ``seed`` (exact),
        ``peak_lr``, ``N`` (equal within 1e-9 relative), ``<col>_min`` / ``<col>_max`` for
        T, peak_lr, N, final_loss, n_points (inclusive), and ``tags={"key": value}``.
        A list or tuple value means "any of". Curves load lazily unless ``curves=True``.
        """
        sql, params = self._where(where)
        return self._select(sql, params, curves=curves)

    def summaries(self, **where: Any) -> builtins.list[dict[str, Any]]:
        """Metadata rows (no learning rates, no curves): cheap listings."""
        sql, params = self._where(where)
        cols = ", ".join(_META)
        rows = self._connect().execute(
            f"SELECT {cols} FROM runs WHERE {sql} ORDER BY name, id", params).fetchall()
        return [_meta_dict(r) for r in rows]

    def _where(self, where: Mapping[str, Any]) -> tuple[str, builtins.list[Any]]:
        clauses, params = ["1"], []
        for key, value in where.items():
            if value is None:
                continue
            if key == "tags":
                if not isinstance(value, Mapping):
                    raise ValueError(f"filter tags must be a mapping, got {value!r}")
                for tk, tv in value.items():
                    path = '$."' + str(tk).replace('"', '""') + '"'
                    clauses.append("json_extract(tags, ?) = ?")
                    params += [path, tv if not isinstance(tv, bool) else int(tv)]
                continue
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            if key in _EXACT or key in _FLOAT:
                ors = []
                for v in values:
                    if key in _GLOB and isinstance(v, str) and any(ch in v for ch in "*?["):
                        ors.append(f"{key} GLOB ?")
                        params.append(v)
                    elif key in _FLOAT:
                        ors.append(f"ABS({key} - ?) <= 1e-9 * ABS(?)")
                        params += [float(v), float(v)]
                    else:
                        ors.append(f"{key} = ?")
                        params.append(v)
                clauses.append("(" + " OR ".join(ors) + ")")
            elif key.endswith(("_min", "_max")) and key[:-4] in _RANGE:
                if len(values) != 1:
                    raise ValueError(f"filter {key} takes one number, got {value!r}")
                clauses.append(f"{key[:-4]} {'>=' if key.endswith('_min') else '<='} ?")
                params.append(float(values[0]))
            else:
                allowed = sorted(set(_EXACT) | set(_FLOAT) | {"tags"}
                                 | {f"{c}_{m}" for c in _RANGE for m in ("min", "max")})
                raise ValueError(f"unknown run filter {key!r}; allowed: {', '.join(allowed)}")
        return " AND ".join(clauses), params

    def _select(self, sql: str, params: builtins.list[Any], curves: bool) -> builtins.list[Run]:
        conn = self._connect()
        # order the ids first: sorting whole rows would drag the LR blobs through the sorter
        ids = [r[0] for r in conn.execute(
            f"SELECT id FROM runs WHERE {sql} ORDER BY name, id", params)]
        cols = ", ".join(_META)
        loaded = self._read_curves(ids) if curves and ids else {}
        out = []
        for run_id in ids:
            r = conn.execute(f"SELECT {cols}, lrs FROM runs WHERE id = ?", (run_id,)).fetchone()
            if r is None:  # deleted by another process meanwhile
                continue
            m = _meta_dict(r[:-1])
            if curves:
                got = loaded.get(run_id, {})
                c: Any = {k: got[k] for k in m["kinds"] if k in got}
            else:
                c = _LazyCurves(self, run_id, m["kinds"])
            out.append(Run(name=m["name"], lrs=np.frombuffer(r[-1], dtype="<f8").copy(),
                           curves=c, peak_lr=m["peak_lr"], schedule=m["schedule"],
                           warmup=m["warmup"], N=m["N"], optimizer=m["optimizer"],
                           batch_size=m["batch_size"], seed=m["seed"], tags=m["tags"],
                           status=m["status"], id=run_id))
        return out

    def _read_curves(self, ids: builtins.list[str]) -> dict[str, dict[str, tuple]]:
        out: dict[str, dict[str, tuple]] = {i: {} for i in ids}
        conn = self._connect()
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            q = ("SELECT run_id, kind, steps, vals FROM curves WHERE run_id IN "
                 f"({', '.join('?' * len(part))})")
            for run_id, kind, steps, vals in conn.execute(q, part):
                out[run_id][kind] = (np.frombuffer(steps, dtype="<i8").copy(),
                                     np.frombuffer(vals, dtype="<f8").copy())
        return out

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result ("ok" when healthy)."""
        return "; ".join(r[0] for r in self._connect().execute("PRAGMA integrity_check"))
