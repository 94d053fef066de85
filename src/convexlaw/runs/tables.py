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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.presets import mpl25m_preset, spec_error
from convexlaw.runs.record import Run

__all__ = ["Column", "RunImportWarning", "Table", "check_lrs", "read_delimited", "read_jsonl_rows",
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
class Column:
    """One parsed column: float64 ``values`` (NaN where a cell is empty), ``present``
    (a cell was given) and ``bad`` (index of the first cell that is not a number, or -1)."""

    values: np.ndarray
    present: np.ndarray
    bad: int = -1

    @property
    def numeric(self) -> bool:
        """The first non-empty cell is a number (a text column is not a curve)."""
        first = np.flatnonzero(self.present)
        return self.bad < 0 or (first.size > 0 and self.bad != int(first[0]))


def _cell_number(cell: Any) -> float | None:
    """A cell as a float; None when it is empty; ValueError when it is not a number."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if isinstance(cell, bool):
        raise ValueError(cell)
    return float(cell)


def _parse_cells(cells: list[Any]) -> Column:
    """Parse raw cells; fast path for all-numeric columns, cell by cell otherwise."""
    n = len(cells)
    try:
        if not all(isinstance(c, str) for c in cells) or any(not c for c in cells):
            raise ValueError
        values = np.array(cells, dtype=np.float64)
        return Column(values, np.ones(n, dtype=bool))
    except (ValueError, TypeError):
        pass
    values = np.full(n, np.nan)
    present = np.zeros(n, dtype=bool)
    bad = -1
    for i, cell in enumerate(cells):
        try:
            x = _cell_number(cell)
        except (TypeError, ValueError):
            present[i] = True
            bad = i if bad < 0 else bad
            continue
        if x is not None:
            values[i], present[i] = x, True
    return Column(values, present, bad)


@dataclass
class Table:
    """Parsed columns of one file: ``cols[name].values[i]`` came from ``where(i)``
    ("line 7", "row 3", "step 100"); ``raw(name, i)`` is the cell as written."""

    path: Path
    fmt: str
    cols: dict[str, Column]
    lines: np.ndarray | range
    unit: str = "line"
    notes: list[str] = field(default_factory=list)
    cells: dict[str, list[Any]] | None = field(default=None, repr=False)

    @classmethod
    def from_cells(cls, path: Path, fmt: str, cells: dict[str, list[Any]],
                   lines: Any, unit: str = "line") -> Table:
        return cls(path, fmt, {k: _parse_cells(v) for k, v in cells.items()},
                   np.asarray(lines, dtype=np.int64), unit, cells=cells)

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, i: int) -> str:
        return f"{self.unit} {int(self.lines[i])}"

    def raw(self, col: str, i: int) -> Any:
        if self.cells is not None:
            return self.cells[col][i]
        return _reread_cell(self.path, col, int(self.lines[i]))

    def find(self, names: tuple[str, ...]) -> str | None:
        lower = {c.lower(): c for c in self.cols}
        return next((lower[n] for n in names if n in lower), None)


# ---------------------------------------------------------------- readers
CHUNK = 65536  # rows parsed at a time: memory stays ~ the parsed columns, not the text


def _delimiter(first: str) -> str:
    return "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")


def _open_text(path: Path) -> Any:
    return path.open(encoding="utf-8-sig", newline="")


def _reread_cell(path: Path, col: str, line: int) -> str:
    """The cell of ``col`` on data line ``line`` (for error messages only)."""
    with _open_text(path) as fh:
        header: list[str] = []
        delim = ","
        for number, text in enumerate(fh, start=1):
            if not header:
                if text.strip():
                    delim = _delimiter(text)
                    header = [h.strip() for h in next(csv.reader([text], delimiter=delim))]
            elif number == line:
                return next(csv.reader([text], delimiter=delim))[header.index(col)].strip()
    return "?"


def read_delimited(path: Path) -> Table:
    """CSV or TSV (delimiter sniffed: tab, comma or semicolon) with a header row.

    Read in chunks of rows straight into float64 columns, so a 5-million-row log needs
    about the memory of its numbers, not of its text.
    """
    try:
        with _open_text(path) as fh:
            return _read_delimited(path, fh)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None


def _count_lines(path: Path) -> int:
    """Lines in a file (a last line without a newline counts), read in binary blocks."""
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def _read_delimited(path: Path, fh: Any) -> Table:
    header_line, first = next(((i, ln) for i, ln in enumerate(fh, start=1) if ln.strip()),
                              (0, ""))
    if not header_line:
        raise ValueError(f"{path}: empty file; expected a header row such as 'step,lr,loss' "
                         "and data rows")
    delim = _delimiter(first)
    raw_header = next(csv.reader([first], delimiter=delim))
    header = [h.strip() for h in raw_header]
    if any(not h for h in header):
        raise ValueError(f"{path}: line {header_line}: empty column name in header "
                         f"{raw_header!r}")
    dup = {h for h in header if header.count(h) > 1}
    if dup:
        raise ValueError(f"{path}: line {header_line}: column {sorted(dup)[0]!r} appears "
                         "twice in the header")
    # the columns are allocated once, at their final size: no copies, no fragments
    cap = max(_count_lines(path) - header_line, 0)
    values = {h: np.empty(cap) for h in header}
    present = {h: np.empty(cap, dtype=bool) for h in header}
    lines = np.empty(cap, dtype=np.int64)
    bad = dict.fromkeys(header, -1)
    n = 0
    chunk: list[str] = []
    numbers: list[int] = []

    def flush() -> None:
        nonlocal n
        if not chunk:
            return
        parsed, kept = _parse_chunk(path, chunk, numbers, header, delim)
        m = len(kept)
        for h, c in zip(header, parsed, strict=True):
            if c.bad >= 0 and bad[h] < 0:
                bad[h] = n + c.bad
            values[h][n:n + m] = c.values
            present[h][n:n + m] = c.present
        lines[n:n + m] = kept
        n += m
        chunk.clear()
        numbers.clear()

    for line, text in enumerate(fh, start=header_line + 1):
        if text.strip():
            chunk.append(text)
            numbers.append(line)
            if len(chunk) >= CHUNK:
                flush()
    flush()
    if not n:
        raise ValueError(f"{path}: header {delim.join(header)!r} but no data rows")
    cols = {h: Column(values[h][:n], present[h][:n], bad[h]) for h in header}
    contiguous = lines[n - 1] - lines[0] == n - 1  # no blank lines: no array needed
    where: Any = range(int(lines[0]), int(lines[0]) + n) if contiguous else lines[:n]
    return Table(path, "tsv" if delim == "\t" else "csv", cols, where)


def _parse_chunk(path: Path, chunk: list[str], numbers: list[int], header: list[str],
                 delim: str) -> tuple[list[Column], list[int]]:
    """Columns of a chunk of data lines and the lines kept (rows of blank cells are
    skipped); numpy's parser when every cell is a number."""
    n = len(chunk)
    if not any('"' in t for t in chunk):
        try:
            block = np.loadtxt(chunk, delimiter=delim, dtype=np.float64, ndmin=2,
                               comments=None)
            if block.shape == (n, len(header)):
                ok = np.ones(n, dtype=bool)
                return [Column(block[:, j].copy(), ok) for j in range(len(header))], numbers
        except ValueError:
            pass  # empty cells, text or a ragged row: the careful path below says which
    rows = list(csv.reader(chunk, delimiter=delim))
    if len(rows) != n:
        raise ValueError(f"{path}: a quoted field spans several lines (near line {numbers[0]});"
                         " expected one row per line")
    kept_rows, kept = [], []
    for row, line in zip(rows, numbers, strict=True):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line}: {len(row)} fields, expected {len(header)} "
                             f"({delim.join(header)!r})")
        kept_rows.append(row)
        kept.append(line)
    if not kept_rows:
        empty = Column(np.empty(0), np.empty(0, dtype=bool))
        return [empty] * len(header), kept
    return [_parse_cells([c.strip() for c in col]) for col in zip(*kept_rows, strict=True)], kept


