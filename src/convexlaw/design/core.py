"""Design the schedule a fitted curve model predicts to be best for a run of T steps.

``design_schedule(fit, steps, family=...)`` minimises the objective of
``convexlaw.design.objective`` — the fitted model's predicted loss at T (or a weighted
average over several horizons), at a given peak or with the peak tuned — over

- a family's parameters (``space.Member``): WSD cool-down fraction, shape and final
  value; cosine and linear final value; optionally the warm-up length;
- or a free schedule: a monotone cubic B-spline after the warm-up (``space.Spline``).

Every search starts from named family members (cosine, linear, WSD with 10/20/40 %
cool-downs, …) and returns the best point seen, so the design never predicts worse than
the members it starts from. Family searches use Nelder–Mead from the best starts; the free
search uses SLSQP with the exact gradient of the bound path. The designed schedule and the
baselines (cosine and WSD, each at its own tuned peak) are then scored with the model's
``predict`` — the number ``convexlaw predict`` prints for the same spec.

>>> from convexlaw.curve import ConvexModel
>>> literal = ConvexModel.from_params({"L_inf": 0.0, "D2": 1.0, "G2": 1.0})
>>> d = design_schedule(literal, 2000, family="linear")
>>> d.designed.spec, round(d.designed.loss * 2000 ** 0.5, 3)
('linear', 2.003)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from convexlaw.design.objective import DesignError, Objective
from convexlaw.design.result import Candidate, Design
from convexlaw.design.space import COOLDOWN_SHAPES, FAMILIES, Spline, member, member_bounds

__all__ = ["BASELINES", "design_schedule", "planned_ticks"]

BASELINES = ("cosine", "wsd(cooldown=0.2)")
_STARTS = {  # family -> cool-down shape -> starting x without the warm-up entry
    "cosine": {None: [[0.0], [0.1]]},
    "linear": {None: [[0.0], [0.1]]},
    "wsd": {s: [[c, 0.01 if s == "geometric" else 0.0] for c in (0.1, 0.2, 0.4)]
            for s in COOLDOWN_SHAPES},
}


def planned_ticks(family: str) -> int:
    """How many progress ticks ``design_schedule`` reports for a family (for a bar)."""
    per = {f: len(v) for f, v in _STARTS.items()}
    if family == "free":
        return sum(per.values()) + 5
    return per.get(family, 1)


def _load(fit: Any) -> Any:
    if hasattr(fit, "predict") and hasattr(fit, "params_"):
        return fit
    from convexlaw.protocols import load_fit

    try:
        return load_fit(fit)
    except FileNotFoundError as err:
        raise DesignError(str(err)) from None
    except (ValueError, KeyError, TypeError) as err:
        raise DesignError(f"cannot read the fit: {err}") from None


def _check_response(model: Any, obj: Objective) -> None:
    """A fit that cannot tell schedules apart cannot design one: say so up front."""
    if any("constant learning rate" in w for w in getattr(model, "warnings_", [])):
        raise DesignError(
            f"the fit ({model.label}) has no measured LR response: every run it was fitted on "
            "had a constant learning rate in its fitting window; fit runs with a decay "
            "(e.g. cosine or WSD) to design a schedule")
    T = obj.steps
    p = obj.peak or (obj.layout or {}).get("p_ref", 1e-3)
    cos = 0.5 * (1.0 + np.cos(np.pi * np.arange(T) / T)) + 1e-3
    probes = [obj.loss(np.ones(T), p), obj.loss(cos / cos.max(), p),
              obj.loss(np.ones(T), 2.0 * p)]
    if not all(np.isfinite(probes)):
        raise DesignError(f"the fit ({model.label}) predicts a non-finite loss at T = {T} "
                          f"for simple schedules: {probes}")
    if max(probes) - min(probes) <= 1e-12 * max(1.0, abs(probes[0])):
        raise DesignError(
            f"the fit ({model.label}) has no LR response: its predicted loss at T = {T} is "
            f"{probes[0]:.6g} for a constant, a cosine and a doubled-peak schedule alike")


def _candidate(obj: Objective, label: str, spec: str | None, shape: np.ndarray,
               params: dict[str, Any] | None = None, peak: float | None = None
               ) -> Candidate:
    """Score a shape: at ``peak`` (or the objective's fixed peak) or at its tuned peak."""
    fixed = peak if peak is not None else obj.peak
    if fixed is not None:
        return Candidate(label, spec, shape, fixed, obj.loss(shape, fixed), dict(params or {}),
                         "fixed")
    p, loss = obj.tuned(shape)
    return Candidate(label, spec, shape, p, loss, dict(params or {}), "tuned")


def _nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray,
                 box: list[tuple[float, float]], maxfev: int) -> tuple[np.ndarray, float]:
    lo, hi = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    free = hi > lo
    if not free.any():
        return x0, f(x0)

    def g(z: np.ndarray) -> float:
        x = x0.copy()
        x[free] = z
        return f(x)

    z0 = x0[free]
    step = 0.15 * (hi - lo)[free]
    simplex = [z0]
    for i in range(z0.size):
        z = z0.copy()
        z[i] = z[i] + step[i] if z[i] + step[i] <= hi[free][i] else z[i] - step[i]
        simplex.append(z)
    r = minimize(g, z0, method="Nelder-Mead", bounds=list(zip(lo[free], hi[free],
                                                              strict=True)),
                 options={"initial_simplex": np.array(simplex), "maxfev": maxfev,
                          "xatol": 1e-4, "fatol": 1e-10})
    x = x0.copy()
    x[free] = r.x
    return x, float(r.fun)


