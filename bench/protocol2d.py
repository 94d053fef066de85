"""The paper's two-dimensional protocol (Bu, Xu & Mao, §5, eq. 5.1) at CPU scale, measured.

    python bench/protocol2d.py [--db /work/data/protocol2d.db] [--train/--no-train]
                               [--json bench/results/protocol2d.json] [--quick]

The paper: runs at η_peak = η_ref/√T for several sizes N, horizons T and values of η_ref;
per size, the final loss is a straight line in 1/√T; the best η_ref found on a small
model at short horizons is reused unchanged for larger models and longer horizons.

Here, on the two fresh-data testbeds of ``bench/testbed.py`` (cosine to zero, horizons
T = 50 … 4000: 80×):

- ``--testbed mlp`` (default): the demo's Fashion-MNIST MLP, batch 14, SGD; widths 8, 32,
  128, 512 (N = 6.4 k … 670 k: 105×); seven η_ref 0.05 … 3.2 (×2 apart): 196 runs;
- ``--testbed gpt``: the byte-GPT on kjv-news with the paper's Muon-NSGD; widths 8, 32,
  128 (N = 4.3 k … 438 k: 101×); six η_ref 0.125 … 4: 126 runs.

Measured and printed:

1. the final-loss grid;
2. per size, the straight line L = a + b/√T through the best η_ref at each T (and at
   each fixed η_ref): R², worst relative residual — where the line holds;
3. η_ref*(N, T), the measured best η_ref per cell (parabola in log η_ref), and the
   paper's transfer: η_ref* of the smallest model at T ≤ 200 reused everywhere, its
   regret (loss above the cell's best) in every cell;
4. beside it our fitted laws (``convexlaw.plan``): per size, a plan from the runs at
   T ≤ 200 for T = 4000 (80× the shortest); across sizes, a plan from the smaller sizes
   for the largest (101× the smallest) at every T, its variant chosen on the size split
   (the smaller pilot sizes predict the largest pilot size at every horizon:
   ``convexlaw.laws.sizesplit``; diagnosis in ``bench/protocol2d_size.py``); η* and loss
   errors against the measured optimum, with the paper's literal rule (η_ref/√T; the loss
   from the 1/√T line of the pilots) and the law as written in the same table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTBEDS = {
    # the demo's testbed (bench/testbed.py): Fashion-MNIST MLP, batch 14, SGD — widths
    # 8 … 512 (N = 6.4 k … 670 k: 105×)
    "mlp": dict(base=dict(model="mlp", dataset="fashion-mnist", batch_size=14,
                          optimizer="sgd", schedule="cosine", eval_size=10000, seed=0),
                sizes=(8, 32, 128, 512), eta_refs=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)),
    # the paper's optimizer: byte-GPT on kjv-news with Muon-NSGD — widths 8 … 128
    # (N = 4.3 k … 438 k: 101×)
    "gpt": dict(base=dict(model="gpt", depth=2, dataset="kjv-news", context=64,
                          batch_size=16, sampling="fresh", optimizer="muon-nsgd",
                          schedule="cosine", eval_size=512, seed=0),
                sizes=(8, 32, 128), eta_refs=(0.125, 0.25, 0.5, 1.0, 2.0, 4.0)),
}
HORIZONS = (50, 100, 200, 500, 1000, 2000, 4000)
QUICK = dict(sizes=(8, 16), horizons=(20, 40, 80), eta_refs=(0.25, 0.5, 1.0, 2.0, 4.0))
ETA_GOAL, LOSS_GOAL = 1.25, 0.01


def peak_of(eta_ref: float, T: int) -> float:
    return float(f"{eta_ref / math.sqrt(T):.6g}")


def configs(base: dict, sizes, horizons, eta_refs) -> list:
    from convexlaw.train import TrainConfig

    # only final losses enter the protocol: one held-out evaluation, after the last step
    return [TrainConfig(size=d, steps=T, peak=peak_of(e, T), eval_every=T, **base)
            for d in sizes for T in horizons for e in eta_refs]


def train_all(cfgs: list, db: Path) -> None:
    from convexlaw.runs import RunStore
    from convexlaw.sweep import Sweep, run_sweep

    store = RunStore(db)
    t0 = time.perf_counter()
    todo = sum(c.run_id() not in store for c in cfgs)
    print(f"<!-- protocol2d: {len(cfgs)} runs, {todo} to train -> {db} -->", file=sys.stderr)

    def progress(out, done, total):
        r = out.run
        v = f"{r.curve('val')[1][-1]:.4f}" if r is not None and "val" in r.curves else ""
        print(f"  [{done}/{total} {time.perf_counter() - t0:.0f}s] d={out.config.size} "
              f"T={out.config.steps} peak={out.config.peak:g} {out.status} {v} "
              f"{out.error or ''}", file=sys.stderr, flush=True)

    run_sweep(Sweep("protocol2d", cfgs), store, workers=2, on_result=progress)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def final(run) -> float:
    return float(run.curve("val")[1][-1]) if run.status == "finished" else math.inf


def parabola(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """The loss at log-LR ``x`` from the parabola through the three grid points nearest
    to it (linear between two points at the grid's edge)."""
    order = np.argsort(np.abs(xs - x))[:3]
    if len(order) < 3 or not np.isfinite(ys[order]).all():
        return float(np.interp(x, xs, ys))
    c = np.polyfit(xs[order], ys[order], 2)
    return float(np.polyval(c, x))


def line_fit(T: np.ndarray, L: np.ndarray) -> dict[str, float]:
    """L = a + b/√T by least squares: a, b, R², worst |relative residual|."""
    x = 1 / np.sqrt(T)
    b, a = np.polyfit(x, L, 1)
    pred = a + b * x
    ss = float(np.sum((L - L.mean()) ** 2))
    r2 = 1 - float(np.sum((L - pred) ** 2)) / ss if ss > 0 else float("nan")
    return {"a": float(a), "b": float(b), "R2": r2,
            "worst": float(np.max(np.abs(pred / L - 1))), "n": int(len(T))}


def analyse(runs: list, sizes, horizons, eta_refs) -> dict[str, Any]:
    from convexlaw.plan import PlanError, make_plan, measured_optimum

    widths = {r.tags["size"]: float(r.N) for r in runs}
    cell: dict[tuple[int, int], dict[float, float]] = {}
    by_cell: dict[tuple[int, int], list] = {}
    for r in runs:
        d, T = r.tags["size"], r.T
        e = float(f"{r.peak_lr * math.sqrt(T):.4g}")
        cell.setdefault((d, T), {})[e] = final(r)
        by_cell.setdefault((d, T), []).append(r)
    res: dict[str, Any] = {"sizes": {str(d): widths.get(d) for d in sizes},
                           "horizons": list(horizons), "eta_refs": list(eta_refs)}
    out: list[str] = []

    # 1. grid
    out.append("\n## Final held-out loss, η_peak = η_ref/√T\n")
    for d in sizes:
        rows = [[f"{e:g}"] + [f"{cell.get((d, T), {}).get(e, math.nan):.4f}"
                              for T in horizons] for e in eta_refs]
        out.append(f"width {d} (N = {widths.get(d, 0):,.0f})\n")
        out.append(table(["η_ref"] + [f"T={T}" for T in horizons], rows) + "\n")
    res["grid"] = [{"size": d, "N": widths.get(d), "T": T, "eta_ref": e, "loss": v}
                   for (d, T), m in sorted(cell.items()) for e, v in sorted(m.items())]

    # 3 (needed by 2). best η_ref per cell
    best: dict[tuple[int, int], tuple[float, float, bool]] = {}
    for key, m in cell.items():
        es = sorted(m)
        best[key] = measured_optimum(es, [m[e] for e in es])
    # 2. straight lines in 1/√T
    out.append("\n## Per size: final loss a straight line in 1/√T?\n")
    rows, lines = [], []
    for d in sizes:
        Ts = [T for T in horizons if (d, T) in best]
        if len(Ts) < 3:
            continue
        sets = [("best η_ref per T", np.array([best[(d, T)][1] for T in Ts]), Ts)]
        for e in eta_refs:
            v = np.array([cell[(d, T)].get(e, math.inf) for T in Ts])
            sets.append((f"η_ref = {e:g}", v, Ts))
        for label, L, Ts_ in sets:
            ok = np.isfinite(L)
            for lo in (min(horizons), 500):
                sel = ok & (np.array(Ts_) >= lo)
                if sel.sum() < 3:
                    continue
                f = line_fit(np.array(Ts_, float)[sel], L[sel])
                holds = f["R2"] >= 0.95 and f["worst"] <= 0.01
                lines.append({"size": d, "set": label, "T_min": lo, **f, "holds": holds})
                rows.append([d, label, f"T ≥ {lo}", f["n"], f"{f['a']:.4f}", f"{f['b']:.3f}",
                             f"{f['R2']:.4f}", f"{100 * f['worst']:.2f} %",
                             "yes" if holds else "**no**"])
    out.append(table(["width", "runs", "fit over", "n", "a (L at T→∞)", "b", "R²",
                      "worst |resid|", "line holds (R² ≥ 0.95, all within 1 %)"], rows))
    res["lines"] = lines

    out.append("\n## Best η_ref per cell (parabola in log η_ref; * = at the grid's edge)\n")
    rows = [[d] + [f"{best[(d, T)][0]:.3g}" + ("" if best[(d, T)][2] else "*")
                   if (d, T) in best else "—" for T in horizons] for d in sizes]
    out.append(table(["width"] + [f"T={T}" for T in horizons], rows))
    res["best"] = [{"size": d, "T": T, "eta_ref_star": b[0], "loss_star": b[1],
                    "bracketed": b[2]} for (d, T), b in sorted(best.items())]

    def regret_ref(d: int, T: int, eta_ref: float) -> float:
        # the cell's loss at this η_ref (parabola in log η_ref through its grid) over its best
        m = cell[(d, T)]
        xs = np.log(np.array(sorted(m)))
        ys = np.array([m[e] for e in sorted(m)])
        return parabola(xs, ys, math.log(eta_ref)) / best[(d, T)][1] - 1

    # 3. the paper's transfer: η_ref* of the smallest model at short horizons, reused
    d0 = min(sizes)
    # "short horizons": the transfer's source and the per-size pilots (T = 50, 100, 200)
    SHORT = horizons[max(2, len(horizons) // 2) - 1]
    short = [T for T in horizons if T <= SHORT and (d0, T) in cell]
    es = sorted(set.intersection(*[set(cell[(d0, T)]) for T in short]))
    mean_loss = [np.mean([cell[(d0, T)][e] for T in short]) for e in es]
    e_src = measured_optimum(es, mean_loss)[0]
    out.append(f"\n## The paper's transfer: η_ref = {e_src:.3g} (best mean loss of width "
               f"{d0} over T ≤ {SHORT}) reused in every cell\n")
    rows, transfer = [], []
    for d in sizes:
        cells = []
        for T in horizons:
            if (d, T) not in cell:
                cells.append("—")
                continue
            regret = regret_ref(d, T, e_src)
            ratio = e_src / best[(d, T)][0]
            transfer.append({"size": d, "T": T, "eta_ratio": ratio, "regret": regret})
            cells.append(f"×{ratio:.2f}, {100 * regret:+.2f} %")
        rows.append([d] + cells)
    out.append(table(["width"] + [f"T={T}" for T in horizons], rows))
    out.append("\n(η_ref used / cell's best η_ref, and the loss there above the cell's "
               "best; the rule holds where the ratio is within ×1.25 and the regret "
               "≤ 1 %)")
    res["transfer"] = {"eta_ref": e_src, "source": f"width {d0}, T ≤ {SHORT}",
                       "cells": transfer}

    # 4. our fitted laws beside the literal rule
    def optimum_at(d: int, T: int) -> tuple[float, float, bool]:
        e, L, ok = best[(d, T)]
        return e / math.sqrt(T), L, ok

    def regret_at(d: int, T: int, eta: float | None) -> float | None:
        # where the loss is flat in η, an η* ratio far from 1 can cost almost nothing
        if eta is None or not math.isfinite(eta) or eta <= 0:
            return None
        return regret_ref(d, T, eta * math.sqrt(T))

    def plan_row(label: str, pilots: list, T: int, d: int, size: float | None) -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                p = make_plan(pilots, T, size=size, kind="val", n_boot=20, window=1.2,
                              curve_model=None if size else "convex-ed-peak")
            except PlanError as err:
                return {"label": label, "error": str(err)}
        eta_m, L_m, ok = optimum_at(d, T)
        lit = p.literal_forecast
        peer = p.peers.get("power_law", {})
        peer_eta = peer.get("eta_star")
        peer_loss = peer.get("loss_star")
        return {"peer_eta_ratio": None if peer_eta is None else peer_eta / eta_m,
                "peer_loss_err": None if peer_loss is None else peer_loss / L_m - 1,
                "label": label, "size": d, "T": T, "variant": p.variant,
                "eta_pred": p.eta_star, "eta_measured": eta_m, "bracketed": ok,
                "eta_ratio": p.eta_star / eta_m, "loss_pred": p.loss_star,
                "loss_measured": L_m, "loss_err": p.loss_star / L_m - 1,
                "loss_source": p.loss_source,
                "literal_eta_ratio": lit["eta_star"] / eta_m,
                "literal_loss_err": lit["loss_star"] / L_m - 1,
                "regret": regret_at(d, T, p.eta_star),
                "peer_regret": regret_at(d, T, peer_eta),
                "literal_regret": regret_at(d, T, lit["eta_star"])}

    preds = []
    T_long = max(horizons)
    for d in sizes:  # horizon: 80× the shortest pilot, per size
        pil = [r for (dd, T), rr in by_cell.items() if dd == d and T <= SHORT for r in rr]
        if (d, T_long) in best and pil:
            row = plan_row(f"width {d}: T ≤ {SHORT} → T = {T_long}", pil, T_long, d, None)
            # the paper's rule: η_ref of these pilots reused, loss from their 1/√T line
            sh = [T for T in horizons if T <= SHORT]
            es_ = sorted(cell[(d, sh[0])])
            e_d = measured_optimum(es_, [np.mean([cell[(d, T)][e] for T in sh])
                                         for e in es_])[0]
            f = line_fit(np.array(sh, float), np.array([best[(d, T)][1] for T in sh]))
            row["rule_eta_ratio"] = e_d / math.sqrt(T_long) / optimum_at(d, T_long)[0]
            row["rule_regret"] = regret_at(d, T_long, e_d / math.sqrt(T_long))
            row["rule_loss_err"] = (f["a"] + f["b"] / math.sqrt(T_long)) \
                / optimum_at(d, T_long)[1] - 1
            preds.append(row)
    big = max(sizes)
    small = [d for d in sizes if d != big]
    for T in horizons:  # size: the two smaller widths → the largest
        pil = [r for (dd, TT), rr in by_cell.items() if dd in small and TT <= T for r in rr]
        if (big, T) in best and len({r.T for r in pil}) >= 2:
            row = plan_row(f"widths {small} (T ≤ {T}) → width {big}, T = {T}", pil, T, big,
                           widths[big])
            e_small = best[(min(small), T)][0] if (min(small), T) in best else math.nan
            row["rule_eta_ratio"] = e_small / math.sqrt(T) / optimum_at(big, T)[0]
            row["rule_regret"] = regret_at(big, T, e_small / math.sqrt(T))
            row["rule_loss_err"] = None
            preds.append(row)
    out.append("\n## Our fitted laws beside the power-law peer, the paper's rule and the law as "
               "written\n")
    rows = []
    for p in preds:
        if "error" in p:
            rows.append([p["label"], "error: " + p["error"]] + [""] * 9)
            continue
        rule_loss = "—" if p.get("rule_loss_err") is None else \
            f"{100 * p['rule_loss_err']:+.2f} %"
        def eta_cell(ratio: float | None, regret: float | None) -> str:
            if ratio is None:
                return "—"
            return f"×{ratio:.3f}" + ("" if regret is None else f" ({100 * regret:+.2f} %)")

        peer_eta = eta_cell(p.get("peer_eta_ratio"), p.get("peer_regret"))
        peer_loss = "—" if p.get("peer_loss_err") is None else \
            f"{100 * p['peer_loss_err']:+.2f} %"
        rows.append([p["label"], p["variant"], eta_cell(p["eta_ratio"], p.get("regret")),
                     f"{100 * p['loss_err']:+.2f} % ({p['loss_source']})",
                     peer_eta, peer_loss, eta_cell(p["rule_eta_ratio"], p.get("rule_regret")),
                     rule_loss, eta_cell(p["literal_eta_ratio"], p.get("literal_regret")),
                     f"{100 * p['literal_loss_err']:+.2f} %",
                     "yes" if abs(math.log(p["eta_ratio"])) <= math.log(ETA_GOAL)
                     and abs(p["loss_err"]) <= LOSS_GOAL else "**no**"])
    out.append(table(["prediction", "ours: variant", "ours: η* ratio (regret)",
                      "ours: loss error", "power-law peer: η* (regret)", "peer: loss",
                      "paper's rule: η* ratio (regret)", "rule: loss error (1/√T line)",
                      "law as written: η* (regret)", "as written: loss",
                      "ours within ×1.25 and 1 %"], rows))
    out.append("\n(regret: the target cell's loss at that peak — parabola in log η_ref "
               "through its grid — above the cell's best)")
    res["predictions"] = preds
    res["text"] = "\n".join(out)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--testbed", choices=sorted(TESTBEDS), default="mlp")
    ap.add_argument("--db", type=Path, default=None,
                    help="run store (default /work/data/protocol2d[-gpt].db)")
    ap.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                    help="train what the store lacks (default) or only analyse it")
    ap.add_argument("--quick", action="store_true", help="tiny grid (pipeline check)")
    ap.add_argument("--sizes", default=None, help="comma list of widths (default: the "
                    "testbed's)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tb = TESTBEDS[args.testbed]
    sizes, horizons, eta_refs = (QUICK["sizes"], QUICK["horizons"], QUICK["eta_refs"]) \
        if args.quick else (tb["sizes"], HORIZONS, tb["eta_refs"])
    if args.sizes:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    suffix = "" if args.testbed == "mlp" else "-gpt"
    db = args.db or Path(f"/work/data/protocol2d{suffix}.db")
    cfgs = configs(tb["base"], sizes, horizons, eta_refs)
    if args.train:
        train_all(cfgs, db)
    from convexlaw.runs import RunStore

    store = RunStore(db)
    runs = [store.get(c.run_id()) for c in cfgs if c.run_id() in store]
    fresh = all(r.tags.get("fresh_data") for r in runs)
    top = max(r.tags.get("epochs", 0) for r in runs)
    res = analyse(runs, sizes, horizons, eta_refs)
    b = tb["base"]
    print(f"# The paper's 2-D protocol at CPU scale: {b['model']} on {b['dataset']}, "
          f"{b['optimizer']}, {b['schedule']} ({len(runs)} of {len(cfgs)} runs; regime: "
          f"{'fresh data, every step new' if fresh else 'DATA REPEAT'}, max {top:.2f} "
          "epochs)")
    print(res["text"])
    res["regime"] = {"fresh": fresh, "max_epochs": top}
    res["testbed"] = args.testbed
    res["command"] = f"python bench/protocol2d.py --testbed {args.testbed}" + \
        (" --quick" if args.quick else "")
    out = args.json or ROOT / "bench" / "results" / (
        f"protocol2d{suffix}" + ("-quick" if args.quick else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    res.pop("text")
    out.write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
