"""Benchmark: the horizon law, literal and variants, on the published 124M LLM runs.

    python bench/laws.py [--boot 100] [--json OUT] [--write-examples]

Data: /work/shared/data/lr-scheduling-124m (Schaipp et al. 2025; 124M Llama-style model on
SlimPajama, AdamW; cos-10 runs at T = 15k and 25k, cos-zero at 25k, constant-LR runs to
50k). Losses are the validation losses of ``history.val``; the last one is logged at
T − 200 (the law is evaluated at that step). Cases:

A. constant-LR runs read as a table (the loss at step t of a constant-LR run is the final
   loss of a constant-LR run of length t): fit T ≤ T_fit, predict T = 49 800 for each peak.
B. cos-10: fit the two T = 15k runs (curve points after 20 % of the run), predict the
   final losses of the four T = 25k runs.
C. cos-zero at 25k (four peaks): fit final losses and curve points; η*(T) and L*(T) at
   25k, 50k, 100k with 95 % bootstrap intervals (resampling runs). Issue 5 measured the
   50k cos-zero runs (not in this data) at 2.95–2.98 for peaks 5e-4 … 2e-3.
D. pooled shapes: fit cos-10 (15k + 25k) and cos-zero curves together, predict the
   constant-LR runs at 49 800 (a cosine pilot informing a different schedule).

Each table prints the variants side by side; errors are (predicted − observed)/observed.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np

from convexlaw.laws import VARIANTS, HorizonLaw, LawData, compare_variants
from convexlaw.runs import load_runs

DATA = Path("/work/shared/data/lr-scheduling-124m")
ROOT = Path(__file__).resolve().parents[1]
COS_ZERO = "cosine+warmup(300,start=0.01,shape=cosine)"


def load() -> dict[str, list]:
    runs = load_runs(sorted(glob.glob(str(DATA / "*.json"))))
    out: dict[str, list] = {"cos10": [], "cos0": [], "const": []}
    for r in runs:
        key = ("cos10" if r.name.startswith("cos-10") else
               "cos0" if r.name.startswith("cos-zero") else "const")
        out[key].append(r)
    return out


def final(run) -> tuple[int, float]:
    s, v = run.curve("val")
    return int(s[-1]), float(v[-1])


def constant_table(runs, horizons) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    T, P, L = [], [], []
    for r in runs:
        s, v = r.curve("val")
        for h in horizons:
            T.append(h)
            P.append(r.peak_lr)
            L.append(float(v[s == h][0]))
    return np.array(T, float), np.array(P), np.array(L)


def pcols(p: dict) -> list[str]:
    return [f"{p['L_inf']:.3f}", f"{p['c']:.2f}", f"{p['a']:+.2f}", f"{p['gamma']:+.2f}"]


PHEAD = ["L∞", "c", "a", "γ"]


def interval(lo: float, hi: float, fmt: str) -> str:
    """[lo, hi], or n/a when the bootstrap could not resample (too few runs)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return "[n/a]"
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def pct(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:+.2f} %"


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def case_a(runs, results) -> None:
    test_T = 49800.0
    print("\n## A. Constant-LR runs as a table: fit T ≤ T_fit, predict T = 49 800\n")
    for fit_max in (8000.0, 25000.0):
        horizons = [h for h in (2000, 4000, 8000, 16000, 25000) if h <= fit_max]
        T, P, L = constant_table(runs, horizons)
        Tt, Pt, Lt = constant_table(runs, [test_T])
        data = LawData.from_arrays(T=np.r_[T, Tt], peak=np.r_[P, Pt], loss=np.r_[L, Lt])
        fit_idx, test_idx = np.arange(T.size), np.arange(T.size, T.size + Tt.size)
        rows = []
        for v in VARIANTS:
            law = HorizonLaw(variant=v, n_boot=0).fit(data, fit_idx)
            pred = law._predict(law.params_, data, test_idx)
            err = pred / Lt - 1
            p = law.params_
            rows.append([v, *pcols(p), f"{law.kappa():+.3f}", *[pct(e) for e in err],
                         f"{100 * np.mean(np.abs(err)):.2f} %"])
            results.setdefault("A", []).append({"fit_T_max": fit_max, "variant": v,
                                                "params": p, "errors": err.tolist()})
        print(f"fit on T ∈ {{{', '.join(f'{h:g}' for h in horizons)}}} "
              f"(×{test_T / fit_max:.1f} extrapolation), 4 peaks each:\n")
        print(table(["variant", *PHEAD, "κ", *[f"err η={p:g}" for p in Pt], "mean |err|"],
                    rows))
        print()