def _shape_search(obj: Objective, family: str, cshape: str | None, min_warmup: int,
                  tune_warmup: bool) -> tuple[Candidate, list[Candidate]]:
    """Best member for one family (and cool-down shape), and its scored starts."""
    T = obj.steps
    box = member_bounds(family, T, min_warmup, cshape)
    if not tune_warmup:
        box[-1] = (min_warmup / T, min_warmup / T)
    seen: dict[str, Candidate] = {}
    errors: list[DesignError] = []

    def score(x: np.ndarray) -> Candidate | None:
        mem = member(family, x, T, min_warmup, cshape)
        if mem.spec not in seen:
            try:
                seen[mem.spec] = _candidate(obj, mem.label, mem.spec, mem.shape, mem.params)
            except DesignError as err:  # no interior optimal peak for this member
                errors.append(err)
                return None
        return seen[mem.spec]

    starts = [(score(np.array(x + [min_warmup / T])), np.array(x + [min_warmup / T]))
              for x in _STARTS[family][cshape]]
    ok = sorted(((c, x) for c, x in starts if c is not None), key=lambda t: t[0].loss)
    maxfev = 150 if obj.fast else 40
    for _, x0 in ok[:2 if obj.fast else 1]:
        _nelder_mead(lambda x: getattr(score(x), "loss", math.inf), x0, box, maxfev)
    if not seen:
        raise errors[0]
    return min(seen.values(), key=lambda c: c.loss), [c for c, _ in ok]


def _family_search(obj: Objective, family: str, min_warmup: int, tune_warmup: bool,
                   tick: Callable[[str], None]) -> tuple[Candidate, list[Candidate]]:
    """Best member of a family over its cool-down shapes, and the starting members."""
    best: Candidate | None = None
    starts: list[Candidate] = []
    for cshape in _STARTS[family]:
        local, st = _shape_search(obj, family, cshape, min_warmup, tune_warmup)
        starts += st
        tick(f"{family}{'/' + cshape if cshape else ''}")
        if best is None or local.loss < best.loss:
            best = local
    return best, starts


