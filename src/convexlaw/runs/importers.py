"""Importers: files of any supported format (or ids in a store) to :class:`Run` records.

``load_runs(["cosine_24000.csv", "run.json", "3f2a9c..."], db="runs.db")`` reads each
file with the importer its extension/content calls for (CSV/TSV, JSONL, Parquet, W&B
export JSON, run-dict JSON, TensorBoard event files or folders) and looks other keys up in
the store. ``import_files`` writes the runs of each file into a store, all-or-nothing per
file, continuing past failing files and reporting them.

>>> runs = load_runs(["/work/shared/data/mpl-25m/cosine_24000.csv"])   # doctest: +SKIP
>>> runs[0].T, runs[0].schedule                                         # doctest: +SKIP
(24000, 'cosine(final=0.1)+warmup(2160)')
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.readers import read_delimited, read_jsonl_rows, read_parquet
from convexlaw.runs.record import Run
from convexlaw.runs.store import (
    RunNotFoundError,
    RunStore,
    RunStoreError,
    RunStoreReadOnlyError,
    default_db_path,
)
from convexlaw.runs.tables import RunImportWarning, run_from_table
from convexlaw.runs.tb import read_tensorboard
from convexlaw.runs.wandb import run_from_wandb

__all__ = ["ImportReport", "RunImportError", "import_file", "import_files", "load_runs",
           "run_from_wandb"]

TABLE_EXTS = {".csv", ".tsv", ".txt"}
FOLDER_EXTS = {".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq", ".json"}  # not .txt
JSONL_EXTS = {".jsonl", ".ndjson"}
PARQUET_EXTS = {".parquet", ".pq"}
KNOWN_EXTS = TABLE_EXTS | JSONL_EXTS | PARQUET_EXTS | {".json"}

# options that apply to table-like files (CSV/TSV/JSONL rows/Parquet/TensorBoard)
_TABLE_OPTS = ("name", "schedule", "steps", "peak", "lr_logged", "status", "preset", "lr_rtol")


class RunImportError(ValueError):
    """One or more inputs could not be imported; ``failures`` maps input -> message."""

    def __init__(self, failures: dict[str, str]):
        self.failures = dict(failures)
        lines = [msg for msg in self.failures.values()]
        head = "" if len(lines) == 1 else f"{len(lines)} inputs failed:\n"
        super().__init__(head + "\n".join(lines))


# ---------------------------------------------------------------- dispatch
def _json_load(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: line {err.lineno}, column {err.colno}: not valid JSON "
                         f"({err.msg})") from None


def _is_run_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and "lrs" in obj and "name" in obj


def _from_run_dict(obj: Any, where: str) -> Run:
    try:
        return Run.from_dict(obj).validate()
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _read_json(path: Path, opts: dict) -> list[Run]:
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise ValueError(f"{path}: empty file; expected a W&B run export (config/summary/"
                         "history) or a convexlaw run dict")
    obj = _json_load(text, str(path))
    if isinstance(obj, dict) and "config" in obj and "history" in obj:
        return [run_from_wandb(obj, path, name=opts.get("name"), status=opts.get("status"),
                               lr_rtol=opts.get("lr_rtol", 1e-9))]
    if _is_run_dict(obj):
        return [_from_run_dict(obj, str(path))]
    if isinstance(obj, list) and obj and all(_is_run_dict(o) for o in obj):
        return [_from_run_dict(o, f"{path}: item {i}") for i, o in enumerate(obj)]
    keys = ", ".join(list(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
    raise ValueError(f"{path}: unrecognised JSON ({keys}); expected a W&B run export with "
                     "config/summary/history, a run dict with name/lrs/curves, or a list of "
                     "run dicts")


def _read_jsonl(path: Path, opts: dict) -> list[Run]:
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, Any]] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {i}: not valid JSON ({err.msg} at column "
                                 f"{err.colno})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}: line {i}: expected a JSON object with step, lr, loss "
                                 f"(or a run dict), got {type(obj).__name__}")
            rows.append((i, obj))
    if not rows:
        raise ValueError(f"{path}: empty file; expected one JSON object per line with step, "
                         "lr, loss (or run dicts)")
    if _is_run_dict(rows[0][1]):
        return [_from_run_dict(o, f"{path}: line {i}") for i, o in rows]
    return [run_from_table(read_jsonl_rows(path, rows), **_table_opts(opts))]


def _table_opts(opts: dict) -> dict:
    return {k: opts[k] for k in _TABLE_OPTS if opts.get(k) is not None}


def _is_tensorboard(path: Path) -> bool:
    if path.is_dir():
        return any("tfevents" in p.name for p in path.iterdir() if p.is_file())
    return "tfevents" in path.name


def _sniff(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        first = stripped.split(b"\n", 1)[0]
        try:
            json.loads(first)
            return "jsonl" if b"\n" in stripped.strip() else "json"
        except json.JSONDecodeError:
            return "json"
    return "table"


def check_losses(runs: list[Run], where: str) -> list[Run]:
    """Refuse negative training or held-out losses (a loss is ≥ 0: cross-entropy, squared
    error); the laws and curve models take logs and ratios of them."""
    for run in runs:
        for kind in ("train", "val"):
            if kind not in run.curves:
                continue
            steps, values = run.curves[kind]
            neg = np.flatnonzero(values < 0)  # NaN compares False: diverged runs pass
            if neg.size:
                i = int(neg[0])
                raise ValueError(f"{where}: {kind} loss {float(values[i])!r} at step "
                                 f"{int(steps[i])} is negative; expected losses >= 0 "
                                 f"({neg.size} negative value(s) in run {run.name!r})")
    return runs


def import_file(path: str | os.PathLike, **opts: Any) -> list[Run]:
    """Runs in one file (or TensorBoard folder), validated; ValueError on malformed input.

    Options: ``name``, ``schedule``/``steps``/``peak`` (rebuild the LRs from a spec),
    ``lr_logged`` ("current"/"next"), ``status`` ("diverged" keeps NaN/inf losses),
    ``preset`` ("auto"/"mpl-25m"/"none"), ``lr_rtol`` (1e-9), ``loss_tag``/``lr_tag``/
    ``val_tag`` (TensorBoard).
    """
    p = Path(path)
    return check_losses(_import_file(p, opts), str(p))


def _import_file(p: Path, opts: dict[str, Any]) -> list[Run]:
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    if _is_tensorboard(p):
        t = read_tensorboard(p, opts.get("loss_tag"), opts.get("lr_tag"), opts.get("val_tag"))
        to = _table_opts(opts)
        to.setdefault("name", p.name if p.is_dir() else p.parent.name or p.stem)
        return [run_from_table(t, **to)]
    if p.is_dir():
        raise ValueError(f"{p}: is a folder without TensorBoard event files; give the files")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: empty file; expected a header row such as 'step,lr,loss' (CSV), "
                         "JSON lines, Parquet, a W&B export or TensorBoard events")
    ext = p.suffix.lower()
    kind = ("table" if ext in TABLE_EXTS else "jsonl" if ext in JSONL_EXTS
            else "parquet" if ext in PARQUET_EXTS else "json" if ext == ".json" else _sniff(p))
    if kind == "parquet":
        return [run_from_table(read_parquet(p), **_table_opts(opts))]
    if kind == "json":
        return _read_json(p, opts)
    if kind == "jsonl":
        return _read_jsonl(p, opts)
    return [run_from_table(read_delimited(p), **_table_opts(opts))]


def expand_folder(folder: Path) -> list[Path]:
    """The importable inputs of a folder that is not itself a TensorBoard log: its log
    files (CSV/TSV, JSON, JSONL, Parquet; not .txt notes) and the TensorBoard logs below
    it (``runs/exp1/events...``). ValueError naming what is there when nothing is."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        here = Path(root)
        if here != folder and _is_tensorboard(here):
            found.append(here)
            dirs.clear()  # its own subfolders belong to it
            continue
        if here == folder:
            found += sorted(here / f for f in files if Path(f).suffix.lower() in FOLDER_EXTS)
    if not found:
        seen = sorted(q.name + ("/" if q.is_dir() else "") for q in folder.iterdir())
        listing = ", ".join(seen[:8]) + (" …" if len(seen) > 8 else "") if seen else "nothing"
        raise ValueError(f"{folder}: a folder with no run logs in it (found: {listing}); "
                         "expected CSV/TSV, JSONL, JSON or Parquet files, or TensorBoard "
                         "event files (events.out.tfevents.*) in it or its subfolders")
    return found


