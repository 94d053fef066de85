"""Plan a long run from pilot runs: recommended peak LR, predicted final loss, the curve.

From finished pilot runs at two or more horizons (a few peak LRs each) the plan

1. keeps, at each pilot horizon (and size), the runs whose final loss is within
   ``window`` × the best one there — the laws describe the convex-like regime around the
   optimum, not the blow-up at the edge of stability (dropped runs are listed);
2. fits the horizon law (``convexlaw.laws``; the size law when the pilots span several
   model sizes) as written, L(T, η) = L∞ + q1²/(T·η) + q2²·η, and its variants, and lets
   the held-out longest pilot horizon choose (``compare_variants``);
3. reads off η*(T) and L*(T) at the target horizon and schedule with bootstrap intervals
   over runs — the schedule enters through the bound's shape constants, so cosine pilots
   can plan a WSD run;
4. fits a loss-curve model (default V4+5, ``convex-ed-peak``) to the pilots' whole curves
   and predicts the target curve at the recommended peak.

The predicted final loss comes from whichever of law and curve model predicts the longest
pilot horizon's final losses better when fitted on the shorter horizons; its interval is
the law's bootstrap interval, widened to cover the other model's estimate (model
disagreement is uncertainty too).

>>> import numpy as np
>>> from convexlaw import bound_terms, schedule
>>> from convexlaw.runs import Run
>>> def synth(T, eta):  # the literal law in shape mode: L∞ = 0.5, q1² = 4, q2² = 25
...     s = schedule("cosine", T, 1.0); X, Y = bound_terms(s, at=[T])
...     loss = 0.5 + 4.0 * X[0] / eta + 25.0 * Y[0] * eta
...     return Run(f"T{T}p{eta}", lrs=eta * s, peak_lr=eta, schedule="cosine",
...                curves={"val": ([T // 2, T], [1.1 * loss, loss])})
>>> runs = [synth(T, e) for T in (100, 400) for e in (0.05, 0.1, 0.2, 0.4)]
>>> p = make_plan(runs, 1600, variants=("literal",), n_boot=0, curve_model=None,
...               window=10)
>>> X, Y = bound_terms(schedule("cosine", 1600, 1.0), at=[1600])
>>> p.variant, round(float(p.eta_star / (4.0 * X[0] / (25.0 * Y[0])) ** 0.5), 6)
('literal', 1.0)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.laws import HorizonLaw, Law, LawData, SizeLaw, compare_variants
from convexlaw.metrics import curve_metrics

__all__ = ["PLAN_VARIANTS", "Plan", "PlanError", "make_plan", "measured_optimum",
           "pilot_runs"]

PLAN_VARIANTS = ("literal", "distance", "gradient", "peak", "distance+gradient",
                 "distance+peak")
CURVE_POINTS = 60  # points of the predicted curve


class PlanError(ValueError):
    """The pilots cannot support a plan (the message says what is missing)."""


@dataclass
class Plan:
    """A plan for one target run; ``to_dict`` is the JSON the CLI prints."""

    steps: int
    size: float | None
    schedule: str
    eta_star: float
    eta_interval: list[float]
    loss_star: float
    loss_interval: list[float]
    level: float
    variant: str
    loss_source: str
    kappa: float | None
    law_forecast: dict[str, Any]
    literal_forecast: dict[str, Any]
    comparison: list[dict[str, Any]]
    curve: dict[str, Any] | None
    pilots: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    laws: dict[str, Law] = field(default_factory=dict, repr=False)
    curve_fit: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "steps", "size", "schedule", "eta_star", "eta_interval", "loss_star",
            "loss_interval", "level", "variant", "loss_source", "kappa", "law_forecast",
            "literal_forecast", "comparison", "curve", "pilots", "warnings")}
        out["laws"] = {v: law.to_dict() for v, law in self.laws.items()
                       if v in (self.variant, "literal")}
        return out


def pilot_runs(store: Any, kind: str | None = None) -> list[Any]:
    """Every finished or diverged run of a ``RunStore`` with its curves loaded."""
    runs = store.list(curves=True)
    return [r for r in runs if r.status in ("finished", "diverged")]


def _final(run: Any, kind: str | None) -> float:
    steps, vals = run.finite_curve(kind) if hasattr(run, "finite_curve") else run.curve(kind)
    return float(vals[-1]) if len(vals) else math.inf


def _select(runs: Sequence[Any], size: float | None, window: float, kind: str | None
            ) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """Pilots kept for the fits, a row per pilot, and notes."""
    if not runs:
        raise PlanError("no pilot runs: the store is empty (run a pilot sweep first, e.g. "
                        "`convexlaw sweep pilots.toml --db DB`)")
    notes: list[str] = []
    Ns = sorted({float(r.N) for r in runs if getattr(r, "N", None)})
    sized = len(Ns) > 1
    if sized and size is None:
        raise PlanError(f"the pilots span {len(Ns)} model sizes (N = "
                        f"{', '.join(f'{n:.4g}' for n in Ns)}): give the target --size")
    rows: list[dict[str, Any]] = []
    groups: dict[Any, list] = {}
    for r in runs:
        peak = float(r.peak_lr) if r.peak_lr else float(np.max(r.lrs))
        fin = _final(r, kind) if r.status == "finished" else math.inf
        row = {"id": r.id, "name": r.name, "T": int(r.T), "peak": peak,
               "N": None if r.N is None else float(r.N), "schedule": r.schedule,
               "status": r.status, "final_loss": fin if math.isfinite(fin) else None,
               "used": False}
        rows.append(row)
        if r.status == "finished" and math.isfinite(fin):
            groups.setdefault((row["T"], row["N"] if sized else None), []).append((r, row))
    if not groups:
        raise PlanError(f"none of the {len(runs)} pilot runs finished (all diverged): "
                        "lower the peak learning rates")
    kept = []
    for members in groups.values():
        best = min(row["final_loss"] for _, row in members)
        for r, row in members:
            if row["final_loss"] <= window * best:
                row["used"] = True
                kept.append(r)
    horizons = sorted({int(r.T) for r in kept})
    if len(horizons) < 2:
        raise PlanError(f"the finished pilots are all at one horizon (T = {horizons[0]}): "
                        "a plan needs pilots at two or more horizons (a few peaks each)")
    for key, members in groups.items():
        if sum(row["used"] for _, row in members) < 2:
            notes.append(f"pilot horizon T = {key[0]} has a single usable peak: add peaks "
                         "around its optimum")
    dropped = [f"{row['peak']:.3g}@T={row['T']}" for row in rows
               if not row["used"] and row["status"] == "finished"]
    if dropped:
        notes.append(f"left out (final loss > {window:g}× the best at their horizon): "
                     + ", ".join(dropped))
    div = [row for row in rows if row["status"] == "diverged"]
    if div:
        notes.append(f"{len(div)} diverged pilot(s); smallest diverged peak "
                     f"{min(r['peak'] for r in div):.3g}")
    return kept, rows, notes


def measured_optimum(peaks: Sequence[float], losses: Sequence[float]
                     ) -> tuple[float, float, bool]:
    """(η*, L*, bracketed): a parabola in log η through the best peak and its neighbours.

    Not bracketed (the best peak is at an end of the grid): the best peak itself.

    >>> e, L, ok = measured_optimum([0.01, 0.02, 0.04], [1.2, 1.0, 1.2])
    >>> round(e, 6), round(L, 6), ok
    (0.02, 1.0, True)
    """
    p = np.asarray(peaks, dtype=np.float64)
    L = np.asarray(losses, dtype=np.float64)
    order = np.argsort(p)
    p, L = p[order], np.where(np.isfinite(L[order]), L[order], np.inf)  # diverged: +inf
    if p.size == 0 or not np.isfinite(L).any():
        raise ValueError("no finite loss to locate an optimum")
    i = int(np.argmin(L))
    if i == 0 or i == p.size - 1:
        return float(p[i]), float(L[i]), False
    if not (np.isfinite(L[i - 1]) and np.isfinite(L[i + 1])):
        return float(p[i]), float(L[i]), True  # a diverged neighbour brackets it
    x = np.log(p[i - 1:i + 2])
    a, b, c = np.polyfit(x, L[i - 1:i + 2], 2)
    if a <= 0:
        return float(p[i]), float(L[i]), True
    xs = float(np.clip(-b / (2 * a), x[0], x[-1]))
    return float(round(math.exp(xs), 12)), float(np.polyval([a, b, c], xs)), True


def _fit_curve(name: str, runs: Sequence[Any], kind: str | None) -> Any:
    from convexlaw.curve import FitWarning
    from convexlaw.protocols import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return make_model(name, kind=kind).fit(list(runs))


def _curve_holdout(name: str, runs: Sequence[Any], kind: str | None) -> float | None:
    """Mean relative error of the curve model's final losses at the longest pilot
    horizon, fitted on the shorter horizons."""
    Tmax = max(r.T for r in runs)
    fit = [r for r in runs if r.T < Tmax]
    test = [r for r in runs if r.T == Tmax]
    try:
        m = _fit_curve(name, fit, kind)
    except (ValueError, RuntimeError):
        return None
    pred = np.array([m.predict(r, [r.curve(kind)[0][-1]])[0] for r in test])
    obs = np.array([_final(r, kind) for r in test])
    return float(curve_metrics(obs, pred)["PredE"])


def make_plan(runs: Sequence[Any], steps: int, size: float | None = None,
              schedule: str | None = None, kind: str | None = None,
              variants: Sequence[str] = PLAN_VARIANTS, curve_model: str | None = "convex-ed-peak",
              window: float = 1.2, n_boot: int = 100, random_state: int = 0) -> Plan:
    """Fit the laws (and a curve model) to pilot runs and plan a run of ``steps`` steps.

    ``kind``: the loss curve to use ("val" if every run has one, else "train");
    ``schedule``: the target's spec (default: the pilots' common spec); ``size``: the
    target's parameter count (needed when the pilots span several sizes).
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 2:
        raise PlanError(f"--steps must be an integer ≥ 2 (the target run's length), got "
                        f"{steps!r}")
    if size is not None and not (math.isfinite(size) and size > 0):
        raise PlanError(f"--size must be a finite parameter count > 0, got {size!r}")
    if not window >= 1:
        raise PlanError(f"window must be ≥ 1 (a factor on the best final loss), got {window!r}")
    if kind is None:
        kind = "val" if runs and all("val" in r.curves for r in runs
                                     if r.status == "finished") else "train"
    kept, rows, notes = _select(runs, size, window, kind)
    specs = {r.schedule for r in kept}
    if schedule is None:
        if len(specs) != 1 or None in specs:
            raise PlanError("the pilots use several (or unknown) schedules: give the target "
                            "--schedule")
        schedule = specs.pop()
    from convexlaw import schedule as make_schedule

    try:
        shape = make_schedule(schedule, int(steps), 1.0)
    except ValueError as err:
        raise PlanError(f"--schedule {schedule!r}: {err}") from None
    data = LawData.from_runs(kept, points="final", kind=kind)
    sized = data.N is not None and np.unique(data.N).size > 1
    # a variant needs more points than parameters (3 + one per freed exponent, + 3 sized)
    fits = [v for v in variants
            if 3 + 3 * sized + (0 if v == "literal" else len(v.split("+"))) < data.n]
    if not fits:
        raise PlanError(f"{data.n} usable pilot runs cannot determine the horizon law "
                        "(3 parameters): add peaks or horizons")
    if len(fits) < len(variants):
        notes.append(f"too few usable pilots ({data.n}) for the variants "
                     f"{', '.join(v for v in variants if v not in fits)}: left out")
    variants = fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cmp_rows, chosen = compare_variants(data, variants, n_boot=n_boot,
                                                random_state=random_state)
        except ValueError as err:
            raise PlanError(f"the horizon law cannot be fitted to the {len(kept)} usable "
                            f"pilots: {err}") from None
    laws = {r["variant"]: r["law"] for r in cmp_rows}
    law = laws[chosen]
    N = float(size) if sized and size is not None else None
    fc = law.forecast(float(steps), N=N, shape=schedule)
    literal = laws.get("literal") or (SizeLaw if sized else HorizonLaw)(
        n_boot=n_boot, random_state=random_state).fit(data)
    lit = literal.forecast(float(steps), N=N, shape=schedule)
    eta = fc["eta_star"]
    if not (eta and math.isfinite(eta)):
        raise PlanError(f"the chosen law ({chosen}) has no interior optimum: the loss keeps "
                        "falling with the peak LR over the pilots; add larger peaks")
    try:
        kappa = float(law.kappa(N=N, shape=schedule))
    except ValueError:
        kappa = None
    warns = notes + list(law.warnings_) + list(fc["warnings"])
    curve = None
    curve_fit = None
    loss_source, loss_star = "law", float(fc["loss_star"])
    lo, hi = fc["loss_star_interval"]
    law_hold = next(r["holdout_PredE"] for r in cmp_rows if r["variant"] == chosen)
    if curve_model and not sized:
        curve_fit = _fit_curve(curve_model, kept, kind)
        at = np.unique(np.round(np.geomspace(1, steps, CURVE_POINTS)).astype(np.int64))
        lrs = eta * shape
        pred = curve_fit.predict(lrs, at, peak=eta)
        assert data.peak is not None  # every pilot has a peak
        grid = np.geomspace(data.peak.min() / 8, data.peak.max() * 8, 97)
        finals = np.array([curve_fit.predict(g * shape, [steps], peak=g)[0] for g in grid])
        k = int(np.nanargmin(finals))
        hold = _curve_holdout(curve_model, kept, kind)
        curve = {"model": curve_model, "params": dict(curve_fit.params_),
                 "steps": at.tolist(), "loss": pred.tolist(), "final": float(pred[-1]),
                 "eta_star": float(grid[k]), "loss_star": float(finals[k]),
                 "holdout_final_PredE": hold, "law_holdout_PredE": law_hold,
                 "fit_r2": curve_fit.fit_info_["r2"]}
        if hold is not None and law_hold is not None and hold < law_hold:
            loss_source, loss_star = "curve", float(pred[-1])
        other = float(pred[-1]) if loss_source == "law" else float(fc["loss_star"])
        lo = min(other, loss_star) if not math.isfinite(lo) else min(lo, other, loss_star)
        hi = max(other, loss_star) if not math.isfinite(hi) else max(hi, other, loss_star)
    elif curve_model and sized:
        warns.append("the curve models have no size term: no predicted curve for a size "
                     "extrapolation (the law's final loss is given)")
    comparison = [{k: v for k, v in r.items() if k != "law"} for r in cmp_rows]
    return Plan(steps=int(steps), size=N, schedule=schedule, eta_star=float(eta),
                eta_interval=[float(x) for x in fc["eta_star_interval"]],
                loss_star=loss_star, loss_interval=[float(lo), float(hi)],
                level=float(fc["level"]), variant=chosen, loss_source=loss_source,
                kappa=kappa, law_forecast=fc, literal_forecast=lit, comparison=comparison,
                curve=curve, pilots=rows, warnings=warns, laws=laws, curve_fit=curve_fit)
