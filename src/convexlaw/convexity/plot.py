"""One figure of a run's convexity diagnostics: one panel per reading against the step,
t0 marked in every panel (matplotlib, no torch).

>>> import numpy as np, tempfile, os
>>> from convexlaw.convexity import PathRecorder, Convexity
>>> rec = PathRecorder()
>>> for t, w in enumerate([-2.0, -1.0, -0.5, -0.2]):
...     rec.add(10 * t, np.array([w]), np.array([2 * w]), w * w)
>>> star, d2, ref = rec.star()
>>> c = Convexity(rec.steps, {"loss": rec.losses}, rec.gaps(), rec.sq_distances(), star, d2, ref)
>>> path = os.path.join(tempfile.mkdtemp(), "c.png")
>>> plot_convexity(c, path, title="toy") == path
True
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from .result import Convexity

__all__ = ["plot_convexity"]


def _finite(steps: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    return steps[ok], y[ok]


def plot_convexity(c: Convexity, out: str | Path, title: str = "", **rule: Any) -> str:
    """Write the 4×3 panel figure to ``out`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = c.analysis(**rule)
    s, ch = c.steps.astype(float), c.checks
    fig, axes = plt.subplots(4, 3, figsize=(14, 11), sharex=True)
    ax = axes.ravel()

    filled: set[int] = set()

    def line(i: int, y: np.ndarray, label: str | None = None, **kw: Any) -> None:
        xs, ys = _finite(s, np.asarray(y, dtype=float))
        if xs.size:  # an empty panel says "not measured" below
            ax[i].plot(xs, ys, marker="o", ms=3, lw=1.2, label=label, **kw)
            filled.add(i)

    line(0, ch["loss"], color="k")
    ax[0].set_title("loss on the evaluation batch")

    later = np.array([np.nanmean(r[i + 1:]) if np.isfinite(r[i + 1:]).any() else np.nan
                      for i, r in enumerate(a["pairs"])])
    line(1, later, color="C0")
    holds = a["check_holds"]
    for val, colour, lab in ((1.0, "green", "check holds"), (0.0, "red", "check fails")):
        pick = holds == val
        ax[1].scatter(s[pick], later[pick], color=colour, s=28, zorder=3, label=lab)
    ax[1].set_ylim(-0.05, 1.05)
    ax[1].set_title("iterate-wise: share of r(t, s>t) ≥ 0")
    ax[1].legend(fontsize=7, loc="lower right")

    line(2, c.star_gap, color="C1")
    ax[2].axhline(0, color="grey", lw=0.8)
    ax[2].set_yscale("symlog", linthresh=1e-4)
    ax[2].set_title(f"star gap r*(t) vs {c.reference}", fontsize=9)

    rho = np.array([np.nanmax(r[i + 1:]) if np.isfinite(r[i + 1:]).any() else np.nan
                    for i, r in enumerate(a["rho"])])
    line(3, rho, color="C3", label="ρ (max over s > t)")
    ax[3].set_yscale("symlog", linthresh=1e-4)
    ax[3].set_title("implied weak-convexity modulus ρ")

    line(4, ch["curvature_normalised"], color="C2", label="κ/‖d‖² along the update")
    line(4, ch["lam_max"], color="C4", ls="--", label="λ_max")
    line(4, ch["lam_min"], color="C5", ls="--", label="λ_min")
    ax[4].axhline(0, color="grey", lw=0.8)
    ax[4].set_yscale("symlog", linthresh=1e-3)
    ax[4].set_title("curvature along the update direction (GeN)")
    if 4 in filled:
        ax[4].legend(fontsize=7)

    line(5, ch["r2"], color="C2")
    ax[5].set_title("quadratic R² along the update (5 probes, ±2ε)")

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ch["alpha_star"] / ch["lr"]
        eos = ch["lam_max"] * ch["lr"] / 2
        neg = np.abs(ch["lam_min"]) / ch["lam_max"]
    line(6, np.where(ratio > 0, ratio, np.nan), color="C2")
    ax[6].set_yscale("log")
    ax[6].axhline(1, color="grey", lw=0.8)
    ax[6].set_title("GeN step α* / schedule's η (α* > 0 shown)")

    line(7, ch["lam_max"], color="C4", label="λ_max")
    line(7, np.abs(ch["lam_min"]), color="C5", label="|λ_min|")
    ax[7].set_yscale("log")
    ax[7].set_title("Hessian extremes (Lanczos)")
    if 7 in filled:
        ax[7].legend(fontsize=7)

    line(8, neg, color="C5")
    ax[8].set_title("|λ_min| / λ_max")

    line(9, eos, color="C4")
    ax[9].axhline(1, color="red", lw=0.8, ls=":")
    ax[9].set_title("edge of stability: λ_max·η/2 (GD unstable > 1)")

    line(10, ch["sample_grad_norm"], color="C6", label="median")
    xs, lo = _finite(s, ch["sample_grad_norm_q25"])
    _, hi = _finite(s, ch["sample_grad_norm_q75"])
    if xs.size:
        ax[10].fill_between(xs, lo, hi, color="C6", alpha=0.25, label="25–75 %")
    ax[10].set_title("per-sample gradient norm ‖∇θℓ‖ (eval mode)")
    if 10 in filled:
        ax[10].legend(fontsize=7)

    line(11, ch["structural_gap"], color="C7")
    ax[11].set_title("structural gap log(λ_max/λ_min) of JJᵀ (median)")

    t0 = a["t0"]
    for i, x in enumerate(ax):
        if i not in filled:
            x.text(0.5, 0.5, "not measured", ha="center", va="center",
                   transform=x.transAxes, color="grey")
        if t0 is not None:
            x.axvline(t0, color="green", lw=1.5, ls="--", alpha=0.8)
        x.grid(alpha=0.3)
    for x in axes[-1]:
        x.set_xlabel("step (updates done)")
    head = f"t0 = {t0}" if t0 is not None else "t0: none (never convex-like by the rule)"
    rule_text = "\n".join(textwrap.wrap(a["rule"], 150))
    fig.suptitle(f"{title}   —   {head} (dashed green line)\n{rule_text}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return str(out)
