"""Designed schedules against cosine, WSD and linear: predicted by a fitted model, then measured.

    python bench/design.py testbed [--testbed fresh|mlp] [--work DIR]   real training
    python bench/design.py models [--testbed fresh|mlp]    which model predicts the gains
    python bench/design.py design | pilots [--testbed ...] the steps of ``testbed`` alone
    python bench/design.py mpl25m                          the 25M curves (design_25m.py)

Testbeds (``TESTBEDS``):

- ``fresh`` (default; the project's testbed, as in ``convexlaw demo``): MLP
  784-128-128-10 on Fashion-MNIST, SGD with momentum 0.9, batch 14, no warm-up; T = 4000
  draws 56,000 of the 60,000 training images (0.93 epochs: every step sees new data), so the
  score is the held-out loss on the 10,000 test images after the last step. Pilots: cosine
  and WSD(cooldown=0.2) (the design's fit) and linear decay (``models`` only) at T = 200,
  400, 800, the demo's peaks 0.005 … 0.16 (×2), seeds 0, 1, 2, 10 evaluations each (the
  demo's configs: its cosine runs are reused from copies of its stores, ``DEMO_STORES``);
  pilots above 1.2× the best final loss of their (T, schedule) are left out (edge of
  stability, as the demo's ``window``). Targets at T = 4000 (5× the longest pilot): each
  schedule at 5 peaks on the demo's grid 0.005·√2^k centred on its predicted peak
  (extended until the optimum is bracketed), seeds 0 … 4 (the gains are a few 0.001, the
  seed-to-seed spread of one run's loss ~0.005). One training process.
- ``fresh-1600``: the same with pilots at T = 1600 too (54 more runs; ``pilots`` trains
  them for ``bench/design_protocols.py``, which scores pilot protocols on the targets).
  ``TB["weights"]`` and ``TB["select"]`` (default ``all`` / ``final``: the bench's
  protocol) weight the evaluations in the fit and choose the model by final losses or by
  the gaps between schedules (``bench/design_fit.py``).
- ``mlp`` (the first check, kept for comparison): MLP-256 on Fashion-MNIST, SGD, batch 128,
  warm-up 5 %, scored on TRAINING loss (mean minibatch loss over the last 2.5 % of the
  steps; the runs take up to 8.5 epochs, so held-out loss would measure over-fitting).
  Pilots: cosine and WSD(0.2) (+ linear, for ``models``) at T = 250, 500, 1000, 5 peaks,
  seed 0; targets at T = 4000 at the predicted peak and ×½, ×2, seeds 0, 1, 2.

Steps of ``testbed``:
1. pilots (the store keeps finished runs: a re-run trains only what is missing);
2. curve models fitted on the pilots of ``design_pilots``; the one that best predicts the
   longest pilots' final losses from the shorter pilots is refitted on all of them;
3. ``design_schedule`` at the target T: the WSD family and a free monotone spline, peak
   tuned, the baselines at their own tuned peaks beside them;
4. the free design and the baselines trained around their predicted peaks;
5. measured gain (seed means, each schedule at its measured best peak; per seed too) vs
   the predicted gain. Goal: the ranking holds and the gain is predicted within 30 %.

``models`` (``bench/design_models.py``) then asks why the gain is (mis)predicted: every
curve model, fitted on pilots of one, two or three schedules (and on the targets
themselves), predicts the measured differences between the trained schedules.

Results go to bench/results/{prefix}*.{json,md} and the figures beside them (prefix
``design-testbed`` for ``fresh``, ``design-mlp256`` for ``mlp``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"

FRESH_BASE = ("cosine", "wsd(cooldown=0.2)", "linear")
OLD_BASE = ("cosine+warmup(0.05)", "wsd(cooldown=0.2)+warmup(0.05)", "linear+warmup(0.05)")
DEMO_STORES = ("/work/data/tmp/demo-run1/runs.db", "/work/data/testbed-demo.db")
TESTBEDS = {
    "fresh": dict(run=dict(model="mlp", size=128, dataset="fashion-mnist", optimizer="sgd",
                           batch_size=14, eval_size=10000),
                  kind="val", pilot_T=(200, 400, 800), pilot_schedules=FRESH_BASE,
                  design_pilots=FRESH_BASE[:2],
                  peaks=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
                  pilot_seeds=(0, 1, 2), pilot_evals=10, window=1.2, target_T=4000,
                  target_evals=10, seeds=(0, 1, 2, 3, 4), grid=(0.005, math.sqrt(2.0)),
                  target_points=5, max_extend=2, warmup=0, burn_in=20,
                  baselines=FRESH_BASE, reuse=DEMO_STORES, workers=1,
                  prefix="design-testbed",
                  label="MLP-128 / Fashion-MNIST / SGD batch 14, fresh data, held-out loss"),
    "mlp": dict(run=dict(model="mlp", size=256, dataset="fashion-mnist", optimizer="sgd",
                         batch_size=128, eval_size=1000),
                kind="train", pilot_T=(250, 500, 1000), pilot_schedules=OLD_BASE,
                design_pilots=OLD_BASE[:2], peaks=(0.02, 0.04, 0.08, 0.16, 0.32),
                pilot_seeds=(0,), pilot_evals=10, window=None, target_T=4000,
                target_evals=10, seeds=(0, 1, 2), factors=(0.5, 1.0, 2.0), warmup=200,
                burn_in=25, baselines=("cosine", "wsd(cooldown=0.2)"),
                reuse=("/work/wt-design/bench/work/design-mlp/pilots.db",
                       "/work/wt-design/bench/work/design-mlp/targets.db"), workers=1,
                prefix="design-mlp256",
                label="MLP-256 / Fashion-MNIST / SGD batch 128, training loss"),
}
# the same testbed with pilots at one more horizon, T = 1600 (2.5× below the target)
TESTBEDS["fresh-1600"] = TESTBEDS["fresh"] | dict(pilot_T=(200, 400, 800, 1600),
                                                  prefix="design-testbed-1600")
TB = dict(TESTBEDS["fresh"])  # the chosen testbed (--testbed)
CURVE_MODELS = ("convex-ed", "convex-ed-gt", "convex-ed-peak", "convex-ed-gpeak",
                "convex-ed-gt-gpeak")
# the models a free design may minimise: a peak covariate (-peak, -gpeak) was fitted on
# schedules that plateau at their peak, and a free shape games it with a short spike to a
# high peak (measured on the fresh pilots: convex-ed-gt-gpeak designs 0.022 for 200 steps,
# then 0.005); every model is still scored and reported
DESIGN_MODELS = ("convex-ed", "convex-ed-gt")
FINAL_WINDOW = 0.025  # training loss: mean over the last 2.5 % of the steps


def sweep(configs: list, db: Path, label: str) -> list:
    """Train what the store lacks (TB["workers"] processes, 1 torch thread each), after
    copying in the runs of the same config that the ``TB["reuse"]`` stores already hold
    (read from a copy beside ``db``: the originals are never opened); the runs in config
    order."""
    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep

    store = RunStore(db)
    missing = {c.run_id() for c in configs} - {r.id for r in store.list()}
    for path in TB.get("reuse", ()):
        src = Path(path)
        copy = db.parent / f"reuse-{src.parent.name}-{src.name}"
        if missing and (copy.exists() or src.exists()):
            if not copy.exists():
                shutil.copyfile(src, copy)
            other = RunStore(copy)
            found = [other.get(i) for i in sorted(missing) if i in other]
            if found:
                store.put_many(found)
                missing -= {r.id for r in found}
                print(f"  [{label}] {len(found)} runs reused from {path} (copy {copy.name})",
                      file=sys.stderr)
    t0 = time.perf_counter()
    print(f"  [{label}] {len(configs)} runs, {len(missing)} to train", file=sys.stderr)

    def progress(out, done, total):
        loss = f"{final(out.run):.4f}" if out.run is not None else ""
        print(f"  [{label} {done}/{total} {time.perf_counter() - t0:.0f}s] "
              f"{out.config.name()} {out.status} {loss} {out.error or ''}", file=sys.stderr)

    run_sweep(Sweep(label, configs), store, workers=TB.get("workers", 1), on_result=progress)
    return [store.get(c.run_id()) for c in configs if c.run_id() in store]


def final(run) -> float:
    """The score of a run: its last held-out loss, or its mean training loss over the last
    FINAL_WINDOW of the steps."""
    if run.status != "finished":
        return math.inf
    if TB["kind"] == "val":
        return float(run.curve("val")[1][-1])
    k = max(1, int(round(FINAL_WINDOW * run.T)))
    return float(np.mean(run.curve("train")[1][-k:]))


def predicted_final(model, lrs: np.ndarray, peak: float) -> float:
    """The model's prediction of the same score."""
    T = lrs.size
    if TB["kind"] == "val":
        return float(model.predict(lrs, [T], peak=peak)[0])
    k = max(1, int(round(FINAL_WINDOW * T)))
    return float(np.mean(model.predict(lrs, np.arange(T - k + 1, T + 1), peak=peak)))


