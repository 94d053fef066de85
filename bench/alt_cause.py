"""Why the plan's peak misses on the MLP testbed: horizon or width? η* per (width, T) cell.

    python bench/alt_cause.py --db /work/data/alt2/alt.db [--cells 128:400,512:4000,...]
        [--seeds 0,1] [--workers 1] [--designs] [--second-width] [--target-at η1,η2]
        [--json PATH] [--plot PATH]

Every cell is a ×√2 grid of peaks (the target grid's: 0.005·√2^k) of the MLP testbed of
``bench/alternatives.py`` (same config code: Fashion-MNIST, SGD momentum 0.9, cosine,
batch 14, fresh data, final held-out loss over the 10,000 test images), trained at every
seed. η* of a cell: the parabola in log η through the best seed-mean peak and its
neighbours (``measured_optimum``, as the oracle). Between two cells of one width, the
local horizon exponent κ = Δ log η* / Δ log T; of one horizon, the width exponent
Δ log η* / Δ log N.

``--designs``: the plan (``make_plan``, its defaults, as the bench calls it) from other
pilot sets of the bench's kind (width 128, seed 0, peaks ×2 apart), each with its
optimizer steps against the target grid's (8 peaks × 4000 steps at one seed): which
horizons the pilots need before the plan's η* lands near the target's; and the plan with
other settings (``SETTINGS``: laws only, a window on the pilots' losses).
``--second-width``: the bench's pilots plus seed-0 pilots at the target's width 512 (peaks
×2 apart, at T = 400; 200, 400; 100, 200, 400), planned with the target's N: whether a
size law fitted on short pilots carries the width change. ``--target-at``: the target
trained at given peaks (seeds 0, 1), regret against the target grid's best peak.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import alt_methods as am  # noqa: E402
import alternatives as alt  # noqa: E402

# default peaks per horizon: k of 0.005·√2^k, wide enough to bracket the optimum
K_RANGE = {100: (3, 10), 200: (2, 9), 400: (1, 8), 1000: (0, 7), 2000: (-1, 6),
           4000: (-1, 6)}


def cell_configs(width: int, T: int, seeds: list[int], k: tuple[int, int]) -> list:
    tb = alt.TESTBEDS["mlp"]
    return [tb.config(width, T, p, s, tb.target_evals)
            for p in tb.grid_peaks(*k) for s in seeds]


def optimum(runs: list, seeds: list[int]) -> dict:
    from convexlaw.plan import measured_optimum

    table = am.grid_table(runs)
    peaks = [p for p in table if all(s in table[p] for s in seeds)]
    means = [float(np.mean([table[p][s] for s in seeds])) for p in peaks]
    per_seed = {s: measured_optimum(peaks, [table[p][s] for p in peaks])[0] for s in seeds}
    eta, loss, ok = measured_optimum(peaks, means)
    return {"eta_star": eta, "loss_star": loss, "bracketed": ok, "per_seed": per_seed,
            "N": None if runs[0].N is None else int(runs[0].N),
            "table": {str(p): table[p] for p in peaks},
            "cpu": am.compute(runs)["cpu"]}


P5 = (0.005, 0.01, 0.02, 0.04, 0.08)
DESIGNS = [((100, 200, 400), P5), ((200, 400), P5), ((128, 512), P5), ((160, 640), P5[:4]),
           ((150, 300, 600), P5[:4]), ((200, 800), P5), ((250, 1000), P5[:4]),
           ((400, 800), P5)]
SETTINGS = {"laws only": {"curve_models": ()}, "window 1.2": {"window": 1.2},
            "laws only, window 1.2": {"curve_models": (), "window": 1.2},
            "laws only, window 1.1": {"curve_models": (), "window": 1.1}}
GRID_STEPS = 8 * 4000  # the target grid at one seed, as the bench counts it


def designs(store, workers: int, oracle: float) -> list[dict]:
    """The plan's η* from each pilot set of ``DESIGNS`` (trained when missing)."""
    import dataclasses
    import warnings

    from convexlaw.plan import make_plan

    out = []
    for Ts, peaks in DESIGNS:
        tb = dataclasses.replace(alt.TESTBEDS["mlp"], pilot_T=Ts, pilot_peaks=peaks)
        alt.ensure(store, tb.pilots(), workers, f"pilots T = {Ts}")
        pilots = alt.fetch(store, tb.pilots())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = make_plan(pilots, 4000, schedule="cosine", kind="val", n_boot=0)
        by = {r["forecaster"]: r["eta_star"] for r in p.candidates if r.get("eta_star")}
        other = {}
        for label, kw in SETTINGS.items():  # the plan with non-default settings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = make_plan(pilots, 4000, schedule="cosine", kind="val", n_boot=0, **kw)
            other[label] = {"eta": q.eta_star, "ratio": q.eta_star / oracle,
                            "source": q.source}
        out.append({"T": list(Ts), "peaks": list(peaks),
                    "steps": am.compute(pilots)["steps"], "eta": p.eta_star,
                    "ratio": p.eta_star / oracle, "source": p.source, "kappa": p.kappa,
                    "power_law_peer": p.peers["power_law"].get("eta_star"),
                    "distance": by.get("law distance"),
                    "curve": by.get("curve convex-ed-peak"), "settings": other})
    return out