def expand_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to import: folders expand to their importable files (TensorBoard folders stay).

    A folder without any is an error (ValueError naming it), never an empty import."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        out += expand_folder(p) if p.is_dir() and not _is_tensorboard(p) else [p]
    return out


@dataclass
class ImportReport:
    """Result of :func:`import_files`: ids per imported file, messages per failed file."""

    imported: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def import_files(paths: Sequence[str | os.PathLike], store: RunStore, **opts: Any
                 ) -> ImportReport:
    """Import files into ``store``: each file all-or-nothing (its runs in one transaction);
    a failing file is reported and the others still import."""
    report = ImportReport()
    files: list[Path] = []
    for p in map(Path, paths):
        try:
            files += expand_paths([p])
        except ValueError as err:
            report.failed[str(p)] = str(err)
    if opts.get("name") and len(files) > 1:
        raise ValueError(f"name={opts['name']!r} given for {len(files)} files; a name applies "
                         "to one file only")
    for p in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunImportWarning)
            try:
                runs = import_file(p, **opts)
                report.imported[str(p)] = store.put_many(runs)
            except RunStoreReadOnlyError:
                raise  # no file can be written: one error, not one per file
            except (ValueError, OSError, RunStoreError) as err:
                report.failed[str(p)] = str(err)
            except Exception as err:  # a reader bug must not abort the other files
                report.failed[str(p)] = f"{p}: unexpected {type(err).__name__}: {err}"
        report.warnings += [str(w.message) for w in caught
                            if issubclass(w.category, RunImportWarning)]
    return report


