"""Choosing among forecasters by held-out error (``convexlaw.forecasters``), for
``convexlaw.plan``.

Every forecaster is fitted on the pilots and refitted on a held-out split
(``convexlaw.curve.holdout``: shorter horizons predict the longest; one horizon: a run's
second half from its first; beyond the largest pilot size: ``convexlaw.laws.sizesplit``).
Its score is the error of the optimum it predicts at the held-out horizon, in units of the
plan's goals (η* within ×1.25, L* within 1 %):

    score = ½(|ln(η*/η*_meas)|/ln 1.25 + |L*/L*_meas − 1|/1 %)

and the optimal-LR exponent it implies from the longest pilot to the target, κ in
η* ∝ T^κ, must be plausible (``KAPPA_RANGE``). ``evaluate`` builds one row per
forecaster, ``choose`` picks the plan's forecaster among the unflagged rows (fewest
parameters within 5 % of the best score), ``choose_eta`` the one η* comes from.

>>> kappa_flag(-0.3, 400, 4000) is None, kappa_flag(-0.1, 400, 4000)[:25]
(True, 'implausible optimal-LR ex')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from convexlaw.drift import drift, loss_noise
from convexlaw.forecasters import CurveForecaster, Forecaster, LawForecaster, run_peak
from convexlaw.laws.sizesplit import ETA_SCALE, LOSS_SCALE, size_optimum_error

__all__ = ["KAPPA_RANGE", "TIE", "choose", "choose_eta", "evaluate", "holdout_score",
           "kappa_flag", "kappa_of", "optimum_error", "pooled_loss", "span_kappa"]

# The plausible exponents of η* ∝ T^κ. Theory: κ = −(1−c)/(2−c) for the effective distance
# ½D²·P^(c−1) — −1/2 for the literal bound (c = 0), −0.6 at c's lower bound −0.5; measured:
# −0.24…−0.27 (our fits, c ≈ 0.45–0.65), −0.28…−0.32 (Bjorck et al., Scion, Step Law's
# D^0.307), −0.39…−0.47 locally on the MLP testbed's pilots, −0.5 the literal rule. Flatter
# than −0.15 (c > 0.82, well above every fitted c) or steeper than −0.7 (beyond c = −0.5)
# is outside all of it: a forecaster whose η* moves like that over the extrapolation is
# not chosen silently (``evaluate`` flags it).
KAPPA_RANGE = (-0.7, -0.15)
# Held-out scores within this factor of the best are a tie: the split cannot tell them apart
# (``choose`` then takes the fewest parameters, ``pooled_loss`` averages their L*).
TIE = 1.05


def _clone(fc: Forecaster) -> Forecaster:
    if isinstance(fc, LawForecaster):
        return LawForecaster(fc.variant, fc.kind)
    assert isinstance(fc, CurveForecaster)
    return CurveForecaster(fc.model, fc.burn_in, fc.kind, fc.memo)




def optimum_error(fc: Forecaster, split: Any, kind: str | None = None
                  ) -> dict[str, Any] | None:
    """The plan's own error on a horizon split: the fitted forecaster's optimum (η*, L*)
    at the held-out horizon against the measured one (parabola in log η through the best
    test run and its neighbours), when the test runs bracket it. ``score`` =
    ½(|ln(η*_pred/η*_meas)|/ln 1.25 + |L*_pred/L*_meas − 1|/1 %): 1 means both at the
    goals' edge. None when the optimum is not bracketed or the test runs differ in shape
    or size."""
    from convexlaw.laws.peers import measured_optimum

    runs = [r for r, _ in split.test]
    if split.kind != "horizon" or len(runs) < 3 or len({getattr(r, "N", None)
                                                        for r in runs}) > 1:
        return None
    finals, peaks, last = [], [], set()
    for r in runs:
        st, v = r.curve(kind) if kind else r.curve()
        finals.append(float(v[-1]))
        peaks.append(run_peak(r))
        last.add(int(st[-1]))
    shapes = {np.round(np.asarray(r.lrs) / run_peak(r), 9).tobytes() for r in runs}
    if len(shapes) > 1 or len(last) > 1:
        return None
    e_m, L_m, ok = measured_optimum(peaks, finals)
    if not ok:
        return None
    shape = np.asarray(runs[0].lrs, dtype=np.float64)[:last.pop()] / peaks[0]
    e_p, L_p = fc.optimum(shape, (min(peaks) / 10, max(peaks) * 10),
                          getattr(runs[0], "N", None))
    er, lr = e_p / e_m, L_p / L_m - 1
    fit_T = sorted({int(r.T) for r in split.fit})
    T_test = int(runs[0].T)
    return {"eta_ratio": float(er), "loss_error": float(lr), "eta_measured": float(e_m),
            "loss_measured": float(L_m), "loss_noise": loss_noise(peaks, finals, e_m),
            "score": float(0.5 * (abs(math.log(er)) / ETA_SCALE + abs(lr) / LOSS_SCALE)),
            "T_test": T_test, "fit_horizons": fit_T}


def holdout_score(fc: Forecaster, splits: Sequence[Any], kind: str | None = None,
                  score_points: bool = True) -> dict[str, Any]:
    """Refit a copy of ``fc`` on each split's fit runs and score its test points
    (``convexlaw.curve.holdout.score_split``): mean PredE and |final error| over splits;
    on a horizon split also the error of the optimum (``optimum_error``, key "optimum")."""
    from convexlaw.curve.holdout import score_split

    if not splits:
        raise ValueError("no held-out split")
    out, opt = [], None
    for sp in splits:
        f = _clone(fc).fit(sp.fit)
        if score_points:
            out.append(score_split(f.predict_run, sp, kind))
        if sp.kind == "horizon":
            opt = optimum_error(f, sp, kind)
        elif sp.kind == "size":  # every held-out horizon of the largest pilot size
            opt = size_optimum_error(f, sp, kind)
    if not score_points:
        return {"optimum": opt, "split": splits[0].kind}
    return {"PredE": float(np.mean([o["PredE"] for o in out])),
            "final": float(np.mean([o["final"] for o in out])), "split": splits[0].kind,
            "runs": [p for o in out for p in o["runs"]], "optimum": opt}


def kappa_of(fc: Forecaster, spec: str, steps: int, peaks: tuple[float, float],
             N: float | None = None, eta: float | None = None) -> float | None:
    """κ of η* ∝ T^κ at the target: the law's, or the log-slope of a curve model's η*
    between T and 2T (``eta``: η* at T if already known)."""
    from convexlaw import schedule as make_schedule

    if isinstance(fc, LawForecaster):
        try:
            return float(fc.law_.kappa(T=steps, N=N if fc.law_.sized else None, shape=spec))
        except (ValueError, ZeroDivisionError):
            return None
    e1 = eta if eta is not None else fc.optimum(make_schedule(spec, steps, 1.0), peaks, N)[0]
    e2 = fc.optimum(make_schedule(spec, 2 * steps, 1.0), peaks, N)[0]
    return float(math.log(e2 / e1) / math.log(2.0))


def span_kappa(fc: Forecaster, spec: str, steps: int, T_from: int,
               peaks: tuple[float, float], N: float | None = None,
               eta: float | None = None) -> float | None:
    """κ over the extrapolation: ln(η*(steps)/η*(T_from)) / ln(steps/T_from), both optima
    for the target's schedule spec (``eta``: η* at ``steps`` if already known) — the
    exponent that carries the pilots' optimum to the target. ``kappa_of`` (the local κ at
    the target) when ``steps`` is not beyond ``T_from``; None when an optimum is not
    interior."""
    from convexlaw import schedule as make_schedule

    if steps <= T_from:
        return kappa_of(fc, spec, steps, peaks, N, eta)
    e1 = eta if eta is not None else fc.optimum(make_schedule(spec, steps, 1.0), peaks, N)[0]
    e0 = fc.optimum(make_schedule(spec, T_from, 1.0), peaks, N)[0]
    if not all(math.isfinite(e) and peaks[0] * 1.01 < e < peaks[1] / 1.01 for e in (e0, e1)):
        return None
    return float(math.log(e1 / e0) / math.log(steps / T_from))


def kappa_flag(kappa: float | None, T_from: int, steps: int,
               kappa_range: tuple[float, float] = KAPPA_RANGE) -> str | None:
    """The flag of an implausible exponent (``KAPPA_RANGE``), or None."""
    if kappa is None or kappa_range[0] <= kappa <= kappa_range[1]:
        return None
    side = "flatter" if kappa > kappa_range[1] else "steeper"
    return (f"implausible optimal-LR exponent: η* ∝ T^{kappa:+.3f} from T = {T_from} to "
            f"{steps}, {side} than the plausible {kappa_range[0]:g} … {kappa_range[1]:g} "
            "(theory −(1−c)/(2−c), measured −0.24 … −0.5)")


def evaluate(forecasters: Sequence[Forecaster], runs: Sequence[Any],
             split_sets: Sequence[Sequence[Any]], shape: np.ndarray, spec: str, steps: int,
             peaks: tuple[float, float], N: float | None = None, kind: str | None = None,
             say: Any = None, prescored: dict[str, dict[str, Any]] | None = None,
             kappa_range: tuple[float, float] = KAPPA_RANGE
             ) -> tuple[list[dict[str, Any]], dict[str, Forecaster]]:
    """Fit every forecaster on ``runs`` and score it on the first split set it can be
    refitted on (or take its score from ``prescored``, by label: PredE, final, split);
    read its optimum at the target. Returns (one row each, fitted by label).

    A row's ``flags`` say what forbids a silent choice: a parameter at a bound, an
    unidentified curve fit, an optimum at the edge of ``peaks``, κ > 0, and an exponent
    ``kappa_span`` (``span_kappa``: from the longest pilot horizon to the target) outside
    ``kappa_range``.
    """
    table, fitted = [], {}
    T_from = max(int(r.T) for r in runs)
    for fc in forecasters:
        if say:
            say(f"fitting and scoring {fc.label}")
        row: dict[str, Any] = {"forecaster": fc.label, "source": fc.source, "k": None,
                               "holdout_PredE": None, "holdout_final": None, "split": None,
                               "flags": [], "eta_star": None, "loss_star": None,
                               "kappa": None, "kappa_span": None, "optimum": None,
                               "chosen": False}
        try:
            fc.fit(runs)
        except (ValueError, RuntimeError) as err:
            table.append(row | {"error": str(err)})
            continue
        fitted[fc.label] = fc
        row["k"] = fc.n_params()
        pre = (prescored or {}).get(fc.label)
        if pre is not None:
            row.update(holdout_PredE=pre["PredE"], holdout_final=pre["final"],
                       split=pre["split"], optimum=None)
            if pre["split"] == "horizon":  # the selector scored the points, not the optimum
                try:
                    row["optimum"] = holdout_score(fc, split_sets[0], kind,
                                                   score_points=False)["optimum"]
                except (ValueError, RuntimeError):
                    pass
        for splits in [] if pre is not None else split_sets:
            try:
                sc = holdout_score(fc, splits, kind)
            except (ValueError, RuntimeError):
                continue  # these splits cannot determine the forecaster: try the next
            row.update(holdout_PredE=sc["PredE"], holdout_final=sc["final"],
                       split=sc["split"], holdout_runs=sc["runs"], optimum=sc["optimum"])
            break
        e, L = fc.optimum(shape, peaks, N)
        row.update(eta_star=e, loss_star=L, flags=list(fc.flags_))
        d = drift(row, max(int(r.T) for r in runs), steps) if math.isfinite(L) else None
        if d is not None:  # the law's measured drift, carried to the target (``drift``)
            row.update(loss_star_fit=L, loss_star=L * d["factor"], drift=d)
        if not (math.isfinite(e) and peaks[0] * 1.01 < e < peaks[1] / 1.01):
            row["flags"].append(f"no interior optimum between {peaks[0]:.3g} and "
                                f"{peaks[1]:.3g}")
        else:
            row["kappa"] = kappa_of(fc, spec, steps, peaks, N, eta=e)
            if row["kappa"] is not None and row["kappa"] > 0:
                row["flags"].append(f"η* rises with the horizon (κ = {row['kappa']:+.3f})")
            row["kappa_span"] = span_kappa(fc, spec, steps, T_from, peaks, N, eta=e)
            flag = kappa_flag(row["kappa_span"], T_from, steps, kappa_range)
            if flag and not (row["kappa"] is not None and row["kappa"] > 0):
                row["flags"].append(flag)
        table.append(row)
    return table, fitted


def choose_eta(table: list[dict[str, Any]], chosen: dict[str, Any]) -> dict[str, Any]:
    """The row whose η* held out best: among the unflagged rows that competed with
    ``chosen`` (same split, scored by the optimum at the held-out horizon), the smallest
    |ln(η*_pred/η*_meas)| there (fewest parameters on a tie within 1 %). Each number of a
    plan comes from the forecaster that predicted that number best on the held-out
    horizon: η* from this row, L* from ``chosen`` (the best joint score). Without optimum
    scores (tail split) it is ``chosen``."""
    pool = [r for r in table if r.get("scored_by") == chosen.get("scored_by")
            and r["split"] == chosen["split"] and not r["flags"] and r.get("optimum")
            and r["eta_star"]]
    if not pool or not chosen.get("optimum") or chosen["flags"]:
        return chosen

    def err(r: dict[str, Any]) -> float:
        return abs(math.log(r["optimum"]["eta_ratio"]))

    best = min(err(r) for r in pool)
    near = [r for r in pool if err(r) <= best + 0.01]
    return min(near, key=lambda r: (r["k"], err(r)))


def choose(table: list[dict[str, Any]],
           order: Sequence[str] = ("size", "horizon", "tail")
           ) -> tuple[dict[str, Any] | None, list[str]]:
    """The row with the lowest held-out error among unflagged forecasters (the one with
    fewest parameters within 5 % of it), and notes on what was passed over and why.

    Errors of different splits are not compared: the rows scored on the first split kind
    in ``order`` that an unflagged row has compete (a size split, when the plan
    extrapolates in N, comes first: ``convexlaw.laws.sizesplit``); rows scored only on a
    later (fallback) split compete only when no row has an earlier one. The score is the
    error of the optimum at the held-out horizon (``optimum_error``; on a size split every
    held-out horizon, ``size_optimum_error``) when every competing row has one — that is
    what a plan reports — else the held-out curves' PredE. Sets ``score`` and
    ``scored_by`` on the rows.
    """
    scored: list[dict[str, Any]] = []
    for kind in order:
        rows = [r for r in table if r["split"] == kind and r["eta_star"]]
        if rows and (any(not r["flags"] for r in rows) or not scored):
            scored = rows
            if any(not r["flags"] for r in rows):
                break
    clean = [r for r in scored if not r["flags"]]
    pool, warn = clean or scored, []
    if not pool:
        fitted = [r for r in table if r["k"] is not None and r["eta_star"]]
        if not fitted:
            return None, []
        return fitted[0], ["no held-out split could score the forecasters: the plan uses "
                           f"{fitted[0]['forecaster']} untested (add pilots)"]
    # the plan's own error at the held-out horizon when every candidate has it, else the
    # error on the held-out curves
    by_opt = all(r.get("optimum") for r in scored)

    def score(r: dict[str, Any]) -> float:
        return r["optimum"]["score"] if by_opt else r["holdout_PredE"]

    ids = {id(r) for r in scored}
    for r in table:
        r["score"] = score(r) if id(r) in ids else None
        r["scored_by"] = (("held-out curves" if not by_opt else
                           "optima at every horizon of the largest pilot size"
                           if r["split"] == "size" else "optimum at the held-out horizon")
                          if id(r) in ids else None)
    best = min(score(r) for r in pool)
    near = [r for r in pool if score(r) <= TIE * best + 1e-5]
    pick = min(near, key=lambda r: (r["k"], score(r)))
    for r in scored:
        if r["flags"] and score(r) < score(pick):
            warn.append(f"{r['forecaster']} held out better ({score(r):.4g} vs "
                        f"{score(pick):.4g}, {r['scored_by']}) but is not chosen: "
                        + "; ".join(r["flags"]))
    if pick.get("drift"):
        d = pick["drift"]
        noise = ("one run per peak: the noise of the measured optimum is unknown"
                 if d["noise"] is None else "the seeds agree exactly" if d["noise"] == 0
                 else f"{abs(d['error']) / d['noise']:.1f}σ of the measured optimum's seed "
                      f"noise, σ = {100 * d['noise']:.2f} %")
        warn.append(f"L* of {pick['forecaster']} corrected for its held-out drift: fitted up "
                    f"to T = {d['T_fit']} it put L* at T = {d['T_test']} {100 * d['error']:+.2f} "
                    f"% off ({noise}); carried ×{d['r']:.2f} in ln T to the target: L* "
                    f"{pick['loss_star_fit']:.4f} → {pick['loss_star']:.4f}")
    if pick["flags"]:
        warn.append(f"every scored forecaster is flagged; the chosen {pick['forecaster']}: "
                    + "; ".join(pick["flags"]))
    others = [r["forecaster"] for r in table if r["split"] not in (None, pick["split"])]
    if others:
        warn.append(f"held out on a fallback split only (not compared): {', '.join(others)}")
    return pick, warn


def pooled_loss(table: list[dict[str, Any]], chosen: dict[str, Any]
                ) -> tuple[float, list[dict[str, Any]]]:
    """The plan's L*: the mean L* of the forecasters tied with ``chosen`` on held-out score.

    The tied rows are those ``choose`` picked among — scored the same way as ``chosen``,
    unflagged, within ``TIE`` of the best score — and ``chosen`` itself; each row's L* is
    its own (a law's drift-corrected). ``choose`` breaks a tie by the fewest parameters,
    which is a rule for η* and the curve, not a reason to trust one L* over another that
    held out as well: where two tied laws put L* 1.5 % apart, which one wins the tie moves
    with the pilots' noise (the demo's pilots, trained on two CPUs with different floating
    point, gave −1.50 % with the one and −0.05 % with the other). The mean does not jump.
    Returns (L*, the rows averaged); one row, ``chosen``, when nothing ties with it.

    >>> rows = [{"forecaster": "a", "score": 1.00, "scored_by": "s", "flags": [],
    ...          "loss_star": 0.30},
    ...         {"forecaster": "b", "score": 1.04, "scored_by": "s", "flags": [],
    ...          "loss_star": 0.32},
    ...         {"forecaster": "c", "score": 1.20, "scored_by": "s", "flags": [],
    ...          "loss_star": 0.50}]
    >>> L, pool = pooled_loss(rows, rows[1])
    >>> round(L, 6), [r["forecaster"] for r in pool]
    (0.31, ['a', 'b'])
    """
    if chosen.get("score") is None or chosen["flags"]:
        return float(chosen["loss_star"]), [chosen]
    rows = [r for r in table if r.get("score") is not None and not r["flags"]
            and r.get("scored_by") == chosen.get("scored_by")
            and r.get("loss_star") is not None and math.isfinite(r["loss_star"])]
    best = min(r["score"] for r in rows)
    pool = [r for r in rows if r["score"] <= TIE * best + 1e-5]
    if not any(r is chosen for r in pool):  # not after ``choose``: keep the chosen L*
        return float(chosen["loss_star"]), [chosen]
    return float(np.mean([r["loss_star"] for r in pool])), pool
