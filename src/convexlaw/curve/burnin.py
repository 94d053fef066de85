"""The burn-in of a curve fit, chosen from the data: the earliest start that predicts.

Training is convex-like only "after a short period" (DESIGN §0): observations before the
onset pull a bound-based fit off the curve it has to extrapolate. The burn-in is taken, in
this order, from

1. an explicit step (``--burn-in 600``): used as given;
2. the measured convexity onset t0 stored with the runs (``run.onset``, from
   ``convexlaw train --diagnose``): the largest t0 over the runs that share the fit;
3. the data (``select_burn_in``): for each candidate start s, fit the curve model to the
   observations after s on held-out splits (``convexlaw.curve.holdout``: the shorter
   horizons predict the longest one, or each longest pilot's second half is predicted
   from its first half and the other pilots) and score the held-out points; the chosen
   start is the earliest whose held-out error E(s) is within its noise of the best,
   E(s) ≤ (1 + tol)·min E + 2σ_E, where σ_E is the measurement noise of the scored points
   (second differences of log loss) carried to a mean. On curves that follow the model
   after a known burn-in t0, that is the first candidate at or after t0.

>>> import numpy as np
>>> from convexlaw.curve import ConvexModel
>>> from convexlaw.runs import Run
>>> truth = ConvexModel.from_params({"L_inf": 2.0, "D2": 1.0, "G2": 20.0})
>>> def run(peak, T=4000, t0=320):
...     lrs = np.full(T, peak); st = np.arange(20, T + 1, 20)
...     y = truth.predict(lrs, st) * (1 + 0.3 * np.exp(-st / 60.0) * (st <= t0))
...     return Run(f"p{peak}", lrs=lrs, peak_lr=peak, curves={"val": (st, y)})
>>> b = select_burn_in([run(p) for p in (0.01, 0.02, 0.04)], ConvexModel())
>>> b.step, b.source
(320, 'selector')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.curve.base import CurveModel, FitWarning
from convexlaw.curve.holdout import make_splits, score_split

__all__ = ["BurnIn", "curve_noise", "default_starts", "resolve_burn_in", "select_burn_in",
           "stored_onset"]


@dataclass
class BurnIn:
    """A chosen burn-in step and how it was chosen (``source``: "option", "onset",
    "selector"), with the evidence: one row per candidate start."""

    step: int
    source: str
    rule: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    noise: float | None = None
    split: str | None = None  # the held-out split kind of the evidence
    # the selector's fits at the chosen start, each with the runs it was fitted on: the
    # held-out fits a caller scoring that start on the same split need not make again
    fits: list[tuple[list[Any], CurveModel]] = field(default_factory=list, repr=False,
                                                     compare=False)

    def describe(self) -> str:
        """One line for a report."""
        return f"burn-in {self.step} ({self.rule})"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "source": self.source, "rule": self.rule,
                "evidence": self.evidence, "noise": self.noise, "split": self.split}


def curve_noise(runs: Sequence[Any], kind: str | None = None) -> float:
    """Median over runs of the relative measurement noise of the loss curve:
    1.4826·MAD of the second differences of log loss, over √6 (white noise), using the
    second half of each run (where the curve is smooth on the scale of the logging)."""
    out = []
    for r in runs:
        steps, vals = r.curve(kind) if kind else r.curve()
        steps, vals = np.asarray(steps), np.asarray(vals, dtype=np.float64)
        ok = (steps > 0.5 * int(r.T)) & np.isfinite(vals) & (vals > 0)
        lv = np.log(vals[ok])
        if lv.size < 5:
            continue
        d2 = lv[2:] - 2 * lv[1:-1] + lv[:-2]
        out.append(1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(6))
    return float(np.median(out)) if out else 0.0


def default_starts(runs: Sequence[Any], kind: str | None = None,
                   fractions: Sequence[float] = (0.01, 0.02, 0.04, 0.08, 0.16)
                   ) -> list[int]:
    """Candidate starts: 0 and fractions of the shortest run, each moved down to a logged
    step (a start s drops the observations at steps ≤ s), duplicates removed."""
    Tmin = min(int(r.T) for r in runs)
    logged = np.unique(np.concatenate([np.asarray((r.curve(kind) if kind else r.curve())[0])
                                       for r in runs]))
    out = {0}
    for f in fractions:
        below = logged[logged <= f * Tmin]
        if below.size:
            out.add(int(below[-1]))
    return sorted(out)


def select_burn_in(runs: Sequence[Any], model: CurveModel, kind: str | None = None,
                   starts: Sequence[int] | None = None, split: str = "auto",
                   tail: float = 0.5, tol: float = 0.05, max_tests: int = 3) -> BurnIn:
    """The earliest start whose held-out error is within its noise of the best (module
    docstring). ``model`` is an unfitted curve model (cloned for every fit)."""
    if not runs:
        raise ValueError("no runs to choose a burn-in from")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    starts = default_starts(runs, kind) if starts is None else sorted({int(s) for s in starts})
    if any(s < 0 for s in starts):
        raise ValueError(f"burn-in starts must be >= 0, got {starts}")
    splits = make_splits(runs, split, kind=kind, tail=tail, max_tests=max_tests)
    sigma = curve_noise([r for sp in splits for r, _ in sp.test], kind)
    rows: list[dict[str, Any]] = []
    fits: dict[int, list[tuple[list[Any], CurveModel]]] = {}
    for s in starts:
        errs, finals, points = [], [], 0
        try:
            for sp in splits:
                m = model.clone()
                m.burn_in = int(s)
                m.kind = kind
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FitWarning)
                    m.fit(sp.fit)
                fits.setdefault(int(s), []).append((list(sp.fit), m))
                points += m.fit_info_["points"]
                sc = score_split(lambda run, st, m=m: m.predict(run, st), sp, kind)
                errs.append(sc["PredE"])
                finals.append(sc["final"])
        except (ValueError, RuntimeError) as err:
            rows.append({"start": int(s), "error": str(err)})
            continue
        n_scored = sum(p["points"] for sp in splits for p in
                       score_split(lambda run, st: np.ones(len(st)), sp, kind)["runs"])
        rows.append({"start": int(s), "fit_points": points, "holdout_PredE": float(np.mean(errs)),
                     "holdout_final": float(np.mean(finals)),
                     "noise_of_mean": float(sigma * math.sqrt(2 / math.pi)
                                            / math.sqrt(max(n_scored, 1)))})
    good = [r for r in rows if "holdout_PredE" in r and math.isfinite(r["holdout_PredE"])]
    if not good:
        raise ValueError("no candidate burn-in could be fitted: "
                         + "; ".join(f"start {r['start']}: {r['error']}" for r in rows))
    best = min(r["holdout_PredE"] for r in good)
    for r in good:
        r["within"] = bool(r["holdout_PredE"] <= (1 + tol) * best + 2 * r["noise_of_mean"])
    chosen = next(r for r in good if r["within"])
    how = splits[0].kind
    rule = (f"selector: earliest start whose held-out error ({how} split, "
            f"{100 * chosen['holdout_PredE']:.3f} %) is within {100 * tol:g} % + noise of the "
            f"best ({100 * best:.3f} %)")
    return BurnIn(int(chosen["start"]), "selector", rule, rows, sigma, how,
                  fits=fits[int(chosen["start"])])


def stored_onset(run: Any) -> int | None:
    """The convexity onset t0 stored with a run (``run.onset``, i.e.
    ``run.tags["convexity"]["t0"]``), or None."""
    t0 = getattr(run, "onset", None)
    if t0 is None:
        conv = (getattr(run, "tags", None) or {}).get("convexity")
        t0 = conv.get("t0") if isinstance(conv, dict) else None
    return None if t0 is None else int(t0)


def resolve_burn_in(runs: Sequence[Any], burn_in: int | str | None, model: CurveModel,
                    kind: str | None = None, **kw: Any) -> BurnIn:
    """``burn_in`` = an int step (used as given), or "auto"/None: the stored convexity
    onset when every run has one (``run.onset``), else ``select_burn_in``."""
    if isinstance(burn_in, bool):
        raise ValueError(f"burn-in must be a step (int >= 0) or 'auto', got {burn_in!r}")
    if isinstance(burn_in, int | np.integer):
        if burn_in < 0:
            raise ValueError(f"burn-in must be >= 0, got {burn_in}")
        return BurnIn(int(burn_in), "option", "as given")
    if burn_in not in (None, "auto"):
        raise ValueError(f"burn-in must be a step (int >= 0) or 'auto', got {burn_in!r}")
    onsets = [t for t in (stored_onset(r) for r in runs) if t is not None]
    if runs and len(onsets) == len(runs):
        i = int(np.argmax(onsets))
        return BurnIn(int(onsets[i]), "onset",
                      f"convexity onset t0 of run {getattr(runs[i], 'name', i)!r} (the "
                      f"largest of {len(runs)} stored onsets)")
    return select_burn_in(runs, model, kind=kind, **kw)
