"""How the design bench fits and chooses its curve model from the pilots (issue 12).

Two choices a design protocol makes, both scored in ``bench/design_protocols.py``:

- **weights** of the logged evaluations in the least-squares fit. The models fit every
  evaluation after the burn-in with equal weight (``all``), so the early, high-loss points
  of the short pilots carry most of the residual. ``late``: an evaluation at step t of a
  run of T steps counts w(t) = 1 + ⌊4t/T⌋ times (1 at the start, 5 at the end: the
  last evaluations are the ones a design is scored on); ``end``: the evaluations of the
  last fifth of each pilot only (t ≥ 0.8T: the last three of ten; one point a run would
  leave no LR change inside any run's window, and the design refuses such a fit);
  ``step``: w(t) = ⌈t / 200⌉ in absolute steps (200 = the shortest pilot), so the longer
  pilots count more as well as the later points — the fitted exponent c of the effective
  distance rises with the horizon (per-horizon fits: 0.44, 0.31, 0.56, 0.62 at T = 200 …
  1600, 0.73 on the targets at 4000), and a fit for T = 4000 should lean on the longest.
  Integer weights are exact in least squares: a run restricted to the points of weight
  > k is added once more for every k (``weighted``).
- **selection** of the model among the candidates, fitted on the pilots at T < T_max and
  scored on the pilots at T_max: ``final`` = mean |relative error| of the final losses;
  ``gaps`` = RMS error of the predicted *differences between schedules* at equal peaks
  (each schedule's seed-mean final loss minus cosine's at the same peak, every peak both
  have usable pilots at), the quantity a design's gain is made of (``gap_error``).

"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WEIGHTS = ("all", "late", "end", "step")
STEP = 200  # the unit of the ``step`` weights: the shortest pilot horizon
SELECTIONS = ("final", "gaps")


def weighted(runs: Sequence[Any], kind: str, mode: str = "all") -> list[Any]:
    """The runs to fit, with late evaluations repeated (``mode``: see the module doc)."""
    from convexlaw.curve import restrict

    if mode not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {mode!r}")
    if mode == "all":
        return list(runs)
    out = []
    for r in runs:
        if mode == "end":
            out.append(restrict(r, kind, lo=math.ceil(0.8 * r.T) - 1))
            continue
        out.append(r)
        if mode == "step":  # steps > k·STEP: the points with ⌈t/STEP⌉ > k
            out += [restrict(r, kind, lo=k * STEP) for k in range(1, math.ceil(r.T / STEP))]
            continue
        # steps > lo, i.e. t ≥ ⌈kT/4⌉: the points with ⌊4t/T⌋ ≥ k
        out += [restrict(r, kind, lo=math.ceil(k * r.T / 4) - 1) for k in (1, 2, 3, 4)]
    return out


def cell_means(runs: Sequence[Any], final: Callable[[Any], float]) -> dict:
    """{(schedule, peak): (seed-mean final loss, a run of the cell)}."""
    cells: dict = {}
    for r in runs:
        cells.setdefault((r.schedule, r.peak_lr), []).append(r)
    return {k: (float(np.mean([final(r) for r in v])), v[0]) for k, v in cells.items()}


def gap_error(model: Any, runs: Sequence[Any], ref: str, final: Callable[[Any], float],
              predict: Callable[[Any, np.ndarray, float], float]) -> dict:
    """Predicted vs measured gaps (schedule − ``ref`` at the same peak, seed means) over
    the runs of one horizon: the RMS error, the slope through 0 of predicted on measured
    (1 = the schedule effect has the right size) and the pairs."""
    cells = cell_means(runs, final)
    pred = {k: predict(model, r.lrs, r.peak_lr) for k, (_, r) in cells.items()}
    pairs = []
    for (spec, peak), (loss, _) in sorted(cells.items()):
        if spec == ref or (ref, peak) not in cells:
            continue
        pairs.append({"schedule": spec, "peak": peak,
                      "measured": loss - cells[(ref, peak)][0],
                      "predicted": pred[(spec, peak)] - pred[(ref, peak)]})
    if not pairs:
        return {"rms": math.inf, "slope": None, "pairs": []}
    m = np.array([p["measured"] for p in pairs])
    p = np.array([p["predicted"] for p in pairs])
    return {"rms": float(np.sqrt(np.mean((p - m) ** 2))),
            "slope": float(m @ p / (m @ m)) if m @ m > 0 else None, "pairs": pairs}
