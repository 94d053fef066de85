"""Training-harness speed: convexlaw.train vs a bare PyTorch loop, and sweep throughput.

    python bench/train.py [--quick]

Prints a markdown table. Rows:

- MLP 784-256-256-10 on Fashion-MNIST, batch 128, SGD(momentum 0.9) + cosine;
- byte-level GPT (2 blocks, d = 64, context 64) on the King James Bible, batch 16, AdamW;

each as steps/s of (a) a bare PyTorch loop written the way one would by hand (same model,
optimizer, LambdaLR schedule and in-memory data; no logging), (b) the harness with
held-out evaluation only after the last step, (c) the harness with its default held-out
evaluation every T/50 steps (the measurement it exists for). Overhead = 1 - (b)/(a).
Everything runs in one process on one torch thread, as sweep workers do. Speeds are steps
per second of process CPU time (wall time is at the mercy of whatever else the machine
runs; the load average is printed), each variant repeated, interleaved with the others,
and its best repetition kept.

Then the local pool's throughput (runs/min, wall clock including worker start-up) for a
20-run MLP sweep (784-256-256-10, T = 500, 5 peaks × 2 schedules × 2 seeds) with 1 and
with 2 worker processes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from convexlaw.runs import RunStore
from convexlaw.schedules import lr_lambda
from convexlaw.sweep import Sweep, run_sweep
from convexlaw.train import TrainConfig, build_model, load_dataset, train


def bare_mlp(steps: int, seed: int = 0) -> float:
    """A hand-written loop: returns steps per CPU second over the training steps only."""
    data = load_dataset("fashion-mnist")
    x_all, y_all = data.train_x, data.train_y
    torch.manual_seed(seed)
    model = build_model("mlp", 256)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", steps))
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(x_all), generator=gen), 0
    t0 = time.process_time()
    for _ in range(steps):
        if pos + 128 > len(order):
            order, pos = torch.randperm(len(x_all), generator=gen), 0
        idx = order[pos:pos + 128]
        pos += 128
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return steps / (time.process_time() - t0)


def bare_gpt(steps: int, seed: int = 0) -> float:
    data = load_dataset("kjv").train
    torch.manual_seed(seed)
    model = build_model("gpt", 64, 2, context=64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", steps))
    gen = torch.Generator().manual_seed(seed)
    t0 = time.process_time()
    for _ in range(steps):
        ix = torch.randint(len(data) - 65, (16,), generator=gen)
        w = torch.stack([data[i:i + 65] for i in ix.tolist()]).long()
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return steps / (time.process_time() - t0)


def harness(cfg: TrainConfig) -> float:
    run = train(cfg, threads=1)
    assert run.status == "finished", run.status
    return run.T / run.tags["cpu_time"]


def best_of(variants: dict, reps: int) -> dict[str, float]:
    """Interleave the variants rep by rep; keep each one's best steps/s."""
    out: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for name, fn in variants.items():
            out[name].append(fn())
    return {k: max(v) for k, v in out.items()}


def speed_rows(quick: bool) -> list[tuple]:
    reps = 3 if quick else 5
    rows = []
    t_mlp, t_gpt = (300, 60) if quick else (1000, 200)
    mlp = dict(model="mlp", size=256, dataset="fashion-mnist", optimizer="sgd",
               schedule="cosine", peak=0.1, steps=t_mlp, batch_size=128)
    gpt = dict(model="gpt", size=64, depth=2, dataset="kjv", optimizer="adamw",
               schedule="cosine", peak=3e-3, steps=t_gpt, batch_size=16, context=64)
    for label, bare, kw, T in (("MLP 784-256-256-10, batch 128", bare_mlp, mlp, t_mlp),
                               ("byte-GPT 2×64, ctx 64, batch 16", bare_gpt, gpt, t_gpt)):
        load_dataset(kw["dataset"])  # decode once, outside the timings
        res = best_of({
            "bare": lambda b=bare, T=T: b(T),
            "end": lambda kw=kw, T=T: harness(TrainConfig(**kw, eval_every=T)),
            "default": lambda kw=kw: harness(TrainConfig(**kw)),
        }, reps)
        rows.append((label, T, res["bare"], res["end"], res["default"],
                     1 - res["end"] / res["bare"], 1 - res["default"] / res["bare"]))
    return rows


def sweep_rows(quick: bool) -> list[tuple]:
    peaks = [0.01, 0.03, 0.1, 0.3, 1.0]
    grid = {"peak": peaks, "schedule": ["cosine", "wsd(cooldown=0.2)"], "seed": [0, 1]}
    steps = 500
    if quick:
        grid = {"peak": peaks[:2], "schedule": ["cosine"], "seed": [0, 1]}
        steps = 200
    sweep = Sweep.from_dict({"name": "bench", "base": {
        "model": "mlp", "size": 256, "dataset": "fashion-mnist", "optimizer": "sgd",
        "steps": steps}, "grid": grid})
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            store = RunStore(os.path.join(d, "bench.db"))
            t0 = time.perf_counter()
            outs = run_sweep(sweep, store, workers=workers)
            wall = time.perf_counter() - t0
            assert all(o.status in ("finished", "diverged") for o in outs), outs
            per_run = statistics.mean(o.run.tags["wall_time"] for o in outs)
            rows.append((workers, len(outs), steps, wall, 60 * len(outs) / wall, per_run))
            store.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and runs (~2 min)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    speed = speed_rows(args.quick)
    sweeps = sweep_rows(args.quick)
    print(f"\n`python bench/train.py{' --quick' if args.quick else ''}` — torch "
          f"{torch.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"1 torch thread per process; load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end; {time.perf_counter() - t0:.0f} s\n")
    print("| model | T | bare loop, steps per CPU s | harness, eval at end | overhead "
          "| harness, eval every T/50 | overhead incl. eval |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, T, bare, end, default, ov_end, ov_def in speed:
        print(f"| {label} | {T} | {bare:.0f} | {end:.0f} | {100 * ov_end:+.1f} % "
              f"| {default:.0f} | {100 * ov_def:+.1f} % |")
    print("\n| local pool | runs | T | wall s | runs/min | mean training s per run |")
    print("|---|---:|---:|---:|---:|---:|")
    for workers, n, steps, wall, rpm, per_run in sweeps:
        print(f"| {workers} worker{'s' if workers > 1 else ''} × 1 thread | {n} | {steps} "
              f"| {wall:.1f} | {rpm:.1f} | {per_run:.2f} |")


if __name__ == "__main__":
    main()
