"""Can the pilots see η*(T) bend? Forecasters of η*(T) that may flatten, on the bench's pilots.

    python bench/alt_bend.py --db bench/work/alt.db \
        [--demo-db /work/data/tmp/demo-run1/runs.db] [--workers 1] \
        [--json bench/results/alternatives-mlp-bend.json] \
        [--plot bench/results/alternatives-mlp-bend.png]

On the MLP row of ``bench/alternatives.py`` the optimal peak flattens beyond the pilots
(``alt_cause.py``: local κ −0.39 over T = 100–400, −0.28 over 400–4000) and every
forecaster of the plan is a power law in T. This script measures, on the pilots of the
MLP and GPT rows and of ``make demo`` (pilots only; the targets' η* only to score):

1. ``noise``: how well one pilot horizon pins η*: the spread of η* measured as the plan
   measures it (one seed, peaks ×2 apart, ``measured_optimum``) over the seeds and the two
   ×2 sub-grids of the width-128 cells of ``alt_cause.py`` (validation runs, not pilots),
   and what that spread does to κ from two horizons ×2 apart, carried ×10;
2. ``law_drift``: the horizon law with c(T) = c0 + c1·ln(T/T_ref) on the final losses
   (idea: κ(T) = −(1−c(T))/(2−c(T)) flattens as c rises), with the LR area in raw units
   and in units of the pilots' geometric mean;
3. ``hz_profile``: the curve model ``convex-ed-gt-hz`` (c of the run's horizon) with its
   drift c1 held at fixed values: its fit and η*(4000) — what the pilots say about c1;
4. ``hz_designs``: ``convex-ed-gt-hz`` with c1 free on other pilot sets of the MLP
   testbed (width 128, seed 0; trained when missing), and the plan's pick there;
5. ``noise_law``: gradient noise falling with the loss, G² = g0 + g1·(L − L∞):
   E = (B1·η^(c−1) + g0·y·η)/(1 − g1·y·η), on the final losses;
6. ``step_drift``: c drifting with the LR area reached, ½D²·P_t^(c + c1·ln P_t − 1)
   (log-quadratic in P_t, so free of the LR unit), on the whole curves;
7. ``selection``: each forecaster of the plan (+ ``convex-ed-gt-hz``): its η* error at the
   held-out pilot horizon (what the plan chooses by) against its error at the target.

Results: bench/results/alternatives-mlp-bend.md (written by hand from the JSON and the
printed lines) and the figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parent))
import alt_cause as ac  # noqa: E402
import alt_methods as am  # noqa: E402
import alternatives as alt  # noqa: E402

from convexlaw import schedule  # noqa: E402
from convexlaw.curve.convex import C_BOUNDS  # noqa: E402
from convexlaw.curve.horizon import ConvexEDHorizon  # noqa: E402
from convexlaw.forecasters import CurveForecaster  # noqa: E402
from convexlaw.laws import LawData  # noqa: E402
from convexlaw.laws.data import shape_constants  # noqa: E402
from convexlaw.plan import CURVE_MODELS, make_plan, measured_optimum  # noqa: E402

TARGET_T = 4000
HZ = "convex-ed-gt-hz"
C1_VALUES = (None, -0.1, 0.0, 0.05, 0.1, 0.15, 0.2)
# other pilot sets of the MLP testbed (seed 0, width 128): T -> peaks (×2 apart)
P = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16)
DESIGNS = {
    "200, 400 (the bench's)": {200: P[:5], 400: P[:5]},
    "100, 200, 400": {100: P[:5], 200: P[:5], 400: P[:5]},
    "50, 100, 200, 400 (4 peaks)": {50: P[2:6], 100: P[1:5], 200: P[1:5], 400: P[:4]},
    "50, 100, 200, 400": {50: P[1:6], 100: P[1:6], 200: P[:5], 400: P[:5]},
    "50, 100, 200, 400, 800": {50: P[1:6], 100: P[1:6], 200: P[:5], 400: P[:5],
                               800: P[:5]},
    "50 (4 peaks), 200, 400": {50: P[2:6], 200: P[:5], 400: P[:5]},
    "25, 50, 100, 200, 400 (4 peaks)": {25: P[3:6] + (0.32,), 50: P[2:6], 100: P[1:5],
                                        200: P[1:5], 400: P[:4]},
}
GRID_STEPS = 8 * TARGET_T


def say(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- data
def bench_pilots(store: Any, name: str) -> list:
    return alt.fetch(store, alt.TESTBEDS[name].pilots())


def demo_pilots(path: str) -> tuple[list, float, float]:
    """The demo's pilots and its target's η* (parabola through the seed means at T=4000,
    as ``convexlaw.demo`` measures it)."""
    from convexlaw.demo import DEFAULT as cfg
    from convexlaw.runs import RunStore

    st = RunStore(path)
    cfgs = [cfg.run_config(T, p, s) for T in cfg.pilot_steps for p in cfg.pilot_peaks
            for s in cfg.seeds]
    pilots = [st.get(c.run_id()) for c in cfgs if c.run_id() in st]
    target: dict[float, list[float]] = {}
    for r in st.list(curves=True):
        if int(r.T) == cfg.target_steps and r.status == "finished":
            target.setdefault(float(r.peak_lr), []).append(am.score(r))
    # the demo's rule: only peaks on its ×√2 grid (the planned peak, off the grid, can sit
    # a hair from a grid point and make the parabola ill-conditioned)
    k = {p: math.log(p / cfg.pilot_peaks[0]) / math.log(cfg.ratio) for p in target}
    peaks = sorted(p for p in target if abs(k[p] - round(k[p])) < 1e-3)
    eta, loss, _ = measured_optimum(peaks, [float(np.mean(target[p])) for p in peaks])
    return pilots, eta, min(loss, min(float(np.mean(v)) for v in target.values()))


def target_eta(store: Any, name: str) -> tuple[float, float]:
    """The bench's oracle: the parabola through the target grid's seed means (η*), and
    the grid's best seed-mean loss."""
    tb = alt.TESTBEDS[name]
    cfgs = [tb.target(p, s) for p in tb.grid_peaks(*tb.grid_k) for s in (0, 1)]
    table = am.grid_table(alt.fetch(store, cfgs))
    o = am.oracle(table, [0, 1])
    return measured_optimum(list(o["means"]), list(o["means"].values()))[0], o["loss"]


