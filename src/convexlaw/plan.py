"""Plan a long run from pilot runs: recommended peak LR, predicted final loss, the curve.

From finished pilot runs (any schedules, peaks and horizons; a single horizon with a few
peaks is enough) the plan

1. leaves out what no law describes, each run with its reason (``convexlaw.laws.screen``):
   diverged runs, plateaus, spikes, and the edge-of-stability peaks whose final loss lies
   far above the law fitted to the others — no user window (``window`` still forces one);
2. chooses the burn-in of each curve model (``convexlaw.curve.burnin``: an explicit step,
   the stored convexity onset, or the earliest start whose held-out error is within noise
   of the best, on the same held-out splits that then score the model);
3. fits every *forecaster* (``convexlaw.forecasters``): the horizon law and its variants on
   the pilots' final losses, and loss-curve models on every logged point of every pilot;
4. scores each on held-out splits (``convexlaw.curve.holdout``): the shorter horizons
   predict the longest one — scored by the plan's own error there, η* and L* against the
   measured optimum when the longest pilots bracket it (else the held-out curves) — or, at
   a single horizon or when the shorter horizons cannot determine a forecaster, each
   longest pilot's second half is predicted from its first half and the other pilots;
5. takes L* at the target horizon and schedule from the forecaster with the lowest
   held-out error, and η* from the one whose η* held out best (``choose_eta``; the same
   forecaster on a tail split), never one whose parameter sits at a bound, whose optimum
   is not interior, or whose η* rises with T (κ > 0) unless no other is left (then it says
   so). Every number says which forecaster produced it.

Intervals: for a law, the percentile bootstrap over pilot runs; for a curve model, the
peaks whose predicted loss lies within the model's held-out error of its optimum, and
L*·(1 ± held-out error). Both widened to cover the other forecasters within 1.5× the best
held-out error (model disagreement is uncertainty too).

>>> import numpy as np
>>> from convexlaw import bound_terms, schedule
>>> from convexlaw.runs import Run
>>> def synth(T, eta):  # the literal law in shape mode: L∞ = 0.5, q1² = 4, q2² = 25
...     s = schedule("cosine", T, 1.0); X, Y = bound_terms(s, at=[T])
...     loss = 0.5 + 4.0 * X[0] / eta + 25.0 * Y[0] * eta
...     return Run(f"T{T}p{eta}", lrs=eta * s, peak_lr=eta, schedule="cosine",
...                curves={"val": ([T // 2, T], [1.1 * loss, loss])})
>>> runs = [synth(T, e) for T in (100, 400) for e in (0.05, 0.1, 0.2, 0.4)]
>>> p = make_plan(runs, 1600, variants=("literal",), n_boot=0, curve_models=())
>>> X, Y = bound_terms(schedule("cosine", 1600, 1.0), at=[1600])
>>> p.source, round(float(p.eta_star / (4.0 * X[0] / (25.0 * Y[0])) ** 0.5), 6)
('law literal', 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from convexlaw.choice import KAPPA_RANGE, choose, choose_eta, evaluate
from convexlaw.curve.base import outside
from convexlaw.curve.burnin import BurnIn, resolve_burn_in
from convexlaw.curve.holdout import make_splits
from convexlaw.forecasters import CurveForecaster, FitMemo, Forecaster, LawForecaster, run_peak
from convexlaw.laws import Law, LawData
from convexlaw.laws.peers import LiteralRule, PowerLawPeer, cell_optima, measured_optimum
from convexlaw.laws.screen import edge_trim, screen_runs
from convexlaw.laws.sizesplit import size_split

__all__ = ["CURVE_MODELS", "PLAN_VARIANTS", "Plan", "PlanError", "make_plan",
           "measured_optimum", "pilot_runs", "plan_lines"]

PLAN_VARIANTS = ("literal", "distance", "gradient", "peak", "distance+gradient",
                 "distance+peak")
CURVE_MODELS = ("convex-ed-peak", "convex-ed-gt-gpeak", "convex-ed-gt-hz")
MAX_TESTS = 3  # held-out runs of a tail split (smallest, largest and middle peak)
CURVE_POINTS = 60  # points of the predicted curve
NEAR = 1.5  # forecasters within this factor of the best held-out error widen the intervals
_UNSET: Any = object()


class PlanError(ValueError):
    """The pilots cannot support a plan (the message says what is missing)."""


@dataclass
class Plan:
    """A plan for one target run; ``to_dict`` is the JSON the CLI prints.

    ``source`` names the forecaster that produced η*, L* and the curve; ``candidates`` has
    every forecaster's held-out and target numbers (``fitted``: the forecasters, by name);
    ``variant`` is the best law variant (the law table), ``loss_source`` repeats
    ``source`` for the loss.
    """

    steps: int
    size: float | None
    schedule: str
    eta_star: float
    eta_interval: list[float]
    loss_star: float
    loss_interval: list[float]
    level: float
    variant: str
    source: str
    loss_source: str
    kappa: float | None
    law_forecast: dict[str, Any]
    literal_forecast: dict[str, Any]
    comparison: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    holdout: str
    burn_in: dict[str, Any] | None
    burn_ins: dict[str, dict[str, Any]]
    left_out: list[dict[str, Any]]
    peers: dict[str, Any]
    curve: dict[str, Any] | None
    pilots: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    kappa_span: float | None = None
    kappa_range: tuple[float, float] = KAPPA_RANGE
    laws: dict[str, Law] = field(default_factory=dict, repr=False)
    forecaster: Forecaster | None = field(default=None, repr=False)
    fitted: dict[str, Forecaster] = field(default_factory=dict, repr=False)
    curve_fit: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "steps", "size", "schedule", "eta_star", "eta_interval", "loss_star",
            "loss_interval", "level", "variant", "source", "loss_source", "kappa",
            "law_forecast", "literal_forecast", "comparison", "candidates", "holdout",
            "burn_in", "burn_ins", "left_out", "peers", "curve", "pilots", "warnings",
            "kappa_span")}
        out["kappa_range"] = list(self.kappa_range)
        out["laws"] = {v: law.to_dict() for v, law in self.laws.items()
                       if v in (self.variant, "literal")}
        return out

    def peak_curve(self, peaks: Sequence[float]) -> np.ndarray:
        """The chosen forecaster's final loss at the target for each peak in ``peaks``."""
        from convexlaw import schedule as make_schedule

        shape = make_schedule(self.schedule, self.steps, 1.0)
        at = [int(np.flatnonzero(shape > 0)[-1]) + 1]
        if self.forecaster is None:
            raise ValueError("this plan carries no fitted forecaster (read back from JSON?)")
        fc = self.forecaster
        return np.array([fc.loss(p * shape, at, p, self.size)[0] for p in peaks])


