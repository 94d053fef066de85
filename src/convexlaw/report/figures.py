"""Figures for plans and the demo (matplotlib, Agg backend; each writes one PNG).

- ``plot_plan``: final loss against peak LR at every pilot horizon (filled points: pilots
  used in the fits; hollow: left out, their loss beyond the window; lines: the chosen law)
  and at the target (the law's curve with its bootstrap band, the literal law dashed, the
  recommended η* with its interval, measured target runs if any).
- ``plot_curves``: the predicted loss curve of the planned run (and the measured one); the
  star is THE predicted final loss, the curve model's own end is labelled as such.
- ``plot_optimum``: η* against T — measured per horizon and the laws' η*(T).

Legends sit outside the axes, to the right, so that they never cover data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convexlaw.plot import _pyplot, _save

if TYPE_CHECKING:
    from convexlaw.plan import Plan


def _log_axes(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")

    def label(v: float, _pos: int) -> str:  # 0.02, 0.05, 0.1: readable without crowding
        mant = v / 10 ** np.floor(np.log10(v))
        return f"{v:g}" if np.isclose(mant, [1, 2, 5]).any() else ""

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_minor_formatter(FuncFormatter(label))


def _err(point: float, interval: Sequence[float]) -> list[list[float]]:
    """Error-bar lengths from an interval (0 where it is unknown or excludes the point)."""
    lo, hi = interval
    below = point - lo if np.isfinite(lo) else 0.0
    above = hi - point if np.isfinite(hi) else 0.0
    return [[max(below, 0.0)], [max(above, 0.0)]]


def _legend_outside(ax, fontsize: int = 8) -> None:
    """The legend to the right of the axes (``_save`` crops to include it)."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, frameon=False)


def _pilot_table(plan: Plan) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out: dict[int, list] = {}
    for p in plan.pilots:
        if p["final_loss"] is None:
            continue
        out.setdefault(p["T"], []).append((p["peak"], p["final_loss"], p["used"]))
    return {T: tuple(np.array(c) for c in zip(*sorted(v), strict=True))
            for T, v in sorted(out.items())}


