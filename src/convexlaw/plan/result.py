"""The plan of one target run (``Plan``, what ``make_plan`` returns), its error, and the
plan in plain text (``plan_lines``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.choice import KAPPA_RANGE
from convexlaw.forecasters import Forecaster
from convexlaw.laws import Law

__all__ = ["Plan", "PlanError", "loss_from", "plan_lines"]


class PlanError(ValueError):
    """The pilots cannot support a plan (the message says what is missing)."""


@dataclass
class Plan:
    """A plan for one target run; ``to_dict`` is the JSON the CLI prints.

    ``source`` names the forecaster that produced η*; ``candidates`` has
    every forecaster's held-out and target numbers (``fitted``: the forecasters, by name);
    ``variant`` is the best law variant (the law table), ``loss_source`` names the
    forecaster chosen for the loss (best joint held-out score), ``loss_pool`` every
    forecaster whose L* was averaged into ``loss_star`` (``choice.pooled_loss``: those
    tied with it; just ``loss_source`` without a tie).
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
    loss_pool: list[str] = field(default_factory=list)
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
            "kappa_span", "loss_pool")}
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


def pool_text(names: Sequence[str]) -> str:
    """Who produced an L*: the one forecaster, or the mean of the tied ones."""
    if len(names) > 1:
        return "the mean of " + " and ".join(names) + " (tied on held-out score)"
    return names[0]


def loss_from(plan: Plan) -> str:
    """Who produced the plan's L* (``pool_text`` of its loss pool)."""
    return pool_text(plan.loss_pool or [plan.loss_source])


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
           (f"both from: {plan.source}" if plan.source == plan.loss_source
            and len(plan.loss_pool) < 2 else
            f"η* from: {plan.source} (its η* held out best), L from: {loss_from(plan)}")
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