def pilot_runs(store: Any, kind: str | None = None) -> list[Any]:
    """Every finished or diverged run of a ``RunStore`` with its curves loaded."""
    runs = store.list(curves=True)
    return [r for r in runs if r.status in ("finished", "diverged")]


def _final(run: Any, kind: str | None) -> float:
    steps, vals = run.finite_curve(kind) if hasattr(run, "finite_curve") else run.curve(kind)
    return float(vals[-1]) if len(vals) else math.inf


def _rows(runs: Sequence[Any], kind: str | None) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        fin = _final(r, kind) if r.status == "finished" else math.inf
        out.append({"id": r.id, "name": r.name, "T": int(r.T), "peak": run_peak(r),
                    "N": None if r.N is None else float(r.N), "schedule": r.schedule,
                    "status": r.status, "final_loss": fin if math.isfinite(fin) else None,
                    "used": False})
    return out


def _window(runs: Sequence[Any], window: float, kind: str | None, sized: bool
            ) -> tuple[list[Any], list[dict[str, Any]]]:
    """The user's window: keep runs within ``window`` × the best final loss of their cell."""
    cells: dict[tuple, list[tuple[Any, float]]] = {}
    for r in runs:
        cells.setdefault((int(r.T), float(r.N) if sized else None), []).append(
            (r, _final(r, kind)))
    kept, out = [], []
    for members in cells.values():
        best = min(f for _, f in members)
        for r, f in members:
            if f <= window * best:
                kept.append(r)
            else:
                out.append({"name": r.name, "id": r.id, "T": int(r.T), "peak": run_peak(r),
                            "N": r.N, "reason": f"final loss > {window:g}× the best at its "
                                                "horizon (--window)"})
    return kept, out


