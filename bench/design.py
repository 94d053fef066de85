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
BURN_IN = 20  # steps: the warm-up of the shortest pilots


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


def usable(runs: list) -> list:
    return [r for r in runs if r.status == "finished" and r.tags.get("beats_constant", True)]


def choose_fit(runs: list, work: Path) -> tuple[object, list[dict]]:
    """Fit each curve model on the T = 200 pilots, score it on the T = 400 ones (held-out
    curves after the warm-up); refit the best on every pilot."""
    from convexlaw.protocols import Split, evaluate, make_model

    short = [r for r in runs if r.T == PILOT_T[0]]
    long = [r for r in runs if r.T == PILOT_T[1]]
    rows = []
    for name in CURVE_MODELS:
        ev = evaluate(make_model(name, kind="val", burn_in=BURN_IN),
                      Split(f"fit T={PILOT_T[0]}, predict T={PILOT_T[1]}", short, long))
        finals = [r["final_rel_error"] for r in ev["runs"]]
        rows.append({"model": name, "PredE": ev["metrics"]["PredE"],
                     "WorstE": ev["metrics"]["WorstE"], "R2": ev["metrics"]["R2"],
                     "final_errors": finals, "params": ev["params"]})
        print(f"  {name}: held-out PredE {100 * ev['metrics']['PredE']:.3f} %", file=sys.stderr)
    best = min(rows, key=lambda r: r["PredE"])["model"]
    model = make_model(best, kind="val", burn_in=BURN_IN).fit(runs)
    (work / "fit.json").write_text(json.dumps(model.to_dict(), indent=1))
    return model, rows


