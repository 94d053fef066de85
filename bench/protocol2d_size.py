"""Where the size law's loss error comes from, on the 2-D protocol's stored runs.

    python bench/protocol2d_size.py [--db /work/data/protocol2d.db] [--linf auto]

Pilots: widths 8, 16, 32, 64 at every horizon T' ≤ T (the setting of ``bench/protocol2d.py``,
window 1.2); target: width 512 at T (104× in N). For every variant of the size law, fitted
on all the pilots' points (n_boot = 0):

- its η* ratio and L* error at width 512 (the measured optimum: ``measured_optimum``), and
  the parameters that carry N (E, A, α of L∞(N); β1, β2 of q1, q2);
- its score on the size split (``convexlaw.laws.sizesplit``): refitted on widths 8…32,
  the mean |L* error| at width 64 over every pilot horizon — pilots only, never width 512.

It prints the variant each rule picks and the best variant per T told by the targets (an
upper bound on what any selection among these variants can do).
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    from convexlaw.laws import VARIANTS, LawData, SizeLaw
    from convexlaw.plan import _select, measured_optimum
    from convexlaw.runs import RunStore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/work/data/protocol2d.db"))
    ap.add_argument("--linf", default="auto")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    store = RunStore(args.db)
    runs = [store.get(i) for i in store.ids()]
    runs = [r for r in runs if r.tags.get("sweep") == "protocol2d"
            and r.tags["size"] in (8, 16, 32, 64, 512) and r.T in (50, 100, 200, 500, 1000,
                                                                   2000, 4000)]
    width = {r.tags["size"]: float(r.N) for r in runs}
    cell: dict[tuple[int, int], list] = {}
    for r in runs:
        cell.setdefault((r.tags["size"], r.T), []).append(r)

    def optimum(d: int, T: int) -> tuple[float, float, bool]:
        rr = cell[(d, T)]
        return measured_optimum([r.peak_lr for r in rr],
                                [float(r.curve("val")[1][-1]) if r.status == "finished"
                                 else math.inf for r in rr])

    picks: dict[str, list[tuple[str, float, float]]] = {"size split": [], "oracle": []}
    for T in (100, 200, 500, 1000, 2000, 4000):
        pil = [r for r in runs if r.tags["size"] < 512 and r.T <= T]
        kept, _, _ = _select(pil, width[512], 1.2, "val")
        data = LawData.from_runs(kept, points="final", kind="val")
        small = LawData.from_runs([r for r in kept if r.tags["size"] < 64], points="final",
                                  kind="val")
        e_m, L_m, _ = optimum(512, T)
        rows = []
        print(f"\nT = {T}: measured at width 512 η* = {e_m:.4g}, L* = {L_m:.4f}")
        for v in VARIANTS:
            law = SizeLaw(variant=v, n_boot=0, linf=args.linf).fit(data)
            e, L = law.optimal_peak([T], N=width[512], shape="cosine")
            sub = SizeLaw(variant=v, n_boot=0, linf=args.linf).fit(small)
            score = np.mean([abs(sub.optimal_peak([t], N=width[64], shape="cosine")[1][0]
                                 / optimum(64, t)[1] - 1) for t in sorted({r.T for r in kept})])
            p = law.params_
            rows.append((v, e[0] / e_m, L[0] / L_m - 1, score))
            print(f"  {v:18s} ×{e[0] / e_m:.3f} {100 * (L[0] / L_m - 1):+6.2f} %  size split "
                  f"{100 * score:5.2f} %  E={p['E']:.3g} A={p['A']:.3g} α={p['alpha']:.3g} "
                  f"β1={p['beta1']:+.3f} β2={p['beta2']:+.3f}  at bound: "
                  f"{', '.join(law.at_bound_) or '—'}")
        for rule, key in (("size split", lambda r: r[3]), ("oracle", lambda r: abs(r[2]))):
            best = min(rows, key=key)
            picks[rule].append((best[0], best[1], best[2]))
    print()
    for rule, pp in picks.items():
        print(f"{rule:11s}: " + "  ".join(f"{v} ×{e:.3f} {100 * L:+.2f} %" for v, e, L in pp)
              + f"  | mean |L*| error {100 * np.mean([abs(L) for _, _, L in pp]):.2f} %")


if __name__ == "__main__":
    main()
