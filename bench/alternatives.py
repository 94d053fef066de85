"""convexlaw against the user's real alternatives for the peak LR, on the same target runs.

    python bench/alternatives.py [--testbed mlp,gpt] [--seeds 0,1] [--db PATH] [--quick]
        [--plan-src SRC] [--also-plan LABEL=SRC ...] [--rebuild]

Two fresh-data testbeds of the harness (no training sample seen twice: held-out loss is
the score), each with a target at a horizon AND a size beyond its pilots:

- ``mlp``: MLP (2 hidden layers) on Fashion-MNIST, SGD (momentum 0.9), cosine, batch 14,
  held-out = the 10,000 test images; pilots width 128 (N = 118 k) at T = 200, 400;
  target width 512 (N = 670 k), T = 4000 (0.93 epochs);
- ``gpt``: byte-level GPT (2 blocks, context 64, batch 16) on ``kjv-news``, Muon-NSGD,
  cosine; pilots width 16 (N = 11.7 k) at T = 200, 400, held-out 512 windows (the
  testbed's); target width 48 (N = 72 k), T = 4000 (0.27 epochs), held-out 1024 windows.

Every method picks the peak of the same cosine schedule; the pick is then trained at the
target for real at every seed (same seed = same initialisation and batches: paired):

1. **convexlaw plan** (``convexlaw.plan.make_plan``, its defaults) from the pilots: 5 peaks
   ×2 apart at each pilot horizon, seed 0;
2. **LR range test** (torch-lr-finder, 1e-7 → 10 over 100 updates on the target model) with
   its suggestion (steepest descent), as-is and ÷10;
3. **Optuna TPE** with the pilots' optimizer steps, over the pilots' LR range: (a) trials
   at the target (horizon and size: at least one trial, whatever it costs), (b) trials at
   the longest pilot horizon and the pilot size, the best transferred by T^−0.32;
4. **transfer rules** from the best pilot at the longest pilot horizon: η ∝ 1/√T (the
   paper) and η ∝ T^−0.32 (Bjorck et al. 2025);
5. **grid at the target** (peaks ×√2 apart, extended until the optimum is bracketed), every
   seed: the oracle; its cost is counted for one seed (what a user would run).

Reported per method: the chosen η, final loss (seed mean and per seed), regret against the
oracle's best peak (seed means; and per seed), compute spent choosing (optimizer steps and
CPU seconds of the training loop with its evaluations, pilots and fits included). Goals:
convexlaw's regret ≤ 0.5 % at ≤ 10 % of the grid's compute, and below every other method.

Runs are kept in a run store (``--db``, default bench/work/alternatives.db) under their
config hash: a re-run trains only what is missing and reads compute from the stored runs
(the LR range tests and the plan's fits are re-done: seconds). At most 2 worker processes,
one torch thread each. Results: bench/results/alternatives.{json,md} and a figure per
testbed (``--out``). CPU seconds are only comparable on a quiet machine: the load average
is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import alt_methods as am  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RATIO = math.sqrt(2.0)
PLAN_BOOT = 50
TRANSFER = 0.32  # Bjorck et al. (2025); Optuna (b) transfers with it too
LOW_GOAL, COMPUTE_GOAL = 0.005, 0.10


@dataclass(frozen=True)
class Testbed:
    name: str
    label: str
    base: dict[str, Any]
    pilot_size: int
    target_size: int
    pilot_T: tuple[int, ...]
    pilot_peaks: tuple[float, ...]
    target_T: int
    anchor: float                  # grid peaks: anchor·√2^k, k in grid_k
    grid_k: tuple[int, int] = (-1, 6)
    pilot_evals: int = 20
    target_evals: int = 10
    pilot_changes: dict[str, Any] = field(default_factory=dict)  # e.g. a smaller eval set

    def config(self, size: int, steps: int, peak: float, seed: int = 0, evals: int = 10,
               **changes: Any):
        from convexlaw.train import TrainConfig

        return TrainConfig(size=size, steps=steps, peak=am.round_lr(peak), seed=seed,
                           eval_every=max(1, steps // evals),
                           **(self.base | changes)).normalised()

    def pilot(self, steps: int, peak: float):
        return self.config(self.pilot_size, steps, peak, 0, self.pilot_evals,
                           **self.pilot_changes)


    def target(self, peak: float, seed: int):
        return self.config(self.target_size, self.target_T, peak, seed, self.target_evals)

    def pilots(self) -> list:
        return [self.pilot(T, p) for T in self.pilot_T for p in self.pilot_peaks]

    def grid_peaks(self, k_lo: int, k_hi: int) -> list[float]:
        return [am.round_lr(self.anchor * RATIO ** k) for k in range(k_lo, k_hi + 1)]


MLP = dict(model="mlp", dataset="fashion-mnist", batch_size=14, optimizer="sgd",
           schedule="cosine", eval_size=10000)
GPT = dict(model="gpt", depth=2, dataset="kjv-news", context=64, batch_size=16,
           sampling="fresh", optimizer="muon-nsgd", schedule="cosine", eval_size=1024)
TESTBEDS = {
    "mlp": Testbed("mlp", "MLP on Fashion-MNIST, SGD (momentum 0.9), cosine, batch 14", MLP,
                   128, 512, (200, 400), (0.005, 0.01, 0.02, 0.04, 0.08), 4000, 0.005),
    "gpt": Testbed("gpt", "byte-GPT (2 blocks) on kjv-news, Muon-NSGD, cosine, batch 16×64",
                   GPT, 16, 48, (200, 400), (0.01, 0.02, 0.04, 0.08, 0.16), 4000, 0.01,
                   pilot_changes={"eval_size": 512}),  # the testbed's: 32 KB of text
}
# a smoke run of the whole pipeline in a few minutes (not a measurement)
QUICK = {
    "mlp": Testbed("mlp", "QUICK: MLP, Fashion-MNIST", MLP | {"eval_size": 1000}, 16, 32,
                   (40, 80), (0.01, 0.02, 0.04, 0.08, 0.16), 400, 0.02, (-1, 2)),
    "gpt": Testbed("gpt", "QUICK: byte-GPT, kjv-news", GPT | {"eval_size": 64}, 16, 32,
                   (20, 40), (0.01, 0.02, 0.04, 0.08, 0.16), 100, 0.02, (-1, 2)),
}


# ----------------------------------------------------------------------------- running

def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure(store: Any, configs: list, workers: int, label: str) -> None:
    """Train (2 single-thread workers) every config the store lacks."""
    from convexlaw.sweep import Sweep, run_sweep

    todo = [c for c in dict.fromkeys(configs) if c.run_id() not in store]
    say(f"{label}: {len(configs)} runs, {len(todo)} to train")
    if not todo:
        return

    def progress(out, done, total):
        c, r = out.config, out.run
        loss = f"{am.score(r):.4f}" if r is not None else (out.error or "")[-200:]
        say(f"  [{done}/{total}] {c.model}{c.size} T={c.steps} peak={c.peak:g} "
            f"seed={c.seed} {out.status} {loss}")

    run_sweep(Sweep(label, todo), store, workers=workers, on_result=progress)


def fetch(store: Any, configs: list) -> list:
    missing = [c.name() for c in configs if c.run_id() not in store]
    if missing:
        raise RuntimeError(f"{len(missing)} runs missing from the store, e.g. {missing[0]}")
    return [store.get(c.run_id()) for c in configs]


def grid(tb: Testbed, store: Any, seeds: list[int], workers: int, extend: int = 2) -> tuple:
    """The target grid at every seed, extended ×√2 at an edge until the optimum (seed
    mean) is bracketed (at most ``extend`` peaks per side)."""
    k_lo, k_hi = tb.grid_k
    while True:
        peaks = tb.grid_peaks(k_lo, k_hi)
        cfgs = [tb.target(p, s) for p in peaks for s in seeds]
        ensure(store, cfgs, workers, f"{tb.name} target grid")
        runs = fetch(store, cfgs)
        o = am.oracle(am.grid_table(runs), seeds)
        i = peaks.index(o["peak"])
        if 0 < i < len(peaks) - 1:
            return runs, o
        if i == 0 and k_lo > tb.grid_k[0] - extend:
            k_lo -= 1
        elif i == len(peaks) - 1 and k_hi < tb.grid_k[1] + extend:
            k_hi += 1
        else:
            return runs, o


def choose(name: str, quick: bool, db: str, plan_src: str | None = None,
           also: tuple[tuple[str, str], ...] = (),
           pilot_T: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Every method's choice for one testbed (runs in its own worker process; new runs
    come back to the parent, the store's only writer)."""
    import torch

    from convexlaw.runs import RunStore
    from convexlaw.train import train

    torch.set_num_threads(1)
    tb = (QUICK if quick else TESTBEDS)[name]
    if pilot_T:
        tb = dataclasses.replace(tb, pilot_T=pilot_T)
    store = RunStore(db)
    new: list = []

    def get_run(cfg):
        if cfg.run_id() in store:
            return store.get(cfg.run_id())
        run = train(cfg, threads=1)
        run.tags["sweep"] = f"alternatives-{name}"
        new.append(run)
        return run

    pilots = fetch(store, tb.pilots())
    spent = am.compute(pilots)
    out: dict[str, Any] = {}

    # 1. convexlaw plan, from the pilots, with its defaults
    if plan_src:
        out["plan"] = am.plan_elsewhere(plan_src, db, [r.id for r in pilots], tb.target_T,
                                        tb.base["schedule"], PLAN_BOOT)
    else:
        out["plan"] = am.plan_choice(pilots, tb.target_T, tb.base["schedule"], PLAN_BOOT)
    out["plan"].update(steps=spent["steps"], cpu=spent["cpu"] + out["plan"]["fit_cpu"],
                       code=plan_code(plan_src))
    for label, src in also:  # extra rows: the same pilots planned by other checkouts
        ch = am.plan_elsewhere(src, db, [r.id for r in pilots], tb.target_T,
                               tb.base["schedule"], PLAN_BOOT)
        out[f"plan@{label}"] = ch | {"steps": spent["steps"], "code": plan_code(src),
                                     "cpu": spent["cpu"] + ch["fit_cpu"]}

    # 2. transfer rules from the best pilot at the longest pilot horizon
    Tp = max(tb.pilot_T)
    best = am.best_run([r for r in pilots if r.T == Tp])
    for key, expo in (("sqrt", 0.5), ("bjorck", TRANSFER)):
        out[key] = {"eta": am.transfer(float(best.peak_lr), Tp, tb.target_T, expo),
                    "from": {"T": Tp, "peak": float(best.peak_lr), "loss": am.score(best)},
                    "exponent": expo, "steps": spent["steps"], "cpu": spent["cpu"]}

    # 3. LR range test on the target model (seed 1 only to show its own noise)
    lrf = {s: am.lr_range_test(tb.target(1e-7, s)) for s in (0, 1)}
    for key, div in (("lrf", 1.0), ("lrf10", 10.0)):
        out[key] = {"eta": lrf[0]["eta"] / div, "suggestion": lrf[0]["eta"],
                    "suggestion_seed1": lrf[1]["eta"], "steps": lrf[0]["steps"],
                    "cpu": lrf[0]["cpu"], "settings": lrf[0]["settings"]}
    out["lrf_curves"] = {s: {"lrs": v["lrs"], "losses": v["losses"], "eta": v["eta"]}
                         for s, v in lrf.items()}

    # 4. Optuna TPE with the pilots' optimizer steps
    lo, hi = min(tb.pilot_peaks), max(tb.pilot_peaks)
    n_a, over_a = am.trial_budget(spent["steps"], tb.target_T)
    res = am.optuna_search(lambda eta: tb.target(eta, 0), n_a, lo, hi, get_run)
    out["optuna_a"] = res | {"n_trials": n_a, "over_budget": over_a}
    n_b, over_b = am.trial_budget(spent["steps"], Tp)
    res = am.optuna_search(lambda eta: tb.pilot(Tp, eta), n_b, lo, hi, get_run)
    found = res["eta"]
    out["optuna_b"] = res | {"n_trials": n_b, "over_budget": over_b, "found": found,
                             "eta": None if found is None
                             else am.transfer(found, Tp, tb.target_T, TRANSFER)}
    for v in out.values():
        if isinstance(v, dict) and v.get("eta") is not None:
            v["eta"] = am.round_lr(v["eta"])
    return {"choices": out, "new_runs": new}


