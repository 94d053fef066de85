"""Runs from tables of logged rows: CSV/TSV, JSONL rows, Parquet, TensorBoard scalars.

Every reader turns its file into a :class:`Table` (columns of raw cells with the line or
row each came from); :func:`run_from_table` then checks the cells, rebuilds the per-step
learning rates and returns a :class:`Run`. Columns (case-insensitive):

- step: ``step``, ``iter``, ``iteration``, ``global_step``, ``_step`` (required)
- learning rate: ``lr``, ``learning_rate``, ``train_lr``
- losses: ``loss``/``train_loss`` → curve "train"; ``val_loss``/``eval_loss`` → "val"
- any other numeric column → an extra curve of that name (e.g. ``grad_norm``)

Empty cells are "not logged at this step". Learning rates, in order of preference: a
schedule spec given by the caller (checked against a logged ``lr``), the ``lr`` column
when it covers every step, else linear interpolation between logged values (a warning).
``lr_logged`` says what a logged LR at step t is: ``"current"`` (default; the LR of
update t, as ``convexlaw runs export`` writes it) or ``"next"`` (the LR of update t+1, as
loops that log after ``scheduler.step()`` do).
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.presets import mpl25m_preset, spec_error
from convexlaw.runs.record import Run

__all__ = ["RunImportWarning", "Table", "check_lrs", "read_delimited", "read_jsonl_rows",
           "read_parquet", "run_from_table"]


class RunImportWarning(UserWarning):
    """An import that succeeded with an approximation the user should know about."""


STEP_NAMES = ("step", "steps", "iter", "iters", "iteration", "global_step", "_step",
              "trainer/global_step")
LR_NAMES = ("lr", "learning_rate", "train_lr", "train/lr", "learning-rate", "lr-adamw",
            "train/learning_rate", "lr/train")
TRAIN_NAMES = ("loss", "train_loss", "train/loss", "training_loss", "loss/train",
               "train_loss_step", "train/loss_step")
VAL_NAMES = ("val_loss", "val/loss", "valid_loss", "validation_loss", "eval_loss",
             "eval/loss", "loss/val", "validation/loss", "val/loss_epoch")


@dataclass
class Table:
    """Raw columns of one file: ``cols[name][i]`` came from ``where[i]`` (e.g. "line 7")."""

    path: Path
    fmt: str
    cols: dict[str, list[Any]]
    where: list[str]
    notes: list[str] = field(default_factory=list)

    def find(self, names: tuple[str, ...]) -> str | None:
        lower = {c.lower(): c for c in self.cols}
        return next((lower[n] for n in names if n in lower), None)


# ---------------------------------------------------------------- readers
def read_delimited(path: Path) -> Table:
    """CSV or TSV (delimiter sniffed: tab, comma or semicolon) with a header row."""
    text = _read_text(path)
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    delim = "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")
    rows = list(csv.reader(lines, delimiter=delim))
    header_at = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise ValueError(f"{path}: empty file; expected a header row such as 'step,lr,loss' "
                         "and data rows")
    header = [h.strip() for h in rows[header_at]]
    if any(not h for h in header):
        raise ValueError(f"{path}: line {header_at + 1}: empty column name in header "
                         f"{rows[header_at]!r}")
    dup = {h for h in header if header.count(h) > 1}
    if dup:
        raise ValueError(f"{path}: line {header_at + 1}: column {sorted(dup)[0]!r} appears "
                         "twice in the header")
    cols: dict[str, list[Any]] = {h: [] for h in header}
    where = []
    for i, row in enumerate(rows[header_at + 1:], start=header_at + 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}: line {i}: {len(row)} fields, expected {len(header)} "
                             f"({delim.join(header)!r})")
        for h, c in zip(header, row, strict=True):
            cols[h].append(c.strip())
        where.append(f"line {i}")
    if not where:
        raise ValueError(f"{path}: header {delim.join(header)!r} but no data rows")
    return Table(path, "tsv" if delim == "\t" else "csv", cols, where)


def read_jsonl_rows(path: Path, rows: list[tuple[int, dict]]) -> Table:
    """JSONL rows (already parsed, with line numbers) as a table; missing keys are empty."""
    keys: dict[str, None] = {}
    for _, obj in rows:
        keys.update(dict.fromkeys(obj))
    cols = {k: [obj.get(k, "") for _, obj in rows] for k in keys}
    return Table(path, "jsonl", cols, [f"line {i}" for i, _ in rows])


def read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install "
                         "'convexlaw[io]')") from None
    try:
        data = pq.read_table(path).to_pydict()
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
    n = len(next(iter(data.values()), []))
    if n == 0:
        raise ValueError(f"{path}: empty Parquet table; expected rows with step, lr, loss")
    cols = {k: ["" if v is None else v for v in vals] for k, vals in data.items()}
    return Table(path, "parquet", cols, [f"row {i + 1}" for i in range(n)])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None


# ---------------------------------------------------------------- cells -> arrays
def _numbers(t: Table, col: str, *, required: bool, what: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column: (values, present). Empty cells are absent (an error if ``required``);
    a present NaN stays NaN, so callers can tell "not logged" from "logged NaN"."""
    out = np.full(len(t.where), np.nan)
    present = np.zeros(len(t.where), dtype=bool)
    for i, cell in enumerate(t.cols[col]):
        if cell is None or (isinstance(cell, str) and cell.strip() == ""):
            if required:
                raise ValueError(f"{t.path}: {t.where[i]}: empty {col!r}; expected {what}")
            continue
        try:
            if isinstance(cell, bool):
                raise TypeError
            out[i] = float(cell)
        except (TypeError, ValueError):
            raise ValueError(f"{t.path}: {t.where[i]}, column {col!r}: {cell!r} is not a number;"
                             f" expected {what}") from None
        present[i] = True
    return out, present


