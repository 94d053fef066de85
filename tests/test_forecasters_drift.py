"""The held-out drift correction of a law's L* (``convexlaw.drift``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convexlaw import bound_terms, schedule
from convexlaw.forecasters import drift
from convexlaw.plan import make_plan
from convexlaw.runs import Run

C, Q1, Q2, LINF = 0.5, 4.0, 25.0, 0.5  # the truth: the distance law, κ = −1/3


def _truth(T: int, eta: float | np.ndarray) -> np.ndarray:
    s = schedule("cosine", T, 1.0)
    X, Y = bound_terms(s, at=[T])
    return LINF + Q1 * X[0] ** (1 - C) * np.asarray(eta) ** (C - 1) + Q2 * Y[0] * eta


def _optimum(T: int) -> tuple[float, float]:
    s = schedule("cosine", T, 1.0)
    X, Y = bound_terms(s, at=[T])
    eta = ((1 - C) * Q1 * X[0] ** (1 - C) / (Q2 * Y[0])) ** (1 / (2 - C))
    return float(eta), float(_truth(T, eta))


def _runs(horizons: tuple[int, ...]) -> list[Run]:
    out = []
    for T in horizons:
        e0, _ = _optimum(T)
        for k in (-2, -1, 0, 1, 2):
            eta = e0 * 2.0 ** k
            loss = float(_truth(T, eta))
            out.append(Run(f"T{T}k{k}", lrs=eta * schedule("cosine", T, 1.0), peak_lr=eta,
                           schedule="cosine", curves={"val": ([T // 2, T], [1.1 * loss, loss])}))
    return out


def _row(error: float, fit: list[int], source: str = "law") -> dict:
    return {"source": source, "optimum": {"loss_error": error, "T_test": 800,
                                          "fit_horizons": fit}}


def test_drift_closed_form() -> None:
    d = drift(_row(0.03, [100, 200, 400]), 800, 8000)
    r = math.log(10) / math.log(2)
    assert d is not None
    assert d["r"] == pytest.approx(r, rel=1e-12)
    assert d["factor"] == pytest.approx(1.03 ** -r, rel=1e-12)
    assert (d["T_fit"], d["T_test"]) == (400, 800)


@pytest.mark.parametrize("row, T_longest, steps", [
    (_row(0.03, [400]), 800, 8000),              # one fit horizon: no measured exponent
    (_row(0.03, [200, 400], "curve"), 800, 8000),  # a curve model: not an exponent
    (_row(0.03, [200, 400]), 800, 800),          # no extrapolation
    (_row(0.03, [200, 400]), 1600, 8000),        # held out at another horizon
    ({"source": "law", "optimum": None}, 800, 8000),  # no optimum score (tail split)
])
def test_drift_only_where_measured(row: dict, T_longest: int, steps: int) -> None:
    assert drift(row, T_longest, steps) is None


def test_drift_corrects_a_wrong_exponent() -> None:
    """The literal law (κ = −1/2) fitted to a distance-law truth (κ = −1/3) drifts; the
    correction measured at the held-out horizon takes most of the error at 8× away."""
    runs = _runs((100, 200, 400, 800))
    plan = make_plan(runs, 6400, variants=("literal",), curve_models=(), n_boot=0)
    row = next(r for r in plan.candidates if r["chosen"])
    _, L_true = _optimum(6400)
    raw, fixed = row["loss_star_fit"] / L_true - 1, plan.loss_star / L_true - 1
    assert row["drift"]["r"] == pytest.approx(math.log(8) / math.log(2))
    assert np.sign(row["drift"]["error"]) == np.sign(raw)  # the drift at 800 is the one at 6400
    assert abs(fixed) < 0.25 * abs(raw)  # measured: +34 % → −4.9 %
    assert any("held-out drift" in w for w in plan.warnings)


def test_the_drift_note_gives_the_seeds_noise_of_the_measured_optimum() -> None:
    """Two seeds a peak, their finals ±0.5 % apart: σ of one run is 0.5·√2 %, of the mean
    of two 0.5 %; with one seed a peak the note says the noise is unknown."""
    runs = []
    for r in _runs((100, 200, 400, 800)):
        for sign in (1, -1):
            st, v = r.curves["val"]
            runs.append(Run(f"{r.name}s{sign}", lrs=r.lrs, peak_lr=r.peak_lr,
                            schedule="cosine",
                            curves={"val": (st, np.asarray(v) * (1 + 0.005 * sign))}))
    plan = make_plan(runs, 6400, variants=("literal",), curve_models=(), n_boot=0)
    d = next(r for r in plan.candidates if r["chosen"])["drift"]
    assert d["noise"] == pytest.approx(0.005, rel=1e-6)
    note = next(w for w in plan.warnings if "held-out drift" in w)
    assert "σ = 0.50 %" in note and f"{abs(d['error']) / 0.005:.1f}σ" in note
    single = make_plan(_runs((100, 200, 400, 800)), 6400, variants=("literal",),
                       curve_models=(), n_boot=0)
    assert any("noise of the measured optimum is unknown" in w for w in single.warnings)
