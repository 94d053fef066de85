"""Runs from tables of logged rows: CSV/TSV, JSONL rows, Parquet, TensorBoard scalars.

Every reader (``convexlaw.runs.readers``, ``convexlaw.runs.tb``) turns its file into a
:class:`Table` (columns of raw cells with the line or row each came from);
:func:`run_from_table` then checks the cells, rebuilds the per-step learning rates and
returns a :class:`Run`. Columns (case-insensitive):

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

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.runs.presets import mpl25m_preset, spec_error
from convexlaw.runs.readers import Column, Table, read_delimited, read_jsonl_rows, read_parquet
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