def _free_search(obj: Objective, warmup: int, starts: Sequence[Candidate], knots: int,
                 tick: Callable[[str], None]) -> Candidate:
    """SLSQP over the decrements of a monotone spline, from the starts' projections."""
    T = obj.steps
    sp = Spline(T, warmup, knots)
    results: list[Candidate] = []
    for s in starts:
        d0 = sp.coefficients_of(s.shape[sp.warmup:])
        m0 = sp.shape(d0)
        try:
            f0 = obj.value(m0)
        except DesignError:
            continue
        floor = obj.layout["L_inf"] if obj.layout else 0.0
        scale = 1.0 / max(abs(f0 - floor), 1e-12)

        if obj.fast:
            def fun(d: np.ndarray, scale: float = scale, f0: float = f0):
                v, gm = obj.value_and_grad(sp.shape(d))
                return (v - f0) * scale, sp.pullback(gm) * scale
            jac = True
        else:
            def fun(d: np.ndarray, scale: float = scale, f0: float = f0):
                return (obj.value(sp.shape(d)) - f0) * scale
            jac = None
        cons = [{"type": "ineq", "fun": lambda d: 1.0 - d.sum(),
                 "jac": lambda d: -np.ones_like(d)}]
        r = minimize(fun, d0, jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * d0.size,
                     constraints=cons, options={"maxiter": 300 if obj.fast else 40,
                                                "ftol": 1e-12})
        d = np.clip(r.x, 0.0, 1.0)
        if d.sum() > 1.0:
            d /= d.sum()
        u = sp.coefficients(d)
        tick(f"free from {s.label}")
        results.append(_candidate(obj, "free", None, sp.shape(d),
                                  {"knots": knots, "warmup": warmup,
                                   "coefficients": [float(v) for v in u],
                                   "knot_vector": [float(v) for v in sp.knots],
                                   "started_from": s.spec}))
    if not results:
        raise DesignError("the free search found no schedule with a finite predicted loss")
    return min(results, key=lambda c: c.loss)


