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
upper bound on what any selection among these variants can do), each variant's in-sample
mean |L*| error at the pilots' own cells, and with

- ``--noise 0.005``: the spread of the distance+peak law's L*(512) when the pilots' losses
  get 0.5 % noise (per point, and one draw per width; 25 draws);
- ``--trainval``: the mean training loss over a run's last 3 % against its final held-out
  loss, per cell (what the whole curves could add);
- ``--plans``: ``make_plan`` with other pilot sets (automatic screening, windows 1.05/1.1,
  every pilot horizon for every target).
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
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--trainval", action="store_true")
    ap.add_argument("--plans", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    store = RunStore(args.db)
    runs = [store.get(i) for i in store.ids()]
    # the protocol's runs (one evaluation, at the end: the store also holds width-8 copies
    # logged every 10 steps, with the same final losses, which would count twice)
    runs = [r for r in runs if r.tags.get("sweep") == "protocol2d"
            and r.tags["config"]["eval_every"] == r.T
            and r.tags["size"] in (8, 16, 32, 64, 512) and r.T in (50, 100, 200, 500, 1000,
                                                                   2000, 4000)]
    assert len(runs) == 245, len(runs)
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
            ins = np.mean([abs(law.optimal_peak([t], N=width[d], shape="cosine")[1][0]
                               / optimum(d, t)[1] - 1)
                           for d in (8, 16, 32, 64) for t in sorted({r.T for r in kept})])
            print(f"  {v:18s} ×{e[0] / e_m:.3f} {100 * (L[0] / L_m - 1):+6.2f} %  size split "
                  f"{100 * score:5.2f} %  in-sample {100 * ins:4.2f} %  E={p['E']:.3g} "
                  f"A={p['A']:.3g} α={p['alpha']:.3g} β1={p['beta1']:+.3f} "
                  f"β2={p['beta2']:+.3f}  at bound: {', '.join(law.at_bound_) or '—'}")
        for rule, key in (("size split", lambda r: r[3]), ("oracle", lambda r: abs(r[2]))):
            best = min(rows, key=key)
            picks[rule].append((best[0], best[1], best[2]))
    print()
    for rule, pp in picks.items():
        print(f"{rule:11s}: " + "  ".join(f"{v} ×{e:.3f} {100 * L:+.2f} %" for v, e, L in pp)
              + f"  | mean |L*| error {100 * np.mean([abs(L) for _, _, L in pp]):.2f} %")
    if args.noise:
        noise(runs, width, args.noise)
    if args.trainval:
        trainval(runs)
    if args.plans:
        plans(runs, width, optimum)


def noise(runs: list, width: dict, sigma: float, draws: int = 25) -> None:
    from convexlaw.laws import LawData, SizeLaw
    from convexlaw.plan import _select

    rng = np.random.default_rng(0)
    print(f"\nL*(512) of the distance+peak law with {100 * sigma:.1f} % noise on the pilots")
    for T in (100, 500, 1000, 4000):
        kept, _, _ = _select([r for r in runs if r.tags["size"] < 512 and r.T <= T],
                             width[512], 1.2, "val")
        data = LawData.from_runs(kept, points="final", kind="val")
        base = data.loss.copy()
        L0 = SizeLaw(variant="distance+peak", n_boot=0).fit(data).optimal_peak(
            [T], N=width[512], shape="cosine")[1][0]
        for how in ("per point", "per width"):
            Ls = []
            for _ in range(draws):
                z = rng.standard_normal(base.size) if how == "per point" else \
                    np.vectorize({n: rng.standard_normal() for n in np.unique(data.N)}.get)(
                        data.N)
                data.loss = base * (1 + sigma * z)
                Ls.append(SizeLaw(variant="distance+peak", n_boot=0).fit(data).optimal_peak(
                    [T], N=width[512], shape="cosine")[1][0])
            data.loss = base
            print(f"  T = {T}, {how}: sd {100 * np.std(Ls) / L0:.2f} %")


def trainval(runs: list) -> None:
    out: dict[tuple[int, int], list[float]] = {}
    for r in runs:
        if r.status != "finished" or r.T < 500:
            continue
        v = float(r.curve("val")[1][-1])
        if not (math.isfinite(v) and v < 1.0):
            continue
        tr = r.curve("train")[1]
        out.setdefault((r.tags["size"], r.T), []).append(
            float(np.mean(tr[-max(1, int(0.03 * r.T)):])) / v - 1)
    print("\nmean training loss over the last 3 % / final held-out loss − 1, per cell")
    for key in sorted(out):
        print(f"  width {key[0]}, T = {key[1]}: {100 * np.mean(out[key]):+.2f} % "
              f"(sd over peaks {100 * np.std(out[key]):.2f} %)")


def plans(runs: list, width: dict, optimum) -> None:
    from convexlaw.plan import make_plan

    for label, window, every in (("automatic screening", None, False),
                                 ("window 1.1", 1.1, False), ("window 1.05", 1.05, False),
                                 ("window 1.2, every pilot horizon", 1.2, True)):
        cells = []
        for T in (100, 200, 500, 1000, 2000, 4000):
            pil = [r for r in runs if r.tags["size"] < 512 and (every or r.T <= T)]
            p = make_plan(pil, T, size=width[512], kind="val", n_boot=0, window=window,
                          curve_model=None)
            e_m, L_m, _ = optimum(512, T)
            err = 100 * (p.loss_star / L_m - 1)
            cells.append(f"{p.variant} ×{p.eta_star / e_m:.3f} {err:+.2f} %")
        print(f"\nplan, {label}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
