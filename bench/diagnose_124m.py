"""Where the 124M goals' final-loss errors come from (issue 8, "Published 124M runs").

    python bench/diagnose_124m.py [--json bench/results/diagnose-124m.json]
                                  [--models convex-ed-peak,convex-ed-gt-gpeak,...]

G1: fit the four cos-zero T = 25k runs, predict the four constant-LR T = 50k runs;
G2: fit the two cos-10 T = 15k runs (peaks 1e-3, 2e-3), predict the four cos-10 T = 25k
runs (peaks 1e-4 … 2e-3). Goal: every final-loss error within 0.5 %. Sections:

0. the noise floor: run-to-run noise of one run's loss from prefix replicates
   (``convexlaw.curve.replicates``);
1. what the plan chooses with its default settings (``make_plan``), its errors split into
   a level (their mean) and a shape (their slope per decade of peak), the fitted pilots'
   own residual at their last point, and the targets' error along their curves;
2. every curve model × every candidate burn-in (``default_starts``): the selector's
   held-out error on the pilots (tail split, as the plan scores it) beside the errors on
   the targets; ◆ marks the selector's start, ★ the start with the smallest worst target
   error (an oracle: it reads the targets, so it is a diagnosis, never a rule);
3. the spread of the target predictions over the candidates that held out within ×1.5
   of the best — what the pilots cannot tell apart;
4. a free peak law: L∞, c, a shared, D² and G² free per peak (``convex-ed-gt`` terms). It
   fits every pilot curve well and takes the peak law out of the question, so what is left
   of the error is the horizon / schedule extrapolation itself.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from laws import GOAL, final, load, pct, table  # noqa: E402

from convexlaw.curve import ConvexED  # noqa: E402
from convexlaw.curve.burnin import default_starts, select_burn_in  # noqa: E402
from convexlaw.curve.data import as_curve_data  # noqa: E402
from convexlaw.curve.replicates import replicate_noise  # noqa: E402
from convexlaw.fitting import solve_linear  # noqa: E402
from convexlaw.plan import MAX_TESTS, make_plan  # noqa: E402
from convexlaw.protocols import MODELS, make_model  # noqa: E402

EXTRA = {  # models beyond the registry: the split peak factor with G_t ∝ t^a
    "convex-ed-gt-split": lambda **kw: ConvexED(grad="power", peak="split", **kw),
    "convex-ed-split": lambda **kw: ConvexED(peak="split", **kw),
}
DEFAULT_MODELS = ("convex-ed-peak", "convex-ed-gt-gpeak", "convex-ed-gt", "convex-ed-gt-hz",
                  "convex-ed-gpeak", "convex-ed-gt-split", "convex-ed-split", "mpl")
NEAR = 1.5


def model(name: str, **kw: Any):
    return EXTRA[name](**kw) if name in EXTRA else make_model(name, **kw)


def goals() -> dict[str, tuple[list, list, int]]:
    g = load()
    c15 = [r for r in g["cos10"] if r.T == 15000]
    c25 = [r for r in g["cos10"] if r.T == 25000]
    by = lambda rs: sorted(rs, key=lambda r: r.peak_lr)  # noqa: E731
    return {"G1": (by(g["cos0"]), by(g["const"]), 50000), "G2": (by(c15), by(c25), 25000),
            "all": g["cos0"] + g["cos10"] + g["const"]}


def errors(m: Any, targets: list) -> list[float]:
    return [float(m.predict(r, [final(r)[0]])[0] / final(r)[1] - 1) for r in targets]


def level_shape(errs: list[float], peaks: list[float]) -> tuple[float, float]:
    """(mean error, slope of the error per decade of peak)."""
    x = np.log10(peaks)
    return float(np.mean(errs)), float(np.polyfit(x, errs, 1)[0])


def uniq(run: Any) -> tuple[np.ndarray, np.ndarray]:
    s, v = run.curve("val")
    u, inv = np.unique(s, return_inverse=True)
    return u, np.bincount(inv, weights=v) / np.bincount(inv)


# ------------------------------------------------------------------ 0. noise floor
def noise_floor(runs: list, out: dict) -> None:
    print("## 0. Noise floor: run-to-run noise from prefix replicates\n")
    rows = []
    for after in (0, 400, 1000):
        r = replicate_noise(runs, "val", after=after)
        rows.append([f"> {after}", str(len(r["pairs"])), str(r["points"]),
                     f"{100 * r['sigma_run']:.3f} %"])
        out.setdefault("noise", []).append(r)
    print(table(["steps", "pairs", "points", "σ_run (one run, one step)"], rows))
    pairs = replicate_noise(runs, "val", after=1000)["pairs"]
    print("\npairs: cos-zero vs cos-10 at T = 25k, same peak, LRs within 1 % up to step "
          + ", ".join(f"{p['until']}" for p in pairs) + "; per pair σ_run "
          + " / ".join(f"{100 * p['sigma_run']:.3f} %" for p in pairs)
          + " (peaks " + ", ".join(f"{p['peak']:g}" for p in pairs) + ")\n")


# ------------------------------------------------------------------ 1. the plan's choice
def plan_choice(label: str, pilots: list, targets: list, steps: int, out: dict) -> None:
    plan = make_plan(pilots, steps, schedule=targets[0].schedule, n_boot=0)
    fc = plan.fitted[plan.loss_source]
    m = getattr(fc, "model_", None)
    peaks = [r.peak_lr for r in targets]
    errs = [float(fc.loss(r.lrs, [final(r)[0]], r.peak_lr)[0] / final(r)[1] - 1)
            for r in targets]
    lvl, slope = level_shape(errs, peaks)
    bi = plan.burn_in["step"] if plan.burn_in else None
    print(f"### {label}: the plan chooses {plan.loss_source}, burn-in {bi}\n")
    print("target errors " + " / ".join(pct(e) for e in errs)
          + f"; level (mean) {pct(lvl)}, shape (slope) {pct(slope)} per decade of peak, "
          f"after removing the level: " + " / ".join(pct(e - lvl) for e in errs) + "\n")
    rec: dict[str, Any] = {"chosen": plan.loss_source, "burn_in": bi, "errors": errs,
                           "level": lvl, "slope_per_decade": slope}
    if m is not None:
        res = []
        for r in pilots:
            u, v = uniq(r)
            p = m.predict(r, u)
            tail = u > 0.9 * r.T
            res.append((r.peak_lr, r.T, float(p[-1] / v[-1] - 1),
                        float(np.mean(p[tail] / v[tail] - 1))))
        print("fitted pilots' own residual (pred/obs − 1): "
              + "; ".join(f"{pk:g} T={T}: last {pct(a)}, last 10 % {pct(b)}"
                          for pk, T, a, b in res) + "\n")
        rec["pilot_residuals"] = res
        alone = []
        for r in pilots:  # each pilot by itself: can the model's shape in t follow it?
            one = ConvexED(grad="power", kind="val", burn_in=bi or 0).fit([r])
            u, v = uniq(r)
            e = one.predict(r, u)[u > (bi or 0)] / v[u > (bi or 0)] - 1
            alone.append((r.peak_lr, float(np.sqrt(np.mean(e * e))), float(e[-1])))
        print("each pilot fitted alone (convex-ed-gt, same burn-in): "
              + "; ".join(f"{pk:g}: rms {100 * a:.3f} %, last {pct(b)}" for pk, a, b in alone)
              + "\n")
        rec["pilots_alone"] = alone
        at = [2000, 5000, 10000, 15000, 20000, 25000, 35000, 49800]
        rows = []
        for r in targets:
            u, v = uniq(r)
            e = m.predict(r, u) / v - 1
            rows.append([f"{r.peak_lr:g}"] + [pct(e[u == t][0]) if (u == t).any() else "—"
                                              for t in at])
        print("targets' error along their curves:\n")
        print(table(["peak"] + [f"t={t}" for t in at], rows) + "\n")
        # warm-up: each target's own ramp replaced by the pilots' (same length, same start)
        ramp = np.asarray(pilots[0].lrs[:300]) / pilots[0].peak_lr
        dw = []
        for r in targets:
            lrs = np.array(r.lrs, dtype=np.float64)
            alt = lrs.copy()
            alt[:ramp.size] = ramp * r.peak_lr
            st = [final(r)[0]]
            dw.append(float(m.predict(alt, st, r.peak_lr)[0] / m.predict(lrs, st, r.peak_lr)[0]
                            - 1))
        print("warm-up: the targets' final predicted with the pilots' 300-step ramp instead "
              "of their own changes by " + " / ".join(f"{100 * d:+.4f} %" for d in dw) + "\n")
        rec["warmup_effect"] = dw
        siblings(pilots, targets, m, rec)
    out.setdefault("plan", {})[label] = rec


def siblings(pilots: list, targets: list, m: Any, rec: dict) -> None:
    """The loss cost of the target's schedule at the same step: target/pilot − 1 for the
    pilot at the same peak, observed and predicted, while both are inside the pilots'
    horizon (the response to the LR itself, before any horizon extrapolation)."""
    pairs = [(p, t) for t in targets for p in pilots if p.peak_lr == t.peak_lr]
    if not pairs:
        return
    at = [s for s in (3000, 5000, 10000, 15000, 20000) if s < min(p.T for p, _ in pairs)]
    rows = []

    def obs(r: Any, s: int) -> float:
        u, v = uniq(r)
        return float(v[u == s][0])

    for p, t in pairs:
        cells = [f"{t.peak_lr:g}"]
        for s in at:
            o = obs(t, s) / obs(p, s) - 1
            q = float(m.predict(t, [s])[0] / m.predict(p, [s])[0] - 1)
            cells.append(f"{100 * (t.lrs[s - 1] / p.lrs[s - 1] - 1):+.0f} %: {pct(o)} / {pct(q)}")
            rec.setdefault("siblings", []).append({"peak": t.peak_lr, "step": s, "observed": o,
                                                   "predicted": q})
        rows.append(cells)
    print("the target's loss over the pilot's at the same peak and step (LR excess: observed "
          "/ predicted), inside the pilots' horizon:\n")
    print(table(["peak", *[f"t={s}" for s in at]], rows) + "\n")


# ------------------------------------------------------------------ 2. models × burn-ins
def grid(label: str, pilots: list, targets: list, names: list[str], out: dict) -> list[dict]:
    print(f"### {label}: curve models × burn-ins (held-out on the pilots vs error on the "
          "targets)\n")
    rows, recs = [], []
    peaks = [r.peak_lr for r in targets]
    for name in names:
        try:
            sel = select_burn_in(pilots, model(name), kind="val", max_tests=MAX_TESTS)
        except ValueError as err:
            print(f"{name}: {err}")
            continue
        mine = []
        for ev in sel.evidence:
            if "holdout_PredE" not in ev:
                continue
            m = model(name, kind="val", burn_in=int(ev["start"])).fit(pilots)
            errs = errors(m, targets)
            mine.append({"model": name, "start": int(ev["start"]), "k": len(m.params_),
                         "holdout_PredE": ev["holdout_PredE"],
                         "holdout_final": ev["holdout_final"], "errors": errs,
                         "worst": max(abs(e) for e in errs),
                         "selected": int(ev["start"]) == sel.step})
        best = min(mine, key=lambda r: r["worst"])
        for r in mine:
            r["oracle"] = r is best
            rows.append([name, f"{r['start']}" + (" ◆" if r["selected"] else "")
                         + (" ★" if r["oracle"] else ""), str(r["k"]),
                         f"{100 * r['holdout_PredE']:.3f} %", f"{100 * r['holdout_final']:.3f} %",
                         *[pct(e) for e in r["errors"]], f"{100 * r['worst']:.2f} %",
                         "yes" if r["worst"] <= GOAL else "no"])
        recs += mine
    print(table(["model", "burn-in", "k", "held-out PredE", "held-out final",
                 *[f"err {p:g}" for p in peaks], "worst", "≤ 0.5 %"], rows) + "\n")
    out.setdefault("grid", {})[label] = recs
    return recs


def spread(label: str, recs: list[dict], peaks: list[float], out: dict) -> None:
    best = min(r["holdout_PredE"] for r in recs)
    near = [r for r in recs if r["holdout_PredE"] <= NEAR * best]
    E = np.array([r["errors"] for r in near])
    print(f"{label}: {len(near)} candidates held out within ×{NEAR} of the best "
          f"({100 * best:.3f} %); their target errors range "
          + "; ".join(f"{p:g}: {pct(lo)} … {pct(hi)}"
                      for p, lo, hi in zip(peaks, E.min(0), E.max(0), strict=True))
          + f"; held-out PredE vs worst target error: Spearman ρ = "
          f"{spearman([r['holdout_PredE'] for r in recs], [r['worst'] for r in recs]):+.2f} "
          f"over all {len(recs)}\n")
    out.setdefault("spread", {})[label] = {"n": len(near), "min": E.min(0).tolist(),
                                           "max": E.max(0).tolist()}


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


# ------------------------------------------------------------------ 4. free peak law
def free_peaks(pilots: list, start: int, targets: list) -> dict[str, Any]:
    """Shared L∞, c, a; D² and G² free for each peak (pilots at one peak share them):
    variable projection over (c, a) with the linear part solved exactly. Targets at a
    pilot peak get that peak's coefficients (others are skipped)."""
    from scipy.optimize import minimize

    proto = ConvexED(grad="power", kind="val", burn_in=start)
    peaks = sorted({r.peak_lr for r in pilots})
    data = [as_curve_data(r, "val", lo=start) for r in pilots]
    for d in data:
        d.cache["fit"] = True
    y = np.concatenate([d.y for d in data])
    n = len(peaks)
    upper = np.r_[y.min(), np.full(2 * n, np.inf)]

    def design(c: float, a: float, ds: list, pk: list[float]) -> np.ndarray:
        out = []
        for d, p in zip(ds, pk, strict=True):
            M = proto._columns({"c": c, "a": a}, d, exact=True)
            Z = np.zeros((M.shape[0], 1 + 2 * n))
            i = peaks.index(p)
            Z[:, 0], Z[:, 1 + i], Z[:, 1 + n + i] = M[:, 0], M[:, 1], M[:, 2]
            out.append(Z)
        return np.vstack(out)

    pk = [r.peak_lr for r in pilots]

    def rss(th: np.ndarray) -> float:
        if not (-0.5 <= th[0] <= 0.95 and -1 <= th[1] <= 1):
            return np.inf
        return solve_linear(design(th[0], th[1], data, pk), y, 0.0, upper)[1]

    start_th = min(((c, a) for c in (0.3, 0.45, 0.6, 0.75) for a in (-0.3, -0.15, 0, 0.15)),
                   key=rss)
    th = minimize(rss, start_th, method="Nelder-Mead").x
    beta, r = solve_linear(design(th[0], th[1], data, pk), y, 0.0, upper)
    errs = {}
    for t in targets:
        if t.peak_lr not in peaks:
            continue
        d = as_curve_data(t, "val", lo=start)
        pred = design(th[0], th[1], [d], [t.peak_lr])[-1] @ beta
        errs[t.peak_lr] = float(pred / d.y[-1] - 1)
    return {"start": start, "c": float(th[0]), "a": float(th[1]), "L_inf": float(beta[0]),
            "rms": float(math.sqrt(r / y.size)), "errors": errs, "peaks": peaks,
            "D2": beta[1:1 + n].tolist(), "G2": beta[1 + n:].tolist(),
            # the variance part's scale at each peak, G²·η/η_ref (η_ref = 1e-3)
            "G2_eta": [float(g * p / 1e-3) for g, p in zip(beta[1 + n:], peaks, strict=True)]}