# ----------------------------------------------------------------------------- report

METHODS = [  # key, row label
    ("plan", "convexlaw plan (pilots)"),
    ("lrf", "LR range test, suggestion"),
    ("lrf10", "LR range test, suggestion ÷ 10"),
    ("optuna_a", "Optuna TPE (a), trials at the target"),
    ("optuna_b", "Optuna TPE (b), pilot horizon → T^−0.32"),
    ("sqrt", "best pilot → 1/√T (paper)"),
    ("bjorck", "best pilot → T^−0.32 (Bjorck)"),
]


def methods(choices: dict) -> list[tuple[str, str]]:
    """The table's rows: METHODS, with the extra plans (``--also-plan``) after ours."""
    extra = [(k, f"convexlaw plan, {k.split('@', 1)[1]} (pilots)") for k in choices
             if k.startswith("plan@")]
    return METHODS[:1] + extra + METHODS[1:]


def evaluate(tb: Testbed, store: Any, choices: dict, seeds: list[int], grid_runs: list,
             orc: dict, grid_eta: float) -> dict[str, Any]:
    """Rows of the table: every method's measured losses, regret and compute."""
    g0 = [r for r in grid_runs if r.seed == seeds[0]]
    gcost = am.compute(g0)
    rows = []
    for key, label in methods(choices):
        ch = choices[key]
        row = {"key": key, "method": label, "eta": ch.get("eta"), "steps": ch["steps"],
               "cpu": ch["cpu"], "steps_frac": ch["steps"] / gcost["steps"],
               "cpu_frac": ch["cpu"] / gcost["cpu"], "detail": ch}
        if ch.get("eta") is not None:
            runs = fetch(store, [tb.target(ch["eta"], s) for s in seeds])
            losses = {int(r.seed): am.score(r) for r in runs}
            row.update(losses=losses, eta_ratio=ch["eta"] / grid_eta,
                       **am.regrets(losses, orc["per_seed"]))
        rows.append(row)
    rows.append({"key": "grid", "method": f"grid at the target ({len(g0)} peaks, oracle)",
                 "eta": orc["peak"], "eta_ratio": orc["peak"] / grid_eta,
                 "losses": orc["per_seed"], "loss": orc["loss"],
                 "mean": 0.0, "per_seed": {s: 0.0 for s in seeds},
                 "steps": gcost["steps"], "cpu": gcost["cpu"], "steps_frac": 1.0,
                 "cpu_frac": 1.0, "detail": {"all_seeds": am.compute(grid_runs)}})
    return {"rows": rows, "grid_cost": gcost}


