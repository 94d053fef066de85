"""Run-to-run noise of loss curves, measured where two runs are replicates of each other.

A curve model is scored on a run's final loss; that loss is one realisation of a noisy
training run, so no prediction can be more accurate than the spread between runs with the
same settings. Repeated seeds measure it directly; a sweep rarely has them, but it often
has *prefix replicates*: runs at the same peak whose schedules agree up to some step (a
cosine to 0 and one to 10 % of the peak, or the same cosine over two horizons, share their
first thousands of steps to within a fraction of a percent of the LR). Up to that step they
are the same experiment twice, so their loss difference is run-to-run noise.

For each pair (a, b) with the same peak, the agreement step t_ab is the last step up to
which |η_a/η_b − 1| ≤ ``lr_tol``; at the common logged steps s with ``after`` < s ≤ t_ab

    d_s = y_a(s)/y_b(s) − 1,        σ_run = √(mean_s d_s² / 2)

(the difference of two independent realisations has twice the variance of one). σ_run is
the relative noise of ONE run's loss at one logged step; the d_s of one pair are
correlated in s (a run that is ahead stays ahead), so the pooled σ_run rests on about as
many independent values as there are pairs, not points.

>>> import numpy as np
>>> from convexlaw.runs import Run
>>> st = np.arange(100, 3001, 100)
>>> base = 3.0 + 2.0 / np.sqrt(st)
>>> rng = np.random.default_rng(0)
>>> runs = [Run(f"r{T}", lrs=np.full(T, 1e-3), peak_lr=1e-3,
...             curves={"val": (st[st <= T], base[st <= T]
...                             * (1 + 0.002 * rng.standard_normal((st <= T).sum())))})
...         for T in (2000, 3000)]
>>> r = replicate_noise(runs, "val", after=0)
>>> r["pairs"][0]["until"], r["points"]
(2000, 20)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["agreement_step", "replicate_noise"]


def _peak(run: Any) -> float:
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


def agreement_step(lrs_a: np.ndarray, lrs_b: np.ndarray, lr_tol: float) -> int:
    """The last step t (1-based) with |η_a/η_b − 1| ≤ lr_tol at every step ≤ t; 0 when the
    first steps already differ.

    >>> agreement_step(np.array([1.0, 1.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.999, 1.0]), 0.01)
    3
    """
    n = min(lrs_a.size, lrs_b.size)
    a, b = np.asarray(lrs_a[:n], dtype=np.float64), np.asarray(lrs_b[:n], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.where(b > 0, np.abs(a / b - 1.0) <= lr_tol, a == b)
    bad = np.flatnonzero(~ok)
    return int(n if bad.size == 0 else bad[0])


def _curve(run: Any, kind: str | None) -> tuple[np.ndarray, np.ndarray]:
    steps, vals = run.curve(kind) if kind else run.curve()
    steps, vals = np.asarray(steps), np.asarray(vals, dtype=np.float64)
    uniq, inv = np.unique(steps, return_inverse=True)  # resumed runs repeat some steps
    return uniq, np.bincount(inv, weights=vals) / np.bincount(inv)


def replicate_noise(runs: Sequence[Any], kind: str | None = None, lr_tol: float = 0.01,
                    after: int = 1000, min_points: int = 3) -> dict[str, Any]:
    """σ_run from the prefix replicates among ``runs`` (module doc): one row per pair with
    at least ``min_points`` common logged steps in (after, t_ab], and the pooled σ_run
    (None without such a pair). ``after`` leaves out the first steps, whose transient is
    far noisier than the rest (report it separately by calling with a smaller value)."""
    if not lr_tol >= 0:
        raise ValueError(f"lr_tol must be >= 0 (a relative LR difference), got {lr_tol!r}")
    if isinstance(after, bool) or not isinstance(after, int | np.integer) or after < 0:
        raise ValueError(f"after must be a step >= 0, got {after!r}")
    rows: list[dict[str, Any]] = []
    d_all: list[np.ndarray] = []
    runs = list(runs)
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if not math.isclose(_peak(a), _peak(b), rel_tol=1e-9):
                continue
            until = agreement_step(np.asarray(a.lrs), np.asarray(b.lrs), lr_tol)
            sa, va = _curve(a, kind)
            sb, vb = _curve(b, kind)
            common = np.intersect1d(sa, sb)
            common = common[(common > after) & (common <= until)]
            if common.size < min_points:
                continue
            d = va[np.searchsorted(sa, common)] / vb[np.searchsorted(sb, common)] - 1.0
            d_all.append(d)
            rows.append({"a": getattr(a, "name", str(i)), "b": getattr(b, "name", ""),
                         "peak": _peak(a), "until": until, "points": int(common.size),
                         "mean": float(d.mean()), "rms": float(np.sqrt(np.mean(d * d))),
                         "sigma_run": float(np.sqrt(np.mean(d * d) / 2.0))})
    if not d_all:
        return {"pairs": [], "points": 0, "sigma_run": None, "lr_tol": lr_tol, "after": after}
    d = np.concatenate(d_all)
    return {"pairs": rows, "points": int(d.size), "sigma_run": float(np.sqrt(np.mean(d * d) / 2)),
            "lr_tol": lr_tol, "after": after}
