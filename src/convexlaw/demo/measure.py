"""What the demo's runs measured: final losses, seed means by peak, the grid of target
peaks, and the data regime of the runs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from convexlaw.plan import Plan

__all__ = ["peaks_planned", "regime"]


def regime(runs: list) -> dict[str, Any]:
    """What the runs' data regime was: fresh data (no training sample seen twice, the
    regime the law describes) or data repeated (then training loss is the honest score).

    Reads the harness tags ``epochs`` and ``fresh_data`` of every run.
    """
    epochs = [float(r.tags["epochs"]) for r in runs if r.tags.get("epochs") is not None]
    longest = max(runs, key=lambda r: r.T) if runs else None
    fresh = bool(runs) and all(r.tags.get("fresh_data") for r in runs)
    top = max(epochs) if epochs else float("nan")
    text = (f"fresh data: every step new, max {top:.2f} epochs" if fresh else
            f"data repeat (up to {top:.1f} epochs): held-out loss may over-fit")
    return {"fresh": fresh, "max_epochs": top, "text": text,
            "longest_T": None if longest is None else int(longest.T)}


def _grid_peaks(center: float, n: int, ratio: float, anchor: float) -> list[float]:
    """n peaks on the grid anchor·ratio^k nearest to ``center`` (reused across re-runs)."""
    k0 = round(math.log(center / anchor) / math.log(ratio))
    ks = range(k0 - (n - 1) // 2, k0 + n // 2 + 1)
    return [float(f"{anchor * ratio ** k:.6g}") for k in ks]


def _final(run: Any) -> float:
    if run.status != "finished":
        return math.inf
    return float(run.curve("val")[1][-1])


def _on_grid(peak: float, anchor: float, ratio: float) -> bool:
    """Is ``peak`` one of anchor·ratio^k (as stored, 6 significant digits)?"""
    k = round(math.log(peak / anchor) / math.log(ratio))
    return math.isclose(peak, float(f"{anchor * ratio ** k:.6g}"), rel_tol=1e-9)


def _by_peak(runs: list) -> list[tuple[float, float, float]]:
    """(peak, mean final loss over the seeds, max − min over the seeds), by peak; a peak
    at which any seed diverged counts as diverged (+inf)."""
    groups: dict[float, list[float]] = {}
    for r in runs:
        groups.setdefault(float(r.peak_lr), []).append(_final(r))
    out = []
    for p in sorted(groups):
        v = groups[p]
        ok = all(math.isfinite(x) for x in v)
        out.append((p, float(np.mean(v)) if ok else math.inf,
                    float(max(v) - min(v)) if ok else math.inf))
    return out


def peaks_planned(plan: Plan) -> float:
    """The planned run's peak as stored (6 significant digits)."""
    return float(f"{plan.eta_star:.6g}")
