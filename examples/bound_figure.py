"""The bound Ω_t along four schedules, each at its own optimal peak (D = G = 1, T = 10⁴).

    python examples/bound_figure.py --out figures/

writes ``bound.png`` and ``bound.md`` (a table of η*_peak and Ω*_T per schedule).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import convexlaw  # noqa: E402

SPECS = ("constant", "cosine", "wsd(cooldown=0.2)", "linear")
T = 10_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("."))
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    rows = ["| schedule | η*_peak | Ω*_T | √T·Ω*_T |", "|---|---|---|---|"]
    for spec in SPECS:
        peak, best = convexlaw.optimal_peak(spec, T)
        lrs = convexlaw.schedule(spec, T, peak=peak)
        omega = convexlaw.bound(lrs, D=1.0, G=1.0)
        steps = range(1, T + 1)
        top.plot(steps, lrs, label=spec)
        bottom.plot(steps, omega, label=f"{spec}: Ω*_T = {best:.4f}")
        rows.append(f"| `{spec}` | {peak:.5f} | {best:.5f} | {best * T ** 0.5:.4f} |")
    top.set_ylabel("learning rate η_t")
    top.legend(fontsize=8, loc="upper right")
    bottom.set_yscale("log")
    bottom.set_ylim(top=1.0)
    bottom.set_xlabel("step t")
    bottom.set_ylabel("bound Ω_t (D = G = 1)")
    bottom.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Last-iterate bound at each schedule's optimal peak, T = {T:,}")
    fig.tight_layout()
    fig.savefig(out / "bound.png", dpi=110)
    (out / "bound.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
