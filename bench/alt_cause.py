"""Why the plan's peak misses on the MLP testbed: horizon or width? η* per (width, T) cell.

    python bench/alt_cause.py --db /work/data/alt2/alt.db [--cells 128:400,128:4000,...]
        [--seeds 0,1] [--workers 1] [--json PATH]

Every cell is a ×√2 grid of peaks (the target grid's: 0.005·√2^k) of the MLP testbed of
``bench/alternatives.py`` (same config code: Fashion-MNIST, SGD momentum 0.9, cosine,
batch 14, fresh data, final held-out loss over the 10,000 test images), trained at every
seed. η* of a cell: the parabola in log η through the best seed-mean peak and its
neighbours (``measured_optimum``, as the oracle). Between two cells of one width, the
local horizon exponent κ = Δ log η* / Δ log T; of one horizon, the width exponent
Δ log η* / Δ log N.
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
            "N": int(runs[0].N), "table": {str(p): table[p] for p in peaks},
            "cpu": am.compute(runs)["cpu"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--cells", default="128:400,128:1000,128:4000,512:400,512:1000",
                    help="width:T pairs; add :klo:khi for other peaks (0.005·√2^k)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--workers", type=int, default=1, choices=(1, 2))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from convexlaw.runs import RunStore

    seeds = sorted(int(s) for s in args.seeds.split(","))
    store = RunStore(args.db)
    cells = {}
    for item in args.cells.split(","):
        parts = [int(x) for x in item.split(":")]
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
    if args.json:
        args.json.write_text(json.dumps({f"{w}:{T}": c for (w, T), c in cells.items()},
                                        indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
