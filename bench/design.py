"""Designed schedules against cosine and WSD: predicted by a fitted model, then measured.

    python bench/design.py testbed [--work DIR]    real training (byte-GPT, ~1 h on 2 cores)
    python bench/design.py mpl25m                  the 25M curves of ../shared/data

testbed: byte-level GPT-32 (2 blocks, context 64, batch 16) on the King James Bible with
AdamW, scored on held-out loss; every run sees each byte at most once (T ≤ 1600 steps
× 1024 bytes < the 3.9 MB training split), so held-out loss is the expected training loss.
1. pilots at T = 200 and 400: cosine and WSD(cooldown=0.2), 5 peaks each, seed 0;
2. curve models fitted on the pilots' held-out curves; the one that best predicts the
   T = 400 pilots from the T = 200 ones is refitted on all pilots;
3. ``design_schedule`` at T = 1600 (4× the longest pilot): the WSD family and a free
   monotone spline, peak tuned; cosine and WSD(0.2) at their own tuned peaks beside them;
4. each of designed / cosine / WSD trained at its predicted peak and at ×½ and ×2 of it,
   seeds 0 and 1 (same seed = same initialisation and batch order across schedules);
5. measured gain (seed mean, at the measured best peak and at the predicted peak) vs the
   predicted gain. Goal: the predicted ranking holds and the gain is predicted within 30 %.

Results go to bench/results/design.{json,md} and the figures beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DATA = Path("/work/shared/data")

GPT = dict(model="gpt", size=32, depth=2, dataset="kjv", context=64, batch_size=16,
           optimizer="adamw", eval_size=512)
PILOT_T = (200, 400)
PILOT_PEAKS = (2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2)
PILOT_SCHEDULES = ("cosine+warmup(0.05)", "wsd(cooldown=0.2)+warmup(0.05)")
TARGET_T = 1600
WARMUP = 80  # = 0.05·T at the target, as in the pilots
SEEDS = (0, 1)
PEAK_FACTORS = (0.5, 1.0, 2.0)
CURVE_MODELS = ("convex-ed-peak", "convex-ed-gt-gpeak", "convex-ed-gpeak")


def sweep(configs: list, db: Path, label: str) -> list:
    """Train what the store lacks (2 workers, 1 thread each); the runs in config order."""
    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep

    store = RunStore(db)
    todo = sum(c.run_id() not in store for c in configs)
    t0 = time.perf_counter()
    print(f"[{label}] {len(configs)} runs, {todo} to train", file=sys.stderr)

    def progress(out, done, total):
        print(f"  [{label} {done}/{total} {time.perf_counter() - t0:.0f}s] "
              f"{out.config.name()} {out.status} {out.error or ''}", file=sys.stderr)

    if todo:
        run_sweep(Sweep(label, configs), store, workers=2, on_result=progress)
    return [store.get(c.run_id()) for c in configs if c.run_id() in store]


def final(run) -> float:
    return float(run.curve("val")[1][-1]) if run.status == "finished" else math.inf


def pilots(work: Path) -> list:
    from convexlaw.train import TrainConfig

    configs = [TrainConfig(schedule=s, peak=p, steps=T, seed=0, **GPT)
               for T in PILOT_T for s in PILOT_SCHEDULES for p in PILOT_PEAKS]
    return sweep(configs, work / "pilots.db", "pilots")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("testbed", "mpl25m", "pilots"))
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "design")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.part == "pilots":
        runs = pilots(args.work)
        for r in runs:
            print(r.name, r.status, f"{final(r):.4f}")


if __name__ == "__main__":
    main()