def pilot_configs() -> list:
    from convexlaw.train import TrainConfig

    return [TrainConfig(schedule=s, peak=p, steps=T, seed=seed,
                        eval_every=max(1, T // TB["pilot_evals"]), **TB["run"])
            for T in TB["pilot_T"] for s in TB["pilot_schedules"] for p in TB["peaks"]
            for seed in TB["pilot_seeds"]]


def pilots(work: Path) -> list:
    return sweep(pilot_configs(), work / "pilots.db", "pilots")


def usable(runs: list, schedules: tuple[str, ...] | None = None) -> list:
    """Finished, learning runs (of ``schedules``); with a window, those within window × the
    best final loss of their (T, schedule) — the largest peaks sit at the edge of stability."""
    ok = [r for r in runs if r.status == "finished" and r.tags.get("beats_constant", True)
          and (schedules is None or r.schedule in schedules)]
    if not TB.get("window"):
        return ok
    best: dict = {}
    for r in ok:
        best[(r.T, r.schedule)] = min(best.get((r.T, r.schedule), math.inf), final(r))
    return [r for r in ok if final(r) <= TB["window"] * best[(r.T, r.schedule)]]


def choose_fit(runs: list, work: Path, held: list | None = None) -> tuple[object, list[dict]]:
    """Fit each curve model on the shorter pilots, score it on the longest (curves after
    the burn-in); refit the best of DESIGN_MODELS on every pilot. TB["weights"] weights
    the evaluations, TB["select"] chooses by final losses or by the gaps between the
    schedules of ``held`` (usable pilots of every pilot schedule) at the longest horizon
    (``bench/design_fit.py``)."""
    from design_fit import gap_error, weighted

    from convexlaw.protocols import Split, evaluate, make_model

    Tmax = max(TB["pilot_T"])
    mode, select = TB.get("weights", "all"), TB.get("select", "final")
    short = [r for r in runs if r.T < Tmax]
    long = [r for r in runs if r.T == Tmax]
    at_max = [r for r in (held or runs) if r.T == Tmax]
    rows = []
    for name in CURVE_MODELS:
        t0 = time.perf_counter()
        ev = evaluate(make_model(name, kind=TB["kind"], burn_in=TB["burn_in"]),
                      Split(f"fit T < {Tmax}, predict T = {Tmax}",
                            weighted(short, TB["kind"], mode), long))
        m = make_model(name, kind=TB["kind"], burn_in=TB["burn_in"]).fit(
            weighted(short, TB["kind"], mode))
        finals = [predicted_final(m, r.lrs, r.peak_lr) / final(r) - 1 for r in long]
        gaps = gap_error(m, at_max, TB["pilot_schedules"][0], final, predicted_final)
        rows.append({"model": name, "PredE": ev["metrics"]["PredE"],
                     "WorstE": ev["metrics"]["WorstE"], "R2": ev["metrics"]["R2"],
                     "final_mean_abs_error": float(np.mean(np.abs(finals))),
                     "final_errors": finals, "gap_rms": gaps["rms"],
                     "gap_slope": gaps["slope"], "params": ev["params"],
                     "seconds": time.perf_counter() - t0})
        print(f"  {name}: held-out PredE {100 * ev['metrics']['PredE']:.3f} %, final "
              f"{100 * rows[-1]['final_mean_abs_error']:.3f} %, gap RMS {gaps['rms']:.4f}",
              file=sys.stderr)
    key = "final_mean_abs_error" if select == "final" else "gap_rms"
    best = min((r for r in rows if r["model"] in DESIGN_MODELS), key=lambda r: r[key])["model"]
    model = make_model(best, kind=TB["kind"], burn_in=TB["burn_in"]).fit(
        weighted(runs, TB["kind"], mode))
    (work / "fit.json").write_text(json.dumps(model.to_dict(), indent=1))
    return model, rows


def target_peaks(center: float, extra: tuple[int, int] = (0, 0)) -> list[float]:
    """Peaks to train a schedule at: on the grid anchor·ratio^k around ``center`` (with
    ``extra`` more below / above), or ``center`` × TB["factors"]."""
    if "factors" in TB:
        return [float(f"{center * f:.4g}") for f in TB["factors"]]
    anchor, ratio = TB["grid"]
    n = TB["target_points"]
    k0 = round(math.log(center / anchor) / math.log(ratio))
    ks = range(k0 - (n - 1) // 2 - extra[0], k0 + n // 2 + 1 + extra[1])
    return [float(f"{anchor * ratio ** k:.6g}") for k in ks]


def _by_peak(runs: list, spec: str) -> dict:
    rows: dict = {}
    for r in runs:
        if r.schedule == spec:
            rows.setdefault(r.peak_lr, {})[r.seed] = final(r)
    return rows


def targets(schedules: dict, work: Path) -> list:
    """Each schedule around its predicted peak, every peak at every seed; on a grid, the
    sweep is extended (up to max_extend peaks) until the seed-mean optimum is bracketed."""
    from convexlaw.train import TrainConfig

    T = TB["target_T"]
    extra = {key: [0, 0] for key in schedules}

    def configs() -> list:
        return [TrainConfig(schedule=spec, peak=p, steps=T, seed=seed,
                            eval_every=T // TB["target_evals"], **TB["run"])
                for key, (spec, peak) in schedules.items()
                for p in target_peaks(peak, tuple(extra[key])) for seed in TB["seeds"]]

    while True:
        done = sweep(configs(), work / "targets.db", "targets")
        if "factors" in TB:
            return done
        grow = False
        for key, (spec, _) in schedules.items():
            rows = _by_peak(done, spec)
            peaks = sorted(rows)
            mean = [float(np.mean(list(rows[p].values()))) for p in peaks]
            i = int(np.argmin(mean))
            side = 0 if i == 0 else 1 if i == len(peaks) - 1 else None
            if side is not None and sum(extra[key]) < TB["max_extend"]:
                extra[key][side] += 1
                grow = True
        if not grow:
            return done


def measured(done: list, schedules: dict) -> dict:
    """Per schedule: seed-mean loss per peak, the measured optimum (parabola in log η
    through the best seed mean and its neighbours), and the optimum of every seed."""
    from convexlaw.plan import measured_optimum

    table = {}
    for key, (spec, peak) in schedules.items():
        rows = _by_peak(done, spec)
        peaks = sorted(p for p in rows if len(rows[p]) == len(TB["seeds"]))
        mean = [float(np.mean([rows[p][s] for s in TB["seeds"]])) for p in peaks]
        e, L, ok = measured_optimum(peaks, mean)
        per_seed = {s: measured_optimum(peaks, [rows[p][s] for p in peaks])[1]
                    for s in TB["seeds"]}
        at = min(peaks, key=lambda p: abs(math.log(p / peak)))
        table[key] = {"spec": spec, "predicted_peak": peak, "peaks": peaks,
                      "losses": {str(p): rows[p] for p in peaks}, "mean": mean,
                      "measured_peak": e, "measured_loss": L, "bracketed": ok,
                      "per_seed_best": per_seed,
                      "at_predicted_peak": float(np.mean([rows[at][s] for s in TB["seeds"]])),
                      "seeds_at_predicted_peak": {s: rows[at][s] for s in TB["seeds"]}}
    return table


def gains(table: dict, key: str = "designed") -> dict:
    """Measured gains of ``key`` over every other schedule (baseline − design)."""
    out = {}
    for b, t in table.items():
        if b == key:
            continue
        d = table[key]
        out[b] = {"measured_tuned": t["measured_loss"] - d["measured_loss"],
                  "per_seed": [t["per_seed_best"][s] - d["per_seed_best"][s]
                               for s in TB["seeds"]],
                  "per_seed_se": float(np.std([t["per_seed_best"][s] - d["per_seed_best"][s]
                                               for s in TB["seeds"]], ddof=1)
                                       / math.sqrt(len(TB["seeds"]))),
                  "measured_at_predicted_peak": t["at_predicted_peak"] - d["at_predicted_peak"],
                  "paired_by_seed": [t["seeds_at_predicted_peak"][s]
                                     - d["seeds_at_predicted_peak"][s] for s in TB["seeds"]]}
    return out


def frozen_csv(d) -> str:
    """Write a free design's LRs to a CSV named by a hash of its content; the spec that
    reads it. The spec (with the path) is part of a run's config id: a re-design that
    moves the schedule gets a new file and new runs, never a stored run of another one."""
    tmp = RESULTS / f"{TB['prefix']}-free.csv"
    d.to_csv(tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:10]
    path = tmp.with_name(f"{TB['prefix']}-free-{digest}.csv")
    tmp.replace(path)
    return f"csv(path={path})"


def design(model, runs: list) -> tuple[dict, dict]:
    """The WSD-family and free designs at the target T; the schedules to train."""
    from convexlaw.design import design_schedule
    from convexlaw.design.plot import plot_design

    T, warmup = TB["target_T"], TB["warmup"]
    tail = f"+warmup({warmup})" if warmup else ""
    base = [b + tail for b in TB["baselines"]]
    out: dict = {}
    chosen = {}
    for family in ("wsd", "free"):
        t0 = time.perf_counter()
        d = design_schedule(model, T, family=family, warmup=warmup, baselines=base)
        secs = time.perf_counter() - t0
        if d.designed.spec is None:
            d.designed.spec = frozen_csv(d)
        plot_design(d, RESULTS / f"{TB['prefix']}-{family}.png",
                    title=f"{TB['label']}: pilots T ≤ {max(TB['pilot_T'])}, {model.label}; "
                    f"{family} design at T = {T}")
        out[family] = {k: v for k, v in d.to_dict().items() if k != "curves"} | {
            "seconds": secs}
        chosen[family] = d
        print(f"[design {family}] {d.designed.spec} @ {d.designed.peak:.4g}: "
              f"{d.designed.loss:.5f}; " + ", ".join(f"{b.spec}@{b.peak:.3g} {b.loss:.5f}"
                                                    for b in d.baselines), file=sys.stderr)
    free = chosen["free"]
    schedules = {"designed": (free.designed.spec, free.designed.peak)}
    for spec, key in zip(base, ("cosine", "wsd", "linear"), strict=False):
        schedules[key] = (spec, next(b.peak for b in free.baselines if b.spec == spec))
    return out, schedules


def testbed(work: Path, train: bool = True) -> tuple[dict, object]:
    from convexlaw.schedules import schedule

    every = pilots(work)
    runs = usable(every, TB["design_pilots"])
    print(f"[fit] {len(runs)} usable pilots", file=sys.stderr)
    model, fit_rows = choose_fit(runs, work, usable(every))
    res: dict = {"testbed": TB, "pilots": [{"schedule": r.schedule, "T": r.T, "seed": r.seed,
                                            "peak": r.peak_lr, "final": final(r)}
                                           for r in runs],
                 "fit_choice": fit_rows, "model": model.to_dict()}
    res["designs"], schedules = design(model, runs)
    res["schedules"] = schedules
    (work / "schedules.json").write_text(json.dumps(schedules, indent=1))
    if not train:
        return res, model
    done = targets(schedules, work)
    table = measured(done, schedules)
    T = TB["target_T"]
    for key, (spec, peak) in schedules.items():
        table[key]["predicted_loss"] = predicted_final(model, peak * schedule(spec, T), peak)
    res["targets"] = table
    g = gains(table)
    for b, r in g.items():
        pg = table[b]["predicted_loss"] - table["designed"]["predicted_loss"]
        mg = r["measured_tuned"]
        r.update({"predicted": pg, "ratio": pg / mg if mg else None,
                  "ranking_holds": bool(np.sign(pg) == np.sign(mg)),
                  "within_30pct": bool(mg and abs(pg / mg - 1) <= 0.3)})
    res["gains"] = g
    return res, model


def plot_targets(res: dict, model, path: Path) -> None:
    """Measured final loss vs peak (dots: seeds, line: mean) and the model's prediction."""
    from convexlaw import schedule
    from convexlaw.plot import _pyplot, _save

    plt = _pyplot()
    T = TB["target_T"]
    fig, ax = plt.subplots(figsize=(10, 5))
    colours = {"designed": "tab:red", "cosine": "tab:blue", "wsd": "tab:green",
               "linear": "tab:purple"}
    for key, t in res["targets"].items():
        c = colours.get(key, "tab:grey")
        for p in t["peaks"]:
            for v in t["losses"][str(p)].values():
                ax.plot(p, v, "o", color=c, ms=3, alpha=0.6)
        name = t["spec"] if not t["spec"].startswith("csv") else "free spline (designed)"
        ax.plot(t["peaks"], t["mean"], "-", color=c, lw=1.2,
                label=f"{name}: measured (mean of {len(TB['seeds'])} seeds)")
        grid = np.geomspace(min(t["peaks"]) / 1.5, max(t["peaks"]) * 1.5, 25)
        shape = schedule(t["spec"], T)
        ax.plot(grid, [predicted_final(model, g * shape, g) for g in grid], "--", color=c,
                lw=1, label=f"{name}: predicted ({model.label})")
        ax.plot(t["predicted_peak"], t["predicted_loss"], "*", color=c, ms=11)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(f"{TB['kind']} loss at T = {T}")
    ax.set_title(f"{TB['label']}: designed vs baselines at T = {T}\n(pilots at T ≤ "
                 f"{max(TB['pilot_T'])}; stars: predicted optimum of each)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    _save(fig, path)


def markdown_testbed(res: dict) -> str:
    t, g = res["targets"], res["gains"]
    pil = ", ".join(TB["design_pilots"])
    win = f", window {TB['window']}" if TB.get("window") else ""
    lines = [f"## Testbed: {TB['label']}", "",
             f"Pilots: {pil} at T = {TB['pilot_T']}, peaks "
             f"{', '.join(f'{p:g}' for p in TB['peaks'])}, seeds {TB['pilot_seeds']}"
             f"{win}. Target T = "
             f"{TB['target_T']}, seeds {TB['seeds']}.", "",
             f"Curve models, fitted on T < {max(TB['pilot_T'])}, predicting the T = "
             f"{max(TB['pilot_T'])} pilots:", "",
             "| model | curve PredE | WorstE | R² | final-loss mean \\|error\\| |",
             "|---|---|---|---|---|"]
    for r in res["fit_choice"]:
        lines.append(f"| {r['model']} | {100 * r['PredE']:.3f} % | {100 * r['WorstE']:.2f} % "
                     f"| {r['R2']:.4f} | {100 * r['final_mean_abs_error']:.3f} % |")
    lines += ["", f"The design minimises the best of {', '.join(DESIGN_MODELS)} (no peak "
              "covariate: a free shape games one with a spike to a high peak).",
              "", f"Refitted on all pilots: {res['model']['model']}, "
              + ", ".join(f"{k} = {v:.4g}" for k, v in res["model"]["params"].items()), "",
              "| schedule | spec | predicted peak | predicted loss | measured best peak "
              "| measured best loss | measured at predicted peak |",
              "|---|---|---|---|---|---|---|"]
    for k, r in t.items():
        spec = r["spec"] if not r["spec"].startswith("csv") else "free spline (csv)"
        lines.append(f"| {k} | `{spec}` | {r['predicted_peak']:.4g} | "
                     f"{r['predicted_loss']:.4f} | {r['measured_peak']:.4g}"
                     f"{'' if r['bracketed'] else ' (edge)'} | {r['measured_loss']:.4f} | "
                     f"{r['at_predicted_peak']:.4f} |")
    lines += ["", "Gain = baseline − design (> 0: the design is better). Measured (tuned): "
              "the seed-mean optima; ± the standard error of the per-seed gains (each seed's "
              "own optimum, same seed = same initialisation and batches in every schedule).",
              "", "| gain of the design over | predicted | measured (tuned, seed mean) | "
              "per seed (tuned) | at predicted peaks (per seed) | predicted / measured | "
              "ranking | within 30 % |", "|---|---|---|---|---|---|---|---|"]
    for b, r in g.items():
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        per = ", ".join(f"{v:+.4f}" for v in r["per_seed"])
        seeds = ", ".join(f"{v:+.4f}" for v in r["paired_by_seed"])
        lines.append(f"| {b} | {r['predicted']:+.4f} | {r['measured_tuned']:+.4f} ± "
                     f"{r['per_seed_se']:.4f} | {per} | "
                     f"{r['measured_at_predicted_peak']:+.4f} ({seeds}) | {ratio} | "
                     f"{'holds' if r['ranking_holds'] else 'FAILS'} | "
                     f"{'yes' if r['within_30pct'] else 'no'} |")
    return "\n".join(lines) + "\n"


def jsonable(obj):
    from convexlaw.jsonable import plain

    return plain(obj, finite=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("testbed", "models", "mpl25m", "pilots", "design"),
                    help="design: the testbed's pilots, fit and designs, without the targets")
    ap.add_argument("--testbed", choices=tuple(TESTBEDS), default="fresh")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    TB.clear()
    TB.update(TESTBEDS[args.testbed])
    args.work = args.work or ROOT / "work" / f"design-{args.testbed}"
    args.work.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.part == "mpl25m":
        from design_25m import main_25m  # bench/design_25m.py, beside this file

        main_25m(args.work)
    if args.part == "testbed":
        res, model = testbed(args.work)
        plot_targets(res, model, RESULTS / f"{TB['prefix']}.png")
        (RESULTS / f"{TB['prefix']}.json").write_text(json.dumps(jsonable(res), indent=1))
        md = markdown_testbed(res)
        (RESULTS / f"{TB['prefix']}.md").write_text(md)
        print(md)
    if args.part == "models":
        from design_models import main_models  # bench/design_models.py

        main_models(args.work)
    if args.part == "design":
        res, _ = testbed(args.work, train=False)
        print(json.dumps(jsonable({k: res[k] for k in ("fit_choice", "schedules")}), indent=1))
    if args.part == "pilots":
        runs = pilots(args.work)
        for r in runs:
            print(r.name, r.status, f"{final(r):.4f}")


if __name__ == "__main__":
    main()