def _select(runs: Sequence[Any], size: float | None, window: float | None,
            kind: str | None) -> tuple[list[Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pilots kept, a row per pilot, what was left out and why)."""
    if not runs:
        raise PlanError("no pilot runs: the store is empty (run a pilot sweep first, e.g. "
                        "`convexlaw sweep pilots.toml --db DB`)")
    rows = _rows(runs, kind)
    Ns = sorted({float(r.N) for r in runs if getattr(r, "N", None)})
    sized = len(Ns) > 1
    if sized and size is None:
        raise PlanError(f"the pilots span {len(Ns)} model sizes (N = "
                        f"{', '.join(f'{n:.4g}' for n in Ns)}): give the target --size")
    kept, left = screen_runs(runs, kind)
    if not kept:
        raise PlanError(f"none of the {len(runs)} pilot runs is usable: "
                        + "; ".join(f"{d['name']}: {d['reason']}" for d in left[:4]))
    if window is not None:
        kept, more = _window(kept, window, kind, sized)
    else:
        data = LawData.from_runs(kept, points="final", kind=kind)
        idx, notes = edge_trim(data)
        gone = {data.groups[g] for g in set(range(len(kept))) - set(data.group[idx])}
        more = [n | {"id": next(r.id for r in kept if r.name == n["name"]), "T": int(n["T"])}
                for n in notes]
        kept = [r for r in kept if r.name not in gone]
    left += more
    used = {r.id for r in kept}
    for row in rows:
        row["used"] = row["id"] in used
    return kept, rows, left


def make_plan(runs: Sequence[Any], steps: int, size: float | None = None,
              schedule: str | None = None, kind: str | None = None,
              variants: Sequence[str] = PLAN_VARIANTS,
              curve_models: Sequence[str] = CURVE_MODELS, curve_model: Any = _UNSET,
              burn_in: int | str | None = "auto", window: float | None = None,
              split: str = "auto", n_boot: int = 100, random_state: int = 0,
              kappa_range: tuple[float, float] = KAPPA_RANGE,
              progress: Callable[[str], None] | None = None) -> Plan:
    """Fit the forecasters to pilot runs and plan a run of ``steps`` steps (module doc).

    ``kind``: the loss curve ("val" if every run has one, else "train"); ``schedule``: the
    target's spec (default: the pilots' common spec); ``size``: the target's parameter
    count (needed when the pilots span several sizes); ``burn_in``: a step, or "auto";
    ``window``: keep only pilots within this factor of their cell's best final loss
    (default: automatic screening); ``curve_model``: one model name or None (shorthand for
    ``curve_models``); ``kappa_range``: the plausible exponents of η* ∝ T^κ over the
    extrapolation (``convexlaw.choice.KAPPA_RANGE``; a forecaster outside it is
    flagged, said so, and not chosen unless every one is); ``progress``: called with a
    line per stage.
    """
    say = progress or (lambda _msg: None)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 2:
        raise PlanError(f"--steps must be an integer ≥ 2 (the target run's length), got "
                        f"{steps!r}")
    if size is not None and not (math.isfinite(size) and size > 0):
        raise PlanError(f"--size must be a finite parameter count > 0, got {size!r}")
    if window is not None and not window >= 1:
        raise PlanError(f"window must be ≥ 1 (a factor on the best final loss), got {window!r}")
    if not (len(kappa_range) == 2 and all(math.isfinite(k) for k in kappa_range)
            and kappa_range[0] < kappa_range[1]):
        raise PlanError(f"kappa_range must be two finite exponents (low, high) with low < "
                        f"high, got {kappa_range!r}")
    krange = (float(kappa_range[0]), float(kappa_range[1]))
    if curve_model is not _UNSET:
        curve_models = () if curve_model is None else (curve_model,)
    if kind is None:
        kind = "val" if runs and all("val" in r.curves for r in runs
                                     if r.status == "finished") else "train"
    say("screening the pilots")
    kept, rows, left = _select(runs, size, window, kind)
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
    sized = len({float(r.N) for r in kept if r.N}) > 1
    N = float(size) if sized and size is not None else None
    horizons = sorted({int(r.T) for r in kept})
    notes = [f"left out {d['name']} (T = {d['T']}, peak {d['peak']:.3g}): {d['reason']}"
             for d in left]
    if len(horizons) == 2:
        notes.append(f"only two pilot horizons (T = {horizons[0]}, {horizons[1]}): a law's "
                     "exponent of η* in T rests on two points, and the held-out check fits "
                     "on one horizon and tests on the other; pilots at a third horizon "
                     "(e.g. T = " f"{2 * horizons[1]}) make the plan checkable")
    if sized and curve_models:
        notes.append("the curve models have no size term: only the laws plan a size "
                     "extrapolation")
        curve_models = ()
    if len(horizons) < 2 and not curve_models:
        raise PlanError(f"the usable pilots are all at one horizon (T = {horizons[0]}): "
                        "without a curve model a plan needs pilots at two or more horizons "
                        "(a few peaks each)")
    # a plan beyond the largest pilot size is chosen by how well the smaller sizes predict
    # the largest one (the extrapolation it makes), the horizon split as the fallback
    by_size = size_split(kept, N) if sized and split == "auto" else None
    splits = [by_size] if by_size else make_splits(kept, split, kind=kind,
                                                   max_tests=MAX_TESTS)
    backup = make_splits(kept, "auto", kind=kind, max_tests=MAX_TESTS) if by_size else \
        make_splits(kept, "tail", kind=kind, max_tests=MAX_TESTS) \
        if splits[0].kind != "tail" else []
    bis: dict[str, BurnIn] = {}
    unfitted: list[str] = []
    prescored: dict[str, dict[str, Any]] = {}
    memo = FitMemo()  # the selector's fits on the horizon split are the held-out fits too
    for m in curve_models:
        from convexlaw.protocols import make_model

        say(f"choosing the burn-in of {m}")
        try:
            bis[m] = resolve_burn_in(kept, burn_in, make_model(m), kind=kind, split=split,
                                     max_tests=MAX_TESTS)
        except ValueError as err:  # this model cannot be fitted: the others still can
            unfitted.append(f"curve model {m} left out: its burn-in could not be chosen "
                            f"({err})")
            continue
        for fit_runs, model in bis[m].fits:
            memo.put(m, bis[m].step, kind, fit_runs, model)
        row = next((r for r in bis[m].evidence if r.get("start") == bis[m].step
                    and "holdout_PredE" in r), None)
        if row is not None:  # the selector already scored this model on the same splits
            prescored[f"curve {m}"] = {"PredE": row["holdout_PredE"],
                                       "final": row["holdout_final"], "split": bis[m].split}
    cands: list[Forecaster] = [LawForecaster(v, kind) for v in variants]
    cands += [CurveForecaster(m, bis[m].step, kind, memo) for m in curve_models if m in bis]
    if len(horizons) < 2 and not bis:
        raise PlanError(f"the usable pilots are all at one horizon (T = {horizons[0]}) and "
                        "no curve model could be fitted to them: " + "; ".join(unfitted))
    notes += unfitted
    peaks = (min(run_peak(r) for r in kept) / 10, max(run_peak(r) for r in kept) * 10)
    table, fitted = evaluate(cands, kept, [splits, backup], shape, schedule, int(steps),
                             peaks, N, kind, say, prescored, krange)
    chosen, how = choose(table)
    if chosen is None:
        raise PlanError("no forecaster could be fitted to the pilots: "
                        + "; ".join(f"{r['forecaster']}: {r.get('error')}" for r in table))
    chosen["chosen"] = True
    eta_row = choose_eta(table, chosen)
    eta_row["chosen_eta"] = True
    fc = fitted[chosen["forecaster"]]
    warns = notes + how + _kappa_notes(table, eta_row, krange)
    plan = _finish(fc, chosen, eta_row, table, fitted, kept, rows, left, bis, shape,
                   schedule, int(steps), N, sized, peaks, kind, n_boot, random_state, warns)
    plan.kappa_span, plan.kappa_range = eta_row.get("kappa_span"), krange
    return plan


def _kappa_notes(table: list[dict[str, Any]], eta_row: dict[str, Any],
                 kappa_range: tuple[float, float]) -> list[str]:
    """What the plausibility check of κ did: every forecaster it passed over, and the
    plan's own κ when it is outside the range (every candidate was)."""
    out = []
    for r in table:
        if r is not eta_row and any(f.startswith("implausible optimal-LR") for f in r["flags"]):
            out.append(f"{r['forecaster']} not used for η* ({r['eta_star']:.3g}): κ = "
                       f"{r['kappa_span']:+.3f} over the extrapolation is outside the "
                       f"plausible {kappa_range[0]:g} … {kappa_range[1]:g}")
    k = eta_row.get("kappa_span")
    if k is not None and not kappa_range[0] <= k <= kappa_range[1]:
        out.append(f"the plan's η* implies κ = {k:+.3f} over the extrapolation, outside the "
                   f"plausible {kappa_range[0]:g} … {kappa_range[1]:g}: every candidate is; "
                   "treat η* as unchecked (pilots at more horizons would help)")
    return out




