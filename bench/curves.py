"""Benchmark: loss-curve models on the published curves (../shared/data), side by side.

    python bench/curves.py [--quick] [--out bench/results/curves.json] [--data DIR]

Prints markdown tables:
  (a) the Multi-Power-Law protocol on mpl-25m (fit cosine_24000, constant_24000, wsdcon_9;
      predict the other six), every model, every metric;
  (b) seq2seq (fit the first half after burn-in, score the second half) on every 124M run
      and every mpl-25m run;
  (c) cross-horizon (cos-10 124M: fit T = 15000, predict T = 25000) and cross-LR (cos-zero
      124M at 25k: fit peaks 1e-4, 5e-4, 2e-3, predict 1e-3), plus a 2× horizon + schedule
      transfer (fit the four cos-zero 25k runs, predict the four constant-LR 50k runs);
  (d) which peak-LR dependence the 124M cos-zero runs support (γ of the whole bound,
      G ∝ η_peak^(−β), or separate exponents for the D- and G-parts).
PredE = mean over the predicted runs of each run's mean relative error (the Multi-Power
Law's convention), WorstE = the largest relative error, R²/MAE/RMSE pooled over points.
A '*' marks a fit the model itself reports as not identified.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from convexlaw.protocols import (
    cross_horizon,
    cross_lr,
    cross_schedule,
    evaluate,
    make_model,
    seq2seq,
    short_name,
)
from convexlaw.runs import load_runs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOUND_MODELS = ["convex", "convex-gt", "convex-ed", "convex-ed-gt"]
EXTRA_A = ["convex-gt-3t"]
PEERS = ["mpl", "tissue", "powerlaw"]
PEAK_MODELS = ["convex-ed-peak", "convex-ed-gpeak", "convex-ed-gt-gpeak"]
BURN_IN_124M = 1000  # steps: past the 300-step warm-up and the first fast transient


def _pct(x: float) -> str:
    return f"{100 * x:.3f} %" if np.isfinite(x) else "—"


def _run(model: str, split, burn_in: int, kind: str | None, **hyper) -> dict:
    m = make_model(model, burn_in=burn_in, kind=kind, **hyper)
    try:
        r = evaluate(m, split)
    except (ValueError, RuntimeError) as err:  # report, do not hide, a failed fit
        return {"model": model, "error": str(err)}
    r["model"] = model
    r.pop("curves", None)
    return r


def table_a(runs25, models) -> tuple[str, list[dict]]:
    split = cross_schedule(runs25)
    rows = []
    out = ["### (a) Multi-Power-Law protocol, mpl-25m: fit cosine_24000, constant_24000, "
           "wsdcon_9; predict the other six", "",
           "| model | k | R² | MAE | RMSE | PredE | WorstE | c | fit s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name in models:
        r = _run(name, split, 0, None)
        rows.append(r)
        if "error" in r:
            out.append(f"| {name} | — | fit failed: {r['error']} |||||||")
            continue
        m = r["metrics"]
        c = r["params"].get("c")
        star = "" if r["identified"] else "*"
        out.append(f"| {name}{star} | {r['k']} | {m['R2']:.4f} | {m['MAE']:.5f} | "
                   f"{m['RMSE']:.5f} | {_pct(m['PredE'])} | {_pct(m['WorstE'])} | "
                   f"{'' if c is None else f'{c:.3f}'} | {r['fit_seconds']:.1f} |")
    return "\n".join(out), rows


def table_b(runs, models, burn_of) -> tuple[str, list[dict]]:
    rows = []
    head = "| run | " + " | ".join(models) + " |"
    out = ["### (b) seq2seq: fit the first half (after burn-in), PredE / WorstE on the "
           "second half", "", head, "|---|" + "---|" * len(models)]
    for run in runs:
        split = seq2seq(run, burn_in=burn_of(run))
        cells = []
        for name in models:
            r = _run(name, split, burn_of(run), None)
            r["run"] = short_name(run)
            rows.append(r)
            if "error" in r:
                cells.append("failed")
                continue
            star = "" if r["identified"] else "*"
            cells.append(f"{_pct(r['metrics']['PredE'])} / {_pct(r['metrics']['WorstE'])}"
                         f"{star}")
        out.append(f"| {short_name(run)} | " + " | ".join(cells) + " |")
    wins = {}
    for name in models:
        wins[name] = 0
    for run in runs:
        res = [r for r in rows if r.get("run") == short_name(run) and "error" not in r]
        if res:
            best = min(res, key=lambda r: r["metrics"]["PredE"])
            wins[best["model"]] += 1
    out.append("")
    out.append("Best PredE per run: " + ", ".join(f"{k} {v}" for k, v in wins.items()))
    return "\n".join(out), rows


def table_transfer(title, split, models, burn_in) -> tuple[str, list[dict]]:
    rows = []
    runs = [short_name(r) for r in split.test]
    out = [f"### {title}", "", f"Split: {split.label}; fitted on "
           f"{', '.join(short_name(r) for r in split.fit)}", "",
           "| model | k | PredE | WorstE | R² | final-loss error per run (" +
           ", ".join(runs) + ") | fit s |", "|---|---|---|---|---|---|---|"]
    for name in models:
        r = _run(name, split, burn_in, None)
        rows.append(r)
        if "error" in r:
            out.append(f"| {name} | — | fit failed: {r['error']} |||||")
            continue
        m = r["metrics"]
        finals = " / ".join(f"{100 * x['final_rel_error']:+.2f} %" for x in r["runs"])
        star = "" if r["identified"] else "*"
        out.append(f"| {name}{star} | {r['k']} | {_pct(m['PredE'])} | {_pct(m['WorstE'])} | "
                   f"{m['R2']:.4f} | {finals} | {r['fit_seconds']:.1f} |")
    return "\n".join(out), rows


def table_peak(cos_zero) -> tuple[str, list[dict]]:
    """Fit the four cos-zero runs jointly under each peak-LR form; report exponents."""
    from convexlaw.curve import ConvexED
    from convexlaw.protocols import Split
    forms = [("none", {}), ("bound × (η/1e-3)^γ", {"peak": "bound"}),
             ("G ∝ η^(−β)", {"peak": "grad"}), ("D-part η^γD, G-part η^γG",
                                                  {"peak": "split"})]
    from convexlaw.curve import ConvexGT

    rows = []
    out = ["### (d) Peak-LR dependence, 124M cos-zero (4 peaks, joint fit, t > 1000)", "",
           "| form | k | exponents (± stderr) | in-sample mean rel. err | final loss pred − "
           "logged, peaks " + ", ".join(f"{r.peak_lr:g}" for r in cos_zero) +
           " | cross-LR PredE (→ 1e-3) |", "|---|---|---|---|---|---|"]
    # the pointer: the literal bound with G_t ∝ t^a (c = 0), one shared set
    r = evaluate(ConvexGT(burn_in=BURN_IN_124M), Split("joint", cos_zero, cos_zero))
    xl = evaluate(ConvexGT(burn_in=BURN_IN_124M), cross_lr(cos_zero, 1e-3))
    finals = " / ".join(f"{100 * x['final_rel_error']:+.2f} %" for x in r["runs"])
    rows.append({"form": "literal bound (c = 0), G_t ∝ t^a", "params": r["params"],
                 "fit_mean_rel_error": r["metrics"]["PredE"],
                 "final_rel_error": [x["final_rel_error"] for x in r["runs"]],
                 "cross_lr_PredE": xl["metrics"]["PredE"]})
    out.append(f"| literal bound (c = 0), G_t ∝ t^a, no peak factor | {r['k']} | "
               f"a = {r['params']['a']:.3f} ± {r['stderr']['a']:.3f} | "
               f"{_pct(r['metrics']['PredE'])} | {finals} | {_pct(xl['metrics']['PredE'])} |")
    for label, hyper in forms:
        for grad in ("constant", "power"):
            m = ConvexED(burn_in=BURN_IN_124M, grad=grad, **hyper)
            sp = Split("joint", cos_zero, cos_zero)
            r = evaluate(m, sp)
            ex = {k: (v, r["stderr"][k]) for k, v in r["params"].items()
                  if k in ("c", "a", "gamma", "beta", "gamma_D", "gamma_G")}
            exs = ", ".join(f"{k} = {v:.3f} ± {s:.3f}" for k, (v, s) in ex.items())
            finals = " / ".join(f"{100 * x['final_rel_error']:+.2f} %" for x in r["runs"])
            xl = evaluate(ConvexED(burn_in=BURN_IN_124M, grad=grad, **hyper),
                          cross_lr(cos_zero, 1e-3))
            rows.append({"form": label, "grad": grad, "params": r["params"],
                         "stderr": r["stderr"], "fit_mean_rel_error": r["metrics"]["PredE"],
                         "final_rel_error": [x["final_rel_error"] for x in r["runs"]],
                         "cross_lr_PredE": xl["metrics"]["PredE"],
                         "cross_lr_final": [x["final_rel_error"] for x in xl["runs"]]})
            g = "G_t ∝ t^a, " if grad == "power" else ""
            out.append(f"| {g}{label} | {r['k']} | {exs} | {_pct(r['metrics']['PredE'])} | "
                       f"{finals} | {_pct(xl['metrics']['PredE'])} |")
    return "\n".join(out), rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset, under a minute")
    ap.add_argument("--out", type=Path, default=None, help="write all results as JSON")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data directory")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    runs25 = load_runs(sorted(str(p) for p in (args.data / "mpl-25m").glob("*.csv")))
    runs124 = load_runs(sorted(str(p) for p in (args.data / "lr-scheduling-124m")
                               .glob("*.json")))
    by = {short_name(r): r for r in runs124}
    cos_zero = sorted([r for r in runs124 if r.name.startswith("cos-zero")],
                      key=lambda r: r.peak_lr)
    cos10 = [r for r in runs124 if r.name.startswith("cos-10")]
    stable = [r for r in runs124 if r.name.startswith("stable")]
    results: dict = {"command": "python bench/curves.py" + (" --quick" if args.quick else "")}

    def burn_of(run):
        return BURN_IN_124M if "124m" in run.name else 0

    if args.quick:
        models_a = ["convex", "convex-ed", "convex-ed-gt", "tissue", "powerlaw"]
        seq_runs = [by["cos-zero-124m lr0.001 T25000"], runs25[2]]
        seq_models = ["convex-ed-gt", "tissue"]
    else:
        models_a = BOUND_MODELS + EXTRA_A + PEERS
        seq_runs = runs124 + runs25
        seq_models = BOUND_MODELS + PEERS
    sections = []
    text, results["mpl_protocol"] = table_a(runs25, models_a)
    sections.append(text)
    print(text + "\n", flush=True)
    text, results["seq2seq"] = table_b(seq_runs, seq_models, burn_of)
    sections.append(text)
    print(text + "\n", flush=True)

    xmodels = (["convex-ed-gt", "convex-ed-peak", "convex-ed-gt-gpeak", "tissue"]
               if args.quick else
               BOUND_MODELS + PEAK_MODELS + PEERS)
    horizon = cross_horizon([r for r in cos10 if r.peak_lr in (1e-3, 2e-3)])
    text, results["cross_horizon"] = table_transfer(
        "(c1) cross-horizon, 124M cos-10 (fit T = 15000, predict T = 25000)", horizon,
        xmodels, BURN_IN_124M)
    print(text + "\n", flush=True)
    text, results["cross_lr"] = table_transfer(
        "(c2) cross-LR, 124M cos-zero at 25k (fit 1e-4, 5e-4, 2e-3; predict 1e-3)",
        cross_lr(cos_zero, 1e-3), xmodels, BURN_IN_124M)
    print(text + "\n", flush=True)
    if not args.quick:
        from convexlaw.protocols import Split
        sp = Split("cos-zero 25k -> stable 50k", cos_zero, stable)
        text, results["horizon_schedule"] = table_transfer(
            "(c3) 2× horizon and schedule: fit the four cos-zero 25k runs, predict the four "
            "constant-LR 50k runs", sp, xmodels, BURN_IN_124M)
        print(text + "\n", flush=True)
        text, results["peak_dependence"] = table_peak(cos_zero)
        print(text + "\n", flush=True)
    secs = time.perf_counter() - t_start
    results["seconds"] = round(secs, 1)
    print(f"total {secs:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=float))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