def plan(runs: list, window: float | None, curve_models=CURVE_MODELS) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(runs, TARGET_T, schedule="cosine", kind="val", n_boot=0,
                         window=window, curve_models=curve_models)


def used(p: Any, runs: list) -> list:
    ids = {r["id"] for r in p.pilots if r["used"]}
    return [r for r in runs if r.id in ids]


def consts(T: int) -> tuple[float, float]:
    """(x, y) of the cosine at peak 1 at its last step: the law's shape constants."""
    x, ly = shape_constants(schedule("cosine", T, 1.0), np.array([T]))
    return float(x[0]), float(math.exp(ly[0, 0]))


# ----------------------------------------------------------------------------- 1. noise
def noise(store: Any, workers: int) -> dict[str, Any]:
    """Spread of a pilot-style η* (one seed, ×2 grid) per width-128 cell of alt_cause."""
    per_T: dict[int, list[float]] = {}
    for T in (100, 200, 400, 1000, 4000):
        seeds = [0, 1, 2] if T in (400, 4000) else [0, 1]
        cfgs = ac.cell_configs(128, T, seeds, ac.K_RANGE[T])
        alt.ensure(store, cfgs, workers, f"cell 128:{T}")
        runs = alt.fetch(store, cfgs)
        for s in seeds:
            sel = sorted((r for r in runs if r.seed == s), key=lambda r: r.peak_lr)
            for off in (0, 1):
                sub = sel[off::2]
                e, _, ok = measured_optimum([r.peak_lr for r in sub],
                                            [am.score(r) for r in sub])
                if ok:
                    per_T.setdefault(T, []).append(e)
    sd = {T: float(np.std(np.log(v), ddof=1)) for T, v in per_T.items()}
    pair = math.sqrt(0.5 * (sd[200] ** 2 + sd[400] ** 2))
    s_kappa = math.sqrt(2.0) * pair / math.log(2.0)
    kap = [math.log(b / a) / math.log(2.0) for a in per_T[200] for b in per_T[400]]
    to = [b * 10 ** k for b in per_T[400] for k in kap]
    return {"eta_by_T": per_T, "sd_ln_eta": sd, "sd_kappa_pair": s_kappa,
            "spread_x10": math.exp(s_kappa * math.log(10.0)),
            "kappa_range": [min(kap), max(kap)],
            "eta4000_range": [float(np.min(to)), float(np.max(to))],
            "eta4000_cells": float(np.exp(np.mean(np.log(per_T[4000]))))}