def _curve_interval(fc: Forecaster, row: dict[str, Any], shape: np.ndarray,
                    N: float | None) -> tuple[list[float], list[float]]:
    """Model-error intervals of a curve forecaster: the peaks whose predicted final loss
    is within the held-out error of the optimum, and L*·(1 ± held-out error)."""
    err = float(row["holdout_final"] or row["holdout_PredE"] or 0.0)
    e, L = row["eta_star"], row["loss_star"]
    lo, hi = fc.basin(shape, e, L * (1 + err), N)
    return [lo, hi], [L * (1 - err), L * (1 + err)]


def _peers(kept: Sequence[Any], left: Sequence[dict[str, Any]], steps: int,
           N: float | None, sized: bool, kind: str | None) -> dict[str, Any]:
    """The power-law peer and the literal √T rule on the pilots' per-cell optima."""
    T = [int(r.T) for r in kept] + [d["T"] for d in left if d["reason"].startswith("diverged")]
    P = [run_peak(r) for r in kept] + [d["peak"] for d in left
                                    if d["reason"].startswith("diverged")]
    L = [_final(r, kind) for r in kept] + [math.inf] * (len(T) - len(kept))
    NN = None
    if sized:
        NN = [float(r.N) for r in kept] + [d["N"] for d in left
                                           if d["reason"].startswith("diverged")]
    cells = cell_optima(T, P, L, NN)
    out: dict[str, Any] = {"cells": cells}
    for key, peer in (("power_law", PowerLawPeer()), ("literal_rule", LiteralRule())):
        try:
            out[key] = peer.fit(cells).forecast(float(steps), N) | {"name": peer.name}
        except ValueError as err:
            out[key] = {"name": peer.name, "error": str(err)}
    return out


