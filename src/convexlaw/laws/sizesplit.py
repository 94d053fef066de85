"""The held-out split of a size extrapolation: fit the smaller pilot sizes, predict the largest.

A plan for a model larger than every pilot extrapolates in N. The horizon split (fit the
shorter horizons, predict the longest at every size) tests an extrapolation in T that such
a plan does not make. This split tests the one it makes: every pilot of the largest size
N_max is held out, each forecaster is refitted on the smaller sizes (all their horizons),
and scored on the optimum at every held-out horizon h where the held-out runs bracket it:

    s(h) = ½·(|ln(η*_pred(h)/η*_meas(h))| / ln 1.25 + |L*_pred(h)/L*_meas(h) − 1| / 1 %)
    score = mean_h s(h)

(the plan's goals as scales, like ``convexlaw.choice.optimum_error``; η*_meas, L*_meas
from ``measured_optimum``: a parabola in log η through the best held-out run and its
neighbours). The score pools every held-out horizon, so one variant is chosen for the
size law from all the pilots' cells, not from one horizon's noise.

Measured on the 2-D protocol's Fashion-MNIST MLPs (``bench/protocol2d.py``: widths 8…64
→ 512, 104× in N): the horizon split chose a different variant at each target horizon
(gradient, peak, distance, distance+peak, …); this split chose one variant at every one.

>>> import numpy as np
>>> from convexlaw.runs import Run
>>> runs = [Run(f"w{N:g}-{p}", lrs=np.full(100, p), peak_lr=p, N=N,
...             curves={"val": (np.array([100]), np.array([1.0]))})
...         for N in (1e3, 2e3, 4e3) for p in (0.1, 0.2, 0.4)]
>>> sp = size_split(runs, 4e4)
>>> sp.label, len(sp.fit), len(sp.test)
('size: fit N < 4000, predict N = 4000', 6, 3)
>>> size_split(runs, 2e3) is None      # no extrapolation in N: nothing to test
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from convexlaw.curve.holdout import Split
from convexlaw.laws.peers import measured_optimum

__all__ = ["ETA_SCALE", "LOSS_SCALE", "size_optimum_error", "size_split"]

# the plan's goals: η* within ×1.25, L* within 1 % — the scales of the optimum error
ETA_SCALE, LOSS_SCALE = math.log(1.25), 0.01


def _peak(run: Any) -> float:
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


def size_split(runs: Sequence[Any], N_target: float | None) -> Split | None:
    """The size split of ``runs`` for a target of ``N_target`` parameters, or None when it
    cannot test anything: fewer than three pilot sizes (the refit needs two), or a target
    no larger than the largest pilot (no extrapolation in N)."""
    Ns = sorted({float(r.N) for r in runs if getattr(r, "N", None)})
    if N_target is None or len(Ns) < 3 or not N_target > Ns[-1] * 1.0001:
        return None
    top = Ns[-1]
    fit = [r for r in runs if float(r.N) < top]
    test = [(r, 0) for r in runs if float(r.N) == top]
    return Split(f"size: fit N < {top:.6g}, predict N = {top:.6g}", fit, test, "size")


def size_optimum_error(fc: Any, split: Split, kind: str | None = None
                       ) -> dict[str, Any] | None:
    """The error of ``fc`` (fitted on ``split.fit``) on the optimum at each horizon of the
    held-out size (module doc). ``eta_ratio`` is exp(mean |ln r|) — how far η* is off,
    typically, as a factor ≥ 1 — and ``loss_error`` the mean |L* error|; ``cells`` holds
    each horizon's signed numbers. None when no held-out horizon brackets its optimum.
    """
    by_T: dict[int, list[Any]] = {}
    for r, _ in split.test:
        by_T.setdefault(int(r.T), []).append(r)
    cells = []
    for T, runs in sorted(by_T.items()):
        if len(runs) < 3:
            continue
        finals, peaks = [], []
        for r in runs:
            st, v = r.curve(kind) if kind else r.curve()
            finals.append(float(v[-1]) if r.status == "finished" and len(v) else math.inf)
            peaks.append(_peak(r))
        shapes = {np.round(np.asarray(r.lrs) / _peak(r), 9).tobytes() for r in runs}
        if len(shapes) > 1:
            continue
        try:
            e_m, L_m, ok = measured_optimum(peaks, finals)
        except ValueError:
            continue
        if not ok:
            continue
        shape = np.asarray(runs[0].lrs, dtype=np.float64) / _peak(runs[0])
        e_p, L_p = fc.optimum(shape, (min(peaks) / 10, max(peaks) * 10), float(runs[0].N))
        if not (math.isfinite(e_p) and math.isfinite(L_p) and e_p > 0):
            return None  # a forecaster without an optimum at a held-out cell: no score
        er, lr = e_p / e_m, L_p / L_m - 1
        cells.append({"T": T, "eta_ratio": float(er), "loss_error": float(lr),
                      "score": float(0.5 * (abs(math.log(er)) / ETA_SCALE
                                            + abs(lr) / LOSS_SCALE))})
    if not cells:
        return None
    return {"eta_ratio": float(math.exp(np.mean([abs(math.log(c["eta_ratio"]))
                                                 for c in cells]))),
            "loss_error": float(np.mean([abs(c["loss_error"]) for c in cells])),
            "score": float(np.mean([c["score"] for c in cells])),
            "N_test": float(split.test[0][0].N), "cells": cells}
