"""Which design protocol predicts the measured gain? (issue 12: the gain over cosine was
predicted at 0.56 of the measured one)

    python bench/design_protocols.py [--work DIR]

Reads the fresh testbed's stores (``DIR``/pilots.db with the pilots at T = 200 … 1600,
targets.db and schedules.json of ``python bench/design.py testbed``). A protocol is

- the pilot horizons (``HORIZONS``): T = 200, 400, 800 (the bench), + 1600 (``--testbed
  fresh-1600`` trains them), or only the longest: 400 … 1600, 800 and 1600;
- the weights of the evaluations in the fit (``design_fit.WEIGHTS``);
- the pilot schedules fitted: cosine + WSD(0.2) (the bench) or + linear;
- the selection of the model among ``design.DESIGN_MODELS`` by the shorter pilots'
  prediction of the longest pilots: final losses, or the gaps between schedules
  (``design_fit.SELECTIONS``).

For every protocol and candidate model: the selection scores (fitted at T < T_max), then
the model refitted on every pilot predicts the gains of the *trained* design (the
targets' free spline, measured at T = 4000, 5 seeds) over cosine, WSD(0.2) and linear —
each at the model's own tuned peak, as a design reports them — and designs its own free
schedule at T = 4000 (its predicted gains, its peak, and how far its shape is from the
trained one: max |Δ shape|). A protocol whose own design differs from the trained one
must have that design trained before its gain is known (``bench/design.py testbed``).
Results: bench/results/design-testbed-protocols.{json,md,png}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import design as dz  # bench/design.py
import design_models as dm  # bench/design_models.py
import numpy as np
from design_fit import SELECTIONS, WEIGHTS, gap_error, weighted

# the bench's pilots, + T = 1600, and the longest horizons only (the fitted c of the
# effective distance drifts with T: a fit for T = 4000 may do better without the shortest)
HORIZONS = ((200, 400, 800), (200, 400, 800, 1600), (400, 800, 1600), (800, 1600))
FIT_SETS = {"cosine+wsd": dz.FRESH_BASE[:2], "cosine+wsd+linear": dz.FRESH_BASE}
GOAL = 0.3
# the models a protocol chooses among: the bench's (no peak covariate, see design.py) or
# all five (a peak covariate may let a free shape game it: check the own design's shape)
POOLS = {"design": dz.DESIGN_MODELS, "all": dz.CURVE_MODELS}


def pilot_compute(runs: list) -> dict:
    """Steps trained and the CPU seconds of training (``cpu_time``, 1 torch thread; data
    set-up excluded) of the pilots, diverged runs included."""
    cpu = [r.tags.get("cpu_time") for r in runs]
    return {"runs": len(runs), "steps": int(sum(r.tags.get("steps_done") or r.T for r in runs)),
            "cpu_seconds": float(sum(c for c in cpu if c is not None)),
            "timed": sum(c is not None for c in cpu)}


def score_protocol(H: tuple, mode: str, fitset: str, name: str, pil: list,
                   target: dict) -> dict:
    """Selection scores at T_max, then predicted vs measured gains of the trained design
    and the protocol's own design."""
    from convexlaw.design import design_schedule
    from convexlaw.protocols import make_model

    kind, burn = dz.TB["kind"], dz.TB["burn_in"]
    Tmax = max(H)
    within = [r for r in pil if r.T in H]
    every = dz.usable(within)
    fit_runs = dz.usable(within, FIT_SETS[fitset])
    short = [r for r in fit_runs if r.T < Tmax]
    m = make_model(name, kind=kind, burn_in=burn).fit(weighted(short, kind, mode))
    finals = [dz.predicted_final(m, r.lrs, r.peak_lr) / dz.final(r) - 1
              for r in fit_runs if r.T == Tmax]
    gaps = gap_error(m, [r for r in every if r.T == Tmax], "cosine", dz.final,
                     dz.predicted_final)
    t0 = time.perf_counter()
    model = make_model(name, kind=kind, burn_in=burn).fit(weighted(fit_runs, kind, mode))
    fit_s = time.perf_counter() - t0
    # the trained design and the baselines at the model's own tuned peaks
    peaks = [p for c in target.values() for p in c["mean"]]
    tuned = {k: dm.tuned(model, c["shape"], min(peaks), max(peaks)) for k, c in target.items()}
    old = {}
    for b in ("cosine", "wsd", "linear"):
        meas = target[b]["loss"] - target["designed"]["loss"]
        pred = (None if tuned[b] is None or tuned["designed"] is None
                else tuned[b][1] - tuned["designed"][1])
        old[b] = {"measured": meas, "predicted": pred,
                  "ratio": None if pred is None else pred / meas}
    base = list(dz.TB["baselines"])
    d = design_schedule(model, dz.TB["target_T"], family="free", baselines=base)
    new = {key: b.loss - d.designed.loss
           for key, b in zip(("cosine", "wsd", "linear"), d.baselines, strict=True)}
    shift = float(np.max(np.abs(d.designed.shape - target["designed"]["shape"])))
    return {"horizons": list(H), "weights": mode, "fit_set": fitset, "model": name,
            "n_fit": len(fit_runs), "final_error": float(np.mean(np.abs(finals))),
            "gap_rms": gaps["rms"], "gap_slope": gaps["slope"], "gap_pairs": gaps["pairs"],
            "params": model.params_, "fit_seconds": fit_s,
            "trained_design": old,
            "tuned_peaks": {k: None if v is None else v[0] for k, v in tuned.items()},
            "own_design": {"peak": d.designed.peak, "loss": d.designed.loss,
                           "gains": new, "max_shape_change": shift,
                           "shape_at": {f"{q:.2f}": float(d.designed.shape[int(q * 3999)])
                                        for q in (0.25, 0.33, 0.5, 0.75, 0.9, 1.0)}},
            "_design": d}


