"""The plan assembled from the chosen forecasters: intervals (bootstrap or model error,
widened by model disagreement), warnings, the predicted curve, the law table and the
peers (``_finish``, called by ``make_plan``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from convexlaw.choice import TIE, choose, pooled_loss
from convexlaw.curve.base import outside
from convexlaw.curve.burnin import BurnIn
from convexlaw.forecasters import CurveForecaster, Forecaster, LawForecaster, run_peak
from convexlaw.laws.bend import optimum_bend
from convexlaw.laws.peers import LiteralRule, PowerLawPeer, cell_optima
from convexlaw.plan.pilots import _final
from convexlaw.plan.result import Plan, pool_text

CURVE_POINTS = 60  # points of the predicted curve
NEAR = 1.5  # forecasters within this factor of the best held-out error widen the intervals


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
    out: dict[str, Any] = {"cells": cells, "bend": optimum_bend(cells)}
    for key, peer in (("power_law", PowerLawPeer()), ("literal_rule", LiteralRule())):
        try:
            out[key] = peer.fit(cells).forecast(float(steps), N) | {"name": peer.name}
        except ValueError as err:
            out[key] = {"name": peer.name, "error": str(err)}
    return out


def _bend_note(bend: dict[str, Any] | None, steps: int) -> list[str]:
    """A plan beyond the pilots whose measured optima bend in T (``optimum_bend``)."""
    if not bend or not bend["significant"] or steps <= bend["T"][-1]:
        return []
    way, side = ("flatten", "low") if bend["q"] > 0 else ("steepen", "high")
    local = ", ".join(f"{k:+.2f}" for k in bend["local"])
    return [f"the pilots' measured optima {way} with T: local exponents {local} over T = "
            f"{bend['T'][0]:g} … {bend['T'][-1]:g} (curvature {bend['q']:+.3f} ± "
            f"{bend['q_se']:.3f} in ln η* per (ln T)², noise from the {bend['noise']}); "
            f"every forecaster carries η* beyond T = {bend['T'][-1]:g} with one exponent "
            f"in T, so η* at T = {steps} is likely too {side} (pilots at a longer horizon "
            "would show by how much)"]


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
    eta = float(chosen["eta_star"])
    loss, pool = pooled_loss(table, chosen)
    if len(pool) > 1:
        Ls = [r["loss_star"] for r in pool]
        each = ", ".join(f"{r['forecaster']} ({r['loss_star']:.4f}, score {r['score']:.4g})"
                         for r in pool)
        warns = warns + [
            f"L* is the mean of the L* (drift-corrected for a law) of {each}: held-out "
            f"scores within {100 * (TIE - 1):.0f} % of the best are a tie, and their L* "
            f"differ by {100 * (max(Ls) / min(Ls) - 1):.2f} %"]
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
                     + (f"from {chosen['forecaster']} (best joint score)" if len(pool) < 2
                        else "from " + pool_text([r["forecaster"] for r in pool])))
    pil_T = (min(int(r.T) for r in kept), max(int(r.T) for r in kept))
    peers = _peers(kept, left, steps, N, sized, kind)
    warns += _bend_note(peers["bend"], steps)
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
                loss_pool=[r["forecaster"] for r in pool],
                kappa=eta_row["kappa"], law_forecast=law_fc, literal_forecast=lit,
                comparison=comparison, candidates=cand,
                holdout=chosen["split"] or "none",
                burn_in=_burn_in_of(fc, crow, fitted, bis),
                burn_ins={m: b.to_dict() for m, b in bis.items()}, left_out=left,
                peers=peers,
                curve=curve, pilots=rows, warnings=warns, laws=laws, forecaster=fc,
                fitted=fitted, curve_fit=curve_fit)