def read_jsonl_rows(path: Path, rows: list[tuple[int, dict]]) -> Table:
    """JSONL rows (already parsed, with line numbers) as a table; missing keys are empty."""
    keys: dict[str, None] = {}
    for _, obj in rows:
        keys.update(dict.fromkeys(obj))
    cols = {k: [obj.get(k, "") for _, obj in rows] for k in keys}
    return Table.from_cells(path, "jsonl", cols, [i for i, _ in rows])


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
    return Table.from_cells(path, "parquet", cols, np.arange(1, n + 1), unit="row")


# ---------------------------------------------------------------- cells -> arrays
def _numbers(t: Table, col: str, *, required: bool, what: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """A column's (values, present). A cell that is not a number is an error, and so is an
    empty one if ``required``; a present NaN stays NaN, so callers can tell "not logged"
    from "logged NaN"."""
    c = t.cols[col]
    if c.bad >= 0:
        raise ValueError(f"{t.path}: {t.where(c.bad)}, column {col!r}: {t.raw(col, c.bad)!r} "
                         f"is not a number; expected {what}")
    if required and not c.present.all():
        i = int(np.flatnonzero(~c.present)[0])
        raise ValueError(f"{t.path}: {t.where(i)}: empty {col!r}; expected {what}")
    return c.values, c.present.copy()


def check_lrs(f: np.ndarray, idx: np.ndarray, logged: np.ndarray, rtol: float, where: str,
              rows: Sequence[str] | Callable[[int], str], desc: str) -> float:
    """Compare rebuilt LRs ``f[idx]`` with logged ones; raise if worse than ``rtol``.

    ``rows[i]`` (or ``rows(i)``) names where logged value ``i`` came from."""
    def row(i: int) -> str:
        return rows(i) if callable(rows) else rows[i]

    if idx.size == 0:
        return 0.0
    out = np.flatnonzero((idx < 0) | (idx >= f.size))
    if out.size:
        i = int(out[0])
        raise ValueError(f"{where}: {row(i)}: a learning rate is logged beyond the run's "
                         f"{f.size - 1} steps; expected steps within the schedule ({desc})")
    a, b = f[idx], logged
    den = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(den > 0, np.abs(a - b) / np.where(den > 0, den, 1.0), 0.0)
    i = int(np.argmax(rel))
    err = float(rel[i])
    if not err <= rtol:
        raise ValueError(
            f"{where}: the rebuilt learning rates do not match the logged ones: max relative "
            f"error {err:.3g} at {row(i)} (logged {b[i]:.9g}, rebuilt {a[i]:.9g}) over "
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
        raise ValueError(f"{src}: {t.where(i)}, column {step_col!r}: {t.raw(step_col, i)!r} "
                         "is not a step; expected an integer >= 0")
    st = raw_steps.astype(np.int64)
    del bad
    # a big log holds each column once: temporaries are dropped as soon as they are used
    if (np.diff(st) <= 0).any():
        i = int(np.flatnonzero(np.diff(st) <= 0)[0]) + 1
        raise ValueError(f"{src}: {t.where(i)}: step {st[i]} does not follow step {st[i - 1]} "
                         f"({t.where(i - 1)}); expected strictly increasing steps")
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
        if not t.cols[col].numeric:
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
            raise ValueError(f"{src}: {t.where(i)}, column {col!r}: {t.raw(col, i)!r} is not a "
                             "finite loss; expected finite losses (import it with "
                             "status='diverged' / --diverged to keep a run that blew up)")
        zero = keep & (st == 0)
        if zero.any():
            tags[f"initial_{kind}"] = float(v[zero][0])
        keep &= st > 0
        if keep.all():  # a dense log: no copies
            curves[kind] = (st, v)
        elif keep.any():
            curves[kind] = (st[keep], v[keep])
        del keep
    if not any(k in curves for k in ("train", "val")):
        raise ValueError(f"{src}: no loss values at steps >= 1 in column(s) "
                         f"{', '.join(kinds[k] for k in ('train', 'val') if k in kinds)}")

    lr_vals = lr_rows = None
    if lr_col is not None:
        lv, has = _numbers(t, lr_col, required=False, what="a learning rate")
        bad = np.flatnonzero(has & (~np.isfinite(lv) | (lv < 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{src}: {t.where(i)}, column {lr_col!r}: {t.raw(lr_col, i)!r} is "
                             "not a learning rate; expected a finite number >= 0")
        lr_rows = np.flatnonzero(has)
        lr_vals = lv if lr_rows.size == lv.size else lv[lr_rows]
        del has

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
        assert lr_rows is not None and lr_vals is not None  # mpl_like: the lr column is there
        idx = st[lr_rows]
        try:
            err = check_lrs(pre.f, idx, lr_vals, lr_rtol, src, lambda k: t.where(lr_rows[k]),
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
            idx = st[lr_rows]
            idx -= 1 - shift
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
            if lr_rows is not None and lr_vals is not None and inside.any():
                f = np.append(lrs, lrs[-1])
                source["lr_check_max_rel_err"] = check_lrs(
                    f, idx[inside], lr_vals[inside], lr_rtol, src,
                    lambda k: t.where(lr_rows[inside][k]),
                    f"{schedule!r} over T = {T} steps, peak {peak:g}, lr logged as '{lr_logged}'")
                source["lr_checked_values"] = int(inside.sum())
        elif lr_rows is None or not inside.any():
            raise ValueError(f"{src}: missing column 'lr' (or no lr value inside 1..{T}); "
                             "expected a learning-rate column, or a schedule spec with steps "
                             "and peak (--schedule SPEC --steps T --peak P)")
        else:
            assert lr_vals is not None  # set together with lr_rows
            idx_in, vals = (idx, lr_vals) if inside.all() else (idx[inside], lr_vals[inside])
            del idx
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