def choose(rows: list, select: str) -> dict:
    key = "final_error" if select == "final" else "gap_rms"
    return min(rows, key=lambda r: r[key])


def run(work: Path) -> dict:
    from convexlaw.protocols import make_model
    from convexlaw.runs import RunStore

    store = RunStore(work / "pilots.db")  # holds other configs too: the bench's pilots only
    pil = [store.get(c.run_id()) for c in dz.pilot_configs()]
    schedules = json.loads((work / "schedules.json").read_text())
    done = RunStore(work / "targets.db").list(curves=True)
    target = dm.cells(done, {k: v[0] for k, v in schedules.items()})
    rows = []
    for H, mode, fitset in itertools.product(HORIZONS, WEIGHTS, FIT_SETS):
        for name in dz.CURVE_MODELS:
            r = score_protocol(H, mode, fitset, name, pil, target)
            rows.append(r)
            o = r["trained_design"]
            print(f"  T={_hlabel(H)} {mode} {fitset} {name}: final {100 * r['final_error']:.2f} %"
                  f", gap RMS {r['gap_rms']:.4f} slope {r['gap_slope']:.2f}; trained design "
                  + ", ".join(f"{b} {_f(o[b]['predicted'])} ({_f(o[b]['ratio'], 2)})"
                              for b in o)
                  + f"; own design peak {r['own_design']['peak']:.4g} Δshape "
                  f"{r['own_design']['max_shape_change']:.2f}", file=sys.stderr)
    protocols = []
    for H, mode, fitset in itertools.product(HORIZONS, WEIGHTS, FIT_SETS):
        cand = [r for r in rows if r["horizons"] == list(H) and r["weights"] == mode
                and r["fit_set"] == fitset]
        for pool, select in itertools.product(POOLS, SELECTIONS):
            c = choose([r for r in cand if r["model"] in POOLS[pool]], select)
            o = c["trained_design"]
            ok = all(o[b]["ratio"] is not None and abs(o[b]["ratio"] - 1) <= GOAL
                     for b in ("cosine", "wsd"))
            protocols.append({"horizons": list(H), "weights": mode, "fit_set": fitset,
                              "select": select, "pool": pool, "model": c["model"],
                              "ratios": {b: o[b]["ratio"] for b in o},
                              "ranking": all(o[b]["predicted"] is not None
                                             and np.sign(o[b]["predicted"])
                                             == np.sign(o[b]["measured"])
                                             for b in ("cosine", "wsd")),
                              "goal": ok})
    horizon_gaps = {}
    for T in HORIZONS[-1]:
        c = dm.cells(dz.usable([r for r in pil if r.T == T]),
                     dict(zip(("cosine", "wsd", "linear"), dz.FRESH_BASE, strict=True)))
        horizon_gaps[T] = {b: c["cosine"]["loss"] - c[b]["loss"] for b in ("wsd", "linear")}
    horizon_gaps[dz.TB["target_T"]] = {b: target["cosine"]["loss"] - target[b]["loss"]
                                       for b in ("wsd", "linear")}
    # one fit per horizon (cosine + WSD(0.2)): does a coefficient drift with T?
    per_horizon = {}
    for name in ("convex-ed-gt", "convex-ed-peak"):
        for T in (*HORIZONS[-1], dz.TB["target_T"]):
            runs = (dz.usable([r for r in pil if r.T == T], dz.FRESH_BASE[:2])
                    if T < dz.TB["target_T"] else
                    [r for r in done if r.status == "finished" and r.schedule in dz.FRESH_BASE[:2]])
            m = make_model(name, kind=dz.TB["kind"], burn_in=dz.TB["burn_in"]).fit(runs)
            per_horizon.setdefault(name, {})[T] = m.params_
    compute = {f"T = {_hlabel(H)}": pilot_compute([r for r in pil if r.T in H
                                               and r.schedule in dz.FRESH_BASE])
               for H in HORIZONS}
    return {"targets": {k: {x: c[x] for x in ("spec", "peak", "loss")}
                        for k, c in target.items()},
            "rows": rows, "protocols": protocols, "pilot_compute": compute,
            "horizon_gaps": horizon_gaps, "per_horizon": per_horizon}


