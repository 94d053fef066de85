"""Overhead of recording a run: each callback against the same training without it.

    python bench/callbacks.py [--reps 5] [--steps 300] [--out bench/results/callbacks.json]

Three real trainings on CPU, one torch thread, each with and without convexlaw:
- plain PyTorch: an MLP 64-256-256-10 on scikit-learn's digits (batch 32), ``record``;
- PyTorch Lightning: the same MLP as a LightningModule, ``LightningCallback`` (gradient
  norm every update, the default);
- transformers: a 2-layer GPT-2 (width 64, context 64) built from a config on the bytes
  of the King James Bible (batch 8), ``HFCallback`` (``logging_steps=1`` with and without,
  so the Trainer's own per-update logging is not counted as ours).
Each variant also runs with ``flush_every=1`` (a store write every update: the worst
case). Process CPU time of the whole fit (set-up and the final write included), variants
interleaved, best of ``--reps``; overhead per update = (with − without) / steps, and the
CPU time spent inside convexlaw's hooks per update (timed from inside: robust where the
difference of two fits drowns in the noise of a shared machine). Then
the recorder's own costs: one ``log`` call, and one flush of a run of 10⁴ and 10⁵ updates.
Measured on a shared machine the numbers are noisy: re-run on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")


INSIDE = [0.0]  # CPU seconds spent inside convexlaw's hooks in the current fit
LIGHTNING_HOOKS = ("on_train_start", "on_before_optimizer_step", "on_train_batch_end",
                   "on_validation_end", "on_train_end")
HF_HOOKS = ("on_train_begin", "on_pre_optimizer_step", "on_step_begin", "on_log",
            "on_evaluate", "on_train_end")


def timed(obj, names):
    """Count the CPU time spent in obj's methods ``names`` into INSIDE: our own cost,
    measured from inside, so it is not drowned by the machine's noise as a difference of
    two whole fits is."""
    for name in names:
        method = getattr(obj, name)

        def wrapper(*a, _m=method, **kw):
            t0 = time.process_time()
            try:
                return _m(*a, **kw)
            finally:
                INSIDE[0] += time.process_time() - t0

        setattr(obj, name, wrapper)
    return obj


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 10))


def digits():
    from convexlaw.train import load_dataset

    ds = load_dataset("digits")
    return ds.train_x, ds.train_y


# ---------------------------------------------------------------- the three trainers
def plain(steps: int, db: str | None, flush_every: int | None) -> None:
    from convexlaw.integrations import record
    from convexlaw.schedules import lambda_lr

    x, y = digits()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = lambda_lr(opt, "cosine+warmup(0.05)", steps)
    gen = torch.Generator().manual_seed(0)
    rec = timed(record(db, {"bench": "plain"}, model=net, steps=steps,
                       flush_every=flush_every), ("log", "finish")) if db else None
    for t in range(1, steps + 1):
        idx = torch.randint(0, len(x), (32,), generator=gen)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        if rec is not None:
            rec.log(t, opt, loss)
        opt.step()
        sched.step()
    if rec is not None:
        rec.finish()


def lightning(steps: int, db: str | None, flush_every: int | None) -> None:
    import lightning.pytorch as L
    from torch.utils.data import DataLoader, TensorDataset

    from convexlaw.integrations import LightningCallback
    from convexlaw.schedules import lambda_lr

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # after its own set-up

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, i):
            return F.cross_entropy(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            return {"optimizer": opt, "lr_scheduler": {
                "scheduler": lambda_lr(opt, "cosine+warmup(0.05)", steps), "interval": "step"}}

    x, y = digits()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    cbs = [timed(LightningCallback(db, flush_every=flush_every), LIGHTNING_HOOKS)] if db else []
    L.Trainer(max_steps=steps, callbacks=cbs, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False,
              num_sanity_val_steps=0).fit(Module(), loader)


_TEXT = None


def hf(steps: int, db: str | None, flush_every: int | None) -> None:
    global _TEXT
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from convexlaw.integrations import HFCallback
    from convexlaw.train import load_dataset

    if _TEXT is None:
        t = load_dataset("kjv").train
        g = torch.Generator().manual_seed(0)
        starts = torch.randint(0, len(t) - 65, (8 * steps,), generator=g).tolist()
        _TEXT = [{"input_ids": t[j:j + 64].long(), "labels": t[j:j + 64].long()}
                 for j in starts]
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=64, n_embd=64, n_layer=2,
                                       n_head=2))
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, learning_rate=1e-3,
                                 lr_scheduler_type="cosine", warmup_steps=steps // 20,
                                 per_device_train_batch_size=8, logging_steps=1,
                                 save_strategy="no", report_to=[], use_cpu=True,
                                 disable_tqdm=True, dataloader_num_workers=0, seed=0,
                                 log_level="error")
        cbs = [timed(HFCallback(db, flush_every=flush_every), HF_HOOKS)] if db else []
        trainer = Trainer(model=model, args=args, train_dataset=_TEXT, callbacks=cbs)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # its print of every log is not ours
        trainer.train()


TRAINERS = {"plain PyTorch (record)": plain, "Lightning (LightningCallback)": lightning,
            "transformers (HFCallback)": hf}


def cpu(fn, *args) -> float:
    t0 = time.process_time()
    fn(*args)
    return time.process_time() - t0


def cpu_inside(fn, *args) -> tuple[float, float]:
    INSIDE[0] = 0.0
    return cpu(fn, *args), INSIDE[0]


# ---------------------------------------------------------------- the recorder alone
def recorder_costs() -> dict[str, float]:
    from convexlaw.integrations import Recorder
    from convexlaw.runs import Run, RunStore

    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(Path(d) / "r.db", flush_secs=1e9)
        n = 20000
        t0 = time.process_time()
        for t in range(1, n + 1):
            rec.log(t, 0.1, 1.0)
        per_log = (time.process_time() - t0) / n
        out = {"log_call_us": per_log * 1e6}

        def one_run(i: int) -> None:  # a new store file, one update, the final write
            with Recorder(Path(d) / f"new{i}.db", {"a": 1}) as r:
                r.log(1, 0.1, 1.0)

        out["run_fixed_ms"] = min(cpu(one_run, i) for i in range(5)) * 1e3
        store = RunStore(Path(d) / "f.db")
        for T in (10 ** 4, 10 ** 5):
            s = np.arange(1, T + 1)
            run = Run("f", lrs=np.full(T, 0.1), curves={"train": (s, 1.0 / s),
                                                        "grad_norm": (s, 1.0 / s)},
                      status="running", id="flush")
            best = min(cpu(store.put, run) for _ in range(5))
            out[f"flush_ms_T{T}"] = best * 1e3
    return out


def _overhead(x: float, base: float, steps: int) -> str:
    return f"{(x - base) / steps * 1e6:+.0f} µs ({100 * (x / base - 1):+.1f} %)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--only", default=None, help="comma-separated: plain,lightning,hf")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    picks = {k: f for k, f in TRAINERS.items()
             if args.only is None or f.__name__ in args.only.split(",")}
    variants = [("without", None), ("with", "default"), ("with, flush every update", 1)]
    with tempfile.TemporaryDirectory() as d:
        for fn in picks.values():  # warm-up: imports, data, first-call costs
            fn(20, str(Path(d) / "warm.db"), None)
        times: dict[tuple[str, str], list[float]] = {}
        inside: dict[tuple[str, str], list[float]] = {}
        for rep in range(args.reps):
            for name, fn in picks.items():
                for label, flush in variants:
                    db = None if flush is None else str(Path(d) / f"{rep}-{fn.__name__}.db")
                    every = flush if isinstance(flush, int) else None
                    total, ours = cpu_inside(fn, args.steps, db, every)
                    times.setdefault((name, label), []).append(total)
                    inside.setdefault((name, label), []).append(ours)
    load = os.getloadavg()[0]
    results = {"steps": args.steps, "reps": args.reps, "load_average": load, "rows": []}
    print(f"T = {args.steps} updates, CPU seconds of the whole fit, best of {args.reps}, "
          f"1 torch thread, load average {load:.1f}")
    print("| trainer | without | with | overhead / update | inside convexlaw / update | "
          "with flush every update | overhead / update | inside convexlaw / update |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in picks:
        base = min(times[(name, "without")])
        w = min(times[(name, "with")])
        w1 = min(times[(name, "with, flush every update")])
        ins = min(inside[(name, "with")]) / args.steps
        ins1 = min(inside[(name, "with, flush every update")]) / args.steps
        print(f"| {name} | {base:.3f} s | {w:.3f} s | {_overhead(w, base, args.steps)} | "
              f"{ins * 1e6:.0f} µs ({100 * ins * args.steps / base:.1f} %) | "
              f"{w1:.3f} s | {_overhead(w1, base, args.steps)} | "
              f"{ins1 * 1e6:.0f} µs ({100 * ins1 * args.steps / base:.1f} %) |")
        results["rows"].append({"trainer": name, "without": base, "with": w,
                                "with_flush_every_update": w1, "inside_per_update": ins,
                                "inside_per_update_flush_every": ins1,
                                "all": {k[1]: v for k, v in times.items() if k[0] == name},
                                "inside": {k[1]: v for k, v in inside.items()
                                           if k[0] == name}})
    costs = recorder_costs()
    results["recorder"] = costs
    print(f"recorder alone: log() {costs['log_call_us']:.1f} µs per call; a run's fixed cost "
          f"(new store file, final write) {costs['run_fixed_ms']:.1f} ms; one flush (put of "
          f"the whole run, 2 curves) {costs['flush_ms_T10000']:.1f} ms at T = 10⁴, "
          f"{costs['flush_ms_T100000']:.1f} ms at T = 10⁵")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
