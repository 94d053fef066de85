"""Why is the design's gain (mis)predicted? Which curve model predicts the measured
differences between schedules, fitted on pilots of one, two or three schedules?

    python bench/design.py models [--testbed fresh|mlp]

Reads the runs of ``python bench/design.py testbed`` (the work dir's pilots.db, targets.db
and schedules.json; for ``mlp`` the linear pilots are trained if missing, 15 short runs).
Each model of ``MODELS`` is fitted on

- the pilots of one schedule (cosine), two (+ WSD(0.2)) and three (+ linear), window and
  burn-in as in the design, and predicts the target runs (T = 4000);
- the pilots at T < T_max of all three schedules, predicting the gaps between the
  schedules at the longest pilot horizon T_max (a shorter extrapolation);
- the target runs themselves (in-sample: can the model's form carry the gaps at all?).

A *gap* is the loss of a schedule minus the loss of the reference (the designed schedule
at the target, cosine at the pilots), each at its own best peak. Measured: the seed-mean
loss per peak, parabola in log η through the best and its neighbours. Predicted, two ways:
at the measured best peaks (the schedule effect alone), and at the model's own tuned peaks
(what a design reports; '—' when the model's loss has no interior optimum within ×8 of the
trained peaks). ``slope`` = least-squares slope through 0 of predicted vs measured gaps at
equal peaks (every trained peak both schedules share): 1 = the schedule effect's size is
right at every peak. Results: bench/results/{prefix}-models.{json,md}.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import design as dz  # bench/design.py: the testbed, its score and its runs
import numpy as np
from scipy.optimize import minimize_scalar

MODELS = ("convex", "convex-ed", "convex-ed-gt", "convex-ed-peak", "convex-ed-gpeak",
          "convex-ed-gt-gpeak", "mpl", "tissue")
GOAL = 0.3  # gain predicted within 30 %


def cells(runs: list, specs: dict[str, str]) -> dict:
    """Per schedule key: its shape (from a run's LRs), seed-mean loss per peak and the
    measured optimum (seeds present at every peak only)."""
    from convexlaw.plan import measured_optimum

    out = {}
    for key, spec in specs.items():
        rows: dict = {}
        shape = None
        for r in runs:
            if r.schedule == spec and r.status == "finished":
                rows.setdefault(r.peak_lr, {})[r.seed] = dz.final(r)
                shape = r.lrs / r.peak_lr
        if not rows:
            continue
        seeds = set.intersection(*(set(v) for v in rows.values()))
        peaks = sorted(rows)
        mean = {p: float(np.mean([rows[p][s] for s in seeds])) for p in peaks}
        e, L, ok = measured_optimum(peaks, [mean[p] for p in peaks])
        out[key] = {"spec": spec, "shape": shape, "mean": mean, "peak": e, "loss": L,
                    "bracketed": ok, "seeds": sorted(seeds)}
    return out


def tuned(model, shape: np.ndarray, lo: float, hi: float) -> tuple[float, float] | None:
    """The model's own optimal peak for a shape: a grid ×8 around the trained peaks, then a
    bounded search; None when the best grid point is at an end (no interior optimum)."""
    grid = np.geomspace(lo / 8, hi * 8, 37)
    vals = np.array([dz.predicted_final(model, g * shape, g) for g in grid])
    if not np.isfinite(vals).any():
        return None
    i = int(np.nanargmin(vals))
    if i in (0, grid.size - 1):
        return None
    r = minimize_scalar(lambda x: dz.predicted_final(model, math.exp(x) * shape, math.exp(x)),
                        bounds=(math.log(grid[i - 1]), math.log(grid[i + 1])),
                        method="bounded", options={"xatol": 1e-4})
    return (math.exp(r.x), float(r.fun)) if r.fun <= vals[i] else (grid[i], float(vals[i]))


def score(model, cs: dict, ref: str) -> dict:
    """Predicted vs measured gaps (schedule − ref) and the loss-level error."""
    peaks = [p for c in cs.values() for p in c["mean"]]
    lo, hi = min(peaks), max(peaks)
    pred = {}
    errs = []
    for key, c in cs.items():
        at_meas = dz.predicted_final(model, c["peak"] * c["shape"], c["peak"])
        per_peak = {p: dz.predicted_final(model, p * c["shape"], p) for p in c["mean"]}
        errs += [per_peak[p] / c["mean"][p] - 1 for p in c["mean"]]
        pred[key] = {"at_measured_peak": at_meas, "per_peak": per_peak,
                     "tuned": tuned(model, c["shape"], lo, hi)}
    gaps = {}
    for key, c in cs.items():
        if key == ref:
            continue
        r = cs[ref]
        meas = c["loss"] - r["loss"]
        at = pred[key]["at_measured_peak"] - pred[ref]["at_measured_peak"]
        tk, tr = pred[key]["tuned"], pred[ref]["tuned"]
        tun = None if tk is None or tr is None else tk[1] - tr[1]
        common = sorted(set(c["mean"]) & set(r["mean"]))
        m_eq = np.array([c["mean"][p] - r["mean"][p] for p in common])
        p_eq = np.array([pred[key]["per_peak"][p] - pred[ref]["per_peak"][p] for p in common])
        slope = float(m_eq @ p_eq / (m_eq @ m_eq)) if common and m_eq @ m_eq > 0 else None
        gaps[key] = {"measured": meas, "at_measured_peaks": at, "at_tuned_peaks": tun,
                     "ratio_at_measured": at / meas if meas else None,
                     "ratio_tuned": None if tun is None or not meas else tun / meas,
                     "tuned_peak": None if tk is None else tk[0],
                     "equal_peaks": common, "measured_equal": m_eq.tolist(),
                     "predicted_equal": p_eq.tolist(), "slope": slope}
    return {"gaps": gaps, "final_mean_abs_error": float(np.mean(np.abs(errs))),
            "final_mean_error": float(np.mean(errs)),
            "tuned_peaks": {k: (None if v["tuned"] is None else v["tuned"][0])
                            for k, v in pred.items()}}


def fit(name: str, runs: list):
    from convexlaw.protocols import make_model

    t0 = time.perf_counter()
    m = make_model(name, kind=dz.TB["kind"], burn_in=dz.TB["burn_in"]).fit(runs)
    return m, time.perf_counter() - t0


def experiment(label: str, fit_runs: list, cs: dict, ref: str) -> list[dict]:
    rows = []
    for name in MODELS:
        try:
            m, secs = fit(name, fit_runs)
        except Exception as err:  # a model that cannot be fitted here is reported as such
            rows.append({"setting": label, "model": name, "error": str(err).split("\n")[0]})
            print(f"  [{label}] {name}: {err}", file=sys.stderr)
            continue
        s = score(m, cs, ref)
        s.update({"setting": label, "model": name, "params": m.params_, "seconds": secs,
                  "n_runs": len(fit_runs)})
        rows.append(s)
        print(f"  [{label}] {name} ({secs:.0f} s): level {100 * s['final_mean_error']:+.2f} %; "
              + "; ".join(f"{k}: meas {_fmt(g['measured'])} at-peaks "
                          f"{_fmt(g['at_measured_peaks'])} tuned {_fmt(g['at_tuned_peaks'])} "
                          f"slope {_fmt(g['slope'], 2, False)}"
                          for k, g in s["gaps"].items()), file=sys.stderr)
    return rows


def run_models(work: Path) -> dict:
    from convexlaw.runs import RunStore

    pil = dz.pilots(work)  # trains the pilots the testbed lacks (mlp: the linear ones)
    schedules = json.loads((work / "schedules.json").read_text()) if (
        work / "schedules.json").exists() else json.loads(
        (dz.RESULTS / f"{dz.TB['prefix']}.json").read_text())["schedules"]
    done = RunStore(work / "targets.db").list(curves=True)
    specs = {k: v[0] for k, v in schedules.items()}
    target = cells(done, specs)
    names = ("cosine", "wsd", "linear")
    ps = dz.TB["pilot_schedules"]
    out: dict = {"testbed": dz.TB["label"], "targets": {k: {x: c[x] for x in
                                                        ("spec", "peak", "loss", "bracketed")}
                                                    for k, c in target.items()},
                 "rows": []}
    sets = {"cosine": ps[:1], "cosine+wsd": ps[:2], "cosine+wsd+linear": ps}
    for label, chosen in sets.items():
        runs = dz.usable(pil, chosen)
        out["rows"] += experiment(f"pilots: {label}", runs, target, "designed")
    Tmax = max(dz.TB["pilot_T"])
    at_max = cells([r for r in dz.usable(pil) if r.T == Tmax], dict(zip(names, ps, strict=True)))
    out["pilot_gaps"] = {k: {x: c[x] for x in ("peak", "loss", "bracketed")}
                         for k, c in at_max.items()}
    short = [r for r in dz.usable(pil) if r.T < Tmax]
    out["rows"] += experiment(f"pilots T < {Tmax} → T = {Tmax}", short, at_max, "cosine")
    usable_targets = [r for r in done if r.status == "finished"
                      and r.tags.get("beats_constant", True)]
    out["rows"] += experiment("targets (in-sample)", usable_targets, target, "designed")
    return out


def _fmt(v, digits: int = 4, sign: bool = True) -> str:
    if v is None:
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def markdown(res: dict) -> str:
    lines = [f"## Which model predicts the gaps between schedules: {res['testbed']}", "",
             "Measured at the target (seed means, each at its best peak): "
             + ", ".join(f"{k} {t['loss']:.4f} @ {t['peak']:.4g}"
                         + ("" if t["bracketed"] else " (edge)")
                         for k, t in res["targets"].items()),
             "", "Gap = loss of the schedule − loss of the reference (designed at the target, "
             "cosine at the pilots; > 0: the reference is better). Predicted at the measured "
             "best peaks / at the model's tuned peaks; ratio = predicted / measured; slope = "
             "predicted vs measured gaps at equal peaks.", ""]
    settings = list(dict.fromkeys(r["setting"] for r in res["rows"]))
    for setting in settings:
        rows = [r for r in res["rows"] if r["setting"] == setting]
        keys = next(list(r["gaps"]) for r in rows if "gaps" in r)
        meas = next(r["gaps"] for r in rows if "gaps" in r)
        lines += [f"### {setting}", "",
                  "measured gaps: " + ", ".join(f"{k} {_fmt(meas[k]['measured'])}"
                                                for k in keys), "",
                  "| model | level error | " + " | ".join(
                      f"{k}: at peaks (ratio) | tuned (ratio) | slope" for k in keys) + " |",
                  "|---|---|" + "---|---|---|" * len(keys)]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['model']} | fit failed: {r['error'][:60]} |")
                continue
            cellv = []
            for k in keys:
                g = r["gaps"][k]
                cellv += [f"{_fmt(g['at_measured_peaks'])} "
                          f"({_fmt(g['ratio_at_measured'], 2, False)})",
                          f"{_fmt(g['at_tuned_peaks'])} ({_fmt(g['ratio_tuned'], 2, False)})",
                          _fmt(g["slope"], 2, False)]
            lines.append(f"| {r['model']} | {100 * r['final_mean_error']:+.2f} % | "
                         + " | ".join(cellv) + " |")
        lines.append("")
    return "\n".join(lines)


def main_models(work: Path) -> None:
    res = run_models(work)
    prefix = dz.TB["prefix"]
    (dz.RESULTS / f"{prefix}-models.json").write_text(json.dumps(dz.jsonable(res), indent=1))
    md = markdown(res)
    (dz.RESULTS / f"{prefix}-models.md").write_text(md)
    print(md)
