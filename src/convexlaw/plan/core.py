"""``make_plan``: validate, screen the pilots, choose the burn-ins, fit and score every
forecaster on held-out splits, choose L* and η*, and assemble the plan (the steps are in
the ``convexlaw.plan`` module doc)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from convexlaw.choice import KAPPA_RANGE, choose, choose_eta, evaluate
from convexlaw.curve.burnin import BurnIn, resolve_burn_in
from convexlaw.curve.holdout import make_splits
from convexlaw.forecasters import CurveForecaster, FitMemo, Forecaster, LawForecaster, run_peak
from convexlaw.laws.sizesplit import size_split
from convexlaw.plan.finish import _finish
from convexlaw.plan.pilots import _select
from convexlaw.plan.result import Plan, PlanError

__all__ = ["CURVE_MODELS", "MAX_TESTS", "PLAN_VARIANTS", "make_plan"]

PLAN_VARIANTS = ("literal", "distance", "gradient", "peak", "distance+gradient",
                 "distance+peak")
CURVE_MODELS = ("convex-ed-peak", "convex-ed-gt-gpeak", "convex-ed-gt-hz")
MAX_TESTS = 3  # held-out runs of a tail split (smallest, largest and middle peak)
_UNSET: Any = object()


def _pilot_order(r: Any) -> tuple[float, int, float, str]:
    """(N, T, peak, name): the canonical order of pilots (empty or odd runs sort first and
    are screened with a clear message by ``_select``)."""
    lrs = np.asarray(getattr(r, "lrs", ()), dtype=np.float64)
    peak = getattr(r, "peak_lr", None) or (float(np.max(lrs)) if lrs.size else 0.0)
    return (float(getattr(r, "N", None) or 0.0), int(lrs.size), float(peak),
            str(getattr(r, "name", "")))


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
    # one plan for one set of pilots, whatever order they come in: the fits' multi-start
    # searches can land in different minima of a nearly flat objective when the same points
    # come in another order (seen: a size plan's L* 0.7 % apart)
    runs = sorted(runs, key=_pilot_order)
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