def design_schedule(fit: Any, steps: int, family: str = "wsd", peak: float | None = None,
                    weights: Mapping[int, float] | None = None, warmup: int = 0,
                    tune_warmup: bool = False, baselines: Sequence[str] = BASELINES,
                    knots: int = 24, curve_points: int = 200,
                    progress: Callable[[str], None] | None = None) -> Design:
    """The schedule for a run of ``steps`` updates that the fitted model predicts is best.

    ``fit``: a fitted curve model, a fit.json path, or its dict. ``family``: wsd, cosine,
    linear or free. ``peak``: a fixed peak LR, or None to tune it (the model must then
    have an interior optimum). ``weights``: {T_i: w_i} to minimise a weighted average of
    the predicted losses at several steps (default: the loss at ``steps``). ``warmup``:
    warm-up steps (the minimum when ``tune_warmup``, which searches up to T/4).
    ``baselines``: specs scored beside the design, each at its own tuned peak (and at
    ``peak`` when one is given); ``+warmup(W)`` is appended when W > 0.
    """
    if family not in FAMILIES:
        raise DesignError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    if isinstance(warmup, bool) or not isinstance(warmup, int | np.integer) or warmup < 0:
        raise DesignError(f"warmup must be a whole number of steps ≥ 0, got {warmup!r}")
    if isinstance(steps, int | np.integer) and not isinstance(steps, bool) and \
            warmup >= steps - 1 and steps >= 2:
        raise DesignError(f"warmup ({warmup}) must be shorter than the run (steps = {steps})")
    if not isinstance(knots, int) or not 4 <= knots <= 200:
        raise DesignError(f"knots must be an integer in 4..200, got {knots!r}")
    model = _load(fit)
    obj = Objective(model, steps, weights, peak)
    _check_response(model, obj)
    tick = progress or (lambda _msg: None)
    notes = list(obj.notes)
    T = obj.steps
    tail = f"+warmup({warmup})" if warmup > 0 else ""

    if family == "free" and obj.layout and (obj.layout["gD"] or obj.layout["gG"]):
        notes.append(f"{model.label} takes the peak LR as a run-level covariate (fitted on "
                     "schedules that plateau at their peak): a free shape can game it with a "
                     "short spike to a high peak — check the designed shape, or use a model "
                     "without a peak term (e.g. convex-ed-gt) or a family")
    if family == "free":
        bests, starts = [], []
        for fam in ("linear", "cosine", "wsd"):
            best, st = _family_search(obj, fam, warmup, tune_warmup, tick)
            bests.append(best)
            starts += st
        plain = [c for c in starts if c.spec in (f"linear{tail}", f"cosine{tail}")]
        seeds = list({c.spec: c for c in bests + plain}.values())
        top = min(bests, key=lambda c: c.loss)
        designed = _free_search(obj, int(top.params.get("warmup", warmup)), seeds, knots,
                                tick)
        starts = list({c.spec: c for c in starts + bests}.values())
        if not obj.fast:
            notes.append(f"{model.label} has no closed-form bound path: the free search used "
                         "finite differences and a short iteration budget")
        if top.loss < designed.loss:
            notes.append(f"the spline did not improve on the family member {top.spec} "
                         f"({top.loss:.6g} < {designed.loss:.6g}): that member is returned")
            designed = top
    else:
        designed, starts = _family_search(obj, family, warmup, tune_warmup, tick)
    # the reported numbers come from the model's own predict(), as `convexlaw predict`
    designed = _rescore(obj, designed)
    base: list[Candidate] = []
    for spec in baselines:
        from convexlaw.schedules import shape as spec_shape

        full = spec if "warmup" in spec or not tail else spec + tail
        try:
            s = spec_shape(full, T)
        except ValueError as err:
            raise DesignError(f"baseline {full!r}: {err}") from None
        name = full.split("(")[0].split("+")[0]
        for mode_peak in ([peak] if peak is not None else []) + [None]:
            saved, obj.peak = obj.peak, mode_peak
            try:
                base.append(_rescore(obj, _candidate(obj, name, full, s)))
            except DesignError as err:
                notes.append(f"baseline {full} at a tuned peak: {err}")
            finally:
                obj.peak = saved
    design = Design(family=family, steps=T, horizons=obj.horizons.tolist(),
                    weights=obj.weights.tolist(), model=model.label, designed=designed,
                    starts=starts, baselines=base, fast=obj.fast, notes=notes)
    design.curves = _curves(model, [designed] + base, T, curve_points)
    return design


def _rescore(obj: Objective, c: Candidate) -> Candidate:
    """The candidate's loss from model.predict (the public API), not the fast path."""
    lrs = c.lrs
    total = 0.0
    for t, w in zip(obj.horizons, obj.weights, strict=True):
        total += w * float(obj.model.predict(lrs[:t], [int(t)], peak=c.peak)[0])
    c.loss = float(total)
    return c


def _curves(model: Any, cands: Sequence[Candidate], T: int, points: int) -> dict[str, Any]:
    at = np.unique(np.round(np.geomspace(1, T, points)).astype(np.int64))
    at = np.unique(np.concatenate([at, np.linspace(1, T, points).round().astype(np.int64)]))
    out: dict[str, Any] = {"steps": at.tolist(), "schedules": []}
    for c in cands:
        first = int(np.flatnonzero(c.lrs > 0)[0]) + 1  # the bound is +∞ before it
        pred = np.full(at.size, np.nan)
        ok = at >= first
        pred[ok] = model.predict(c.lrs, at[ok], peak=c.peak)
        out["schedules"].append({"label": c.label, "spec": c.spec, "peak": c.peak,
                                 "peak_mode": c.peak_mode, "lr": c.lrs[at - 1].tolist(),
                                 "loss": pred.tolist()})
    return out