def free_section(label: str, pilots: list, targets: list, out: dict) -> None:
    rows = []
    for s in default_starts(pilots, "val"):
        f = free_peaks(pilots, s, targets)
        rows.append([str(s), f"{f['L_inf']:.3f}", f"{f['c']:.3f}", f"{f['a']:+.3f}",
                     f"{100 * f['rms']:.3f} %", " / ".join(f"{v:.1f}" for v in f["G2_eta"]),
                     *[pct(f["errors"].get(t.peak_lr)) for t in targets]])
        out.setdefault("free_peaks", {}).setdefault(label, []).append(f)
    print(f"### {label}: free peak law (L∞, c, a shared; D², G² per peak)\n")
    peaks = " / ".join(f"{p:g}" for p in sorted({r.peak_lr for r in pilots}))
    print(table(["burn-in", "L∞", "c", "a", "fit rms", f"G²·η/1e-3 at {peaks}",
                 *[f"err {t.peak_lr:g}" for t in targets]], rows) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write all numbers as JSON")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help=f"curve models (registry: {', '.join(MODELS)}; and "
                         f"{', '.join(EXTRA)})")
    args = ap.parse_args()
    names = [m for m in args.models.split(",") if m]
    bad = [m for m in names if m not in MODELS and m not in EXTRA]
    if bad:
        ap.error(f"unknown model(s) {', '.join(bad)}; choose from "
                 f"{', '.join([*MODELS, *EXTRA])}")
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    G = goals()
    out: dict[str, Any] = {}
    print("# Where the 124M goals' errors come from (bench/diagnose_124m.py)\n")
    noise_floor(G["all"], out)
    print("## 1. The plan's choice (default settings)\n")
    for label in ("G1", "G2"):
        pilots, targets, steps = G[label]
        plan_choice(label, pilots, targets, steps, out)
    print("## 2–3. Curve models × burn-ins, and what the pilots cannot tell apart\n")
    for label in ("G1", "G2"):
        pilots, targets, _ = G[label]
        recs = grid(label, pilots, targets, names, out)
        spread(label, recs, [r.peak_lr for r in targets], out)
    print("## 4. A free peak law: what is left without the peak law\n")
    for label in ("G1", "G2"):
        pilots, targets, _ = G[label]
        free_section(label, pilots, targets, out)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