# ----------------------------------------------------------------------------- 2. law drift
def _law_arrays(runs: list) -> dict[str, np.ndarray]:
    d = LawData.from_runs(runs, points="final", kind="val")
    return {"eta": d.peak, "x": d.x, "y": np.exp(d.logy(0.0, 1000.0)), "L": d.loss,
            "T": d.horizon}


def law_drift(runs: list, units: str, free: bool) -> dict[str, Any]:
    """L = L∞ + B1·(η/(x·u))^(c(T)−1) + B2·y·η, c(T) = c0 + c1·ln(T/T_ref): grid over
    (c0, c1), NNLS (relative residuals) for L∞ ≤ min L, B1, B2 ≥ 0."""
    a = _law_arrays(runs)
    t_ref = math.exp(float(np.mean(np.log(a["T"]))))
    u = 1.0 if units == "raw" else math.exp(float(np.mean(np.log(a["eta"] / a["x"]))))
    best = None
    for c0 in np.linspace(-0.3, 0.95, 126):
        for c1 in (np.linspace(-0.4, 0.4, 81) if free else [0.0]):
            c = np.clip(c0 + c1 * np.log(a["T"] / t_ref), -0.5, 0.95)
            M = np.column_stack([np.ones_like(a["L"]), (a["eta"] / a["x"] / u) ** (c - 1),
                                 a["y"] * a["eta"]]) / a["L"][:, None]
            coef, res = nnls(M, np.ones_like(a["L"]))
            if coef[0] <= a["L"].min() and (best is None or res < best[0]):
                best = (res, c0, c1, coef)
    assert best is not None
    res, c0, c1, (linf, b1, b2) = best
    eta = {}
    for T in (400, 1000, TARGET_T):
        x, y = consts(T)
        c = float(np.clip(c0 + c1 * math.log(T / t_ref), -0.5, 0.95))
        grid = np.geomspace(1e-4, 1.0, 4001)
        eta[T] = float(grid[np.argmin(b1 * (grid / x / u) ** (c - 1) + b2 * y * grid)])
    return {"units": units, "c1_free": free, "rss": float(res), "c0": float(c0),
            "c1": float(c1), "L_inf": float(linf), "eta": eta}


