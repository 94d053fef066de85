"""Held-out splits that test what a plan does: predict a run beyond what was fitted.

A plan extrapolates in the horizon (a longer run, a larger LR area) and reads the loss at
peaks between or beside the pilots'. Two splits mimic that with the pilots alone:

- ``"horizon"`` (pilots at two or more horizons): fit every run shorter than the longest
  horizon, whole; predict the runs at the longest horizon.
- ``"tail"`` (always possible): for each held-out run at the longest horizon, fit every
  other pilot whole plus the first ``tail`` fraction of the held-out run; predict the rest
  of it. The other pilots carry the response to the LR decay (their whole schedules),
  the held-out run tests how far its own curve can be continued. (Truncating *every*
  pilot instead hides the decay from the fit, and then favours a late burn-in that a
  longer run punishes: measured on the 124M runs, see README "Plan a long run".)

Each split scores the second half of each test run (the same points whatever a model's
burn-in), plus the final loss alone.

>>> import numpy as np
>>> from convexlaw.runs import Run
>>> runs = [Run(f"r{T}-{p}", lrs=np.full(T, p), peak_lr=p,
...             curves={"val": (np.arange(10, T + 1, 10), np.linspace(3, 2, T // 10))})
...         for T in (100, 200) for p in (0.1, 0.2)]
>>> [s.label for s in make_splits(runs, "horizon")]
['horizon: fit T < 200, predict T = 200']
>>> s = make_splits(runs, "tail")[0]; len(s.fit), s.test[0][1]
(4, 100)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.curve.data import restrict

__all__ = ["Split", "make_splits", "score_split"]


@dataclass
class Split:
    """Runs (possibly truncated copies) to fit, and (run, first scored step) to predict."""

    label: str
    fit: list[Any]
    test: list[tuple[Any, int]]
    kind: str = "horizon"
    notes: list[str] = field(default_factory=list)


def _peak(run: Any) -> float:
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


def _longest(runs: Sequence[Any]) -> list[Any]:
    T = max(int(r.T) for r in runs)
    return [r for r in runs if int(r.T) == T]


def _pick(runs: Sequence[Any], max_tests: int | None) -> list[Any]:
    """The held-out runs of a tail split: at most ``max_tests``, spread over the peaks
    (smallest, largest, then the middle ones)."""
    runs = sorted(runs, key=_peak)
    if max_tests is None or len(runs) <= max_tests:
        return list(runs)
    pick = np.unique(np.round(np.linspace(0, len(runs) - 1, max_tests)).astype(int))
    return [runs[i] for i in pick]


def make_splits(runs: Sequence[Any], how: str = "auto", kind: str | None = None,
                tail: float = 0.5, max_tests: int | None = None) -> list[Split]:
    """The held-out splits of ``how`` = "horizon", "tail" or "auto" (horizon when the runs
    span two or more horizons, else tail)."""
    if how not in ("auto", "horizon", "tail"):
        raise ValueError(f"split must be auto, horizon or tail, got {how!r}")
    if not 0 < tail < 1:
        raise ValueError(f"tail must be a fraction in (0, 1), got {tail!r}")
    if not runs:
        raise ValueError("no runs to split")
    horizons = sorted({int(r.T) for r in runs})
    if how == "auto":
        how = "horizon" if len(horizons) > 1 else "tail"
    longest = _longest(runs)
    Tmax = int(longest[0].T)
    if how == "horizon":
        if len(horizons) < 2:
            raise ValueError(f"a horizon split needs runs at two or more horizons; all have "
                             f"T = {Tmax}")
        fit = [r for r in runs if int(r.T) < Tmax]
        return [Split(f"horizon: fit T < {Tmax}, predict T = {Tmax}", fit,
                      [(r, Tmax // 2) for r in longest], "horizon")]
    out = []
    for r in _pick(longest, max_tests):
        cut = int(tail * int(r.T))
        others = [q for q in runs if q is not r]
        out.append(Split(f"tail: {getattr(r, 'name', 'run')} after step {cut}",
                         others + [restrict(r, kind, hi=cut)], [(r, cut)], "tail"))
    return out


def score_split(predict: Any, split: Split, kind: str | None = None) -> dict[str, Any]:
    """Score ``predict(run, steps) -> losses`` on a split's test points.

    Returns PredE (mean over test runs of the mean relative error on the scored points),
    final (mean |relative error| of the test runs' final losses), and per-run numbers.
    """
    per: list[dict[str, Any]] = []
    for run, start in split.test:
        steps, vals = run.curve(kind) if kind else run.curve()
        steps, vals = np.asarray(steps), np.asarray(vals, dtype=np.float64)
        # resumed runs log some steps twice: average them
        uniq, inv = np.unique(steps, return_inverse=True)
        vals = np.bincount(inv, weights=vals) / np.bincount(inv)
        keep = (uniq > start) & np.isfinite(vals)
        st, obs = uniq[keep], vals[keep]
        pred = np.asarray(predict(run, st), dtype=np.float64)
        rel = np.where(np.isfinite(pred), pred / obs - 1.0, np.inf)  # a blown-up model
        per.append({"run": getattr(run, "name", ""), "peak": _peak(run), "T": int(run.T),
                    "points": int(st.size), "PredE": float(np.mean(np.abs(rel))),
                    "final": float(rel[-1])})
    return {"split": split.label, "PredE": float(np.mean([p["PredE"] for p in per])),
            "final": float(np.mean([abs(p["final"]) for p in per])), "runs": per}
