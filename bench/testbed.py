"""Run stores on the two fresh-data testbeds, trained for real (2 single-thread workers).

    python bench/testbed.py STAGE [--testbed mlp|gpt] [--db PATH]

Both testbeds are in the fresh-data regime: no training sample is seen twice up to the
longest horizon (T = 4000), so held-out loss and training loss estimate the same
population loss (tags ``epochs`` < 1, ``fresh_data`` true on every run).

- ``mlp`` (the demo's): MLP 784-128-128-10 (N = 118 k) on Fashion-MNIST, batch 14
  (T = 4000 draws 56,000 of the 60,000 training images: 0.93 epochs), SGD with momentum
  0.9, cosine to zero; scored: held-out loss on the 10,000 test images.
- ``gpt``: byte-level GPT (2 blocks, width 32, N = 35.7 k, context 64, batch 16) on
  ``kjv-news`` (15.6 MB of training bytes; T = 4000 uses 0.27 epochs), the paper's
  Muon-NSGD, cosine to zero; scored: held-out loss on 512 windows (32 KB).

Stages:

- ``demo``: pilots at T = 50 … 800 (×2) with 11 peaks ×√2 apart and a target sweep at
  T = 4000 = 80 × 50 (the GPT store: T ≤ 400, 6 peaks ×2 apart, target 7 peaks);
- ``sweep``: many peaks per cell (13, ×√2 apart, the largest far past the optimum,
  diverging or collapsing) at T = 100, 400, 1600;
- ``seeds``: seeds 1 and 2 of the target sweep (seed-to-seed noise of the final loss).

Runs are keyed by their config hash: a re-run trains only what the store lacks.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

TESTBEDS = {
    "mlp": dict(model="mlp", size=128, dataset="fashion-mnist", batch_size=14,
                optimizer="sgd", schedule="cosine", eval_size=10000, seed=0),
    "gpt": dict(model="gpt", size=32, depth=2, dataset="kjv-news", context=64,
                batch_size=16, sampling="fresh", optimizer="muon-nsgd", schedule="cosine",
                eval_size=512, seed=0),
}
LOWEST = {"mlp": 0.005, "gpt": 0.01}  # the smallest peak of every grid
EVALS = 10  # held-out evaluations per run (every T/10 steps, and after the last)


def config(testbed: str, steps: int, peak: float, **changes):
    from convexlaw.train import TrainConfig

    return TrainConfig(peak=float(f"{peak:.6g}"), steps=steps,
                       eval_every=max(1, steps // EVALS), **(TESTBEDS[testbed] | changes))


def grid(lo: float, n: int, ratio: float) -> list[float]:
    return [float(f"{lo * ratio ** k:.6g}") for k in range(n)]


def stage_configs(testbed: str, stage: str) -> list:
    lo, r2 = LOWEST[testbed], math.sqrt(2)
    if testbed == "gpt" and stage == "demo":  # the first candidate's store, as trained
        return ([config("gpt", T, p) for T in (50, 100, 200, 400) for p in grid(lo, 6, 2)]
                + [config("gpt", 4000, p) for p in grid(lo, 7, r2)])
    if stage == "demo":
        return ([config(testbed, T, p) for T in (50, 100, 200, 400, 800)
                 for p in grid(lo, 11, r2)]
                + [config(testbed, 4000, p) for p in grid(lo, 7, r2)])
    if stage == "sweep":
        return [config(testbed, T, p) for T in (100, 400, 1600)
                for p in grid(lo / 2, 13, r2)]
    if stage == "seeds":
        return [config(testbed, 4000, p, seed=s) for s in (1, 2) for p in grid(lo, 7, r2)]
    raise SystemExit(f"unknown stage {stage!r}; expected demo, sweep or seeds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", choices=("demo", "sweep", "seeds"))
    ap.add_argument("--testbed", choices=sorted(TESTBEDS), default="mlp")
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep

    suffix = "" if args.testbed == "mlp" else "-gpt"
    stage = "demo" if args.stage == "seeds" else args.stage
    db = args.db or Path(f"/work/data/testbed-{stage}{suffix}.db")
    store = RunStore(db)
    cfgs = stage_configs(args.testbed, args.stage)
    t0 = time.perf_counter()

    def progress(out, done, total):
        r = out.run
        v = f"{r.curve('val')[1][-1]:.4f}" if r is not None and "val" in r.curves else ""
        print(f"[{done}/{total} {time.perf_counter() - t0:.0f}s] T={out.config.steps} "
              f"peak={out.config.peak:g} seed={out.config.seed} {out.status} {v} "
              f"{out.error or ''}", flush=True)

    print(f"{args.testbed} {args.stage}: {len(cfgs)} runs, "
          f"{sum(c.run_id() not in store for c in cfgs)} to train -> {db}", file=sys.stderr)
    run_sweep(Sweep(f"testbed-{args.testbed}-{args.stage}", cfgs), store,
              workers=args.workers, on_result=progress)


if __name__ == "__main__":
    main()