def _burn_in_of(fc: Forecaster, crow: dict[str, Any] | None, fitted: dict[str, Forecaster],
                bis: dict[str, BurnIn]) -> dict[str, Any] | None:
    """The burn-in behind the plan's curve: the chosen curve model's, else the best one's."""
    if isinstance(fc, CurveForecaster):
        return bis[fc.model].to_dict()
    if crow is not None:
        return bis[cast(CurveForecaster, fitted[crow["forecaster"]]).model].to_dict()
    return None


def _finish(fc: Forecaster, chosen: dict[str, Any], eta_row: dict[str, Any],
            table: list[dict[str, Any]],
            fitted: dict[str, Forecaster], kept: Sequence[Any], rows: list[dict[str, Any]],
            left: list[dict[str, Any]], bis: dict[str, BurnIn], shape: np.ndarray,
            schedule: str, steps: int, N: float | None, sized: bool,
            peaks: tuple[float, float], kind: str | None, n_boot: int, random_state: int,
            warns: list[str]) -> Plan:
    laws = {f.variant: f.law_ for f in fitted.values() if isinstance(f, LawForecaster)}
    law_rows = [dict(r) for r in table if r["source"] == "law" and r["k"] is not None]
    best_law = choose(law_rows)[0]
    variant = cast(LawForecaster, fitted[best_law["forecaster"]]).variant if best_law \
        else "literal"
    if n_boot:
        for v in {variant, "literal"} & set(laws):
            laws[v] = LawForecaster(v, kind, n_boot=n_boot, random_state=random_state
                                    ).fit(kept).law_
    law_fc = laws[variant].forecast(float(steps), N=N, shape=schedule) if variant in laws \
        else {}
    lit = laws["literal"].forecast(float(steps), N=N, shape=schedule) if "literal" in laws \
        else {}
    eta, loss = float(chosen["eta_star"]), float(chosen["loss_star"])
    if isinstance(fc, LawForecaster) and fc.variant == variant and law_fc:
        eta_iv, loss_iv = list(law_fc["eta_star_interval"]), list(law_fc["loss_star_interval"])
        loss_iv = [x * chosen.get("drift", {}).get("factor", 1.0) for x in loss_iv]
        warns = warns + list(laws[variant].warnings_)
    elif isinstance(fc, LawForecaster):
        eta_iv, loss_iv = [math.nan, math.nan], [math.nan, math.nan]
        warns = warns + list(fc.law_.warnings_)
    else:
        eta_iv, loss_iv = _curve_interval(fc, chosen, shape, N)
    best = chosen.get("score")
    for r in table:  # model disagreement widens the intervals
        if r is chosen or r["flags"] or r.get("score") is None or best is None:
            continue
        if r["score"] <= NEAR * best:
            eta_iv = [np.nanmin([eta_iv[0], r["eta_star"], eta]),
                      np.nanmax([eta_iv[1], r["eta_star"], eta])]
            loss_iv = [np.nanmin([loss_iv[0], r["loss_star"], loss]),
                       np.nanmax([loss_iv[1], r["loss_star"], loss])]
    if eta_row is not chosen:  # η* from the forecaster whose η* held out best
        eta = float(eta_row["eta_star"])
        eta_iv = [float(np.nanmin([eta_iv[0], eta])), float(np.nanmax([eta_iv[1], eta]))]
        warns.append(f"η* from {eta_row['forecaster']} (its η* held out best: "
                     f"×{eta_row['optimum']['eta_ratio']:.3g} at the held-out horizon), L* "
                     f"from {chosen['forecaster']} (best joint score)")
    pil_T = (min(int(r.T) for r in kept), max(int(r.T) for r in kept))
    if steps > pil_T[1]:
        warns.append(f"T = {steps} is ×{steps / pil_T[1]:.3g} beyond the longest pilot "
                     f"({pil_T[1]}): an extrapolation")
    pil_P = (min(run_peak(r) for r in kept), max(run_peak(r) for r in kept))
    where = outside(eta, *pil_P)
    if where:
        warns.append(f"the recommended peak {eta:.3g} is ×{where[1]:.3g} {where[0]} pilot "
                     f"peak ({pil_P[0]:.3g} … {pil_P[1]:.3g}): the LR response there is "
                     "extrapolated; a pilot near it would check it")
    div = [d["peak"] for d in left if d["reason"].startswith("diverged")]
    if div and eta >= min(div) / 1.0001:
        warns.append(f"the recommended peak {eta:.3g} is at or above the smallest pilot peak "
                     f"that diverged ({min(div):.3g})")
    curve = None
    crow = chosen if isinstance(fc, CurveForecaster) else min(
        (r for r in table if r["source"] == "curve" and r["k"] is not None),
        key=lambda r: (bool(r["flags"]), r.get("score") is None, r.get("score") or 0.0,
                       math.inf if r["holdout_PredE"] is None else r["holdout_PredE"]),
        default=None)  # the unflagged curve model that scored best, by the score that chose
    curve_fit = None
    if crow is not None:
        cf = cast(CurveForecaster, fitted[crow["forecaster"]])
        at = np.unique(np.round(np.geomspace(1, steps, CURVE_POINTS)).astype(np.int64))
        pred = cf.loss(eta * shape, at, eta, N)
        curve_fit = cf.model_
        curve = {"model": crow["forecaster"], "steps": at.tolist(), "loss": pred.tolist(),
                 "final": float(pred[-1]), "eta_star": crow["eta_star"],
                 "loss_star": crow["loss_star"], "holdout_PredE": crow["holdout_PredE"],
                 "params": dict(cf.model_.params_), "fit_r2": cf.model_.fit_info_["r2"]}
    comparison = []
    for r in law_rows:
        lf = cast(LawForecaster, fitted[r["forecaster"]])
        law = lf.law_
        comparison.append({"variant": lf.variant, "kind": law.kind,
                           "k": r["k"], "PredE": law.metrics_["PredE"],
                           "WorstE": law.metrics_["WorstE"], "AICc": law.metrics_["AICc"],
                           "holdout_PredE": r["holdout_PredE"], "holdout": r["split"],
                           "flags": r["flags"], "chosen": r is best_law})
    cand = [{k: v for k, v in r.items() if k != "holdout_runs"} for r in table]
    return Plan(steps=steps, size=N, schedule=schedule, eta_star=eta,
                eta_interval=[float(x) for x in eta_iv], loss_star=loss,
                loss_interval=[float(x) for x in loss_iv], level=0.95, variant=variant,
                source=eta_row["forecaster"], loss_source=chosen["forecaster"],
                kappa=eta_row["kappa"], law_forecast=law_fc, literal_forecast=lit,
                comparison=comparison, candidates=cand,
                holdout=chosen["split"] or "none",
                burn_in=_burn_in_of(fc, crow, fitted, bis),
                burn_ins={m: b.to_dict() for m, b in bis.items()}, left_out=left,
                peers=_peers(kept, left, steps, N, sized, kind),
                curve=curve, pilots=rows, warnings=warns, laws=laws, forecaster=fc,
                fitted=fitted, curve_fit=curve_fit)


