"""Seed noise of the 2-D protocol's cells: the stored runs all use seed 0; this trains
seeds 1–3 of four cells (widths 64 and 512, T = 1000, η_ref = 0.4 and 0.8: 12 runs, two
processes, one torch thread each) and prints each cell's spread over the four seeds.

    python bench/protocol2d_seeds.py --db /tmp/seeds.db [--base /work/data/protocol2d.db]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CELLS = [(d, 1000, e) for d in (64, 512) for e in (0.4, 0.8)]


def main() -> None:
    from protocol2d import TESTBEDS, peak_of

    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep
    from convexlaw.train import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="store for the new seeds")
    ap.add_argument("--base", type=Path, default=Path("/work/data/protocol2d.db"),
                    help="the protocol's store (seed 0)")
    args = ap.parse_args()
    base = {k: v for k, v in TESTBEDS["mlp"]["base"].items() if k != "seed"}

    def cfg(d: int, T: int, e: float, s: int) -> TrainConfig:
        return TrainConfig(size=d, steps=T, peak=peak_of(e, T), eval_every=T, seed=s, **base)

    store, seed0 = RunStore(args.db), RunStore(args.base)
    run_sweep(Sweep("protocol2d-seeds", [cfg(*c, s) for c in CELLS for s in (1, 2, 3)]),
              store, workers=2)
    print("| width | T | η_ref | seed 0 | seeds 1–3 | mean | σ (relative) |")
    print("|---|---|---|---|---|---|---|")
    for d, T, e in CELLS:
        vals = [float((seed0 if s == 0 else store).get(cfg(d, T, e, s).run_id())
                      .curve("val")[1][-1]) for s in range(4)]
        m, sd = float(np.mean(vals)), float(np.std(vals, ddof=1))
        print(f"| {d} | {T} | {e:g} | {vals[0]:.4f} | "
              + ", ".join(f"{v:.4f}" for v in vals[1:]) + f" | {m:.4f} | {100 * sd / m:.2f} % |")


if __name__ == "__main__":
    main()