def case_b(runs, results) -> None:
    print("\n## B. cos-10: fit the T = 15k runs (curve points), predict the T = 25k finals\n")
    pilots = [r for r in runs if r.T == 15000]
    targets = sorted((r for r in runs if r.T == 25000), key=lambda r: r.peak_lr)
    data = LawData.from_runs(pilots, points="curve", burn_in=0.2)
    rows = []
    for v in VARIANTS:
        law = HorizonLaw(variant=v, n_boot=0).fit(data)
        errs = []
        for r in targets:
            step, obs = final(r)
            pred = float(law.predict(r.T, r.peak_lr, shape=r.schedule, at=step))
            errs.append(pred / obs - 1)
        e, ls = law.optimal_peak(25000, shape=pilots[0].schedule)
        rows.append([v, *pcols(law.params_), *[pct(x) for x in errs],
                     f"{e[0]:.2e}", f"{ls[0]:.4f}"])
        results.setdefault("B", []).append({"variant": v, "params": law.params_,
                                            "errors": errs, "eta_star_25k": float(e[0])})
    best = min(targets, key=lambda r: final(r)[1])
    print(table(["variant", *PHEAD, *[f"err η={r.peak_lr:g}" for r in targets],
                 "η*(25k)", "L*(25k)"], rows))
    print("\nobserved at 25k: " + ", ".join(f"η={r.peak_lr:g}: {final(r)[1]:.4f}"
                                            for r in targets)
          + f"; best tried peak {best.peak_lr:g}")


def case_c(runs, results, n_boot: int) -> None:
    print("\n## C. cos-zero at T = 25k (4 peaks): η*(T), L*(T) with 95 % intervals\n")
    runs = sorted(runs, key=lambda r: r.peak_lr)
    print("observed finals (step 24 800): " + ", ".join(
        f"η={r.peak_lr:g}: {final(r)[1]:.4f}" for r in runs) + "\n")
    for points in ("final", "curve"):
        data = LawData.from_runs(runs, points=points, burn_in=0.2)
        rows = []
        variants = VARIANTS if points == "curve" else ("literal", "distance", "peak")
        for v in variants:
            law = HorizonLaw(variant=v, n_boot=n_boot).fit(data)
            cells = [v, *pcols(law.params_), f"{law.kappa(shape=COS_ZERO):+.3f}"]
            rec = {"points": points, "variant": v, "params": law.params_, "forecasts": []}
            for T in (25000, 50000, 100000):
                f = law.forecast(T, shape=COS_ZERO)
                lo, hi = f["eta_star_interval"]
                llo, lhi = f["loss_star_interval"]
                cells += [f"{f['eta_star']:.2e} {interval(lo, hi, '.1e')}",
                          f"{f['loss_star']:.3f} {interval(llo, lhi, '.3f')}"]
                rec["forecasts"].append(f)
            at50 = [float(law.predict(50000, p, shape=COS_ZERO, at=49800))
                    for p in (5e-4, 1e-3, 2e-3)]
            cells.append(" / ".join(f"{x:.3f}" for x in at50))
            rec["loss_50k_at_peaks"] = at50
            rows.append(cells)
            results.setdefault("C", []).append(rec)
        note = (" — bootstrap intervals n/a: 4 runs cannot be resampled for 3–4 parameters"
                if points == "final" else "")
        print(f"points = {points} ({data.n} points from {len(runs)} runs){note}:\n")
        print(table(["variant", *PHEAD, "κ", "η*(25k)", "L*(25k)", "η*(50k)",
                     "L*(50k)", "η*(100k)", "L*(100k)",
                     "L(50k) at 5e-4 / 1e-3 / 2e-3"], rows))
        print()
    print("issue 5: the 50k cos-zero runs reach 2.95–2.98 (peaks 5e-4 … 2e-3); a literal "
          "fit on the 25k finals over-predicts them by 2.1–2.5 %.")


def case_d(groups, results) -> None:
    print("\n## D. Pooled shapes: fit cos-10 + cos-zero curves, predict constant-LR at 49 800\n")
    pilots = groups["cos10"] + groups["cos0"]
    data = LawData.from_runs(pilots, points="curve", burn_in=0.2)
    targets = sorted(groups["const"], key=lambda r: r.peak_lr)
    rows = []
    for v in VARIANTS:
        law = HorizonLaw(variant=v, n_boot=0).fit(data)
        errs = []
        for r in targets:
            step, obs = final(r)
            pred = float(law.predict(r.T, r.peak_lr, shape=r.lrs / r.peak_lr, at=step))
            errs.append(pred / obs - 1)
        rows.append([v, *pcols(law.params_), f"{100 * law.metrics_['PredE']:.3f} %",
                     *[pct(x) for x in errs]])
        results.setdefault("D", []).append({"variant": v, "params": law.params_,
                                            "errors": errs})
    print(table(["variant", *PHEAD, "in-sample PredE",
                 *[f"err η={r.peak_lr:g}" for r in targets]], rows))


