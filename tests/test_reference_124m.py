"""Our V4+5 (``convex-ed-peak``) on the 124M runs against REFERENCE-RESULTS.md's protocol.

The reference fits L∞ + (½D²·P_t^(c−1) + G²·Y_t)·(η_peak/1e-3)^γ by variable projection
(NNLS for L∞, D², G² on relative residuals; grid + Nelder–Mead over c, γ). Here the
same objective is rebuilt from the bound's defining formula (``bound_direct``, not the
fast path the model uses) and solved with ``scipy.optimize.nnls``: the fitted model must
sit at its optimum. The reference's cross-LR final error (+0.39 % at the top of its
range) is reproduced at its burn-in of 400 steps.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize, nnls

from convexlaw.bound import bound_direct
from convexlaw.curve import ConvexED
from convexlaw.curve.data import as_curve_data
from convexlaw.runs import load_runs

DATA = Path("/work/shared/data/lr-scheduling-124m")
BURN_IN = 400  # the reference's start: its V4+5 numbers are reproduced from this step on

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def cos_zero():
    runs = load_runs(sorted(str(p) for p in DATA.glob("cos-zero*.json")))
    return sorted(runs, key=lambda r: r.peak_lr)


def _direct_terms(runs) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """(peak, P_t, Y_t, loss) at each run's observed steps after the burn-in, Y from the
    defining formula at G = 1 (D → 0 leaves the G-part alone)."""
    out = []
    for r in runs:
        d = as_curve_data(r, "val", lo=BURN_IN)
        out.append((d.peak, np.cumsum(d.lrs)[d.steps - 1],
                    bound_direct(d.lrs, D=1e-12, G=1.0, at=d.steps), d.y))
    return out


def _direct_rss(terms, theta) -> tuple[np.ndarray, float]:
    c, gamma = theta
    M = np.vstack([np.column_stack([np.ones(P.size), 0.5 * P ** (c - 1) * (pk / 1e-3) ** gamma,
                                    Y * (pk / 1e-3) ** gamma]) for pk, P, Y, _ in terms])
    y = np.concatenate([t[3] for t in terms])
    A = M / y[:, None]
    norm = np.linalg.norm(A, axis=0)
    beta, res = nnls(A / norm, np.ones_like(y))
    return beta / norm, float(res * res)


def test_v45_fit_is_the_optimum_of_the_defining_formula(cos_zero):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ConvexED(peak="bound", burn_in=BURN_IN).fit(cos_zero)
    p = m.params_
    theta = np.array([p["c"], p["gamma"]])
    terms = _direct_terms(cos_zero)
    beta, rss = _direct_rss(terms, theta)
    assert np.allclose(beta, [p["L_inf"], p["D2"], p["G2"]], rtol=1e-6)
    assert rss == pytest.approx(m.fit_info_["rss_rel"], rel=1e-6)
    # the shape search found the optimum: Nelder–Mead on the direct objective gains nothing
    res = minimize(lambda t: _direct_rss(terms, t)[1], theta, method="Nelder-Mead",
                   options={"initial_simplex": [theta, theta + [0.02, 0], theta + [0, 0.02]],
                            "xatol": 1e-5, "fatol": 1e-12, "maxfev": 120})
    assert res.fun >= rss * (1 - 1e-5)
    # pinned (this fit reproduces the reference's cos-zero 25k → 50k finals)
    assert p["c"] == pytest.approx(0.6251, abs=2e-3)
    assert p["gamma"] == pytest.approx(0.1639, abs=2e-3)


def test_cross_lr_final_error_matches_the_reference(cos_zero):
    """REFERENCE-RESULTS.md, cross-LR: fit peaks 1e-4, 5e-4, 2e-3 at 25k, predict 1e-3:
    V4+5 final −0.74 … +0.39 %; the cos-zero runs from step 400 give the +0.39 %."""
    fit = [r for r in cos_zero if r.peak_lr != 1e-3]
    test = next(r for r in cos_zero if r.peak_lr == 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ConvexED(peak="bound", burn_in=BURN_IN).fit(fit)
    steps, vals = test.curve("val")
    err = float(m.predict(test, [steps[-1]])[0] / vals[-1] - 1)
    assert round(100 * err, 2) == 0.39
