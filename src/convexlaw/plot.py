"""Figures (matplotlib, Agg backend): schedules and bounds, the qualifying exam.

Each function writes one PNG and returns its path; none of them shows a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from convexlaw.exam import ExamResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_bound(lrs: np.ndarray, omega: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Learning rate and the bound Ω_t against the step, one panel each."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    # a figure shows a few thousand points: drawing 10⁸ costs gigabytes and adds nothing
    n = lrs.size
    keep = np.unique(np.r_[np.linspace(0, n - 1, min(n, 20_000)),
                           np.geomspace(1, n, min(n, 2_000)) - 1].astype(np.int64))
    steps = keep + 1
    ax1.plot(steps, lrs[keep], color="tab:blue")
    ax1.set_ylabel("learning rate η_t")
    ax1.set_title(title)
    ok = np.isfinite(omega[keep])
    ax2.plot(steps[ok], omega[keep][ok], color="tab:red")
    ax2.set_yscale("log")
    ax2.set_ylabel("bound Ω_t")
    ax2.set_xlabel("step t")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_exam(results: Sequence[ExamResult], path: str | Path) -> Path:
    """√T·Ω*_T against T for each family: flat lines qualify, rising lines fail."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in results:
        style = "-" if r.verdict == "pass" else "--"
        ax.plot(r.horizons, r.scaled_bound, style, marker=".", label=f"{r.spec} ({r.verdict})")
    ax.axhline(2.0, color="k", lw=0.8, ls=":", label="2DG: linear decay, the optimum")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon T (steps)")
    ax.set_ylabel("√T · Ω*_T  (D = G = 1, peak tuned)")
    ax.set_title("Qualifying exam: bounded = optimal O(1/√T) rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
