"""Runs reduced to what a curve model needs, validated with messages that name the run.

``as_curve_data`` turns a Run (``convexlaw.runs.Run`` or anything with ``name``, ``lrs``,
``curves``) into a CurveData: LRs, 1-based observation steps, losses, peak LR.
``restrict`` keeps a step window of a run (for seq2seq splits).

>>> import numpy as np
>>> from convexlaw.runs import Run
>>> r = Run(name="r", lrs=np.full(10, 0.1), curves={"train": (np.arange(1, 11), np.ones(10))})
>>> as_curve_data(r, lo=5).steps.tolist()
[6, 7, 8, 9, 10]
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["CurveData", "as_curve_data", "check_lrs", "check_steps", "constant_windows",
           "degenerate", "restrict"]


@dataclass
class CurveData:
    """One run reduced to what a curve model needs.

    lrs: float64 LR per update (index t−1 is the LR of update t); steps: 1-based int64
    steps of the loss observations; y: the losses there; peak: the run's peak LR.
    """

    name: str
    lrs: np.ndarray
    steps: np.ndarray
    y: np.ndarray
    peak: float
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def T(self) -> int:
        return int(self.lrs.size)


def check_lrs(lrs: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(lrs, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: learning rates must be a non-empty 1-d array, got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: learning rates contain NaN/inf at step(s) "
                         f"{(np.flatnonzero(~np.isfinite(arr)) + 1)[:5].tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"{name}: negative learning rate {arr.min():g} at step "
                         f"{int(np.argmin(arr)) + 1}; expected η_t ≥ 0")
    if not np.any(arr > 0):
        raise ValueError(f"{name}: all learning rates are zero; expected some η_t > 0")
    return arr


def check_steps(steps: ArrayLike, T: int, name: str) -> np.ndarray:
    st = np.asarray(steps)
    if st.ndim != 1:
        raise ValueError(f"{name}: steps must be 1-d, got shape {st.shape}")
    if st.size and not np.all(np.equal(np.mod(st, 1), 0)):
        raise ValueError(f"{name}: steps must be whole numbers (1-based update counts)")
    st = st.astype(np.int64)
    if st.size and (st.min() < 1 or st.max() > T):
        raise ValueError(f"{name}: steps must lie in 1..{T} (the LR sequence has {T} steps), "
                         f"got {st.min()}..{st.max()}")
    return st


def as_curve_data(run: Any, kind: str | None = None, lo: int = 0,
                  hi: int | None = None) -> CurveData:
    """Extract (lrs, steps, losses, peak) from a Run, keeping observations lo < t ≤ hi.

    Raises ValueError naming the run and the problem (no curve of that kind, NaN/inf or
    non-positive losses, steps outside the LR sequence, a diverged run).
    """
    name = getattr(run, "name", "run")
    if getattr(run, "status", "finished") == "diverged":
        raise ValueError(f"{name}: the run diverged; a curve model cannot be fitted to it")
    lrs = check_lrs(run.lrs, name)
    if kind is not None and kind not in run.curves:
        raise ValueError(f"{name}: no {kind!r} curve (has: {', '.join(run.curves) or 'none'})")
    steps, values = run.curve(kind) if hasattr(run, "curve") else run.curves[kind]
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    if steps.shape != values.shape:
        raise ValueError(f"{name}: {steps.size} steps but {values.size} loss values")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{name}: loss is NaN/inf at step(s) {steps[bad][:5].tolist()}; "
                         "drop those points or mark the run diverged")
    if np.any(values <= 0):
        raise ValueError(f"{name}: non-positive loss {values.min():g}; expected losses > 0")
    steps = check_steps(steps, lrs.size, name)
    # Updates with η = 0 at the end of a run are no-ops (a cosine-to-zero log ends so):
    # the loss after them is the loss after the last positive step, where the bound and
    # the peer models are finite (at η_t = 0 the bound is +∞ and the MPL takes log 0).
    last = int(np.flatnonzero(lrs > 0)[-1]) + 1
    if last < lrs.size:
        lrs = lrs[:last]
        steps = np.minimum(steps, last)
    keep = steps > lo
    if hi is not None:
        keep &= steps <= hi
    # Resumed runs log some steps twice: average the duplicates.
    st, inv = np.unique(steps[keep], return_inverse=True)
    y = np.bincount(inv, weights=values[keep]) / np.bincount(inv) if st.size else values[:0]
    peak = getattr(run, "peak_lr", None)
    peak = float(peak) if peak else float(lrs.max())
    return CurveData(name, lrs, st, y, peak)


def degenerate(data: list[CurveData]) -> tuple[str | None, list[str]]:
    """What a curve fit cannot learn from these curves: (error, warnings).

    error: the loss is the same at every point (nothing to fit: R² is undefined and no
    parameter but the level is identified). warnings: a run whose loss rises over the fit
    window (the mean of its last fifth of points above that of its first fifth) — the
    bound describes a falling loss, and such a fit is usually worse than a constant.

    >>> flat = CurveData("flat", np.full(4, 0.1), np.arange(1, 5), np.full(4, 2.0), 0.1)
    >>> degenerate([flat])[0]
    'the loss is constant (2 at all 4 points of flat): a curve model cannot be fitted to it'
    """
    y = np.concatenate([d.y for d in data]) if data else np.empty(0)
    error = None
    if y.size and np.ptp(y) <= 1e-12 * max(abs(float(y.mean())), 1e-300):
        names = ", ".join(d.name for d in data[:3]) + (" …" if len(data) > 3 else "")
        error = (f"the loss is constant ({float(y[0]):g} at all {y.size} points of {names}): "
                 "a curve model cannot be fitted to it")
    warns = []
    for d in data:
        k = max(1, d.y.size // 5)
        if d.y.size >= 5 and d.y[-k:].mean() > d.y[:k].mean():
            warns.append(f"the loss of {d.name} rises over the fit window (mean "
                         f"{d.y[:k].mean():.4g} over its first {k} points, {d.y[-k:].mean():.4g}"
                         f" over its last {k}, steps {int(d.steps[0])}…{int(d.steps[-1])}): "
                         "the models describe a falling loss")
    return error, warns


def constant_windows(data: list[CurveData]) -> bool:
    for d in data:
        seg = d.lrs[int(d.steps[0]) - 1:int(d.steps[-1])]
        if seg.size and seg.max() - seg.min() > 1e-9 * seg.max():
            return False
    return True


def restrict(run: Any, kind: str | None, lo: int = 0, hi: int | None = None) -> Any:
    """A shallow copy of ``run`` whose ``kind`` curve keeps only steps lo < t ≤ hi."""
    steps, values = run.curve(kind) if hasattr(run, "curve") else run.curves[kind]
    steps, values = np.asarray(steps), np.asarray(values)
    keep = steps > lo
    if hi is not None:
        keep &= steps <= hi
    key = kind
    if key is None:
        key = "val" if "val" in run.curves else "train"
    curves = dict(run.curves)
    curves[key] = (steps[keep], values[keep])
    if dataclasses.is_dataclass(run) and not isinstance(run, type):
        return dataclasses.replace(run, curves=curves)
    out = copy.copy(run)
    out.curves = curves
    return out