def plot_plan(plan: Plan, path: str | Path, measured: Sequence[tuple[float, float]] = (),
              title: str = "") -> Path:
    """Loss vs peak LR at the pilot horizons and at the target (see module doc)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    law = plan.laws[plan.variant]
    literal = plan.laws.get("literal")
    pil = _pilot_table(plan)
    peaks_all = [p["peak"] for p in plan.pilots] + [m[0] for m in measured] + [plan.eta_star]
    grid = np.geomspace(min(peaks_all) / 1.5, max(peaks_all) * 1.5, 120)
    N = plan.size
    cmap = plt.get_cmap("viridis")
    for i, (T, (pk, loss, used)) in enumerate(pil.items()):
        color = cmap(i / max(1, len(pil)))
        ax.scatter(pk[used], loss[used], color=color, zorder=3)
        ax.scatter(pk[~used], loss[~used], facecolors="none", edgecolors=color, zorder=3)
        spec = next(p["schedule"] for p in plan.pilots if p["T"] == T)
        try:
            line = law.predict(np.full(grid.size, float(T)), grid, N=N, shape=spec)
            ax.plot(grid, line, color=color, lw=1, label=f"pilots T = {T}")
        except ValueError:
            pass
    T = plan.steps
    if plan.loss_source.startswith("curve"):  # the chosen (loss) forecaster's curve
        ax.plot(grid, plan.peak_curve(grid), color="tab:red", lw=2.2,
                label=f"target T = {T} ({plan.loss_source})")
        mid = law.peak_curve(T, grid, N=N, shape=plan.schedule)[0]
        ax.plot(grid, mid, color="tab:orange", lw=1.2,
                label=f"target, {plan.variant} law (final losses)")
    else:
        mid, lo, hi = law.peak_curve(T, grid, N=N, shape=plan.schedule)
        ax.plot(grid, mid, color="tab:red", lw=2.2, label=f"target T = {T} ({plan.variant} law)")
        if np.all(np.isfinite(lo)):
            ax.fill_between(grid, lo, hi, color="tab:red", alpha=0.15)
    if literal is not None and plan.variant != "literal":
        ax.plot(grid, literal.predict(np.full(grid.size, float(T)), grid, N=N,
                                      shape=plan.schedule),
                color="tab:red", ls="--", lw=1.2, label="target, law as written (literal)")
    ax.axvline(plan.eta_star, color="tab:red", lw=0.8)
    lo_e, hi_e = plan.eta_interval
    if np.isfinite(lo_e) and np.isfinite(hi_e):
        ax.axvspan(lo_e, hi_e, color="tab:red", alpha=0.07)
    ax.errorbar([plan.eta_star], [plan.loss_star],
                yerr=_err(plan.loss_star, plan.loss_interval),
                fmt="*", color="tab:red", ms=14, zorder=4,
                label=f"plan: η* = {plan.eta_star:.3g}, L = {plan.loss_star:.4g}"
                      + ("" if plan.source == plan.loss_source else
                         f" (η* from the {plan.source})"))
    if measured:
        m = np.array(sorted(measured))
        ax.plot(m[:, 0], m[:, 1], "s-", color="k", ms=5, lw=1,
                label=f"measured at T = {T}")
    _log_axes(ax)
    finite = [p["final_loss"] for p in plan.pilots if p["final_loss"] is not None]
    top = min(max(finite), 3 * min(finite)) if finite else None
    if top:
        ax.set_ylim(top=top * 1.05)
    ax.set_xlabel("peak learning rate η")
    ax.set_ylabel("final loss")
    ax.set_title(title or f"Loss vs peak LR: pilots and the plan for T = {T}")
    ax.grid(alpha=0.3, which="both")
    ax.scatter([], [], color="0.3", label="filled: pilot used in the fits")
    ax.scatter([], [], facecolors="none", edgecolors="0.3",
               label="hollow: pilot left out of the fits (final loss beyond the\nwindow "
                     "around the best at its horizon: the blow-up edge)")
    _legend_outside(ax, 7)
    return _save(fig, path)


def plot_curves(plan: Plan, path: str | Path, measured: Any = None,
                pilots: Sequence[Any] = (), kind: str | None = None) -> Path:
    """Predicted loss curve of the planned run, the measured one and the pilots' curves."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in pilots:
        s, v = r.curve(kind)
        ax.plot(s, v, color="0.7", lw=0.7)
    if pilots:
        ax.plot([], [], color="0.7", lw=0.7, label="pilot runs (used)")
    if measured is not None:
        s, v = measured.curve(kind)
        ax.plot(s, v, color="k", lw=1.2, label=f"measured at η = {measured.peak_lr:.3g}")
    source = "the law" if plan.loss_source.startswith("law") else "the curve model"
    if plan.curve is not None:
        end = plan.curve["final"]
        note = ("its end is the prediction" if plan.loss_source.startswith("curve") else
                f"ends at {end:.4g}: not the prediction, the law predicts better here")
        ax.plot(plan.curve["steps"], plan.curve["loss"], color="tab:red", lw=2,
                label=f"predicted curve ({plan.curve['model']}; {note})")
    ax.errorbar([plan.steps], [plan.loss_star],
                yerr=_err(plan.loss_star, plan.loss_interval),
                fmt="*", color="tab:red", ms=12,
                label=f"THE prediction: final loss {plan.loss_star:.4g} (from {source}, "
                      f"{100 * plan.level:.0f} % interval)")
    _log_axes(ax)
    ax.set_xlabel("step t")
    ax.set_ylabel("loss")
    ax.set_title(f"Planned run: T = {plan.steps}, {plan.schedule}, η = {plan.eta_star:.3g}")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(ax)
    return _save(fig, path)


def plot_optimum(plan: Plan, path: str | Path,
                 measured: Sequence[tuple[float, float, bool]] = ()) -> Path:
    """η* against T: measured optima (filled: bracketed) and the laws' η*(T)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    Ts = [m[0] for m in measured] + [plan.steps]
    grid = np.geomspace(min(Ts) / 1.3, max(Ts) * 1.3, 60)
    for name, style in ((plan.variant, "-"), ("literal", "--")):
        law = plan.laws.get(name)
        if law is None or (name == "literal" and plan.variant == "literal" and style == "--"):
            continue
        eta = law.optimal_peak(grid, N=plan.size, shape=plan.schedule)[0]
        ax.plot(grid, eta, style, color="tab:red", label=f"η*(T), {name} law")
    for T, eta, ok in measured:
        ax.scatter([T], [eta], color="k", facecolors="k" if ok else "none", zorder=3)
    if measured:
        ax.scatter([], [], color="k", label="measured optimum (hollow: not bracketed)")
    ax.errorbar([plan.steps], [plan.eta_star],
                yerr=_err(plan.eta_star, plan.eta_interval),
                fmt="*", ms=13, color="tab:red",
                label="plan" if plan.source == plan.loss_source else
                f"plan (η* from the {plan.source})")
    _log_axes(ax)
    ax.set_xlabel("horizon T (steps)")
    ax.set_ylabel("optimal peak LR η*")
    ax.set_title("Optimal peak LR against horizon (literal bound: η* ∝ T^−1/2)")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(ax)
    return _save(fig, path)
