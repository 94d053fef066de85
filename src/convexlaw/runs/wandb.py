"""W&B run exports (config / summary / history JSON) of epfml/schedules-and-scaling runs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from convexlaw.runs.presets import epfml_preset, spec_error
from convexlaw.runs.record import Run
from convexlaw.runs.tables import RunImportWarning, check_lrs

__all__ = ["run_from_wandb"]


@overload
def _series(section: dict, key: str, where: str, required: Literal[True] = ...) -> np.ndarray: ...
@overload
def _series(section: dict, key: str, where: str, required: bool) -> np.ndarray | None: ...
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
    for kind, it, col in (("val", v_iter, v_loss), ("train", t_iter, t_loss),
                           ("val_acc", v_iter, v_acc)):
        if col is None:
            continue
        if col.size != it.size:
            if kind == "val_acc":  # an optional extra whose column is not aligned: skip it
                source["val_acc_skipped"] = f"{col.size} values for {it.size} iters"
                continue
            raise ValueError(f"{src}: history: {it.size} iters but {col.size} {kind} values")
        s, v = _mean_duplicates(it.astype(np.int64), col)
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
