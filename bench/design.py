"""Designed schedules against cosine and WSD: predicted by a fitted model, then measured.

    python bench/design.py testbed [--work DIR]    real training (MLP, ~1 h on 2 busy cores)
    python bench/design.py mpl25m                  the 25M curves of ../shared/data

testbed: MLP-256 (2 hidden layers) on Fashion-MNIST with SGD (momentum 0.9, batch 128),
scored on TRAINING loss — the objective the bound describes — as the mean minibatch loss
over the last 2.5 % of the steps (100 steps at T = 4000; the same seed gives every schedule
the same initialisation and batch order, so differences are paired). The runs take up to
8.5 epochs, so held-out loss would measure over-fitting, not optimisation.
1. pilots at T = 250, 500, 1000: cosine and WSD(cooldown=0.2), 5 peaks each, seed 0;
2. curve models fitted on the pilots' training curves; the one that best predicts the
   T = 1000 pilots from the shorter ones is refitted on all pilots;
3. ``design_schedule`` at T = 4000 (4× the longest pilot): the WSD family and a free
   monotone spline, peak tuned; cosine and WSD(0.2) at their own tuned peaks beside them;
4. the free design, cosine and WSD trained at their predicted peaks and at ×½ and ×2,
   seeds 0, 1 and 2;
5. measured gain (seed mean, at the measured best peak and at the predicted peak) vs the
   predicted gain. Goal: the predicted ranking holds and the gain is predicted within 30 %.

(A byte-GPT-32 on the King James Bible was tried first, ``--testbed gpt``: at T = 200 its
pilots' losses jump between ~2.5 and ~3.1 with the peak — runs stuck on the unigram
plateau or not — a regime no curve model of the bound describes.)

Results go to bench/results/design-*.{json,md} and the figures beside them.
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

TESTBEDS = {
    "mlp": dict(run=dict(model="mlp", size=256, dataset="fashion-mnist", optimizer="sgd",
                         batch_size=128, eval_size=1000),
                kind="train", pilot_T=(250, 500, 1000),
                peaks=(0.02, 0.04, 0.08, 0.16, 0.32), target_T=4000, burn_in=25,
                label="MLP-256 / Fashion-MNIST / SGD, training loss"),
    "gpt": dict(run=dict(model="gpt", size=32, depth=2, dataset="kjv", context=64,
                         batch_size=16, optimizer="adamw", eval_size=512),
                kind="val", pilot_T=(200, 400), peaks=(2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2),
                target_T=1600, burn_in=20,
                label="byte-GPT-32 / KJV / AdamW, held-out loss"),
}
TB = dict(TESTBEDS["mlp"])  # the chosen testbed (--testbed)
PILOT_SCHEDULES = ("cosine+warmup(0.05)", "wsd(cooldown=0.2)+warmup(0.05)")
SEEDS = (0, 1, 2)
PEAK_FACTORS = (0.5, 1.0, 2.0)
CURVE_MODELS = ("convex-ed", "convex-ed-gt", "convex-ed-peak", "convex-ed-gpeak",
                "convex-ed-gt-gpeak")
FINAL_WINDOW = 0.025  # training loss: mean over the last 2.5 % of the steps


def sweep(configs: list, db: Path, label: str) -> list:
    """Train what the store lacks (2 workers, 1 thread each); the runs in config order."""
    from paper import sweep as paper_sweep  # bench/paper.py, beside this file

    return paper_sweep(configs, db, label)


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


def pilots(work: Path) -> list:
    from convexlaw.train import TrainConfig

    configs = [TrainConfig(schedule=s, peak=p, steps=T, seed=0, eval_every=max(1, T // 10),
                           **TB["run"])
               for T in TB["pilot_T"] for s in PILOT_SCHEDULES for p in TB["peaks"]]
    return sweep(configs, work / "pilots.db", "pilots")


def usable(runs: list) -> list:
    return [r for r in runs if r.status == "finished" and r.tags.get("beats_constant", True)]


def choose_fit(runs: list, work: Path) -> tuple[object, list[dict]]:
    """Fit each curve model on the shorter pilots, score it on the longest (curves after
    the burn-in); refit the best on every pilot."""
    from convexlaw.protocols import Split, evaluate, make_model

    Tmax = max(TB["pilot_T"])
    short = [r for r in runs if r.T < Tmax]
    long = [r for r in runs if r.T == Tmax]
    rows = []
    for name in CURVE_MODELS:
        t0 = time.perf_counter()
        ev = evaluate(make_model(name, kind=TB["kind"], burn_in=TB["burn_in"]),
                      Split(f"fit T < {Tmax}, predict T = {Tmax}", short, long))
        m = make_model(name, kind=TB["kind"], burn_in=TB["burn_in"]).fit(short)
        finals = [predicted_final(m, r.lrs, r.peak_lr) / final(r) - 1 for r in long]
        rows.append({"model": name, "PredE": ev["metrics"]["PredE"],
                     "WorstE": ev["metrics"]["WorstE"], "R2": ev["metrics"]["R2"],
                     "final_mean_abs_error": float(np.mean(np.abs(finals))),
                     "final_errors": finals, "params": ev["params"],
                     "seconds": time.perf_counter() - t0})
        print(f"  {name}: held-out PredE {100 * ev['metrics']['PredE']:.3f} %, final "
              f"{100 * rows[-1]['final_mean_abs_error']:.3f} %", file=sys.stderr)
    best = min(rows, key=lambda r: r["final_mean_abs_error"])["model"]
    model = make_model(best, kind=TB["kind"], burn_in=TB["burn_in"]).fit(runs)
    (work / "fit.json").write_text(json.dumps(model.to_dict(), indent=1))
    return model, rows


def targets(schedules: dict, work: Path) -> list:
    """Each schedule at its predicted peak and ×½, ×2 of it, seeds 0, 1 and 2."""
    from convexlaw.train import TrainConfig

    T = TB["target_T"]
    configs = [TrainConfig(schedule=spec, peak=float(f"{peak * f:.4g}"), steps=T, seed=seed,
                           eval_every=T // 10, **TB["run"])
               for spec, peak in schedules.values() for f in PEAK_FACTORS for seed in SEEDS]
    return sweep(configs, work / "targets.db", "targets")


def testbed(work: Path, train: bool = True) -> tuple[dict, object]:
    from convexlaw.design import design_schedule
    from convexlaw.design.plot import plot_design
    from convexlaw.plan import measured_optimum
    from convexlaw.schedules import schedule

    runs = usable(pilots(work))
    print(f"[fit] {len(runs)} usable pilots", file=sys.stderr)
    model, fit_rows = choose_fit(runs, work)
    T = TB["target_T"]
    warmup = int(0.05 * T)  # as in the pilots
    res: dict = {"testbed": TB, "pilots": [{"schedule": r.schedule, "T": r.T,
                                            "peak": r.peak_lr, "final": final(r)}
                                           for r in runs],
                 "fit_choice": fit_rows, "model": model.to_dict(), "designs": {}}
    cos, wsd = f"cosine+warmup({warmup})", f"wsd(cooldown=0.2)+warmup({warmup})"
    chosen = None
    for family in ("wsd", "free"):
        t0 = time.perf_counter()
        d = design_schedule(model, T, family=family, warmup=warmup, baselines=(cos, wsd))
        secs = time.perf_counter() - t0
        if d.designed.spec is None:
            d.designed.spec = d.to_csv(RESULTS / f"design-testbed-{family}.csv")
        plot_design(d, RESULTS / f"design-testbed-{family}.png",
                    title=f"{TB['label']}: pilots T ≤ {max(TB['pilot_T'])}, {model.label}; "
                    f"{family} design at T = {T}")
        res["designs"][family] = {k: v for k, v in d.to_dict().items() if k != "curves"} | {
            "seconds": secs}
        chosen = d
        print(f"[design {family}] {d.designed.spec} @ {d.designed.peak:.4g}: "
              f"{d.designed.loss:.5f}; " + ", ".join(f"{b.spec}@{b.peak:.3g} {b.loss:.5f}"
                                                    for b in d.baselines), file=sys.stderr)
    schedules = {"designed": (chosen.designed.spec, chosen.designed.peak),
                 "cosine": (cos, next(b.peak for b in chosen.baselines if b.spec == cos)),
                 "wsd": (wsd, next(b.peak for b in chosen.baselines if b.spec == wsd))}
    res["schedules"] = schedules
    if not train:
        return res, model
    done = targets(schedules, work)
    table = {}
    for key, (spec, peak) in schedules.items():
        rows: dict = {}
        for r in done:
            if r.schedule == spec:
                rows.setdefault(r.peak_lr, {})[r.seed] = final(r)
        peaks = sorted(rows)
        mean = [float(np.mean(list(rows[p].values()))) for p in peaks]
        e, L, ok = measured_optimum(peaks, mean)
        at = min(peaks, key=lambda p: abs(math.log(p / peak)))
        shape = schedule(spec, T)
        table[key] = {"spec": spec, "predicted_peak": peak,
                      "predicted_loss": predicted_final(model, peak * shape, peak),
                      "peaks": peaks, "losses": {str(p): rows[p] for p in peaks},
                      "mean": mean, "measured_peak": e, "measured_loss": L, "bracketed": ok,
                      "at_predicted_peak": float(np.mean(list(rows[at].values()))),
                      "seeds_at_predicted_peak": rows[at]}
    res["targets"] = table
    gains = {}
    for b in ("cosine", "wsd"):
        pg = table[b]["predicted_loss"] - table["designed"]["predicted_loss"]
        mg = table[b]["measured_loss"] - table["designed"]["measured_loss"]
        at = table[b]["at_predicted_peak"] - table["designed"]["at_predicted_peak"]
        paired = [table[b]["seeds_at_predicted_peak"][s]
                  - table["designed"]["seeds_at_predicted_peak"][s] for s in SEEDS]
        gains[b] = {"predicted": pg, "measured_tuned": mg, "measured_at_predicted_peak": at,
                    "paired_by_seed": paired, "ratio": pg / mg if mg else None,
                    "ranking_holds": bool(np.sign(pg) == np.sign(mg)),
                    "within_30pct": bool(mg and abs(pg / mg - 1) <= 0.3)}
    res["gains"] = gains
    res["in_sample"] = in_sample(model.label, done, schedules)
    return res, model


def in_sample(name: str, done: list, schedules: dict) -> dict:
    """The same model fitted on the target runs themselves: can its form carry the gains?"""
    from convexlaw.protocols import make_model

    runs = usable(done)
    m = make_model(name, kind=TB["kind"], burn_in=TB["burn_in"]).fit(runs)
    pred = {}
    for key, (spec, peak) in schedules.items():
        at = [r for r in runs if r.schedule == spec and r.peak_lr == float(f"{peak:.4g}")]
        pred[key] = float(np.mean([predicted_final(m, r.lrs, r.peak_lr) for r in at]))
    errs = [predicted_final(m, r.lrs, r.peak_lr) / final(r) - 1 for r in runs]
    return {"model": name, "params": m.params_, "predicted_at_peaks": pred,
            "gains": {b: pred[b] - pred["designed"] for b in ("cosine", "wsd")},
            "final_mean_abs_error": float(np.mean(np.abs(errs)))}


def plot_targets(res: dict, model, path: Path) -> None:
    """Measured final loss vs peak (dots: seeds, line: mean) and the model's prediction."""
    from convexlaw import schedule
    from convexlaw.plot import _pyplot, _save

    plt = _pyplot()
    T = TB["target_T"]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = {"designed": "tab:red", "cosine": "tab:blue", "wsd": "tab:green"}
    for key, t in res["targets"].items():
        c = colours[key]
        for p in t["peaks"]:
            for v in t["losses"][str(p)].values():
                ax.plot(p, v, "o", color=c, ms=3, alpha=0.6)
        name = t["spec"] if not t["spec"].startswith("csv") else "free spline (designed)"
        ax.plot(t["peaks"], t["mean"], "-", color=c, lw=1.2,
                label=f"{name}: measured (mean of {len(SEEDS)} seeds)")
        grid = np.geomspace(min(t["peaks"]) / 1.5, max(t["peaks"]) * 1.5, 25)
        shape = schedule(t["spec"], T)
        ax.plot(grid, [predicted_final(model, g * shape, g) for g in grid], "--", color=c,
                lw=1, label=f"{name}: predicted ({model.label})")
        ax.plot(t["predicted_peak"], t["predicted_loss"], "*", color=c, ms=11)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(f"{TB['kind']} loss at T = {T}")
    ax.set_title(f"{TB['label']}: designed vs cosine vs WSD at T = {T}\n(pilots at T ≤ "
                 f"{max(TB['pilot_T'])}; stars: predicted optimum of each)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    _save(fig, path)


def markdown_testbed(res: dict) -> str:
    t, g = res["targets"], res["gains"]
    lines = [f"## Testbed: {TB['label']}", "",
             f"Pilots: {', '.join(PILOT_SCHEDULES)} at T = {TB['pilot_T']}, peaks "
             f"{', '.join(f'{p:g}' for p in TB['peaks'])} (seed 0). Target T = "
             f"{TB['target_T']}, seeds {SEEDS}.", "",
             f"Curve models, fitted on T < {max(TB['pilot_T'])}, predicting the T = "
             f"{max(TB['pilot_T'])} pilots:", "",
             "| model | curve PredE | WorstE | R² | final-loss mean \\|error\\| |",
             "|---|---|---|---|---|"]
    for r in res["fit_choice"]:
        lines.append(f"| {r['model']} | {100 * r['PredE']:.3f} % | {100 * r['WorstE']:.2f} % "
                     f"| {r['R2']:.4f} | {100 * r['final_mean_abs_error']:.3f} % |")
    lines += ["", f"Refitted on all pilots: {res['model']['model']}, "
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
              "predicted peaks (per seed) | predicted / measured | ranking | within 30 % |",
              "|---|---|---|---|---|---|---|"]
    for b, r in g.items():
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        seeds = ", ".join(f"{v:+.4f}" for v in r["paired_by_seed"])
        lines.append(f"| {b} | {r['predicted']:+.4f} | {r['measured_tuned']:+.4f} | "
                     f"{r['measured_at_predicted_peak']:+.4f} ({seeds}) | {ratio} | "
                     f"{'holds' if r['ranking_holds'] else 'FAILS'} | "
                     f"{'yes' if r['within_30pct'] else 'no'} |")
    ins = res["in_sample"]
    params = ", ".join(f"{k} = {v:.4g}" for k, v in ins["params"].items())
    lines += ["", f"Fitted on the {len(SEEDS) * 3 * len(PEAK_FACTORS)} target runs themselves "
              f"(in-sample), {ins['model']} ({params}) "
              f"predicts gains of {ins['gains']['cosine']:+.4f} over cosine and "
              f"{ins['gains']['wsd']:+.4f} over WSD at the predicted peaks (final-loss mean "
              f"|error| {100 * ins['final_mean_abs_error']:.2f} %)."]
    return "\n".join(lines) + "\n"


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
                rec["designs"].append(item)
                print(f"[25m {name} T={T} {family}] {d.designed.spec or 'free'}: "
                      f"{d.designed.loss:.5f}; " + ", ".join(
                          f"{b.spec}@{b.peak:.3g} {b.loss:.5f}" for b in d.baselines),
                      file=sys.stderr)
        out["models"][name] = rec
    return out


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
    ap.add_argument("part", choices=("testbed", "mpl25m", "pilots", "design"),
                    help="design: the testbed's pilots, fit and designs, without the targets")
    RESULTS.mkdir(exist_ok=True)
    ap.add_argument("--testbed", choices=tuple(TESTBEDS), default="mlp")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    TB.clear()
    TB.update(TESTBEDS[args.testbed])
    args.work = args.work or ROOT / "work" / f"design-{args.testbed}"
    args.work.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.part == "mpl25m":
        res = mpl25m(args.work)
        (RESULTS / "design-25m.json").write_text(json.dumps(jsonable(res), indent=1))
        md = markdown_25m(res)
        (RESULTS / "design-25m.md").write_text(md)
        print(md)
    if args.part == "testbed":
        res, model = testbed(args.work)
        plot_targets(res, model, RESULTS / "design-testbed.png")
        (RESULTS / "design-testbed.json").write_text(json.dumps(jsonable(res), indent=1))
        md = markdown_testbed(res)
        (RESULTS / "design-testbed.md").write_text(md)
        print(md)
    if args.part == "design":
        res, _ = testbed(args.work, train=False)
        print(json.dumps(jsonable({k: res[k] for k in ("fit_choice", "schedules")}), indent=1))
    if args.part == "pilots":
        runs = pilots(args.work)
        for r in runs:
            print(r.name, r.status, f"{final(r):.4f}")


if __name__ == "__main__":
    main()
