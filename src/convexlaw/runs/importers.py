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
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.presets import epfml_preset, spec_error
from convexlaw.runs.record import Run
from convexlaw.runs.store import RunNotFoundError, RunStore, RunStoreError, default_db_path
from convexlaw.runs.tables import (
    RunImportWarning,
    check_lrs,
    read_delimited,
    read_jsonl_rows,
    read_parquet,
    read_tensorboard,
    run_from_table,
)

__all__ = ["ImportReport", "RunImportError", "import_file", "import_files", "load_runs",
           "run_from_wandb"]

TABLE_EXTS = {".csv", ".tsv", ".txt"}
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


# ---------------------------------------------------------------- W&B exports
def _series(section: dict, key: str, where: str, required: bool = True) -> np.ndarray | None:
    if key not in section:
        if required:
            raise ValueError(f"{where}: no {key!r}; found {', '.join(section)}")
        return None
    vals = section[key]
    if not isinstance(vals, list):
        raise ValueError(f"{where}.{key}: expected a list, got {type(vals).__name__}")
    out = np.empty(len(vals))
    for i, v in enumerate(vals):
        if isinstance(v, str) and v.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
            v = float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{where}.{key}[{i}]: {v!r} is not a number")
        out[i] = v
    return out


def _mean_duplicates(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by step and average values logged more than once at one step (resumed runs)."""
    u, inv = np.unique(steps, return_inverse=True)
    sums = np.bincount(inv, weights=values, minlength=u.size)
    counts = np.bincount(inv, minlength=u.size)
    return u.astype(np.int64), sums / counts


def run_from_wandb(d: dict, path: Path, *, name: str | None = None, status: str | None = None,
                   lr_rtol: float = 1e-9) -> Run:
    """A run from a W&B export of an epfml/schedules-and-scaling run (config/summary/history).

    T = config.iterations, peak = config.lr, warm-up = config.warmup_steps; the schedule is
    rebuilt from config.scheduler (cos: OneCycle; wsd: linear warm-up + cool-down) and
    checked against ``history.train.train_lr``. Curves: ``history.val.val_loss`` ("val"),
    ``history.train.train_loss`` ("train"), ``history.val.val_acc`` ("val_acc"); repeated
    steps of resumed runs are averaged; step 0 goes to ``tags["initial_val"]``. The summary's
    ``final-val/loss`` (another evaluation set) is kept apart, in ``tags``.
    """
    src = str(path)
    config, hist = d.get("config"), d.get("history")
    if not isinstance(config, dict) or not isinstance(hist, dict):
        raise ValueError(f"{src}: expected a W&B export with 'config' and 'history' objects")
    summary = d.get("summary") or {}
    pre = epfml_preset(config, src)
    T = pre.T
    for sec in ("train", "val"):
        if not isinstance(hist.get(sec), dict):
            raise ValueError(f"{src}: history has no {sec!r} section (found: "
                             f"{', '.join(hist)}); expected history.train and history.val")
    tr, va = hist["train"], hist["val"]
    t_iter = _series(tr, "iter", f"{src}: history.train")
    t_loss = _series(tr, "train_loss", f"{src}: history.train")
    t_lr = _series(tr, "train_lr", f"{src}: history.train", required=False)
    v_iter = _series(va, "iter", f"{src}: history.val")
    v_loss = _series(va, "val_loss", f"{src}: history.val")
    v_acc = _series(va, "val_acc", f"{src}: history.val", required=False)
    for what, it, vals in (("train", t_iter, t_loss), ("val", v_iter, v_loss)):
        if it.size != vals.size:
            raise ValueError(f"{src}: history.{what}: {it.size} iters but {vals.size} losses")
        bad = np.flatnonzero((it != np.round(it)) | (it < 0) | (it > T))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{src}: history.{what}.iter[{i}] = {float(it[i])!r}; expected an "
                             f"integer in 0..iterations = {T}")
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size and status != "diverged":
            i = int(bad[0])
            raise ValueError(f"{src}: history.{what} loss at iter {int(it[i])} is "
                             f"{float(vals[i])!r}; expected finite losses (status='diverged' "
                             "keeps such a run)")
    source: dict[str, Any] = {"file": str(Path(path).resolve()), "format": "wandb",
                              "lr": "rebuilt from config", "lr_convention": "next",
                              "schedule_rebuilt": pre.description}
    if t_lr is not None:
        if t_lr.size != t_iter.size:
            raise ValueError(f"{src}: history.train: {t_iter.size} iters but {t_lr.size} "
                             "train_lr values")
        if not np.isfinite(t_lr).all() or (t_lr < 0).any():
            i = int(np.flatnonzero(~np.isfinite(t_lr) | (t_lr < 0))[0])
            raise ValueError(f"{src}: history.train.train_lr[{i}] = {float(t_lr[i])!r}; expected a "
                             "finite learning rate >= 0")
        idx = t_iter.astype(np.int64)
        source["lr_check_max_rel_err"] = check_lrs(
            pre.f, idx, t_lr, lr_rtol, src, [f"history.train iter {i}" for i in idx],
            pre.description)
        source["lr_checked_values"] = int(idx.size)
    else:
        warnings.warn(f"{src}: no history.train.train_lr to check the rebuilt schedule against",
                      RunImportWarning, stacklevel=3)
    tags: dict[str, Any] = {}
    curves = {}
    for kind, it, vals in (("val", v_iter, v_loss), ("train", t_iter, t_loss),
                           ("val_acc", v_iter, v_acc)):
        if vals is None:
            continue
        if vals.size != it.size:
            if kind == "val_acc":  # an optional extra whose column is not aligned: skip it
                source["val_acc_skipped"] = f"{vals.size} values for {it.size} iters"
                continue
            raise ValueError(f"{src}: history: {it.size} iters but {vals.size} {kind} values")
        s, v = _mean_duplicates(it.astype(np.int64), vals)
        if s.size and s[0] == 0:
            tags[f"initial_{kind}"] = float(v[0])
            s, v = s[1:], v[1:]
        if s.size:
            curves[kind] = (s, v)
        dups = int(it.size - np.unique(it).size)
        if dups:
            source[f"{kind}_duplicates_averaged"] = dups
    cfg = config
    acc = int(cfg.get("acc_steps", 1) or 1)
    bs = cfg.get("batch_size")
    batch = int(bs) * acc if isinstance(bs, int) else None
    for k in ("model", "n_layer", "n_embd", "n_head", "vocab_size", "sequence_length", "dataset",
              "acc_steps", "world_size", "weight_decay", "beta1", "beta2", "grad_clip",
              "data_seed", "dtype", "tokenizer"):
        if k in cfg and isinstance(cfg[k], (int, float, str, bool)):
            tags[k] = cfg[k]
    if batch is not None and isinstance(cfg.get("sequence_length"), int):
        tags["tokens_per_step"] = batch * cfg["sequence_length"]
    params = summary.get("parameters")
    N = float(params) if isinstance(params, (int, float)) and params > 0 else None
    if N is not None:
        tags["N_source"] = "summary.parameters"
    other = summary.get("final-val/loss")
    if isinstance(other, (int, float)) and math.isfinite(other):
        # another evaluation set (~0.04 higher than history.val): never part of the curve
        tags["final_val_loss_other_eval_set"] = float(other)
    if d.get("name"):
        tags["wandb_name"] = str(d["name"])
    reached = max(int(t_iter.max()) if t_iter.size else 0, int(summary.get("iter") or 0))
    if status is None:
        status = "finished" if reached >= T else "running"
        if status == "running":
            warnings.warn(f"{src}: history stops at iter {reached} < iterations = {T}; "
                          "stored with status 'running'", RunImportWarning, stacklevel=3)
    source["spec_max_rel_err"] = spec_error(pre.spec, pre.lrs, pre.peak)
    tags["source"] = source
    run = Run(name=name or Path(path).stem, lrs=pre.lrs.copy(),
              curves=curves, peak_lr=pre.peak, schedule=pre.spec, warmup=pre.warmup, N=N,
              optimizer=str(cfg["opt"]) if "opt" in cfg else None, batch_size=batch,
              seed=int(cfg["seed"]) if isinstance(cfg.get("seed"), int) else None,
              tags=tags, status=status)
    try:
        return run.validate()
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None


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


def import_file(path: str | os.PathLike, **opts: Any) -> list[Run]:
    """Runs in one file (or TensorBoard folder), validated; ValueError on malformed input.

    Options: ``name``, ``schedule``/``steps``/``peak`` (rebuild the LRs from a spec),
    ``lr_logged`` ("current"/"next"), ``status`` ("diverged" keeps NaN/inf losses),
    ``preset`` ("auto"/"mpl-25m"/"none"), ``lr_rtol`` (1e-9), ``loss_tag``/``lr_tag``/
    ``val_tag`` (TensorBoard).
    """
    p = Path(path)
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


def expand_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to import: folders expand to their importable files (TensorBoard folders stay)."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and not _is_tensorboard(p):
            out += sorted(q for q in p.iterdir() if q.is_file()
                          and (q.suffix.lower() in KNOWN_EXTS or "tfevents" in q.name))
        else:
            out.append(p)
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
    files = expand_paths(paths)
    if opts.get("name") and len(files) > 1:
        raise ValueError(f"name={opts['name']!r} given for {len(files)} files; a name applies "
                         "to one file only")
    for p in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunImportWarning)
            try:
                runs = import_file(p, **opts)
                report.imported[str(p)] = store.put_many(runs)
            except (ValueError, OSError, RunStoreError) as err:
                report.failed[str(p)] = str(err)
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
                path = Path(db) if db is not None else default_db_path()
                if not path.exists():
                    raise ValueError(f"{item}: no such file, and no run store at {path} to look "
                                     "it up in")
                store = RunStore(path)
            out.append(store.get(str(item)))
        except RunNotFoundError as err:
            failures[str(item)] = f"{item}: not a file, and {err}"
        except (ValueError, OSError, RunStoreError) as err:
            failures[str(item)] = str(err)
    if failures:
        raise RunImportError(failures)
    return out