def goals(rows: list[dict]) -> dict[str, Any]:
    """The three goals for convexlaw's row, measured (never softened)."""
    ours = rows[0]
    if ours.get("eta") is None:
        return {"regret": {"met": False, "value": None}, "compute": {"met": False},
                "best": {"met": False, "above": ["no plan"]}}
    others = [r for r in rows[1:] if r["key"] != "grid" and not r["key"].startswith("plan")
              and "mean" in r]
    below = [r["method"] for r in others if ours["mean"] < r["mean"]]
    not_below = [{"method": r["method"], "regret": r["mean"],
                  "seeds": am.compare(ours["per_seed"], r["per_seed"])}
                 for r in others if ours["mean"] >= r["mean"]]
    return {"regret": {"met": ours["mean"] <= LOW_GOAL, "value": ours["mean"],
                       "goal": LOW_GOAL},
            "compute": {"met": ours["steps_frac"] <= COMPUTE_GOAL
                        and ours["cpu_frac"] <= COMPUTE_GOAL,
                        "steps_frac": ours["steps_frac"], "cpu_frac": ours["cpu_frac"],
                        "goal": COMPUTE_GOAL},
            "best": {"met": not not_below, "below": below, "not_below": not_below,
                     "paired": {r["method"]: am.compare(ours["per_seed"], r["per_seed"])
                                for r in others}}}


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:+.{digits}f} %"


