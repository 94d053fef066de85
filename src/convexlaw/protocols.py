"""Evaluation protocols for loss-curve models: which points fit, which points score.

- ``seq2seq``: one run; fit on the first half after burn-in, score the second half
  (the paper's sequence-to-sequence test).
- ``cross-schedule``: fit on some runs, predict others (the Multi-Power-Law protocol is
  the instance fit = cosine_24000, constant_24000, wsdcon_9 on mpl-25m).
- ``cross-horizon``: fit the runs at the shorter horizons, predict those at the longest.
- ``cross-lr``: fit all peak LRs but one, predict the held-out peak.

Scores are the peers' metrics (``convexlaw.metrics``): R², MAE and RMSE pooled over all
scored points; PredE = the mean over scored runs of each run's mean relative error and
WorstE = the largest relative error anywhere (the Multi-Power Law's convention, which
REFERENCE-RESULTS.md follows); plus the relative error of each run's final logged loss.

>>> from convexlaw.protocols import MODELS, make_model
>>> make_model("convex-ed-gt")
ConvexED(kind=None, burn_in=0, grad='power', peak=None, t_ref=1000.0, peak_ref=0.001)
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.baselines import MultiPowerLaw, PowerLaw, TissueLaw
from convexlaw.curve import (
    ConvexED,
    ConvexEDHorizon,
    ConvexGT,
    ConvexModel,
    CurveModel,
    FitWarning,
    restrict,
)
from convexlaw.curve.data import as_curve_data
from convexlaw.metrics import curve_metrics

__all__ = ["MODELS", "PROTOCOLS", "Split", "cross_horizon", "cross_lr", "cross_schedule",
           "evaluate", "load_fit", "make_model", "seq2seq", "short_name"]

# name -> (factory, short description with k)
MODELS: dict[str, tuple[Callable[..., CurveModel], str]] = {
    "convex": (ConvexModel, "V0 literal bound L∞ + D²/(2P) + G²Y, k=3"),
    "convex-gt": (ConvexGT, "V1 bound with G_t ∝ t^a, k=4"),
    "convex-gt-3t": (lambda **kw: ConvexGT(**{"grad": "three-term", **kw}),
                     "bound with three-term G_t² (Schaipp et al. shape), k=7"),
    "convex-ed": (ConvexED, "V4 effective distance ½D²P^(c−1), k=4"),
    "convex-ed-gt": (lambda **kw: ConvexED(**{"grad": "power", **kw}),
                     "V4+1 effective distance + G_t ∝ t^a, k=5"),
    "convex-ed-gt-hz": (lambda **kw: ConvexEDHorizon(**{"grad": "power", **kw}),
                        "V4+1 with c(T) = c + c1·ln(T/T_ref), T = the run's horizon, k=6"),
    "convex-ed-peak": (lambda **kw: ConvexED(**{"peak": "bound", **kw}),
                       "V4+5 effective distance, bound × (η_peak/1e-3)^γ, k=5"),
    "convex-ed-gpeak": (lambda **kw: ConvexED(**{"peak": "grad", **kw}),
                        "effective distance, G ∝ η_peak^(−β), k=5"),
    "convex-ed-gt-gpeak": (lambda **kw: ConvexED(**{"grad": "power", "peak": "grad", **kw}),
                           "effective distance, G_t ∝ t^a·η_peak^(−β), k=6"),
    "mpl": (MultiPowerLaw, "Multi-Power Law (Luo et al. 2025), k=7"),
    "tissue": (TissueLaw, "momentum law (Tissue et al. 2024), λ=0.999, k=4"),
    "powerlaw": (PowerLaw, "L0 + A·P^(−α), k=3"),
}
PROTOCOLS = ("seq2seq", "mpl", "cross-schedule", "cross-horizon", "cross-lr")
MPL_FIT = ("cosine_24000", "constant_24000", "wsdcon_9")


def make_model(name: str, **hyper: Any) -> CurveModel:
    """A model by its CLI name (see MODELS), with hyper-parameters."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name][0](**hyper)


def load_fit(source: str | Path | dict[str, Any]) -> CurveModel:
    """A fitted model from a fit.json path or its dict."""
    if isinstance(source, dict):
        return CurveModel.from_dict(source)
    path = Path(source)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"fit file {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON fit file ({err})") from None
    if not isinstance(d, dict) or "class" not in d or "params" not in d:
        raise ValueError(f"{path}: not a convexlaw fit file (expected keys 'class', "
                         "'params')")
    return CurveModel.from_dict(d)


def short_name(run: Any) -> str:
    """A compact label: 'cos-zero-124m lr0.001 T25000' for the long W&B names."""
    name = getattr(run, "name", str(run))
    if "_slimpajama_" in name:
        parts = name.split("_")
        lr = next((p for p in parts if p.startswith("lr")), "")
        it = next((p for p in parts if p.startswith("iter")), "")
        return f"{parts[0]} {lr} T{it[4:]}"
    return name


@dataclass
class Split:
    """Runs (possibly truncated copies) to fit and runs to score, with a label."""

    label: str
    fit: list[Any]
    test: list[Any]
    notes: list[str] = field(default_factory=list)