def targets(designs: dict, work: Path) -> list:
    """Each schedule at its predicted peak and ×½, ×2 of it, seeds 0 and 1."""
    from convexlaw.train import TrainConfig

    configs = []
    for spec, peak in designs.values():
        for f in PEAK_FACTORS:
            for seed in SEEDS:
                configs.append(TrainConfig(schedule=spec, peak=float(f"{peak * f:.4g}"),
                                           steps=TARGET_T, seed=seed,
                                           eval_every=TARGET_T // 20, **GPT))
    return sweep(configs, work / "targets.db", "targets")


def testbed(work: Path) -> dict:
    from convexlaw.design import design_schedule
    from convexlaw.design.plot import plot_design
    from convexlaw.plan import measured_optimum

    runs = usable(pilots(work))
    print(f"[fit] {len(runs)} usable pilots", file=sys.stderr)
    model, fit_rows = choose_fit(runs, work)
    res: dict = {"setting": dict(GPT), "pilot_T": PILOT_T, "target_T": TARGET_T,
                 "pilots": [{"schedule": r.schedule, "T": r.T, "peak": r.peak_lr,
                             "final": final(r)} for r in runs],
                 "fit_choice": fit_rows, "model": model.to_dict(), "designs": {}}
    cos, wsd = f"cosine+warmup({WARMUP})", f"wsd(cooldown=0.2)+warmup({WARMUP})"
    chosen = None
    for family in ("wsd", "free"):
        d = design_schedule(model, TARGET_T, family=family, warmup=WARMUP,
                            baselines=(cos, wsd))
        fig = RESULTS / f"design-testbed-{family}.png"
        plot_design(d, fig, title=f"byte-GPT pilots (T ≤ {PILOT_T[-1]}), {model.label}: "
                    f"{family} design at T = {TARGET_T}")
        item = d.to_dict()
        item.pop("curves")
        if family == "free":
            csv = RESULTS / "design-testbed-free.csv"
            d.designed.spec = d.designed.spec or d.to_csv(csv)
        res["designs"][family] = item | {"spec": d.designed.spec}
        chosen = d
    schedules = {"designed": (chosen.designed.spec, chosen.designed.peak)}
    for b in chosen.baselines:
        schedules["cosine" if b.spec == cos else "wsd"] = (b.spec, b.peak)
    predicted = {k: chosen.designed.loss if k == "designed" else
                 next(b.loss for b in chosen.baselines if b.spec == spec)
                 for k, (spec, _) in schedules.items()}
    done = targets(schedules, work)
    table = {}
    for key, (spec, peak) in schedules.items():
        rows = {}
        for r in done:
            if r.schedule == spec:
                rows.setdefault(r.peak_lr, {})[r.seed] = final(r)
        peaks = sorted(rows)
        mean = [float(np.mean(list(rows[p].values()))) for p in peaks]
        e, L, ok = measured_optimum(peaks, mean)
        at = min(peaks, key=lambda p: abs(math.log(p / peak)))
        table[key] = {"spec": spec, "predicted_peak": peak, "predicted_loss": predicted[key],
                      "peaks": peaks, "losses": {str(p): rows[p] for p in peaks},
                      "mean": mean, "measured_peak": e, "measured_loss": L, "bracketed": ok,
                      "at_predicted_peak": float(np.mean(list(rows[at].values())))}
    res["targets"] = table
    gains = {}
    for b in ("cosine", "wsd"):
        pg = table[b]["predicted_loss"] - table["designed"]["predicted_loss"]
        mg = table[b]["measured_loss"] - table["designed"]["measured_loss"]
        mg_at = table[b]["at_predicted_peak"] - table["designed"]["at_predicted_peak"]
        gains[b] = {"predicted": pg, "measured_tuned": mg, "measured_at_predicted_peak": mg_at,
                    "ratio": pg / mg if mg else None}
    res["gains"] = gains
    return res


# ---------------------------------------------------------------------------- 25M curves
MPL_BASELINES = {  # the published runs' schedules at T = 24000 (peak 3e-4, warm-up 2160)
    "cosine_24000": "cosine(final=0.1)+warmup(2160)",
    "wsd_20000_24000": "wsd(cooldown=4000,shape=geometric,final=0.1)+warmup(2160)",
    "wsdld_20000_24000": "wsd(cooldown=4000,shape=linear,final=0.1)+warmup(2160)",
}


def mpl25m(work: Path) -> dict:
    """What convex-ed-gt (fitted on the MPL protocol's three runs) designs at T = 24000 and
    72000, beside the measured cosine and WSD runs and a refitted Multi-Power Law's design."""
    from convexlaw.design import design_schedule
    from convexlaw.design.plot import plot_design
    from convexlaw.protocols import MPL_FIT, make_model
    from convexlaw.runs import load_runs

    runs = {r.name: r for r in load_runs(sorted((DATA / "mpl-25m").glob("*.csv")))}
    fit_runs = [runs[n] for n in MPL_FIT]
    out: dict = {"fit_runs": list(MPL_FIT), "models": {}}
    for name in ("convex-ed-gt", "mpl"):
        t0 = time.perf_counter()
        model = make_model(name).fit(fit_runs)
        (work / f"fit-25m-{name}.json").write_text(json.dumps(model.to_dict(), indent=1))
        rec: dict = {"params": model.params_, "fit_seconds": time.perf_counter() - t0,
                     "measured_vs_predicted": [], "designs": []}
        for rname in ("cosine_24000", "wsd_20000_24000", "wsdld_20000_24000",
                      "cosine_72000", "constant_72000"):
            r = runs[rname]
            obs = float(r.curve()[1][-1])
            pred = float(model.predict(r, [r.T])[0])
            rec["measured_vs_predicted"].append(
                {"run": rname, "T": r.T, "fitted": rname in MPL_FIT, "measured": obs,
                 "predicted": pred, "error": pred / obs - 1})
        for T in (24000, 72000):
            base = [MPL_BASELINES["cosine_24000"], MPL_BASELINES["wsd_20000_24000"]]
            if T != 24000:  # the same shapes stretched: WSD's 4000-step decay = 1/6 of 24000
                base = [base[0], "wsd(cooldown=0.1832,shape=geometric,final=0.1)+warmup(2160)"]
            for family in ("wsd", "free"):
                t0 = time.perf_counter()
                d = design_schedule(model, T, family=family, peak=3e-4, warmup=2160,
                                    baselines=base, knots=24)
                secs = time.perf_counter() - t0
                fig = RESULTS / f"design-25m-{name}-{family}-T{T}.png"
                plot_design(d, fig, title=f"25M curves, {name} fitted on {', '.join(MPL_FIT)}:"
                            f" {family} design at T = {T}, peak 3e-4")
                item = d.to_dict()
                item.pop("curves")
                item["seconds"] = secs
                item["figure"] = str(fig.relative_to(ROOT.parent))
                if family == "free":
                    csv = RESULTS / f"design-25m-{name}-free-T{T}.csv"
                    item["csv"] = str(csv.relative_to(ROOT.parent))
                    d.to_csv(csv)
                rec["designs"].append(item)
                print(f"[25m {name} T={T} {family}] {d.designed.spec or 'free'}: "
                      f"{d.designed.loss:.5f}; " + ", ".join(
                          f"{b.spec}@{b.peak:.3g} {b.loss:.5f}" for b in d.baselines),
                      file=sys.stderr)
        out["models"][name] = rec
    return out


def plot_targets(res: dict, model, path: Path) -> None:
    """Measured final loss vs peak (dots: seeds, line: mean) and the model's prediction."""
    from convexlaw import schedule
    from convexlaw.plot import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = {"designed": "tab:red", "cosine": "tab:blue", "wsd": "tab:green"}
    for key, t in res["targets"].items():
        c = colours[key]
        for p in t["peaks"]:
            for v in t["losses"][str(p)].values():
                ax.plot(p, v, "o", color=c, ms=3, alpha=0.6)
        ax.plot(t["peaks"], t["mean"], "-", color=c, lw=1.2,
                label=f"{key}: measured (mean of {len(SEEDS)} seeds)")
        grid = np.geomspace(min(t["peaks"]) / 1.5, max(t["peaks"]) * 1.5, 40)
        shape = schedule(t["spec"], TARGET_T)
        pred = [model.predict(g * shape, [TARGET_T], peak=g)[0] for g in grid]
        ax.plot(grid, pred, "--", color=c, lw=1, label=f"{key}: predicted")
        ax.plot(t["predicted_peak"], t["predicted_loss"], "*", color=c, ms=10)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(f"held-out loss at T = {TARGET_T}")
    ax.set_title(f"byte-GPT-32 / KJV / AdamW: designed vs cosine vs WSD at T = {TARGET_T}\n"
                 f"(pilots at T ≤ {PILOT_T[-1]}; stars: predicted optimum)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    _save(fig, path)


def markdown_testbed(res: dict) -> str:
    t, g = res["targets"], res["gains"]
    lines = ["## Testbed: byte-GPT-32 on the King James Bible (AdamW), held-out loss", "",
             f"Pilots: {', '.join(PILOT_SCHEDULES)} at T = {PILOT_T}, peaks "
             f"{', '.join(f'{p:g}' for p in PILOT_PEAKS)} (seed 0). Target T = {TARGET_T}.",
             "", "Curve model chosen on the pilots (fit T = 200, predict T = 400):", "",
             "| model | PredE | WorstE | R² |", "|---|---|---|---|"]
    for r in res["fit_choice"]:
        lines.append(f"| {r['model']} | {100 * r['PredE']:.3f} % | {100 * r['WorstE']:.2f} % "
                     f"| {r['R2']:.4f} |")
    lines += ["", f"Refitted on all pilots: {res['model']['model']} "
              + ", ".join(f"{k} = {v:.4g}" for k, v in res["model"]["params"].items()), "",
              "| schedule | spec | predicted peak | predicted loss | measured best peak "
              "| measured best loss | measured at predicted peak |",
              "|---|---|---|---|---|---|---|"]
    for k, r in t.items():
        lines.append(f"| {k} | `{r['spec']}` | {r['predicted_peak']:.4g} | "
                     f"{r['predicted_loss']:.4f} | {r['measured_peak']:.4g}"
                     f"{'' if r['bracketed'] else ' (edge)'} | {r['measured_loss']:.4f} | "
                     f"{r['at_predicted_peak']:.4f} |")
    lines += ["", "| gain of the design over | predicted | measured (tuned) | measured at "
              "predicted peaks | predicted / measured |", "|---|---|---|---|---|"]
    for b, r in g.items():
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {b} | {r['predicted']:+.4f} | {r['measured_tuned']:+.4f} | "
                     f"{r['measured_at_predicted_peak']:+.4f} | {ratio} |")
    return "\n".join(lines) + "\n"


def jsonable(obj):
    from convexlaw.jsonable import plain

    return plain(obj, finite=True)


def _short(spec: str | None) -> str:
    return (spec or "free spline").replace("+warmup(2160)", "")


def markdown_25m(res: dict) -> str:
    lines = ["## The 25M curves (Multi-Power-Law runs, ../shared/data/mpl-25m)", "",
             f"Fitted on {', '.join(res['fit_runs'])}; every schedule warms up over 2160 "
             "steps and peaks at 3e-4 (fixed, as in the published runs).", ""]
    for name, rec in res["models"].items():
        lines += [f"### {name}", "", "Published runs, final logged loss:", "",
                  "| run | fitted on it | measured | predicted | error |", "|---|---|---|---|---|"]
        for r in rec["measured_vs_predicted"]:
            lines.append(f"| {r['run']} | {'yes' if r['fitted'] else 'no'} | "
                         f"{r['measured']:.4f} | {r['predicted']:.4f} | "
                         f"{100 * r['error']:+.2f} % |")
        lines += ["", "Designs (peak 3e-4 fixed; gain = baseline − design, predicted):", "",
                  "| T | family | designed | predicted | cosine | gain | WSD (geometric) | gain "
                  "| s |", "|---|---|---|---|---|---|---|---|---|"]
        for d in rec["designs"]:
            fixed = [b for b in d["baselines"] if b["peak_mode"] == "fixed"]
            cos, wsd = fixed[0], fixed[1]
            des = d["designed"]
            lines.append(f"| {d['steps']} | {d['family']} | `{_short(des['spec'])}` | "
                         f"{des['loss']:.4f} | {cos['loss']:.4f} | "
                         f"{cos['loss'] - des['loss']:+.4f} | {wsd['loss']:.4f} | "
                         f"{wsd['loss'] - des['loss']:+.4f} | {d['seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("testbed", "mpl25m", "pilots"))
    RESULTS.mkdir(exist_ok=True)
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "design")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.part == "mpl25m":
        res = mpl25m(args.work)
        (RESULTS / "design-25m.json").write_text(json.dumps(jsonable(res), indent=1))
        md = markdown_25m(res)
        (RESULTS / "design-25m.md").write_text(md)
        print(md)
    if args.part == "testbed":
        res = testbed(args.work)
        from convexlaw.protocols import load_fit

        plot_targets(res, load_fit(args.work / "fit.json"), RESULTS / "design-testbed.png")
        (RESULTS / "design-testbed.json").write_text(json.dumps(jsonable(res), indent=1))
        md = markdown_testbed(res)
        (RESULTS / "design-testbed.md").write_text(md)
        print(md)
    if args.part == "pilots":
        runs = pilots(args.work)
        for r in runs:
            print(r.name, r.status, f"{final(r):.4f}")


if __name__ == "__main__":
    main()