def second_width(store, workers: int, oracle: float) -> list[dict]:
    """The plan from the bench's pilots plus pilots at the target's width (module doc)."""
    import dataclasses
    import warnings

    from convexlaw.plan import make_plan

    tb = dataclasses.replace(alt.TESTBEDS["mlp"], pilot_T=(100, 200, 400))
    base = alt.fetch(store, tb.pilots())
    wide = {T: [tb.config(tb.target_size, T, p, 0, tb.target_evals) for p in P5[1:]]
            for T in (100, 200, 400)}
    alt.ensure(store, [c for v in wide.values() for c in v], workers, "width-512 pilots")
    out = []
    for Ts in ((400,), (200, 400), (100, 200, 400)):
        runs = base + alt.fetch(store, [c for T in Ts for c in wide[T]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = make_plan(runs, tb.target_T, size=float(alt.fetch(store, wide[400])[0].N),
                          schedule="cosine", kind="val", n_boot=0)
        out.append({"wide_T": list(Ts), "steps": am.compute(runs)["steps"],
                    "eta": p.eta_star, "ratio": p.eta_star / oracle, "source": p.source,
                    "kappa": p.kappa})
    return out


def target_at(store, workers: int, etas: list[float], seeds: list[int]) -> list[dict]:
    """The target trained at ``etas``: losses and regret against the target grid's best."""
    tb = alt.TESTBEDS["mlp"]
    grid = alt.fetch(store, [tb.target(p, s) for p in tb.grid_peaks(*tb.grid_k)
                             for s in seeds])
    best = am.oracle(am.grid_table(grid), seeds)["per_seed"]
    cfgs = [tb.target(e, s) for e in etas for s in seeds]
    alt.ensure(store, cfgs, workers, "the target at given peaks")
    out = []
    for e in etas:
        losses = {s: am.score(r) for s, r in
                  zip(seeds, alt.fetch(store, [tb.target(e, s) for s in seeds]), strict=True)}
        out.append({"eta": e, "losses": losses, **am.regrets(losses, best)})
    return out


def figure(cells: dict, pilots: list[dict], path: Path, plan_eta: float) -> None:
    """η*(T) per width, per seed and seed mean, with the pilots' optima and the plan."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for w, color in ((128, "C0"), (512, "C3")):
        rows = sorted((T, c) for (ww, T), c in cells.items() if ww == w)
        if not rows:
            continue
        T = np.array([t for t, _ in rows], float)
        E = np.array([c["eta_star"] for _, c in rows])
        ax.plot(T, E, "o-", color=color, label=f"width {w}: η* (2 seeds, ×√2 grid)")
        for t, c in rows:
            ax.plot([t] * len(c["per_seed"]), list(c["per_seed"].values()), "_",
                    color=color, ms=10)
    pT = np.array([p["T"] for p in pilots], float)
    pE = np.array([p["eta_star"] for p in pilots])
    ax.plot(pT, pE, "ks", mfc="none", ms=9, label="pilots (seed 0, ×2 grid): η*")
    k, b = np.polyfit(np.log(pT), np.log(pE), 1)
    t = np.geomspace(100, 4000, 50)
    ax.plot(t, np.exp(b) * t ** k, "k--", lw=1,
            label=f"power law through the pilots' optima: κ = {k:.2f}")
    ax.plot([4000], [plan_eta], "k*", ms=14, label=f"the plan's η = {plan_eta:.4g}")
    ax.set(xscale="log", yscale="log", xlabel="horizon T (steps)",
           ylabel="optimal peak LR η* (cosine)",
           title="MLP on Fashion-MNIST, SGD: η* against T at two widths")
    ax.set_xticks([100, 200, 400, 1000, 4000], ["100", "200", "400", "1000", "4000"])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([0.006, 0.01, 0.02, 0.03, 0.04], ["0.006", "0.01", "0.02", "0.03", "0.04"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--cells", default="128:100,128:200,128:400,128:1000,128:4000,"
                    "512:400,512:1000,512:4000",
                    help="width:T pairs; add :klo:khi for other peaks (0.005·√2^k)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--workers", type=int, default=1, choices=(1, 2))
    ap.add_argument("--designs", action="store_true",
                    help="also plan from other pilot horizons (DESIGNS)")
    ap.add_argument("--second-width", action="store_true",
                    help="also plan with pilots at the target's width (module doc)")
    ap.add_argument("--target-at", default=None, metavar="η1,η2",
                    help="train the target at these peaks (seeds 0, 1): regret")
    ap.add_argument("--plan-eta", type=float, default=0.007228,
                    help="the bench's plan η, drawn in the figure")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    from convexlaw.runs import RunStore

    seeds = sorted(int(s) for s in args.seeds.split(","))
    store = RunStore(args.db)
    cells = {}
    for item in args.cells.split(","):
        try:
            parts = [int(x) for x in item.split(":")]
        except ValueError:
            parts = []
        if len(parts) not in (2, 4) or (len(parts) == 2 and parts[1] not in K_RANGE):
            raise SystemExit(f"--cells: {item!r}: expected width:T with T in "
                             f"{sorted(K_RANGE)}, or width:T:klo:khi")
        w, T = parts[:2]
        k = tuple(parts[2:4]) if len(parts) == 4 else K_RANGE[T]
        cfgs = cell_configs(w, T, seeds, k)
        alt.ensure(store, cfgs, args.workers, f"width {w}, T = {T}")
        cells[(w, T)] = optimum(alt.fetch(store, cfgs), seeds)
    print("| width | N | T | η* (seed mean) | per seed | L* | bracketed |")
    print("|---|---|---|---|---|---|---|")
    for (w, T), c in sorted(cells.items()):
        per = " / ".join(f"{v:.4g}" for v in c["per_seed"].values())
        print(f"| {w} | {c['N']:,} | {T} | {c['eta_star']:.4g} | {per} | "
              f"{c['loss_star']:.4f} | {c['bracketed']} |")
    print()
    for (w, T), c in sorted(cells.items()):
        for (w2, T2), c2 in sorted(cells.items()):
            if w2 == w and T2 > T:
                k = math.log(c2["eta_star"] / c["eta_star"]) / math.log(T2 / T)
                print(f"width {w}: T {T} → {T2}: κ = {k:+.3f}")
            if T2 == T and w2 > w:
                k = math.log(c2["eta_star"] / c["eta_star"]) / math.log(c2["N"] / c["N"])
                print(f"T {T}: width {w} → {w2}: η* ∝ N^{k:+.3f} "
                      f"(×{c2['eta_star'] / c['eta_star']:.2f})")
    out = {"cells": {f"{w}:{T}": c for (w, T), c in cells.items()}}
    if args.designs:
        oracle = cells.get((512, 4000), {}).get("eta_star", 0.01464)  # the target grid's
        out["designs"] = designs(store, args.workers, oracle)
        print("\n| pilot T | peaks | steps (× grid) | plan η (× η*) | η* from | κ | "
              "law 'distance' | curve convex-ed-peak | power-law peer |")
        print("|---|---|---|---|---|---|---|---|---|")
        for d in out["designs"]:
            print(f"| {', '.join(map(str, d['T']))} | {len(d['peaks'])} | {d['steps']:,} "
                  f"({d['steps'] / GRID_STEPS:.1%}) | {d['eta']:.4g} (×{d['ratio']:.2f}) | "
                  f"{d['source']} | {d['kappa']:+.2f} | {d['distance']:.4g} | "
                  f"{d['curve']:.4g} | {d['power_law_peer']:.4g} |")
        print("\n| pilot T | " + " | ".join(SETTINGS) + " |")
        print("|---|" + "---|" * len(SETTINGS))
        for d in out["designs"]:
            print(f"| {', '.join(map(str, d['T']))} | " + " | ".join(
                f"×{v['ratio']:.2f} ({v['source']})" for v in d["settings"].values()) + " |")
    oracle = cells.get((512, 4000), {}).get("eta_star", 0.01464)
    if args.second_width:
        out["second_width"] = second_width(store, args.workers, oracle)
        print()
        for d in out["second_width"]:
            print(f"bench pilots + width 512 at T = {d['wide_T']}: {d['steps']:,} steps "
                  f"({d['steps'] / GRID_STEPS:.1%} of the grid): η = {d['eta']:.4g} "
                  f"(×{d['ratio']:.2f}) from {d['source']}, κ = {d['kappa']:+.2f}")
    if args.target_at:
        out["target_at"] = target_at(store, args.workers,
                                     [float(x) for x in args.target_at.split(",")], [0, 1])
        print()
        for d in out["target_at"]:
            per = " / ".join(f"{v:+.2%}" for v in d["per_seed"].values())
            print(f"target at η = {d['eta']:.4g}: regret {d['mean']:+.2%} ({per})")
    tb = alt.TESTBEDS["mlp"]
    pil = []
    for T in (100, 200, 400):  # the bench's pilots (seed 0, ×2 grid) when stored
        cfgs = [tb.pilot(T, p) for p in tb.pilot_peaks]
        if all(c.run_id() in store for c in cfgs):
            c = optimum(alt.fetch(store, cfgs), [0])
            pil.append({"T": T, "eta_star": c["eta_star"]})
    out["pilots"] = pil
    for p in pil:
        print(f"bench pilot cell T = {p['T']} (seed 0, ×2 grid): η* = {p['eta_star']:.4g}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    if args.plot and len(pil) >= 2:
        figure(cells, pil, args.plot, args.plan_eta)


if __name__ == "__main__":
    main()