def seq2seq(run: Any, burn_in: int = 0, kind: str | None = None) -> Split:
    """Fit on burn_in < t ≤ T/2, score T/2 < t ≤ T."""
    half = int(run.T) // 2
    if burn_in >= half:
        raise ValueError(f"{run.name}: burn-in {burn_in} leaves no first half to fit "
                         f"(T = {run.T})")
    return Split(f"seq2seq {short_name(run)}", [restrict(run, kind, lo=burn_in, hi=half)],
                 [restrict(run, kind, lo=half)])


def _match(run: Any, names: Sequence[str]) -> bool:
    n = getattr(run, "name", "")
    return any(n == k or Path(n).stem == k for k in names)


def cross_schedule(runs: Sequence[Any], fit_names: Sequence[str] = MPL_FIT) -> Split:
    """Fit the runs named in fit_names, predict the others."""
    fit = [r for r in runs if _match(r, fit_names)]
    test = [r for r in runs if not _match(r, fit_names)]
    if not fit or not test:
        raise ValueError(f"cross-schedule needs runs named {', '.join(fit_names)} to fit and "
                         f"others to test; got {', '.join(r.name for r in runs)}")
    return Split("cross-schedule", fit, test)


def cross_horizon(runs: Sequence[Any]) -> Split:
    """Fit the runs with T below the longest horizon, predict those at the longest."""
    Tmax = max(r.T for r in runs)
    fit = [r for r in runs if r.T < Tmax]
    test = [r for r in runs if r.T == Tmax]
    if not fit:
        raise ValueError(f"cross-horizon needs runs at two or more horizons; all have "
                         f"T = {Tmax}")
    Ts = sorted({r.T for r in fit})
    return Split(f"cross-horizon T={','.join(map(str, Ts))} -> {Tmax}", fit, test)


def _peak(run: Any) -> float:
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


def cross_lr(runs: Sequence[Any], test_peak: float | None = None) -> Split:
    """Fit every peak LR but ``test_peak`` (default: the second-largest peak), predict it."""
    peaks = sorted({_peak(r) for r in runs})
    if len(peaks) < 2:
        raise ValueError("cross-lr needs runs at two or more peak learning rates")
    if test_peak is None:
        test_peak = peaks[-2] if len(peaks) > 2 else peaks[-1]
    close = [p for p in peaks if math.isclose(p, test_peak, rel_tol=1e-6)]
    if not close:
        raise ValueError(f"no run has peak LR {test_peak:g}; peaks: "
                         f"{', '.join(f'{p:g}' for p in peaks)}")
    fit = [r for r in runs if not math.isclose(_peak(r), test_peak, rel_tol=1e-6)]
    test = [r for r in runs if math.isclose(_peak(r), test_peak, rel_tol=1e-6)]
    fitp = sorted({_peak(r) for r in fit})
    return Split(f"cross-lr {','.join(f'{p:g}' for p in fitp)} -> {test_peak:g}", fit, test)


def _protocol_metrics(y: np.ndarray, yhat: np.ndarray, per_run: list[dict]) -> dict:
    pooled = curve_metrics(y, yhat)
    pred_e = [r["PredE"] for r in per_run if "PredE" in r]
    return {"R2": pooled["R2"], "MAE": pooled["MAE"], "RMSE": pooled["RMSE"],
            "PredE": float(np.mean(pred_e)) if pred_e else pooled["PredE"],
            "WorstE": pooled["WorstE"], "PredE_pooled": pooled["PredE"]}


def evaluate(model: CurveModel, split: Split) -> dict[str, Any]:
    """Fit ``model`` on split.fit, score on split.test; returns a JSON-ready dict.

    Keys: model, label, k, params, identified, warnings, fit_seconds, fit_r2, metrics
    (pooled over test points), runs (per test run: metrics and final-loss relative error),
    and curves (steps, observed, predicted per test run, for plots).
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        model.fit(split.fit)
    secs = time.perf_counter() - t0
    pairs, per_run, curves = [], [], []
    for run in split.test:
        d = as_curve_data(run, model.kind, lo=model.burn_in)
        pred = model.predict(d.lrs, d.steps, peak=d.peak)  # d.lrs: trailing η = 0 dropped
        ok = np.isfinite(pred)
        pairs.append((d.y[ok], pred[ok]))
        m = curve_metrics(d.y[ok], pred[ok]) if ok.sum() > 1 else {}
        final = float(pred[-1] / d.y[-1] - 1.0) if ok[-1] else float("nan")
        per_run.append({"run": short_name(run), "points": int(ok.sum()), **m,
                        "final_rel_error": final})
        curves.append({"run": short_name(run), "steps": d.steps.tolist(),
                       "observed": d.y.tolist(), "predicted": pred.tolist()})
    y = np.concatenate([p[0] for p in pairs])
    yhat = np.concatenate([p[1] for p in pairs])
    return {
        "model": model.label,
        "split": split.label, "k": model.n_params,
        "params": dict(model.params_), "stderr": dict(model.stderr_),
        "identified": bool(model.identified_), "warnings": list(model.warnings_),
        "fit_seconds": round(secs, 3), "fit_r2": model.fit_info_["r2"],
        "metrics": _protocol_metrics(y, yhat, per_run), "runs": per_run, "curves": curves,
    }