# ----------------------------------------------------------------------------- 3., 4. -hz
class HeldDrift(ConvexEDHorizon):
    """convex-ed-gt-hz with its drift c1 held at a value (None: fitted)."""

    def __init__(self, c1: float | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.c1_value = c1

    def _held(self, data: list) -> dict[str, float]:
        held = super()._held(data)
        if self.c1_value is None:
            return held
        self._extra_warnings = []
        return {"c1": self.c1_value}


TS = (100, 200, 400, 1000, TARGET_T)


def _eta_curve(fc: Any, Ts=TS) -> dict[int, float]:
    """η*(T) of a fitted forecaster for the cosine at each horizon."""
    return {T: fc.optimum(schedule("cosine", T, 1.0), (1e-3, 1.0))[0] for T in Ts}


def _etas(model: Any, burn_in: int, Ts=TS) -> dict[int, float]:
    return _eta_curve(CurveForecaster(HZ, burn_in, "val").set_fitted(model), Ts)


def _rss(model: Any, runs: list, burn_in: int) -> float:
    out = 0.0
    for r in runs:
        st, v = r.curve("val")
        keep = np.asarray(st) > burn_in
        pred = model.predict(np.asarray(r.lrs), np.asarray(st)[keep], peak=r.peak_lr)
        out += float(np.sum((pred - np.asarray(v)[keep]) ** 2))
    return out


def hz_profile(runs: list, burn_in: int) -> list[dict[str, Any]]:
    out = []
    for c1 in C1_VALUES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = HeldDrift(c1, grad="power", kind="val", burn_in=burn_in).fit(runs)
        out.append({"c1_held": c1, "params": dict(m.params_), "rss": _rss(m, runs, burn_in),
                    "r2": m.fit_info_["r2"], "eta": _etas(m, burn_in)})
    return out


def design_runs(store: Any, spec: dict[int, tuple], workers: int, label: str) -> list:
    tb = alt.TESTBEDS["mlp"]
    cfgs = [tb.pilot(T, p) for T, peaks in spec.items() for p in peaks]
    alt.ensure(store, cfgs, workers, label)
    return alt.fetch(store, cfgs)


def hz_design(runs: list, oracle: float) -> dict[str, Any]:
    p = plan(runs, None, CURVE_MODELS + (HZ,))
    fc = p.fitted.get(f"curve {HZ}")
    row = next(r for r in p.candidates if r["forecaster"] == f"curve {HZ}")
    dist = next(r for r in p.candidates if r["forecaster"] == "law distance")
    return {"steps": int(sum(int(r.T) for r in runs)), "plan_eta": p.eta_star,
            "plan_ratio": p.eta_star / oracle, "plan_source": p.source,
            "hz_ratio": row["eta_star"] / oracle, "hz_flags": row["flags"],
            "hz_heldout_eta_ratio": (row.get("optimum") or {}).get("eta_ratio"),
            "c": None if fc is None else fc.model_.params_["c"],
            "c1": None if fc is None else fc.model_.params_["c1"],
            "distance_ratio": dist["eta_star"] / oracle,
            "hz_eta": None if fc is None else _etas(fc.model_, fc.burn_in)}


# ----------------------------------------------------------------------------- 5. noise law
def noise_law(runs: list, free_c: bool) -> dict[str, Any]:
    """E = (B1·x^(1−c)·η^(c−1) + g0·y·η)/(1 − g1·y·η): G² = g0 + g1·E (module doc)."""
    a = _law_arrays(runs)
    eta, x, y, L = a["eta"], a["x"], a["y"], a["L"]
    ymax = float(np.max(y * eta))
    best = None
    for c in (np.linspace(0.0, 0.95, 39) if free_c else [0.0]):
        for f in np.linspace(0.0, 0.98, 50):
            g1 = f / ymax
            den = 1 - g1 * y * eta
            M = np.column_stack([den, x ** (1 - c) * eta ** (c - 1), y * eta]) / (L * den)[:, None]
            coef, res = nnls(M, np.ones_like(L))
            if coef[0] <= L.min() and (best is None or res < best[0]):
                best = (res, c, g1, coef)
    assert best is not None
    res, c, g1, (linf, b1, g0) = best
    etas = {}
    for T in (200, 400, 1000, TARGET_T):
        xT, yT = consts(T)
        grid = np.geomspace(1e-4, 1.0, 8001)
        den = 1 - g1 * yT * grid
        E = np.where(den > 0, (b1 * xT ** (1 - c) * grid ** (c - 1) + g0 * yT * grid) / den,
                     np.inf)
        etas[T] = float(grid[np.argmin(E)])
    Ts = sorted(etas)
    kap = {f"{a}-{b}": math.log(etas[b] / etas[a]) / math.log(b / a)
           for a, b in zip(Ts, Ts[1:], strict=False)}
    return {"c_free": free_c, "c": float(c), "g1_share": float(g1 * ymax), "g0": float(g0),
            "rss": float(res), "eta": etas, "local_kappa": kap}


# ----------------------------------------------------------------------------- 6. step drift
class StepDrift(ConvexEDHorizon):
    """½D²·P_t^(c(P_t)−1), c(P) = c + c1·ln P (per step, not per run): log-quadratic."""

    def _held(self, data: list) -> dict[str, float]:
        self._href_fit, self._extra_warnings = 1.0, []
        return {}

    def _stacked(self, data: list) -> None:
        return None  # the per-step exponent has no stacked fast path

    def _columns(self, shape: dict[str, float], d: Any, exact: bool) -> np.ndarray:
        keep, terms, idx, obs = self._terms(d)
        Pt = terms.P[idx]
        c = np.clip(shape["c"] + shape["c1"] * np.log(Pt), *C_BOUNDS)
        a = shape.get("a", 0.0)
        Y = obs.Y(a, exact=exact, family="power") if obs is not None else \
            terms.Y_at(a, idx, "power")
        sD, sG = self._peak_factors(shape, d.peak / self.peak_ref)
        M = np.full((d.steps.size, 3), np.nan)
        M[keep] = np.column_stack([np.ones(idx.size), sD * 0.5 * Pt ** (c - 1.0), sG * Y])
        return M


def step_drift(runs: list, burn_in: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = StepDrift(grad="power", kind="val", burn_in=burn_in).fit(runs)
    return {"params": dict(m.params_), "r2": m.fit_info_["r2"],
            "eta": _etas(m, burn_in, (200, 400, 1000, TARGET_T))}


# ----------------------------------------------------------------------------- 7. selection
def selection(p: Any, oracle: float, best: float) -> list[dict[str, Any]]:
    out = []
    for r in p.candidates:
        o = r.get("optimum") or {}
        out.append({"forecaster": r["forecaster"], "target_ratio": (r["eta_star"] or 0) / oracle,
                    "loss_error": (r["loss_star"] or math.nan) / best - 1,
                    "heldout_eta_ratio": o.get("eta_ratio"), "score": r.get("score"),
                    "kappa": r["kappa"], "split": r["split"], "flags": r["flags"],
                    "chosen_eta": r.get("chosen_eta", False)})
    return out


# ----------------------------------------------------------------------------- figure
def figure(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.2))
    nz = res["noise"]["eta_by_T"]
    for T, v in nz.items():
        ax.scatter([int(T)] * len(v), v, s=14, color="0.6", zorder=2,
                   label="η* of one seed, ×2 grid (width-128 cells)" if T == 100 else None)
    cells = {int(T): float(np.exp(np.mean(np.log(v)))) for T, v in nz.items()}
    ax.plot(sorted(cells), [cells[T] for T in sorted(cells)], "k-o", ms=5, zorder=3,
            label="geometric mean of those (width 128)")
    ax.scatter([TARGET_T], [res["oracle"]["mlp"]], marker="*", s=180, color="crimson",
               zorder=4, label="target η* (width 512, the oracle)")
    Ts = [100, 200, 400, 1000, TARGET_T]
    prof = {row["c1_held"]: row for row in res["hz_profile"]["mlp"]}
    for c1, style in ((None, "-"), (0.1, ":")):
        e = prof[c1]["eta"]
        lab = (f"fitted c1 = {prof[c1]['params']['c1']:+.3f}" if c1 is None
               else "c1 held at +0.10")
        ax.plot(Ts, [e[T] for T in Ts], style, color="tab:blue",
                label=f"{HZ} on the bench's pilots, {lab}")
    wide = res["hz_designs"][3]
    ax.plot(Ts, [wide["hz_eta"][T] for T in Ts], "-", color="tab:green",
            label=f"{HZ} on pilots {wide['design']} (c1 = {wide['c1']:+.3f})")
    for label, style, color in (("law distance", "--", "tab:orange"),
                                (res["plan_default_source"], "-.", "tab:purple")):
        e = res["curves_mlp"][label]
        ax.plot(Ts, [e[T] for T in Ts], style, color=color,
                label=f"{label} on the bench's pilots"
                + (" (the plan's η*)" if label == res["plan_default_source"] else ""))
    pil = res["pilot_optima"]["mlp"]
    ax.scatter([int(T) for T in pil], list(pil.values()), marker="s", s=50,
               facecolors="none", edgecolors="tab:blue", zorder=5,
               label="the bench's pilots' own η* (T = 200, 400)")
    ax.axhspan(0.8 * res["oracle"]["mlp"], 1.3 * res["oracle"]["mlp"], color="crimson",
               alpha=0.08, label="×0.8–1.3 of the target η* (regret ≲ 0.5 %)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon T (steps)")
    ax.set_ylabel("optimal peak LR η*")
    ax.set_title("MLP testbed: η*(T) flattens; the bench's pilots (T = 200, 400) cannot "
                 "see it", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="the bench's run store (a copy)")
    ap.add_argument("--demo-db", default="/work/data/tmp/demo-run1/runs.db")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    import torch

    from convexlaw.runs import RunStore

    torch.set_num_threads(1)
    store = RunStore(args.db)
    data = {"mlp": bench_pilots(store, "mlp"), "gpt": bench_pilots(store, "gpt")}
    (oracle, best) = ({}, {})
    for name in ("mlp", "gpt"):
        oracle[name], best[name] = target_eta(store, name)
    data["demo"], oracle["demo"], best["demo"] = demo_pilots(args.demo_db)
    window = {"mlp": None, "gpt": None, "demo": 1.2}  # the demo plans with window 1.2
    burn = {}
    res: dict[str, Any] = {"oracle": oracle, "best_loss": best, "law_drift": {}, "hz_profile": {},
                           "noise_law": {}, "step_drift": {}, "selection": {},
                           "pilot_optima": {}}
    for name, runs in data.items():
        p = plan(runs, window[name], CURVE_MODELS + (HZ,))
        kept = used(p, runs)
        burn[name] = p.burn_ins[HZ]["step"]
        res["selection"][name] = selection(p, oracle[name], best[name])
        say(f"== {name}: {len(kept)} pilots used, target η* {oracle[name]:.4g}; plan "
            f"(+{HZ}) η* ×{p.eta_star / oracle[name]:.3f} from {p.source}")
        for r in res["selection"][name]:
            ho = r["heldout_eta_ratio"]
            say(f"   {r['forecaster']:26s} target ×{r['target_ratio']:.2f} "
                f"L* {100 * r['loss_error']:+.1f} %  held-out η "
                + ("n/a " if ho is None else f"×{ho:.3f}") + f"  κ {r['kappa']}"
                + ("  [η chosen]" if r["chosen_eta"] else "")
                + (f"  flags: {'; '.join(r['flags'])}" if r["flags"] else ""))
        if name != "demo":
            res["pilot_optima"][name] = {
                int(T): measured_optimum([r.peak_lr for r in kept if r.T == T],
                                         [am.score(r) for r in kept if r.T == T])[0]
                for T in sorted({int(r.T) for r in kept})}
        res["law_drift"][name] = [law_drift(kept, u, f) for u, f in
                                  (("raw", False), ("raw", True), ("mean", True))]
        for d in res["law_drift"][name]:
            say(f"   law c(T) [{d['units']} units, c1 {'free' if d['c1_free'] else '0'}]: "
                f"c0 {d['c0']:.3f} c1 {d['c1']:+.3f} rss {d['rss']:.3g} η*(4000) "
                f"×{d['eta'][TARGET_T] / oracle[name]:.2f}")
        res["hz_profile"][name] = hz_profile(kept, burn[name])
        for row in res["hz_profile"][name]:
            say(f"   {HZ} c1 {'free' if row['c1_held'] is None else row['c1_held']:>5}: "
                f"c1 {row['params']['c1']:+.3f} c {row['params']['c']:.3f} rss "
                f"{row['rss']:.4f} η*(4000) ×{row['eta'][TARGET_T] / oracle[name]:.2f}")
        res["noise_law"][name] = [noise_law(kept, f) for f in (False, True)]
        for d in res["noise_law"][name]:
            say(f"   noise law (c {'free' if d['c_free'] else '0'}): c {d['c']:.2f} g1 share "
                f"{d['g1_share']:.2f} η*(4000) ×{d['eta'][TARGET_T] / oracle[name]:.2f} "
                "local κ " + " ".join(f"{k}: {v:+.3f}" for k, v in d["local_kappa"].items()))
        res["step_drift"][name] = step_drift(kept, burn[name])
        sd = res["step_drift"][name]
        say(f"   step drift: c {sd['params']['c']:.3f} c1 {sd['params']['c1']:+.4f} η*(4000) "
            f"×{sd['eta'][TARGET_T] / oracle[name]:.2f}")
    res["noise"] = noise(store, args.workers)
    nz = res["noise"]
    say("== noise: sd ln η* (one seed, ×2 grid) "
        + " ".join(f"T={T}: {v:.3f}" for T, v in nz["sd_ln_eta"].items())
        + f"; κ from T = 200, 400: σ {nz['sd_kappa_pair']:.2f}, range "
        f"{nz['kappa_range'][0]:+.2f} … {nz['kappa_range'][1]:+.2f}; ×10 further: ×"
        f"{nz['spread_x10']:.2f} (1σ); η*(4000) from the pairs {nz['eta4000_range'][0]:.4g}"
        f" … {nz['eta4000_range'][1]:.4g} (cells' η*(4000) {nz['eta4000_cells']:.4g})")
    res["hz_designs"] = []
    for label, spec in DESIGNS.items():
        runs = design_runs(store, spec, args.workers, label)
        d = hz_design(runs, oracle["mlp"]) | {"design": label}
        res["hz_designs"].append(d)
        say(f"== design {label}: {d['steps']} steps ({100 * d['steps'] / GRID_STEPS:.1f} % "
            f"of the grid): {HZ} c1 {d['c1']:+.3f} η* ×{d['hz_ratio']:.2f} (held-out η ×"
            f"{d['hz_heldout_eta_ratio'] or float('nan'):.3f}); law distance ×"
            f"{d['distance_ratio']:.2f}; plan (+{HZ}) ×{d['plan_ratio']:.2f} from "
            f"{d['plan_source']}")
    p0 = plan(data["mlp"], None)  # the plan's defaults: the bench's row
    res["plan_default_source"] = p0.source
    res["curves_mlp"] = {k: _eta_curve(p0.fitted[k]) for k in {"law distance", p0.source}}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=_plain))
    if args.plot:
        figure(res, Path(args.plot))


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON: {type(x)}")


if __name__ == "__main__":
    main()
