"""Figure of a design: the schedules (top) and their predicted loss curves (bottom)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convexlaw.plot import _pyplot, _save

if TYPE_CHECKING:
    from convexlaw.design.result import Design

_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown")
ZOOM = 0.25  # the loss panel starts here (fraction of T): the curves separate late


def plot_design(design: Design, path: str | Path, title: str = "") -> Path:
    """Learning rate and predicted loss against the step for the design and its baselines.

    One colour per schedule; solid at its tuned peak, dotted at a fixed peak. The loss
    panel starts at a quarter of the run, where the curves separate.
    """
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8.5, 8), sharex=True,
                                   gridspec_kw={"height_ratios": [1, 1.4]})
    steps = np.asarray(design.curves["steps"])
    show = steps >= max(1, ZOOM * design.steps)
    colours: dict[str, str] = {}
    losses = []
    for i, c in enumerate(design.curves["schedules"]):
        designed = i == 0
        key = "designed" if designed else (c["spec"] or c["label"])
        colour = colours.setdefault(key, _COLOURS[len(colours) % len(_COLOURS)])
        style = ":" if c["peak_mode"] == "fixed" and not designed else "-"
        name = ("designed: " if designed else "") + (c["spec"] or "free spline")
        final = c["loss"][-1]
        label = f"{name}\n  peak {c['peak']:.3g} ({c['peak_mode']}), L̂_T = {final:.4f}"
        lw = 2.4 if designed else 1.3
        ax1.plot(steps, c["lr"], style, color=colour, lw=lw)
        y = np.asarray(c["loss"], dtype=np.float64)
        ax2.plot(steps[show], y[show], style, color=colour, lw=lw, label=label)
        losses.append(y[show])
    allv = np.concatenate(losses)
    allv = allv[np.isfinite(allv)]
    if allv.size:
        lo, hi = float(allv.min()), float(allv.max())
        ax2.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    for T in design.horizons:
        ax2.axvline(T, color="k", lw=0.6, ls="--")
    ax1.set_ylabel("learning rate η_t")
    ax2.set_ylabel(f"predicted loss ({design.model}), t ≥ {ZOOM:g}·T")
    ax2.set_xlabel("step t")
    ax2.legend(fontsize=6.5, loc="upper right")
    modes = {c["peak_mode"] for c in design.curves["schedules"][1:]}
    key = ("; dotted: at the fixed peak, solid: at the tuned peak" if len(modes) > 1
           else f"; every schedule at its {modes.pop()} peak" if modes else "")
    ax1.set_title(title or f"schedule design ({design.family}), T = {design.steps}{key}")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return _save(fig, path)
