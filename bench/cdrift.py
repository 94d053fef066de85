"""Does the effective-distance exponent c drift with the horizon? And does letting it
(``ConvexEDHorizon``, c(T) = c + c1·ln(T/T_ref)) fix cross-horizon extrapolation?

    python bench/cdrift.py drift  [--work DIR]   c per horizon on the three data sets
    python bench/cdrift.py design [--work DIR]   the design testbed's gain prediction
    python bench/cdrift.py curves                the MPL protocol (25M), 124M transfers
    python bench/cdrift.py train [--model M --pilots LO HI]   train M's own design (T = 4000)

``drift``: c ± stderr fitted one horizon (or one window of the curves) at a time, every
other parameter fitted per horizon too; then one joint fit of the -hz variant on every
horizon (the other parameters shared): c1 ± stderr is the drift per e-fold of T.
(a) the design testbed (``bench/design.py``'s fresh MLP: pilots T = 200 … 1600, the
targets at T = 4000; cosine + WSD(0.2), burn-in 20, held-out loss); (b) the 124M runs
(val loss, burn-in 400 as the reference protocol): per run horizon and on windows
t ≤ 5k, 10k, 25k of the curves; (c) the 25M runs (training loss, burn-in 0): per horizon
(16k, 24k, 72k) and on windows of the 72k runs.
``DIR`` holds copies of the fresh testbed's stores (pilots.db, targets.db, schedules.json).
Results: bench/results/cdrift-*.{json,md}.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import design as dz  # noqa: E402  bench/design.py

from convexlaw.curve import ConvexEDHorizon, restrict  # noqa: E402
from convexlaw.protocols import MODELS, make_model  # noqa: E402
from convexlaw.runs import RunStore, load_runs  # noqa: E402

DATA = Path("/work/shared/data")
RESULTS = Path(__file__).resolve().parent / "results"
HZ = {"convex-ed-hz": {}, "convex-ed-gt-hz": {"grad": "power"},
      "convex-ed-peak-hz": {"peak": "bound"},
      "convex-ed-gt-gpeak-hz": {"grad": "power", "peak": "grad"}}


def register() -> None:
    """The -hz models under their CLI names (for the bench machinery that calls
    ``make_model``), unless protocols.py already has them."""
    for name, hyper in HZ.items():
        if name not in MODELS:
            MODELS[name] = ((lambda h: lambda **kw: ConvexEDHorizon(**{**h, **kw}))(hyper),
                            "c(T) = c + c1·ln(T/T_ref)")


def cfit(name: str, runs: list, kind: str | None, burn: int) -> dict:
    m = make_model(name, kind=kind, burn_in=burn).fit(runs)
    p, se = m.params_, m.stderr_
    out = {"model": m.label, "n_runs": len(runs), "c": p["c"], "c_se": se["c"],
           "L_inf": p["L_inf"], "r2": m.fit_info_["r2"], "identified": m.identified_}
    if "c1" in p:
        out |= {"c1": p["c1"], "c1_se": se["c1"], "T_ref": m.fit_info_["horizon_ref"]}
    return out


def fmt(r: dict) -> str:
    s = f"c = {r['c']:.3f} ± {r['c_se']:.3f}"
    if "c1" in r:
        s += f", c1 = {r['c1']:+.3f} ± {r['c1_se']:.3f} (T_ref {r['T_ref']:.0f})"
    return s + ("" if r["identified"] else " *")


# ------------------------------------------------------------------ drift
def testbed_runs(work: Path) -> dict[int, list]:
    dz.TB.clear()
    dz.TB.update(dz.TESTBEDS["fresh-1600"])
    store = RunStore(work / "pilots.db")
    pil = [store.get(c.run_id()) for c in dz.pilot_configs()]
    base = dz.FRESH_BASE[:2]
    by = {T: dz.usable([r for r in pil if r.T == T], base) for T in dz.TB["pilot_T"]}
    done = RunStore(work / "targets.db").list(curves=True)
    by[dz.TB["target_T"]] = [r for r in done if r.status == "finished" and r.schedule in base]
    return by


def drift_testbed(work: Path) -> list[dict]:
    by = testbed_runs(work)
    kind, burn = dz.TB["kind"], dz.TB["burn_in"]
    rows = []
    for name in ("convex-ed-gt", "convex-ed-peak"):
        for T, runs in by.items():
            rows.append({"set": "testbed", "group": f"T = {T}", "T": T, **cfit(name, runs,
                                                                               kind, burn)})
        for label, Ts in (("pilots 200…1600", (200, 400, 800, 1600)),
                          ("pilots + targets 200…4000", tuple(by))):
            runs = [r for T in Ts for r in by[T]]
            rows.append({"set": "testbed", "group": label, **cfit(name + "-hz", runs, kind,
                                                                  burn)})
    return rows


def load124() -> dict[str, list]:
    runs = load_runs(sorted(glob.glob(str(DATA / "lr-scheduling-124m" / "*.json"))))
    g = {"cos-zero 25k": [r for r in runs if r.name.startswith("cos-zero")],
         "cos-10 15k": [r for r in runs if r.name.startswith("cos-10") and r.T == 15000],
         "cos-10 25k": [r for r in runs if r.name.startswith("cos-10") and r.T == 25000],
         "stable 50k": [r for r in runs if r.name.startswith("stable")]}
    return g


def drift_124m() -> list[dict]:
    g = load124()
    rows = []
    for name in ("convex-ed-peak", "convex-ed-gt-gpeak"):
        for key, runs in g.items():
            T = runs[0].T
            for W in (5000, 10000, 25000, 50000):
                if W > T:
                    continue
                part = [restrict(r, "val", hi=W) for r in runs] if W < T else runs
                rows.append({"set": "124m", "group": f"{key}, t ≤ {W}", "T": T, "window": W,
                             **cfit(name, part, "val", 400)})
        cos10 = g["cos-10 15k"] + g["cos-10 25k"]
        rows.append({"set": "124m", "group": "cos-10 15k + 25k (joint)",
                     **cfit(name + "-hz", cos10, "val", 400)})
        every = [r for v in g.values() for r in v]
        rows.append({"set": "124m", "group": "all 14 runs (joint)",
                     **cfit(name + "-hz", every, "val", 400)})
    return rows


def drift_25m() -> list[dict]:
    runs = load_runs(sorted(glob.glob(str(DATA / "mpl-25m" / "*.csv"))))
    rows = []
    name = "convex-ed-gt"
    for T in sorted({r.T for r in runs}):
        part = [r for r in runs if r.T == T]
        rows.append({"set": "25m", "group": f"T = {T} ({len(part)} runs)", "T": T,
                     **cfit(name, part, None, 0)})
    long = [r for r in runs if r.T == 72000]
    for W in (24000, 48000):
        rows.append({"set": "25m", "group": f"72k runs, t ≤ {W}", "T": 72000, "window": W,
                     **cfit(name, [restrict(r, None, hi=W) for r in long], None, 0)})
    rows.append({"set": "25m", "group": "all 9 runs (joint)", **cfit(name + "-hz", runs, None,
                                                                     0)})
    return rows


def drift(work: Path) -> None:
    rows = []
    for part in (lambda: drift_testbed(work), drift_124m, drift_25m):
        new = part()
        for r in new:
            print(f"  [{r['set']}] {r['group']:30s} {r['model']:22s} {fmt(r)}  "
                  f"L∞ {r['L_inf']:.3f} R² {r['r2']:.4f}", flush=True)
        rows += new
    (RESULTS / "cdrift-drift.json").write_text(json.dumps(rows, indent=1, default=float))
    lines = ["## c per horizon (each fit: every parameter of its own; '*' = the fit reports "
             "itself not identified)", "",
             "| data | runs | model | c ± s.e. | c1 ± s.e. (per e-fold of T) | L∞ | R² |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        c1 = (f"{r['c1']:+.3f} ± {r['c1_se']:.3f} (T_ref {r['T_ref']:.0f})" if "c1" in r
              else "")
        lines.append(f"| {r['set']} | {r['group']} | {r['model']} | {r['c']:.3f} ± "
                     f"{r['c_se']:.3f}{'' if r['identified'] else ' *'} | {c1} | "
                     f"{r['L_inf']:.3f} | {r['r2']:.4f} |")
    (RESULTS / "cdrift-drift.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def design(work: Path) -> None:
    """The design bench's protocols (``design_protocols.score_protocol``: fit on the
    pilots, predicted gain of the trained design over cosine / WSD(0.2) / linear at the
    model's own tuned peaks, and the model's own free design at T = 4000), current
    models beside their -hz variants."""
    import design_models as dm
    import design_protocols as dp

    by = testbed_runs(work)  # sets dz.TB to fresh-1600
    store = RunStore(work / "pilots.db")
    pil = [store.get(c.run_id()) for c in dz.pilot_configs()]
    schedules = json.loads((work / "schedules.json").read_text())
    done = RunStore(work / "targets.db").list(curves=True)
    target = dm.cells(done, {k: v[0] for k, v in schedules.items()})
    del by
    rows = []
    for H in ((200, 400, 800), (200, 400, 800, 1600)):
        for name in ("convex-ed-gt", "convex-ed-gt-hz", "convex-ed-peak", "convex-ed-peak-hz"):
            r = dp.score_protocol(H, "all", "cosine+wsd", name, pil, target)
            d = r.pop("_design")
            r["own_design"]["spec"] = dz.frozen_csv(d) if "hz" in name else None
            o, w = r["trained_design"], r["own_design"]
            print(f"  T={min(H)}…{max(H)} {name}: final {100 * r['final_error']:.2f} %, "
                  + ", ".join(f"{b} {_s(o[b]['predicted'])} (×{_s(o[b]['ratio'], 2)})"
                              for b in o)
                  + f"; own design peak {w['peak']:.4g}, gains "
                  + " / ".join(f"{w['gains'][b]:+.4f}" for b in w["gains"])
                  + f", Δshape {w['max_shape_change']:.2f}", flush=True)
            rows.append(r)
    meas = {b: target[b]["loss"] - target["designed"]["loss"] for b in ("cosine", "wsd",
                                                                         "linear")}
    (RESULTS / "cdrift-design.json").write_text(json.dumps(dz.jsonable(
        {"measured": meas, "rows": rows}), indent=1, default=float))
    lines = ["## Design testbed: predicted / measured gain of the trained design at T = 4000",
             "", "Measured gain of the trained design over " + ", ".join(
                 f"{b} {v:+.4f}" for b, v in meas.items()) + " (5 seeds).", "",
             "| pilots | model | c (c1) | final err at T_max | cosine pred (ratio) | "
             "WSD pred (ratio) | linear pred (ratio) | own design: peak, gains cos / WSD / "
             "lin | Δshape |", "|" + "---|" * 9]
    for r in rows:
        o, w, p = r["trained_design"], r["own_design"], r["params"]
        cc = f"{p['c']:.3f}" + (f" ({p['c1']:+.3f})" if "c1" in p else "")
        lines.append(f"| T = {min(r['horizons'])}…{max(r['horizons'])} | {r['model']} | {cc} | "
                     f"{100 * r['final_error']:.2f} % | "
                     + " | ".join(f"{_s(o[b]['predicted'])} (×{_s(o[b]['ratio'], 2)})"
                                  for b in ("cosine", "wsd", "linear"))
                     + f" | {w['peak']:.4g}: " + " / ".join(f"{w['gains'][b]:+.4f}"
                                                            for b in w["gains"])
                     + f" | {w['max_shape_change']:.2f} |")
    (RESULTS / "cdrift-design.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def curves() -> None:
    """(iii) the Multi-Power-Law protocol on mpl-25m and the 124M curve transfers of
    ``bench/curves.py`` (c1, c3), current models beside their -hz variants."""
    from convexlaw.protocols import Split, cross_horizon, cross_schedule, evaluate

    runs25 = load_runs(sorted(glob.glob(str(DATA / "mpl-25m" / "*.csv"))))
    g = load124()
    cases = [("MPL protocol, mpl-25m (fit cosine_24000, constant_24000, wsdcon_9)",
              cross_schedule(runs25), 0, ("convex-ed", "convex-ed-gt")),
             ("124M cos-10: fit 15k, predict 25k (1e-3, 2e-3)",
              cross_horizon([r for r in g["cos-10 15k"] + g["cos-10 25k"]
                             if r.peak_lr in (1e-3, 2e-3)]), 1000,
              ("convex-ed-peak", "convex-ed-gt-gpeak")),
             ("124M: fit cos-zero 25k, predict stable 50k",
              Split("c3", g["cos-zero 25k"], g["stable 50k"]), 1000,
              ("convex-ed-peak", "convex-ed-gt-gpeak"))]
    lines, out = [], []
    for title, split, burn, names in cases:
        lines += ["", f"### {title}", "", "| model | k | R² | PredE | WorstE | finals | c (c1) |",
                  "|---|---|---|---|---|---|---|"]
        for base in names:
            for name in (base, base + "-hz"):
                r = evaluate(make_model(name, burn_in=burn), split)
                r.pop("curves")
                m, p = r["metrics"], r["params"]
                fin = " / ".join(f"{100 * x['final_rel_error']:+.2f} %" for x in r["runs"])
                cc = f"{p['c']:.3f}" + (f" ({p['c1']:+.3f})" if "c1" in p else "")
                lines.append(f"| {r['model']} | {r['k']} | {m['R2']:.4f} | "
                             f"{100 * m['PredE']:.3f} % | {100 * m['WorstE']:.3f} % | {fin} | "
                             f"{cc} |")
                print(lines[-1], flush=True)
                out.append({"case": title, **r})
    (RESULTS / "cdrift-curves.json").write_text(json.dumps(out, indent=1, default=float))
    (RESULTS / "cdrift-curves.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _s(v, d: int = 4) -> str:
    return "—" if v is None else (f"{v:+.{d}f}" if d == 4 else f"{v:.{d}f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("drift", "design", "curves", "train"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/cdrift-work"))
    ap.add_argument("--model", default="convex-ed-gt-hz", help="train: whose design")
    ap.add_argument("--pilots", type=int, nargs=2, default=(200, 1600), help="train: LO HI")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    register()
    if args.what == "drift":
        drift(args.work)
    elif args.what == "design":
        design(args.work)
    elif args.what == "curves":
        curves()
    elif args.what == "train":  # the -hz model's own free design, trained at T = 4000
        import design_protocols as dp

        testbed_runs(args.work)
        lo, hi = args.pilots
        out = dp.train_own(args.work, lo, hi, "all", "cosine+wsd", args.model)
        path = RESULTS / f"cdrift-own-{args.model}-T{lo}-{hi}.json"
        path.write_text(json.dumps(dz.jsonable(out), indent=1))
        md = dp.markdown_own(out)
        path.with_suffix(".md").write_text(md)
        print(md)


if __name__ == "__main__":
    main()
