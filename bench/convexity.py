"""Convexity diagnostics on real harness runs: their cost, and what they find.

    python bench/convexity.py [--parts overhead,table] [--reps 3] [--work DIR]

**overhead** — CPU seconds of `convexlaw train` with and without `--diagnose` at the
default cadence (convexlaw.convexity.cadence: checks and Hessian readings within a budget
estimated from the run's counts; the table prints what each run got),
for the harness-benchmark models (bench/train.py: MLP 784-256-256-10, batch 128, SGD;
byte-GPT 2×64, context 64, batch 16, AdamW) at two horizons each. Each
variant is repeated ``--reps`` times, interleaved with the others in one process on one
torch thread, and its best (lowest) CPU time kept: timings on the shared machine are noisy,
CPU time is less so than wall time, and the best of N is the least disturbed repetition.
The diagnoser's own CPU seconds (summed over its checks) are printed beside it.

**table** — the settings of bench/paper.py (i) (MLP-128 and CNN-8 on Fashion-MNIST with
SGD, GPT-32 on the King James Bible with AdamW and with Muon; cosine and linear schedules),
trained with diagnostics (checks every T/20, Hessian readings at 0, T/2 and T); for each:
t0, the share of path checks holding after t0, the curvature and Hessian readings, and
the seq2seq held-out R² (fit (b, T/2], score the second half) with the fit starting at
b = 0, T/10 (paper.py's burn-in) and t0. The cosine
runs are diagnosed twice: star gaps against their own final iterate, and against the end of
a run twice as long (same settings, T doubled). Two worker processes, one thread each.

Prints markdown (kept as ``bench/results/convexity.md``); writes ``convexity.json`` (or
``convexity-<part>.json`` for one part) and one figure per cosine run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CURVE_MODELS = ("convex", "convex-ed", "convex-ed-gt")
SETTINGS = {  # bench/paper.py (i)
    "MLP-128 / SGD": dict(model="mlp", size=128, dataset="fashion-mnist", optimizer="sgd",
                          peak=0.04, batch_size=128, steps=2000, eval_size=10000),
    "CNN-8 / SGD": dict(model="cnn", size=8, dataset="fashion-mnist", optimizer="sgd",
                        peak=0.03, batch_size=64, steps=1000, eval_size=5000),
    "GPT-32 / AdamW": dict(model="gpt", size=32, dataset="kjv", optimizer="adamw",
                           peak=2e-3, steps=1000, eval_size=256),
    "GPT-32 / Muon": dict(model="gpt", size=32, dataset="kjv", optimizer="muon",
                          peak=2e-3, steps=1000, eval_size=256),
}
SCHEDULES = ("cosine", "linear")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def fmt(x: Any, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


# ---------------------------------------------------------------------------- overhead
def part_overhead(reps: int, results: dict) -> None:
    import torch

    from convexlaw.convexity import HarnessDiagnoser
    from convexlaw.train import TrainConfig, train

    torch.set_num_threads(1)
    cases = {
        "MLP 784-256-256-10, T = 1000": dict(model="mlp", size=256, optimizer="sgd",
                                             peak=0.1, dataset="fashion-mnist", steps=1000),
        "MLP 784-256-256-10, T = 2000": dict(model="mlp", size=256, optimizer="sgd",
                                             peak=0.1, dataset="fashion-mnist", steps=2000),
        "byte-GPT 2×64, T = 200": dict(model="gpt", size=64, optimizer="adamw", peak=2e-3,
                                       dataset="kjv", steps=200),
        "byte-GPT 2×64, T = 1000": dict(model="gpt", size=64, optimizer="adamw", peak=2e-3,
                                        dataset="kjv", steps=1000),
    }
    # warm every code path once (data decoding, torch.func), outside the timings
    for kw in cases.values():
        train(TrainConfig(**{**kw, "steps": 20}), hooks=[HarnessDiagnoser(every=10,
                                                                          hessian_every=1)])
    best: dict[tuple[str, str], float] = {}
    per_rep: dict[tuple[str, str], list[float]] = {}
    own: dict[str, list[float]] = {}
    cadence: dict[str, Any] = {}
    for rep in range(reps):
        for name, kw in cases.items():
            for variant in ("plain", "diagnose"):
                hooks = [HarnessDiagnoser()] if variant == "diagnose" else []
                c0 = time.process_time()
                train(TrainConfig(schedule="cosine", **kw), hooks=hooks)
                cpu = time.process_time() - c0
                key = (name, variant)
                best[key] = min(best.get(key, math.inf), cpu)
                per_rep.setdefault(key, []).append(cpu)
                if hooks:
                    own.setdefault(name, []).append(
                        float(np.nansum(hooks[0].result["cpu_seconds"])))
                    cadence[name] = hooks[0].cadence
                print(f"  [overhead rep {rep + 1}/{reps}] {name} {variant}: {cpu:.2f} CPU s",
                      file=sys.stderr)
    rows, recs = [], []
    for name in cases:
        plain, diag = best[(name, "plain")], best[(name, "diagnose")]
        self_cpu = min(own[name])
        c = cadence[name]
        paired = float(np.median(np.divide(per_rep[(name, "diagnose")],
                                           per_rep[(name, "plain")]))) - 1
        rec = {"case": name, "plain_cpu": plain, "diagnose_cpu": diag,
               "overhead": diag / plain - 1, "overhead_paired_median": paired,
               "diagnoser_own_cpu": self_cpu,
               "diagnoser_own_share": self_cpu / plain, "reps": reps, "checks": c.checks,
               "every": c.every, "hessian_steps": list(c.hessian_steps),
               "estimated_cost": c.cost, "budget": c.budget}
        recs.append(rec)
        hess = ", ".join(map(str, c.hessian_steps)) or "none"
        rows.append([name, f"{c.checks} (every {c.every})", hess,
                     f"{plain:.2f}", f"{diag:.2f}", f"{100 * rec['overhead']:+.1f} %",
                     f"{100 * paired:+.1f} %",
                     f"{self_cpu:.2f} ({100 * rec['diagnoser_own_share']:.1f} %)",
                     "yes" if max(rec["overhead"], paired) <= 0.20 else "**no**"])
    load = os.getloadavg()[0]
    print("\n## Cost of `--diagnose` at the default cadence\n")
    print(table(["run", "checks", "Hessian at steps", "plain (CPU s)", "--diagnose (CPU s)",
                 "overhead (best of each)", "overhead (median of paired reps)",
                 "diagnoser's own CPU s (share of plain)", "≤ 20 %"], rows))
    print(f"\nBest of {reps} interleaved repetitions, one process, one torch thread; "
          f"load average {load:.1f} on {os.cpu_count()} cores while measuring (shared "
          "machine: re-measure on a quiet one). Default cadence: "
          "convexlaw.convexity.cadence.")
    results["overhead"] = {"rows": recs, "load": load}


# ---------------------------------------------------------------------------- table
def _train_one(job: dict) -> dict:
    """One diagnosed run in a worker: returns the run as a dict."""
    import torch

    from convexlaw.convexity import HarnessDiagnoser
    from convexlaw.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg = TrainConfig(**job["config"])
    hook = HarnessDiagnoser(**job.get("hook", {}))
    c0 = time.process_time()
    run = train(cfg, hooks=[hook])
    return {"run": run.to_dict(), "cpu": time.process_time() - c0, "label": job["label"]}


def _run_jobs(jobs: list[dict], work: Path, t0: float) -> list[dict]:
    """Train what the stores lack (two workers); stores: one per star reference, since a
    run diagnosed twice keeps its id (its config)."""
    from convexlaw.runs import Run, RunStore
    from convexlaw.train import TrainConfig

    stores = {ref: RunStore(work / f"{ref}.db") for ref in ("final", "longer")}
    todo, done = [], {}
    for i, job in enumerate(jobs):
        store = stores[job["label"][2]]
        rid = TrainConfig(**job["config"]).run_id()
        if rid in store and "convexity" in store.get(rid).tags and (
                job["label"][1] != "cosine ×2" or Path(job["hook"]["save_final"]).exists()):
            run = store.get(rid)
            done[i] = {"run": run.to_dict(), "cpu": run.tags["cpu_time"],
                       "label": job["label"]}
        else:
            todo.append(i)
    with ProcessPoolExecutor(2) as pool:
        for i, o in zip(todo, pool.map(_train_one, [jobs[i] for i in todo]), strict=True):
            stores[jobs[i]["label"][2]].put(Run.from_dict(o["run"]))
            print(f"  [table {time.perf_counter() - t0:.0f}s] {o['label']} "
                  f"{o['cpu']:.0f} CPU s", file=sys.stderr)
            done[i] = o
    return [done[i] for i in range(len(jobs))]


def _seq2seq(run: Any, burn_in: int) -> dict:
    from convexlaw.curve import as_curve_data
    from convexlaw.metrics import r2
    from convexlaw.protocols import evaluate, make_model, seq2seq

    out = {}
    for name in CURVE_MODELS:
        try:
            split = seq2seq(run, burn_in=burn_in, kind="val")
            model = make_model(name, kind="val", burn_in=burn_in)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = evaluate(model, split)
            d = as_curve_data(run, "val", lo=burn_in)
            out[name] = {"R2": ev["metrics"]["R2"], "R2_whole": r2(d.y, model.predict(run,
                                                                                     d.steps)),
                         "identified": ev["identified"]}
        except (ValueError, RuntimeError) as err:
            out[name] = {"error": str(err)}
    return out


def dense(kw: dict) -> dict:
    """The table's cadence: 21 checks, Hessian readings at 0, T/2 and T (the default
    gives runs of this length readings at 0 and T only, to keep its cost down)."""
    return {"every": kw["steps"] // 20, "hessian_every": 10}


def part_table(work: Path, results: dict) -> None:
    from convexlaw.convexity import Convexity
    from convexlaw.convexity.plot import plot_convexity
    from convexlaw.runs import Run

    work.mkdir(parents=True, exist_ok=True)
    longer, jobs = [], []
    for label, kw in SETTINGS.items():
        ref = work / f"ref-{kw['model']}-{kw['optimizer']}.pt"
        longer.append({"label": (label, "cosine ×2", "longer"),
                       "config": {**kw, "schedule": "cosine", "steps": 2 * kw["steps"]},
                       "hook": {"every": 2 * kw["steps"], "hessian_every": 1000,
                                "samples": 0, "save_final": str(ref)}})
        for spec in SCHEDULES:
            jobs.append({"label": (label, spec, "final"), "hook": dense(kw),
                         "config": {**kw, "schedule": spec}})
        jobs.append({"label": (label, "cosine", "longer"),
                     "config": {**kw, "schedule": "cosine"},
                     "hook": {**dense(kw), "reference": str(ref)}})
    t0 = time.perf_counter()
    outs = _run_jobs(longer, work, t0) + _run_jobs(jobs, work, t0)
    recs, rows, fit_rows = [], [], []
    for o in outs:
        label, spec, ref = o["label"]
        if spec == "cosine ×2":
            continue
        run = Run.from_dict(o["run"])
        c = Convexity.from_run(run)
        s = c.summary()
        rec = {"setting": label, "schedule": spec, "reference": c.reference, "T": run.T,
               "status": run.status, "final_val": run.final_loss("val"), "summary": s,
               "run_cpu": o["cpu"]}
        with np.errstate(invalid="ignore"):
            curv = c["curvature_normalised"]
            rec["curvature_median"] = float(np.nanmedian(curv)) if np.isfinite(curv).any() \
                else None
        if ref == "final":
            fits = {b: _seq2seq(run, b) for b in sorted({0, run.T // 10} | (
                {s["t0"]} if s["t0"] is not None else set()))}
            rec["seq2seq"] = {str(b): v for b, v in fits.items()}
            if spec == "cosine":
                name = label.split(" /")[0].lower() + "-" + run.optimizer
                plot_convexity(c, RESULTS / f"convexity-{name}.png", title=run.name)
        recs.append(rec)
        rows.append([label, spec, c.reference.split(" (")[0], fmt(s["t0"], "d"),
                     pct(s["pairs_holding"]), pct(s["pairs_holding_after_t0"]),
                     pct(s["star_holding"]), fmt(s["rho_max_after_t0"]),
                     pct(s["curvature_positive"]), fmt(rec["curvature_median"]),
                     fmt(s["quadratic_r2_median"], ".4f"), fmt(s["gen_step_over_lr_median"]),
                     fmt(s["lam_max_max"]), fmt(s["lam_min_min"]), fmt(s["ratio_median"]),
                     fmt(s["eos_max"]), fmt(s["structural_gap_last"]),
                     f"{100 * s['cpu_seconds'] / o['cpu']:.0f} %"])
        if ref == "final":
            t0_ = s["t0"]
            cells = [label, spec, fmt(t0_, "d")]
            for name in CURVE_MODELS:
                parts = []
                for b in (0, run.T // 10, t0_):
                    f = rec["seq2seq"].get(str(b), {}).get(name, {}) if b is not None else {}
                    parts.append(fmt(f.get("R2"), ".3f") if "R2" in f else
                                 "none" if b is None else
                                 "n/a (t0 ≥ T/2)" if b >= run.T // 2 else "error")
                cells.append(" / ".join(parts))
            fit_rows.append(cells)
    print("\n## Convexity along real runs (star reference: own final iterate, or the end of"
          " a run twice as long)\n")
    print(table(["setting", "schedule", "star w*", "t0", "pairs ≥ 0", "after t0",
                 "star ≥ 0", "ρ max after t0", "κ > 0", "κ/‖d‖² median", "quad. R²",
                 "α*/η median", "λ_max max", "λ_min min", "|λ_min|/λ_max", "λ_max·η/2 max",
                 "struct. gap (end)", "cost / run CPU"], rows))
    print("\n## Seq2seq held-out R² (second half) with the fit starting at 0 / T/10 / t0\n")
    print(table(["setting", "schedule", "t0", *[f"{m}: from 0 / T/10 / t0"
                                               for m in CURVE_MODELS]], fit_rows))
    print(f"\n(table wall time {time.perf_counter() - t0:.0f} s)")
    results["table"] = recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="overhead,table")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", type=Path, default=RESULTS / "convexity-runs")
    args = ap.parse_args()
    results: dict = {}
    parts = args.parts.split(",")
    RESULTS.mkdir(parents=True, exist_ok=True)
    print("# Convexity diagnostics (python bench/convexity.py)\n")
    if "overhead" in parts:
        part_overhead(args.reps, results)
    if "table" in parts:
        part_table(args.work, results)
    name = "convexity" if set(parts) == {"overhead", "table"} else "convexity-" + "-".join(
        parts)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