def summary(results) -> None:
    print("\n## Summary: mean |error| on held-out finals, by variant (best in bold)\n")
    cases = [("A ×6.2 (constant, fit ≤ 8k)", [r for r in results["A"]
                                               if r["fit_T_max"] == 8000.0]),
             ("A ×2 (constant, fit ≤ 25k)", [r for r in results["A"]
                                              if r["fit_T_max"] == 25000.0]),
             ("B cos-10 15k → 25k (peaks 5e-4…2e-3)", [dict(r, errors=r["errors"][1:])
                                                       for r in results["B"]]),
             ("D cosines → constant 49.8k", results["D"])]
    rows = []
    for name, recs in cases:
        errs = {r["variant"]: float(np.mean(np.abs(r["errors"]))) for r in recs}
        best = min(errs, key=errs.get)
        rows.append([name] + [(f"**{100 * errs[v]:.2f} %**" if v == best
                               else f"{100 * errs[v]:.2f} %") for v in VARIANTS])
    print(table(["case", *VARIANTS], rows))


def case_select(groups, results) -> None:
    print("\n## Variant selection on the constant-LR table (hold-out: longest horizon)\n")
    T, P, L = constant_table(groups["const"], [2000, 4000, 8000, 16000, 25000, 49800])
    rows, chosen = compare_variants(LawData.from_arrays(T=T, peak=P, loss=L), n_boot=0)
    print(table(["variant", "k", "in-sample PredE", "hold-out PredE", "hold-out WorstE"],
                [[r["variant"] + (" ✓" if r["chosen"] else ""), str(r["k"]),
                  f"{100 * r['PredE']:.3f} %", f"{100 * r['holdout_PredE']:.3f} %",
                  f"{100 * r['holdout_WorstE']:.3f} %"] for r in rows]))
    results["select"] = {"chosen": chosen,
                         "rows": [{k: v for k, v in r.items() if k != "law"} for r in rows]}


def write_examples(groups) -> None:
    src = "# source: /work/shared/data/lr-scheduling-124m (Schaipp et al. 2025), val loss;\n"
    T, P, L = constant_table(groups["const"], [2000, 4000, 8000, 16000, 25000, 49800])
    lines = [src + "# constant-LR runs: the loss at step T is the final loss of a "
             "constant-LR run of length T\n# written by: python bench/laws.py "
             "--write-examples\nN,T,peak_lr,loss"]
    lines += [f"123587328,{t:g},{p:g},{v:.5f}" for t, p, v in zip(T, P, L, strict=True)]
    (ROOT / "examples" / "124m-constant.csv").write_text("\n".join(lines) + "\n")
    lines = [src + "# best of the four peaks (1e-4, 5e-4, 1e-3, 2e-3) at each T, read as "
             "tuned (no peak_lr column)\n# written by: python bench/laws.py "
             "--write-examples\nN,T,loss"]
    for t in np.unique(T):
        lines.append(f"123587328,{t:g},{L[T == t].min():.5f}")
    (ROOT / "examples" / "124m-constant-tuned.csv").write_text("\n".join(lines) + "\n")
    lines = [src + "# cos-10 runs (cosine to 10 % of the peak, 300 warm-up steps): last "
             "logged val loss (step T - 200)\n# written by: python bench/laws.py "
             "--write-examples\nN,T,peak_lr,loss"]
    for r in sorted(groups["cos10"], key=lambda r: (r.T, r.peak_lr)):
        lines.append(f"123587328,{r.T},{r.peak_lr:g},{final(r)[1]:.5f}")
    (ROOT / "examples" / "124m-cos10.csv").write_text("\n".join(lines) + "\n")
    print("wrote examples/124m-constant.csv, 124m-constant-tuned.csv, 124m-cos10.csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boot", type=int, default=100, help="bootstrap refits in case C")
    ap.add_argument("--json", type=Path, help="write all numbers as JSON")
    ap.add_argument("--write-examples", action="store_true",
                    help="(re)write the example tables under examples/")
    args = ap.parse_args()
    t0 = time.perf_counter()
    groups = load()
    if args.write_examples:
        (ROOT / "examples").mkdir(exist_ok=True)
        write_examples(groups)
        return
    results: dict = {}
    print("# Horizon law on the 124M runs (bench/laws.py)")
    case_a(groups["const"], results)
    case_select(groups, results)
    case_b(groups["cos10"], results)
    case_c(groups["cos0"], results, args.boot)
    case_d(groups, results)
    summary(results)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