def check_lrs(f: np.ndarray, idx: np.ndarray, logged: np.ndarray, rtol: float, where: str,
              rows: list[str], desc: str) -> float:
    """Compare rebuilt LRs ``f[idx]`` with logged ones; raise if worse than ``rtol``."""
    if idx.size == 0:
        return 0.0
    out = np.flatnonzero((idx < 0) | (idx >= f.size))
    if out.size:
        i = int(out[0])
        raise ValueError(f"{where}: {rows[i]}: a learning rate is logged beyond the run's "
                         f"{f.size - 1} steps; expected steps within the schedule ({desc})")
    a, b = f[idx], logged
    den = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(den > 0, np.abs(a - b) / np.where(den > 0, den, 1.0), 0.0)
    i = int(np.argmax(rel))
    err = float(rel[i])
    if not err <= rtol:
        raise ValueError(
            f"{where}: the rebuilt learning rates do not match the logged ones: max relative "
            f"error {err:.3g} at {rows[i]} (logged {b[i]:.9g}, rebuilt {a[i]:.9g}) over "
            f"{idx.size} logged values; expected <= {rtol:g}. Schedule: {desc}")
    return err


def run_from_table(t: Table, *, name: str | None = None, schedule: str | None = None,
                   steps: int | None = None, peak: float | None = None,
                   lr_logged: str = "current", status: str | None = None,
                   preset: str = "auto", lr_rtol: float = 1e-9) -> Run:
    """Build and validate a run from a table (see the module docstring for the rules)."""
    src = str(t.path)
    step_col = t.find(STEP_NAMES)
    if step_col is None:
        raise ValueError(f"{src}: missing column 'step'; expected a header with step, lr, loss "
                         f"(found: {', '.join(t.cols)})")
    raw_steps, _ = _numbers(t, step_col, required=True, what="an integer step")
    bad = np.flatnonzero((raw_steps != np.round(raw_steps)) | (raw_steps < 0)
                         | ~np.isfinite(raw_steps))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{src}: {t.where[i]}, column {step_col!r}: {t.cols[step_col][i]!r} "
                         "is not a step; expected an integer >= 0")
    st = raw_steps.astype(np.int64)
    d = np.diff(st)
    if (d <= 0).any():
        i = int(np.flatnonzero(d <= 0)[0]) + 1
        raise ValueError(f"{src}: {t.where[i]}: step {st[i]} does not follow step {st[i - 1]} "
                         f"({t.where[i - 1]}); expected strictly increasing steps")
    diverged = status == "diverged"
    lr_col = t.find(LR_NAMES)
    kinds: dict[str, str] = {}
    if (c := t.find(TRAIN_NAMES)) is not None:
        kinds["train"] = c
    if (c := t.find(VAL_NAMES)) is not None:
        kinds["val"] = c
    if not kinds:
        raise ValueError(f"{src}: missing column 'loss'; expected a loss column (loss, "
                         f"train_loss, val_loss...) (found: {', '.join(t.cols)})")
    used = {step_col, lr_col, *kinds.values()}
    for col in t.cols:
        if col in used:
            continue
        first = next((v for v in t.cols[col] if v not in ("", None)), None)
        try:
            float(first)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            t.notes.append(f"column {col!r} ignored (not numeric)")
            continue
        kinds[col] = col

    tags: dict[str, Any] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind, col in kinds.items():
        is_loss = kind in ("train", "val")
        v, keep = _numbers(t, col, required=False, what="a number")
        nonfinite = np.flatnonzero(keep & ~np.isfinite(v))
        if nonfinite.size and is_loss and not diverged:
            i = int(nonfinite[0])
            raise ValueError(f"{src}: {t.where[i]}, column {col!r}: {t.cols[col][i]!r} is not a "
                             "finite loss; expected finite losses (import it with "
                             "status='diverged' / --diverged to keep a run that blew up)")
        zero = keep & (st == 0)
        if zero.any():
            tags[f"initial_{kind}"] = float(v[zero][0])
        keep &= st > 0
        if keep.any():
            curves[kind] = (st[keep], v[keep])
    if not any(k in curves for k in ("train", "val")):
        raise ValueError(f"{src}: no loss values at steps >= 1 in column(s) "
                         f"{', '.join(kinds[k] for k in ('train', 'val') if k in kinds)}")

    lr_vals = lr_rows = None
    if lr_col is not None:
        lv, has = _numbers(t, lr_col, required=False, what="a learning rate")
        bad = np.flatnonzero(has & (~np.isfinite(lv) | (lv < 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{src}: {t.where[i]}, column {lr_col!r}: {t.cols[lr_col][i]!r} is "
                             "not a learning rate; expected a finite number >= 0")
        lr_rows = np.flatnonzero(has)
        lr_vals = lv[lr_rows]

    # the run lasted at least to its last logged row (an lr-only row counts: an export
    # writes every step's lr, the losses only where measured)
    last = int(st.max())
    source: dict[str, Any] = {"file": str(Path(t.path).resolve()), "format": t.fmt}
    warmup = N = None
    sched_spec = None
    pre = None
    if preset not in ("auto", "none", "mpl-25m"):
        raise ValueError(f"preset {preset!r}; expected 'auto', 'mpl-25m' or 'none'")
    if schedule is None and preset != "none":
        pre = mpl25m_preset(Path(t.path).stem)
        mpl_like = (pre is not None and lr_col is not None and lr_vals is not None
                    and lr_vals.size > 0 and set(c.lower() for c in t.cols) == {"step", "lr",
                                                                                 "loss"})
        if preset == "mpl-25m" and not mpl_like:
            raise ValueError(f"{src}: not a Multi-Power-Law 25M file; expected a name like "
                             "cosine_24000, wsd_20000_24000 or wsdcon_9 with columns step,lr,loss")
        if not mpl_like:
            pre = None
    if pre is not None:
        T = pre.T
        if steps is not None and steps != T:
            raise ValueError(f"{src}: steps = {steps} contradicts the preset's T = {T}")
        idx = st[lr_rows] if lr_rows is not None else np.array([], int)
        try:
            err = check_lrs(pre.f, idx, lr_vals, lr_rtol, src, [t.where[i] for i in lr_rows],
                            pre.description)
        except ValueError as e:
            raise ValueError(f"{e} (the file name matches a Multi-Power-Law 25M run; import "
                             "with preset='none' / --preset none to read it as a plain table)"
                             ) from None
        lrs, peak_lr, warmup, sched_spec = pre.lrs.copy(), pre.peak, pre.warmup, pre.spec
        N = 25e6
        source.update(lr="preset mpl-25m", preset=pre.description, lr_convention="next",
                      lr_check_max_rel_err=err, lr_checked_values=int(idx.size),
                      spec_max_rel_err=spec_error(pre.spec, lrs, pre.peak))
        tags.update(model="Multi-Power-Law 25M LLM", N_source="nominal size (25M)")
    else:
        if lr_logged not in ("current", "next"):
            raise ValueError(f"lr_logged = {lr_logged!r}; expected 'current' or 'next'")
        shift = 0 if lr_logged == "current" else 1
        T = int(steps) if steps is not None else last
        if T < last:
            raise ValueError(f"{src}: a row is logged at step {last}, beyond steps = T = {T}")
        if lr_rows is not None:
            idx = st[lr_rows] - 1 + shift
            inside = (idx >= 0) & (idx < T)
        if schedule is not None:
            from convexlaw.schedules import schedule as build
            if peak is None:
                if lr_vals is None or lr_vals.size == 0 or lr_vals.max() <= 0:
                    raise ValueError(f"{src}: schedule {schedule!r} needs a peak LR (give peak=/"
                                     "--peak, or log an 'lr' column)")
                peak = float(lr_vals.max())
                t.notes.append(f"peak = {peak:g} taken from the largest logged lr")
            try:
                lrs = build(schedule, T, float(peak))
            except ValueError as err:  # SpecError included
                raise ValueError(f"{src}: schedule {schedule!r}: {err}") from None
            sched_spec, peak_lr = schedule, float(peak)
            source.update(lr="schedule spec", lr_convention=lr_logged)
            if lr_rows is not None and inside.any():
                f = np.append(lrs, lrs[-1])
                source["lr_check_max_rel_err"] = check_lrs(
                    f, idx[inside], lr_vals[inside], lr_rtol, src,
                    [t.where[i] for i in lr_rows[inside]],
                    f"{schedule!r} over T = {T} steps, peak {peak:g}, lr logged as '{lr_logged}'")
                source["lr_checked_values"] = int(inside.sum())
        elif lr_rows is None or not inside.any():
            raise ValueError(f"{src}: missing column 'lr' (or no lr value inside 1..{T}); "
                             "expected a learning-rate column, or a schedule spec with steps "
                             "and peak (--schedule SPEC --steps T --peak P)")
        else:
            idx_in, vals = idx[inside], lr_vals[inside]
            if idx_in.size == T:
                lrs = np.empty(T)
                lrs[idx_in] = vals
                source.update(lr="logged every step", lr_convention=lr_logged)
            else:
                lrs = np.interp(np.arange(T), idx_in, vals)
                first, lastr = int(idx_in[0]) + 1 - shift, int(idx_in[-1]) + 1 - shift
                msg = (f"{src}: lr logged at {idx_in.size} of {T} steps; per-step learning rates "
                       f"interpolated linearly between logged values (held constant before "
                       f"logged step {first} and after logged step {lastr})")
                warnings.warn(msg, RunImportWarning, stacklevel=3)
                source.update(lr="interpolated", lr_convention=lr_logged,
                              lr_logged_values=int(idx_in.size))
            if not lrs.any():
                raise ValueError(f"{src}: all logged learning rates are zero; expected at "
                                 "least one positive learning rate")
            peak_lr = float(lrs.max())
    if t.notes:
        source["notes"] = list(t.notes)
    tags["source"] = source
    run = Run(name=name or Path(t.path).stem, lrs=lrs, curves=curves, peak_lr=peak_lr,
              schedule=sched_spec, warmup=warmup, N=N, tags=tags,
              status=status or "finished")
    try:
        return run.validate()
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None