def load_runs(paths_or_keys: str | os.PathLike | Iterable[str | os.PathLike],
              db: str | os.PathLike | RunStore | None = None, **opts: Any) -> list[Run]:
    """Runs from files (any importer) or run ids/names in a store, in the order given.

    Every input is tried; if any fails, RunImportError lists all failures. A key that is
    not a file is looked up in ``db`` (default ``$CONVEXLAW_DB`` / ``./convexlaw.db`` when
    that file exists).
    """
    items = [paths_or_keys] if isinstance(paths_or_keys, (str, os.PathLike)) \
        else list(paths_or_keys)
    store: RunStore | None = db if isinstance(db, RunStore) else None
    out: list[Run] = []
    failures: dict[str, str] = {}
    for item in items:
        p = Path(item)
        try:
            if p.exists():
                for f in expand_paths([p]):
                    out += import_file(f, **opts)
                continue
            if store is None:
                # db is a path here (a RunStore would be `store` already)
                path = default_db_path() if db is None or isinstance(db, RunStore) else Path(db)
                if not path.exists():
                    raise ValueError(f"{item}: no such file, and no run store at {path} to look "
                                     "it up in")
                store = RunStore(path)
            out.append(store.get(str(item)))
        except RunNotFoundError as err:
            failures[str(item)] = f"{item}: not a file, and {err}"
        except (ValueError, OSError, RunStoreError) as err:
            failures[str(item)] = str(err)
        except Exception as err:  # a reader bug must not hide the other inputs' results
            failures[str(item)] = f"{item}: unexpected {type(err).__name__}: {err}"
    if failures:
        raise RunImportError(failures)
    return out
