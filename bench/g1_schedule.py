"""Issue 8, G1: curve-model variants of the bound's G-part, on the 124M goals.

    python bench/g1_schedule.py [--json bench/results/g1-schedule.json]
                                [--models convex-ed-gt-gpeak,convex-ed-gt-gpeak-ycs,...]
                                [--skip-plan] [--skip-checks]

Variants (bench/g1_ysplit.py): the gradient part Y of the bound split in two parts with
their own non-negative coefficients — "-ycs": the local term ½(w_t + w_{t−1})/η_t and
the Cauchy (last-iterate) sum ½Σ w_k/(P_t − P_k) (the part that grows like ½η·ln t at a
constant LR); "-yavg": the averaged-iterate bound Q_t/(2P_t) and the last-iterate
correction; "-floor": G_t² = G²·(t/t_ref)^(2a) + a constant floor; "-glr": the gradient
scale follows the current LR, G_t ∝ t^a·η_t^(−β) (convex-ed-gt-glr, k = 6, in place of
convex-ed-gt-gpeak's G ∝ η_peak^(−β); with both factors: convex-ed-gt-gpeak-glr, k = 7). Sections:

1. every model × candidate burn-in on G1 and G2 (``diagnose_124m.grid``): the selector's
   held-out error on the pilots beside the targets' final-loss errors; ◆ the selector's
   start, ★ the oracle start (reads the targets: a diagnosis, never a rule);
2. the plan with its default settings and each variant added to its curve models
   (``make_plan(curve_models=CURVE_MODELS + (variant,))``): which forecaster its held-out
   rule picks, and that forecaster's errors on the targets;
3. checks: the reference protocol (V4+5 = convex-ed-peak from step 400; its cos-zero 50k
   finals reproduce REFERENCE-RESULTS.md's +0.46 / +0.35 / −0.24 / −0.21 %) with the
   Cauchy sum split (convex-ed-peak-ycs): the implied errors on those runs; and the
   Multi-Power-Law protocol on mpl-25m (fit cosine/constant 24000 + wsdcon_9, predict
   six) for each variant beside its base model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diagnose_124m as dg  # noqa: E402
from g1_ysplit import VARIANTS, factory  # noqa: E402
from laws import DATA, GOAL, REF_BURN_IN, final, pct, table  # noqa: E402

from convexlaw import protocols  # noqa: E402
from convexlaw.plan import CURVE_MODELS, make_plan  # noqa: E402
from convexlaw.protocols import cross_schedule, evaluate, make_model  # noqa: E402
from convexlaw.runs import load_runs  # noqa: E402

DEFAULT = ("convex-ed-gt-gpeak", "convex-ed-gt-gpeak-ycs", "convex-ed-gt-gpeak-yavg",
           "convex-ed-gt-gpeak-floor", "convex-ed-gt-glr", "convex-ed-gt-gpeak-glr",
           "convex-ed-peak", "convex-ed-peak-ycs")
PLAN_VARIANTS = ("convex-ed-gt-gpeak-ycs", "convex-ed-gt-gpeak-yavg", "convex-ed-gt-glr")
MPL_PAIRS = (("convex-ed-gt", factory("power", None, "cauchy"), "convex-ed-gt-ycs"),
             ("convex-ed-gt", factory("power", None, "average"), "convex-ed-gt-yavg"),
             ("convex-ed", factory("constant", None, "cauchy"), "convex-ed-ycs"),
             ("convex-ed-gt", VARIANTS["convex-ed-gt-glr"][0], "convex-ed-gt-glr"),
             ("convex-ed", VARIANTS["convex-ed-glr"][0], "convex-ed-glr"))


def section_grid(G: dict, names: list[str], out: dict) -> None:
    print("## 1. Models × burn-ins (held-out on the pilots vs error on the targets)\n")
    for label in ("G1", "G2"):
        pilots, targets, _ = G[label]
        dg.grid(label, pilots, targets, names, out)


def section_plan(G: dict, out: dict) -> None:
    print("## 2. The plan's held-out rule with a variant among its curve models\n")
    rows = []
    for extra in (None, *PLAN_VARIANTS):
        if extra is not None:
            protocols.MODELS[extra] = VARIANTS[extra]
        models = CURVE_MODELS + ((extra,) if extra else ())
        for label in ("G1", "G2"):
            pilots, targets, steps = G[label]
            plan = make_plan(pilots, steps, schedule=targets[0].schedule, n_boot=0,
                             curve_models=models)
            fc = plan.fitted[plan.loss_source]
            errs = [float(fc.loss(r.lrs, [final(r)[0]], r.peak_lr)[0] / final(r)[1] - 1)
                    for r in targets]
            cands = {c["forecaster"]: c for c in plan.candidates}
            mine = cands.get(f"curve {extra}") if extra else None
            bi = plan.burn_in["step"] if plan.burn_in else None
            rows.append([extra or "(default)", label, plan.loss_source, str(bi),
                         *[pct(e) for e in errs], f"{100 * max(map(abs, errs)):.2f} %",
                         "—" if mine is None or mine.get("score") is None
                         else f"{mine['score']:.4g}",
                         f"{cands[plan.loss_source].get('score', float('nan')):.4g}"])
            out.setdefault("plan", []).append({"added": extra, "goal": label,
                                               "chosen": plan.loss_source, "burn_in": bi,
                                               "errors": errs,
                                               "candidates": plan.candidates})
        if extra is not None:
            del protocols.MODELS[extra]
    print(table(["added model", "goal", "plan chooses", "burn-in", "err 1e-4", "err 5e-4",
                 "err 1e-3", "err 2e-3", "worst", "added model's score",
                 "chosen's score"], rows) + "\n")


def section_checks(G: dict, out: dict) -> None:
    print("## 3. Checks: the reference protocol and the Multi-Power-Law protocol\n")
    from convexlaw.runs.presets import epfml_preset

    pilots, targets, _ = G["G1"]
    published = (0.0046, 0.0035, -0.0024, -0.0021)  # REFERENCE-RESULTS.md, V4+5 cos-zero 50k
    cfg = json.loads(Path(pilots[0].tags["source"]["file"]).read_text())["config"]
    preds = {}
    for name in ("convex-ed-peak", "convex-ed-peak-ycs", "convex-ed-peak-glr"):
        mk = VARIANTS[name][0] if name in VARIANTS else (lambda **kw: make_model(
            "convex-ed-peak", **kw))
        m = mk(burn_in=REF_BURN_IN).fit(pilots)
        errs = dg.errors(m, targets)
        p50 = [float(m.predict(epfml_preset(dict(cfg, iterations=50000, lr=r.peak_lr),
                                            "cos-zero 50k").lrs, [49800], r.peak_lr)[0])
               for r in pilots]
        preds[name] = (errs, p50, dict(m.params_))
    base = preds["convex-ed-peak"][1]
    rows = []
    for name, (errs, p50, params) in preds.items():
        implied = [(1 + e0) * p / b - 1 for e0, p, b in zip(published, p50, base, strict=True)]
        rows.append([name, *[pct(e) for e in errs], *[f"{v:.4f}" for v in p50],
                     " / ".join(pct(e) for e in implied)])
        out.setdefault("reference", {})[name] = {"errors_G1": errs, "cos_zero_50k": p50,
                                                 "implied_cos_zero_50k_errors": implied,
                                                 "params": params}
    print(f"reference protocol (burn-in {REF_BURN_IN}, fit the four cos-zero 25k runs): "
          "errors on G1's targets, predicted cos-zero 50k finals, and the errors those "
          "imply on the published cos-zero 50k runs (convex-ed-peak reproduces "
          "+0.46 / +0.35 / −0.24 / −0.21 %)\n")
    print(table(["model", "G1 1e-4", "5e-4", "1e-3", "2e-3", "cos0-50k 1e-4", "5e-4",
                 "1e-3", "2e-3", "implied cos0-50k errors"], rows) + "\n")

    runs25 = load_runs(sorted(str(p) for p in (DATA.parent / "mpl-25m").glob("*.csv")))
    split = cross_schedule(runs25)
    rows = []
    done = set()
    for base_name, mk, label in MPL_PAIRS:
        for name, model in ((base_name, make_model(base_name)), (label, mk())):
            if name in done:
                continue
            done.add(name)
            r = evaluate(model, split)
            m = r["metrics"]
            rows.append([name, str(r["k"]), f"{100 * m['PredE']:.3f} %",
                         f"{100 * m['WorstE']:.3f} %", f"{m['R2']:.4f}",
                         " / ".join(f"{k}={v:.3g}" for k, v in r["params"].items())])
            out.setdefault("mpl_protocol", {})[name] = {"metrics": m, "params": r["params"]}
    print("Multi-Power-Law protocol, mpl-25m (fit " + ", ".join(protocols.MPL_FIT)
          + "; predict the other six):\n")
    print(table(["model", "k", "PredE", "WorstE", "R²", "params"], rows) + "\n")


def prefix_pilot(run: Any, steps: int) -> Any:
    """The first ``steps`` steps of a constant-LR run, as a short constant-LR pilot."""
    from dataclasses import replace as dc_replace

    st, v = run.curve("val")
    keep = st <= steps
    return dc_replace(run, name=f"{run.name} (first {steps})", lrs=run.lrs[:steps],
                      curves={"val": (st[keep], v[keep])})


def section_prefix(G: dict, names: list[str], out: dict, steps: int = 5000) -> None:
    """Identification, not a goal protocol: G1's pilots plus a short constant-LR pilot."""
    pilots, targets, _ = G["G1"]
    extra = prefix_pilot(next(r for r in targets if r.peak_lr == 1e-3), steps)
    print(f"## 4. Identification: G1's pilots plus a {steps}-step constant-LR pilot at "
          "1e-3\n")
    print(f"(the first {steps} steps of the 1e-3 target, standing in for a short "
          "constant-LR pilot; fixed burn-ins; not the goal's protocol)\n")
    rows = []
    for name in names:
        for start in (400, 1000):
            m = dg.model(name, kind="val", burn_in=start).fit([*pilots, extra])
            errs = dg.errors(m, targets)
            rows.append([name, str(start), *[pct(e) for e in errs],
                         f"{100 * max(map(abs, errs)):.2f} %"])
            out.setdefault("prefix", []).append({"model": name, "start": start,
                                                 "errors": errs, "params": m.params_})
    print(table(["model", "burn-in", *[f"err {r.peak_lr:g}" for r in targets], "worst"],
                rows) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write all numbers as JSON")
    ap.add_argument("--models", default=",".join(DEFAULT))
    ap.add_argument("--skip-plan", action="store_true")
    ap.add_argument("--skip-checks", action="store_true")
    ap.add_argument("--prefix", action="store_true",
                    help="also section 4 (G1's pilots + a short constant-LR pilot)")
    args = ap.parse_args()
    dg.EXTRA.update({k: v[0] for k, v in VARIANTS.items()})
    names = [m for m in args.models.split(",") if m]
    bad = [m for m in names if m not in protocols.MODELS and m not in dg.EXTRA]
    if bad:
        ap.error(f"unknown model(s) {', '.join(bad)}")
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    G = dg.goals()
    out: dict[str, Any] = {"goal": GOAL}
    print("# G1/G2 with the bound's G-part split (bench/g1_schedule.py)\n")
    section_grid(G, names, out)
    if not args.skip_plan:
        section_plan(G, out)
    if not args.skip_checks:
        section_checks(G, out)
    if args.prefix:
        section_prefix(G, [n for n in names if "gt" in n], out)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