def plan_lines(plan: Plan) -> list[str]:
    """The plan in plain text: the numbers, who produced them, and what was left out."""
    lo, hi = plan.eta_interval
    llo, lhi = plan.loss_interval
    kap = "" if plan.kappa is None else f", κ = {plan.kappa:+.3f} (η* ∝ T^κ)"
    if plan.kappa_span is not None and plan.kappa is not None:
        kap += f", {plan.kappa_span:+.3f} from the longest pilot"

    def iv(a: float, b: float, fmt: str) -> str:
        if not (math.isfinite(a) and math.isfinite(b)):  # a law without bootstrap refits
            return "no interval: no bootstrap refits (--boot 0)"
        return f"interval {a:{fmt}} … {b:{fmt}}"

    out = [f"target: T = {plan.steps} steps, schedule {plan.schedule}"
           + ("" if plan.size is None else f", N = {plan.size:.4g}"),
           f"recommended peak LR  η* = {plan.eta_star:.4g}   ({iv(lo, hi, '.4g')}{kap})",
           f"predicted final loss L = {plan.loss_star:.4f}   ({iv(llo, lhi, '.4f')})",
           (f"both from: {plan.source}" if plan.source == plan.loss_source else
            f"η* from: {plan.source} (its η* held out best), L from: {plan.loss_source}")
           + f", chosen by held-out error ({plan.holdout} split, "
           f"{next((r['scored_by'] for r in plan.candidates if r['chosen']), '')})"]
    for m, b in plan.burn_ins.items():
        out.append(f"burn-in of {m}: {b['step']} ({b['rule']})")
    lit = plan.literal_forecast
    if lit:
        out.append(f"law as written (literal, final losses): η* = {lit['eta_star']:.4g}, "
                   f"L* = {lit['loss_star']:.4f}")
    for key in ("power_law", "literal_rule"):
        p = plan.peers.get(key, {})
        if "error" in p:
            out.append(f"{p['name']}: n/a ({p['error']})")
        elif p:
            loss = "n/a" if p["loss_star"] is None else f"{p['loss_star']:.4f}"
            out.append(f"{p['name']} on the cell optima: η* = {p['eta_star']:.4g}, L* = {loss}")
    return out