def _hlabel(H) -> str:
    return f"{min(H)}…{max(H)}"


def _f(v, d: int = 4) -> str:
    return "—" if v is None else (f"{v:+.{d}f}" if d == 4 else f"{v:.{d}f}")


def markdown(res: dict) -> str:
    t = res["targets"]
    meas = {b: t[b]["loss"] - t["designed"]["loss"] for b in ("cosine", "wsd", "linear")}
    lines = ["## Design protocols: which one predicts the trained design's gain", "",
             "Measured at T = 4000 (5 seeds, each schedule at its seed-mean best peak): gain of "
             "the trained design over " + ", ".join(f"{b} {v:+.4f}" for b, v in meas.items())
             + ".", "",
             "Pilot compute (cosine, WSD(0.2), linear; 6 peaks × 3 seeds; diverged runs "
             "included): " + "; ".join(f"{k}: {v['runs']} runs, {v['steps']:,} steps, "
                                       f"{v['cpu_seconds']:.0f} CPU s ({v['timed']} timed)"
                                       for k, v in res["pilot_compute"].items()), "",
             "Measured cosine − WSD(0.2) and cosine − linear (seed means at each one's best "
             "peak; > 0: cosine is worse) per horizon: " + "; ".join(
                 f"T = {T}: {g['wsd']:+.4f}, {g['linear']:+.4f}"
                 for T, g in res["horizon_gaps"].items()) + ".", "",
             "One fit per horizon (cosine + WSD(0.2) runs of that T only; T = 4000: the "
             "targets): " + "; ".join(
                 f"{name}: " + ", ".join(f"T = {T}: c = {p['c']:.2f}, L∞ = {p['L_inf']:.3f}"
                                         for T, p in hz.items())
                 for name, hz in res["per_horizon"].items()) + ".", "",
             "Every protocol × candidate model: selection scores (fitted at T < T_max, scored "
             "at T_max: final-loss mean |error|, gap RMS and slope), then the model refitted "
             "on every pilot: predicted gain of the trained design (ratio to measured) and "
             "its own design at T = 4000.", "",
             "| pilots | weights | fitted | model | final err | gap RMS | gap slope | "
             "cosine pred (ratio) | WSD pred (ratio) | linear pred (ratio) | own design: "
             "peak, gains cos / WSD / lin | Δshape | own shape at t/T = 0.25, 0.5, 0.75, 0.9 |",
             "|" + "---|" * 13]
    for r in res["rows"]:
        o, d = r["trained_design"], r["own_design"]
        lines.append(
            f"| T = {_hlabel(r['horizons'])} | {r['weights']} | {r['fit_set']} | {r['model']} | "
            f"{100 * r['final_error']:.2f} % | {r['gap_rms']:.4f} | {_f(r['gap_slope'], 2)} | "
            + " | ".join(f"{_f(o[b]['predicted'])} ({_f(o[b]['ratio'], 2)})"
                         for b in ("cosine", "wsd", "linear"))
            + f" | {d['peak']:.4g}: " + " / ".join(f"{d['gains'][b]:+.4f}"
                                                   for b in ("cosine", "wsd", "linear"))
            + f" | {d['max_shape_change']:.2f} | "
            + ", ".join(f"{d['shape_at'][q]:.2f}" for q in ("0.25", "0.50", "0.75", "0.90"))
            + " |")
    lines += ["", "Protocols (the model each selection picks; ratio = predicted / measured "
              "gain of the trained design; goal: cosine and WSD within 30 %, ranking holds):",
              "", "| pilots | weights | fitted | candidates | select | model | cosine | WSD | "
              "linear | ranking | goal |", "|" + "---|" * 11]
    for p in res["protocols"]:
        lines.append(f"| T = {_hlabel(p['horizons'])} | {p['weights']} | {p['fit_set']} | "
                     f"{p['pool']} | {p['select']} | {p['model']} | "
                     + " | ".join(_f(p["ratios"][b], 2) for b in ("cosine", "wsd", "linear"))
                     + f" | {'holds' if p['ranking'] else 'FAILS'} | "
                     f"{'met' if p['goal'] else 'missed'} |")
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    """Predicted / measured gain of the trained design over cosine (x) and WSD (y), every
    protocol × model; the box is the goal (both within 30 %)."""
    from convexlaw.plot import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.add_patch(plt.Rectangle((1 - GOAL, 1 - GOAL), 2 * GOAL, 2 * GOAL, color="tab:green",
                               alpha=0.12, label="goal: both within 30 %"))
    markers = dict(zip(dz.CURVE_MODELS, "osD^v", strict=True))
    cmap = plt.get_cmap("tab20")
    colours = {(h, w): cmap(i) for i, (h, w) in enumerate(itertools.product(
        [_hlabel(H) for H in HORIZONS], WEIGHTS))}
    seen = set()
    for r in res["rows"]:
        o = r["trained_design"]
        x, y = o["cosine"]["ratio"], o["wsd"]["ratio"]
        if x is None or y is None:
            continue
        key = (_hlabel(r["horizons"]), r["weights"])
        label = f"pilots T = {key[0]}, weights {key[1]}"
        ax.plot(x, y, markers[r["model"]], color=colours[key], ms=7, alpha=0.8,
                mfc="none" if r["fit_set"] != "cosine+wsd" else colours[key],
                label=label if label not in seen else None)
        seen.add(label)
    for name, m in markers.items():
        ax.plot([], [], m, color="grey", label=name)
    ax.plot([], [], "o", color="grey", mfc="none", label="open: + linear pilots fitted")
    ax.axvline(1, color="k", lw=0.6)
    ax.axhline(1, color="k", lw=0.6)
    ax.set_xlim(0, 1.5)
    ax.set_ylim(0, 3.2)
    ax.set_xlabel("gain over cosine: predicted / measured")
    ax.set_ylabel("gain over WSD(0.2): predicted / measured")
    ax.set_title("Trained design at T = 4000 (MLP-128, fresh data): predicted / measured "
                 "gain,\nevery pilot protocol × curve model (fitted on the pilots only)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    _save(fig, path)


def train_own(work: Path, lo: int, hi: int, mode: str, fitset: str, name: str) -> dict:
    """Train one protocol's own free design at the target T around its predicted peak (as
    the bench does: 5 grid peaks, seeds 0–4, extended until bracketed) and measure its gain
    over the targets' cosine, WSD(0.2) and linear (already trained)."""
    from convexlaw.runs import RunStore

    H = next(h for h in HORIZONS if (min(h), max(h)) == (lo, hi))
    store = RunStore(work / "pilots.db")
    pil = [store.get(c.run_id()) for c in dz.pilot_configs()]
    schedules = json.loads((work / "schedules.json").read_text())
    done = RunStore(work / "targets.db").list(curves=True)
    target = dm.cells(done, {k: v[0] for k, v in schedules.items()})
    r = score_protocol(H, mode, fitset, name, pil, target)
    d = r.pop("_design")
    d.designed.spec = dz.frozen_csv(d)
    own = {"designed": (d.designed.spec, d.designed.peak)}
    trained = dz.targets(own, work)
    everything = RunStore(work / "targets.db").list(curves=True)
    both = {k: tuple(v) for k, v in schedules.items() if k != "designed"} | own
    table = dz.measured([r for r in everything if r.schedule in {v[0] for v in both.values()}],
                        both)
    base = dict(zip(("cosine", "wsd", "linear"), d.baselines, strict=True))
    gains = dz.gains(table)
    for b, c in base.items():
        g = gains[b]
        g["predicted"] = c.loss - d.designed.loss
        g["ratio"] = g["predicted"] / g["measured_tuned"] if g["measured_tuned"] else None
        g["ranking_holds"] = bool(np.sign(g["predicted"]) == np.sign(g["measured_tuned"]))
        g["within_30pct"] = bool(g["ratio"] is not None and abs(g["ratio"] - 1) <= GOAL)
    print(f"  {len(trained)} target runs of the own design", file=sys.stderr)
    out = {"protocol": {"horizons": list(H), "weights": mode, "fit_set": fitset,
                        "model": name}, "spec": d.designed.spec,
           "predicted_peak": d.designed.peak, "predicted_loss": d.designed.loss,
           "baselines_predicted": {b: {"peak": c.peak, "loss": c.loss} for b, c in base.items()},
           "targets": table, "gains": gains}
    return out


def markdown_own(out: dict) -> str:
    p, t = out["protocol"], out["targets"]
    lines = [f"## Own design of {p['model']} (pilots T = {_hlabel(p['horizons'])}, weights "
             f"{p['weights']}, fitted on {p['fit_set']}), trained at T = "
             f"{dz.TB['target_T']}", "",
             f"Predicted peak {out['predicted_peak']:.4g}, predicted loss "
             f"{out['predicted_loss']:.4f}; measured best peak "
             f"{t['designed']['measured_peak']:.4g}, loss {t['designed']['measured_loss']:.4f} "
             f"(seeds {dz.TB['seeds']}). Baselines: the targets of the bench (already trained).",
             "", "| gain over | predicted | measured (tuned, ± s.e.) | per seed | ratio | "
             "ranking | within 30 % |", "|---|---|---|---|---|---|---|"]
    for b, g in out["gains"].items():
        lines.append(f"| {b} | {g['predicted']:+.4f} | {g['measured_tuned']:+.4f} ± "
                     f"{g['per_seed_se']:.4f} | "
                     + ", ".join(f"{v:+.4f}" for v in g["per_seed"])
                     + f" | {_f(g['ratio'], 2)} | {'holds' if g['ranking_holds'] else 'FAILS'}"
                     f" | {'yes' if g['within_30pct'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=dz.ROOT / "work" / "design-fresh")
    ap.add_argument("--train", default=None, metavar="LO-HI,WEIGHTS,FITSET,MODEL",
                    help="train one protocol's own design, e.g. 200-1600,all,cosine+wsd,"
                    "convex-ed-peak")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    dz.TB.clear()
    dz.TB.update(dz.TESTBEDS["fresh-1600"])
    if args.train:
        h, mode, fitset, name = args.train.split(",")
        lo, hi = (int(x) for x in h.split("-"))
        out = train_own(args.work, lo, hi, mode, fitset, name)
        path = dz.RESULTS / f"design-testbed-own-{name}-T{lo}-{hi}-{mode}-{fitset}.json"
        path.write_text(json.dumps(dz.jsonable(out), indent=1))
        md = markdown_own(out)
        path.with_suffix(".md").write_text(md)
        print(md)
        return
    res = run(args.work)
    for r in res["rows"]:
        r.pop("_design")
    out = dz.RESULTS / "design-testbed-protocols"
    out.with_suffix(".json").write_text(json.dumps(dz.jsonable(res), indent=1))
    md = markdown(res)
    out.with_suffix(".md").write_text(md)
    plot(res, out.with_suffix(".png"))
    print(md)


if __name__ == "__main__":
    main()