def markdown(result: dict[str, Any]) -> str:
    # as stored: seed keys are strings, whether this run measured a testbed or read it back
    result = json.loads(json.dumps(result, default=_plain))
    lines = []
    for tr in result["testbeds"].values():
        seeds, m = result["seeds"], tr["meta"]
        lines += [f"### {tr['label']}", "",
                  f"`{m['command']}` — {m['wall_seconds'] / 60:.1f} min wall (with the "
                  f"runs it found in the store), load average {m['load_average']['start'][0]:.1f}"
                  f" → {m['load_average']['end'][0]:.1f} on {m['cores']} cores; finished "
                  f"{m['finished']}; convexlaw plan from {m['plan_code']}.", "",
                  f"Pilots: width {tr['pilot_size']} (N = {tr['pilot_N']:,.0f}), "
                  f"T = {', '.join(map(str, tr['pilot_T']))}, peaks "
                  f"{', '.join(f'{p:g}' for p in tr['pilot_peaks'])}, seed 0. Target: width "
                  f"{tr['target_size']} (N = {tr['target_N']:,.0f}), T = {tr['target_T']} "
                  f"(×{tr['target_T'] / max(tr['pilot_T']):g} in T, "
                  f"×{tr['target_N'] / tr['pilot_N']:.1f} in N); {tr['regime']}. "
                  f"Oracle: η* = {tr['grid_eta']:.4g} (parabola through the grid's seed "
                  f"means), best grid peak {tr['oracle']['peak']:g}, loss "
                  f"{tr['oracle']['loss']:.4f}; seeds {', '.join(map(str, seeds))}.", "",
                  "| method | η | η / η* | final loss (mean) | per seed | regret | "
                  "per seed | steps | CPU s | × grid (steps, CPU) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in tr["rows"]:
            if r.get("eta") is None:
                lines.append(f"| {r['method']} | — | — | no choice: "
                             f"{r['detail'].get('error', '')} | | | | {r['steps']:,} | "
                             f"{r['cpu']:.1f} | {r['steps_frac']:.1%}, {r['cpu_frac']:.1%} |")
                continue
            per = " / ".join(f"{r['losses'][str(s)]:.4f}" for s in seeds)
            rper = " / ".join(pct(r["per_seed"][str(s)]) for s in seeds)
            lines.append(f"| {r['method']} | {r['eta']:.4g} | ×{r['eta_ratio']:.2f} | "
                         f"{r['loss']:.4f} | {per} | {pct(r['mean'])} | {rper} | "
                         f"{r['steps']:,} | {r['cpu']:.1f} | {r['steps_frac']:.1%}, "
                         f"{r['cpu_frac']:.1%} |")
        g = tr["goals"]
        lines += ["", f"Noise floor: at the oracle's peak the seeds differ by "
                      f"{tr['noise']['best_spread']:.2%}; per-seed regrets of the methods "
                      f"differ between seeds by {tr['noise']['median_regret_spread']:.2%} "
                      "(median).", ""]
        lines += notes(tr)
        if g["regret"]["value"] is None:
            lines.append("- convexlaw: no plan (goals missed).")
        else:
            lines.append(f"- regret ≤ 0.5 %: {pct(g['regret']['value'])} — "
                         f"{'met' if g['regret']['met'] else '**missed**'}")
            lines.append(f"- compute ≤ 10 % of the grid: {g['compute']['steps_frac']:.1%} of "
                         f"its steps, {g['compute']['cpu_frac']:.1%} of its CPU seconds — "
                         f"{'met' if g['compute']['met'] else '**missed**'}")
            nb = g["best"]["not_below"]
            lines.append("- below every other method: " + (
                "met" if not nb else "**missed**: not below " + "; ".join(
                    f"{x['method']} ({pct(x['regret'])}, seeds: {x['seeds']})" for x in nb)))
        lines.append("")
    return "\n".join(lines)


def notes(tr: dict) -> list[str]:
    ch = {r["key"]: r["detail"] for r in tr["rows"]}
    out = []
    for key in (k for k in ch if k.startswith("plan")):
        p = ch[key]
        if p.get("eta") is None:
            out.append(f"- {key}: no plan: {p.get('error')}")
            continue
        meas = next(r for r in tr["rows"] if r["key"] == key)["loss"]
        src = p.get("eta_source", "a forecaster not recorded")  # older result files
        out.append(f"- {key} ({p.get('code', 'this checkout')}): η* from {src} "
                   f"(κ = {p['kappa'] if p['kappa'] is None else round(p['kappa'], 3)}), "
                   f"L* from {p['loss_source']}; best law variant '{p['variant']}'; "
                   f"η interval {p['eta_interval'][0]:.3g}–{p['eta_interval'][1]:.3g}; "
                   f"predicted loss {p['loss_pred']:.4f} vs measured {meas:.4f} "
                   f"({(p['loss_pred'] / meas - 1):+.1%}); fits {p['fit_cpu']:.1f} CPU s.")
    b = ch["sqrt"]["from"]
    out.append(f"- best pilot: peak {b['peak']:g} at T = {b['T']} (loss {b['loss']:.4f}).")
    lr = ch["lrf"]
    out.append(f"- LR range test suggestion {lr['suggestion']:.3g} (at seed 1: "
               f"{lr['suggestion_seed1']:.3g}).")
    for k, lab in (("optuna_a", "a"), ("optuna_b", "b")):
        o = ch[k]
        trials = ", ".join(f"{t['eta']:.3g}→{t['loss']:.4f}" for t in o["trials"])
        out.append(f"- Optuna ({lab}): {o['n_trials']} trial(s){' — OVER the pilots budget' if o['over_budget'] else ''}: {trials}"  # noqa: E501
                   + (f"; best {o['found']:.4g} transferred to {o['eta']:.4g}"
                      if k == "optuna_b" and o.get("found") else "") + ".")
    return out


def figure(tr: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 7.5))
    gt = tr["grid_table"]
    peaks = sorted(float(p) for p in gt)
    means = [float(np.mean(list(gt[str(p)].values()))) for p in peaks]
    fin = [m for m in means if math.isfinite(m)]
    top = min(max(fin), 1.15 * min(fin))  # methods above the chart sit on its top edge
    a.plot(peaks, means, "k-o", ms=4, label="grid at the target (seed mean)")
    for p in peaks:
        a.plot([p] * len(gt[str(p)]), list(gt[str(p)].values()), ".", color="0.6")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(r for r in tr["rows"] if r["key"] != "grid"):
        if r.get("eta") is None:
            continue
        off = r["loss"] > top
        other_plan = r["key"].startswith("plan@")  # often our η: drawn as a ring around it
        a.plot(r["eta"], min(r["loss"], top), "^" if off else "o" if other_plan else "D",
               color=colors[i % len(colors)], ms=15 if other_plan else 9, clip_on=False,
               mfc="none" if other_plan else None, mew=2 if other_plan else None,
               label=f"{r['method']}: η = {r['eta']:.3g}, regret {pct(r['mean'])}"
                     + (" (off the chart)" if off else ""))
    low = min(fin + [r["loss"] for r in tr["rows"] if r.get("eta") is not None])
    a.set(xscale="log", xlabel="peak learning rate", ylabel="final held-out loss",
          ylim=(low - 0.04 * (top - low), top),
          title=f"{tr['name']}: target T = {tr['target_T']}, N = {tr['target_N']:,.0f}")
    a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels collided
    a.set_xticks(peaks[::2], [f"{p:.3g}" for p in peaks[::2]])
    fig.legend(*a.get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=3)
    for s, c in tr["lrf_curves"].items():
        b.plot(c["lrs"], c["losses"], label=f"seed {s}: suggestion {c['eta']:.3g}")
        b.axvline(c["eta"], ls="--", color="0.5")
    first = min(c["losses"][0] for c in tr["lrf_curves"].values())
    low = min(min(c["losses"]) for c in tr["lrf_curves"].values())
    b.set(xscale="log", xlabel="learning rate (range test)", ylabel="smoothed training loss",
          ylim=(0.95 * low, 1.5 * first),
          title="LR range test (torch-lr-finder) on the target model")
    b.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--testbed", default="mlp,gpt")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--db", type=Path, default=ROOT / "work" / "alternatives.db")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--workers", type=int, default=2, choices=(1, 2))
    ap.add_argument("--quick", action="store_true", help="tiny pipeline check, not a result")
    ap.add_argument("--plan-src", default=None,
                    help="plan with the convexlaw of this src folder (another checkout)")
    ap.add_argument("--rebuild", action="store_true",
                    help="only rewrite the markdown and figures from the result JSON")
    ap.add_argument("--pilot-T", default=None, metavar="T1,T2,…",
                    help="pilot horizons instead of the testbed's (e.g. 100,200,400)")
    ap.add_argument("--also-plan", action="append", default=[], metavar="LABEL=SRC",
                    help="an extra row: the same pilots planned by the convexlaw in SRC")
    args = ap.parse_args()
    from convexlaw.plan import measured_optimum
    from convexlaw.runs import RunStore

    names = [n.strip() for n in args.testbed.split(",") if n.strip()]
    beds = QUICK if args.quick else TESTBEDS
    bad = [n for n in names if n not in beds]
    if bad or not names:
        raise SystemExit(f"--testbed {args.testbed!r}: expected names among {sorted(beds)}")
    try:
        seeds = sorted({int(s) for s in args.seeds.split(",")})
    except ValueError:
        raise SystemExit(f"--seeds {args.seeds!r}: expected integers like 0,1") from None
    if len(seeds) < 2:
        raise SystemExit("--seeds: give at least two seeds (the noise floor)")
    if args.quick:  # a pipeline check: nothing of it belongs in bench/results
        if args.db == ROOT / "work" / "alternatives.db":
            args.db = ROOT / "work" / "alternatives-quick.db"
        if args.out == RESULTS:
            args.out = ROOT / "work"
    if args.rebuild:
        suffix = "-quick" if args.quick else ""
        result = json.loads((args.out / f"alternatives{suffix}.json").read_text())
        for n, tr in result["testbeds"].items():
            figure(tr, args.out / f"alternatives-{n}{suffix}.png")
        md = markdown(result)
        (args.out / f"alternatives{suffix}.md").write_text(
            "# convexlaw against the alternatives\n\n" + md)
        print(md)
        return
    args.db.parent.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    also = []
    for item in args.also_plan:
        label, sep, src = item.partition("=")
        if not sep or not label or not Path(src, "convexlaw").is_dir():
            raise SystemExit(f"--also-plan {item!r}: expected LABEL=SRC with a convexlaw "
                             "package in SRC")
        also.append((label, src))
    also = tuple(also)
    store = RunStore(args.db)
    t0, load0 = time.perf_counter(), os.getloadavg()
    tbs = [beds[n] for n in names]
    pilot_T = None
    if args.pilot_T:
        try:
            pilot_T = tuple(sorted({int(x) for x in args.pilot_T.split(",")}))
        except ValueError:
            raise SystemExit(f"--pilot-T {args.pilot_T!r}: expected integers like 100,200,400"
                             ) from None
        if len(pilot_T) < 2 or pilot_T[0] < 2:
            raise SystemExit(f"--pilot-T {args.pilot_T!r}: expected two or more horizons >= 2")
        tbs = [dataclasses.replace(tb, pilot_T=pilot_T) for tb in tbs]

    ensure(store, [c for tb in tbs for c in tb.pilots()], args.workers, "pilots")
    grids = {tb.name: grid(tb, store, seeds, args.workers) for tb in tbs}

    say("choices: plan, LR range tests, Optuna (one process per testbed)")
    with ProcessPoolExecutor(max_workers=min(args.workers, len(tbs)),
                             mp_context=get_context("spawn")) as pool:
        futs = {tb.name: pool.submit(choose, tb.name, args.quick, str(args.db),
                                     args.plan_src, also, pilot_T) for tb in tbs}
        chosen = {}
        for n, f in futs.items():
            res = f.result()
            for run in res["new_runs"]:
                store.put(run.validate())
            chosen[n] = res["choices"]
            say(f"{n}: " + ", ".join(f"{k} {v['eta']:.4g}" for k, v in chosen[n].items()
                                     if isinstance(v, dict) and v.get("eta") is not None))

    ensure(store, [tb.target(v["eta"], s) for tb in tbs
                   for k, v in chosen[tb.name].items() if k in dict(methods(chosen[tb.name]))
                   and v.get("eta") is not None for s in seeds], args.workers,
           "chosen peaks at the target")

    command = "python bench/alternatives.py " + " ".join(sys.argv[1:])
    suffix = "-quick" if args.quick else ""
    path = args.out / f"alternatives{suffix}.json"
    # testbeds run apart (``--testbed mlp`` then ``--testbed gpt``) share one result file
    result: dict[str, Any] = {"seeds": seeds, "testbeds": {}}
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("seeds") == seeds:
            result["testbeds"] = {k: v for k, v in old["testbeds"].items() if "meta" in v}
    for tb in tbs:
        grid_runs, orc = grids[tb.name]
        table = am.grid_table(grid_runs)
        peaks = sorted(orc["means"])
        grid_eta, _, _ = measured_optimum(peaks, [orc["means"][p] for p in peaks])
        ev = evaluate(tb, store, chosen[tb.name], seeds, grid_runs, orc, grid_eta)
        target_runs = [r for r in grid_runs]
        pilot_N = fetch(store, tb.pilots()[:1])[0].N
        spreads = [max(r["per_seed"].values()) - min(r["per_seed"].values())
                   for r in ev["rows"] if r["key"] != "grid" and "per_seed" in r]
        best = orc["per_seed"]
        regime = ("fresh data: every step new, max "
                  f"{max(r.tags['epochs'] for r in target_runs):.2f} epochs (score: final "
                  "held-out loss)" if all(r.tags.get("fresh_data") for r in target_runs)
                  else "data repeat: score = training loss over the last 2.5 % of the steps")
        tr = {"name": tb.name, "label": tb.label, "pilot_size": tb.pilot_size,
              "target_size": tb.target_size, "pilot_T": list(tb.pilot_T),
              "pilot_peaks": list(tb.pilot_peaks), "target_T": tb.target_T,
              "pilot_N": pilot_N, "target_N": grid_runs[0].N, "regime": regime,
              "base": tb.base, "oracle": orc, "grid_eta": grid_eta,
              "grid_table": {str(p): v for p, v in table.items()},
              "pilot_table": [{"T": r.T, "peak": r.peak_lr, "loss": am.score(r),
                               "status": r.status}
                              for r in fetch(store, tb.pilots())],
              "rows": ev["rows"], "grid_cost": ev["grid_cost"],
              "noise": {"best_spread": (max(best.values()) - min(best.values()))
                        / orc["loss"],
                        "median_regret_spread": float(np.median(spreads)) if spreads else 0},
              "lrf_curves": chosen[tb.name]["lrf_curves"]}
        tr["goals"] = goals(ev["rows"])
        figure(tr, args.out / f"alternatives-{tb.name}{'-quick' if args.quick else ''}.png")
        tr["meta"] = {"command": command, "db": str(args.db),
                      "wall_seconds": time.perf_counter() - t0,
                      "load_average": {"start": load0, "end": os.getloadavg()},
                      "cores": os.cpu_count(), "plan_code": plan_code(args.plan_src),
                      "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        result["testbeds"][tb.name] = tr
    result["testbeds"] = dict(sorted(result["testbeds"].items(),
                                     key=lambda kv: list(TESTBEDS).index(kv[0])))
    path.write_text(json.dumps(result, indent=1, default=_plain) + "\n")
    md = markdown(result)
    (args.out / f"alternatives{suffix}.md").write_text(
        "# convexlaw against the alternatives\n\n" + md)
    print(md)


def plan_code(src: str | None) -> str:
    """Which convexlaw planned: its src folder, git branch and commit."""
    import subprocess

    if src is None:
        import convexlaw

        src = str(Path(convexlaw.__file__).resolve().parents[1])
    git = ["git", "-C", src]
    try:
        branch = subprocess.run(git + ["rev-parse", "--abbrev-ref", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return src
    return f"{src} (branch {branch}, {commit})"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


if __name__ == "__main__":
    main()
