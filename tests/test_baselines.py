"""Peer laws: formulas against direct loops, parameter recovery, Jacobians."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from convexlaw import schedule
from convexlaw.baselines import MultiPowerLaw, PowerLaw, TissueLaw
from convexlaw.baselines.mpl import drop_blocks
from convexlaw.baselines.tissue import annealing_area
from convexlaw.curve import CurveData, FitWarning
from convexlaw.runs import Run

SPECS = ["cosine(final=0.1)+warmup(150)", "constant+warmup(150)",
         "wsd(cooldown=0.3,final=0.1)+warmup(150)", "piecewise(values=[1,0.3],bounds=[0.5])"
         "+warmup(150)"]


def synth(model, spec, T=3000, peak=3e-4, noise=2e-4, seed=0):
    lrs = schedule(spec, T, peak)
    st = np.arange(200, T + 1, 40)
    y = model.predict(lrs, st, peak=peak)
    y = y * (1 + noise * np.random.default_rng(seed).standard_normal(st.size))
    return Run(name=spec, lrs=lrs, curves={"train": (st, y)}, peak_lr=peak)


def fit_quiet(model, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return model.fit(runs)


def mpl_direct(p, lrs, steps):
    """The Multi-Power Law by its definition, one step at a time (reference)."""
    kp = int(np.argmax(lrs))
    out = []
    for t in steps:
        area = lrs[:t].sum()
        ld = 0.0
        for k in range(kp + 1, t):  # 0-based updates after the peak, up to update t
            s_k = lrs[k:t].sum()
            x = lrs[k] ** (-p["gamma"]) * s_k
            ld += (lrs[k - 1] - lrs[k]) * (1 - (p["C"] * x + 1) ** (-p["beta"]))
        out.append(p["L0"] + p["A"] * area ** (-p["alpha"]) - p["B"] * ld)
    return np.array(out)


MPL_TRUE = {"L0": 2.5, "A": 0.5, "alpha": 0.5, "B": 500.0, "C": 2.0, "beta": 0.6,
            "gamma": 0.5}


def test_mpl_matches_direct_definition_exactly_without_blocks():
    lrs = schedule("cosine(final=0.1)+warmup(30)", 400, 3e-4)
    steps = np.array([40, 120, 250, 399])
    m = MultiPowerLaw.from_params(MPL_TRUE, max_blocks=None)
    np.testing.assert_allclose(m.predict(lrs, steps), mpl_direct(MPL_TRUE, lrs, steps),
                               rtol=1e-12)


def test_mpl_blocks_agree_with_exact_sum():
    lrs = schedule("cosine(final=0.1)+warmup(2160)", 24000, 3e-4)
    steps = np.arange(2160, 24001, 128)
    exact = MultiPowerLaw.from_params(MPL_TRUE, max_blocks=None).predict(lrs, steps)
    blocked = MultiPowerLaw.from_params(MPL_TRUE).predict(lrs, steps)
    np.testing.assert_allclose(blocked, exact, rtol=1e-5)
    S, mask, log_eta, delta = drop_blocks(lrs, steps, 500)
    assert delta.sum() == pytest.approx(lrs.max() - lrs[-1], rel=1e-12)
    assert S.shape[1] <= 500 + steps.size


def test_mpl_analytic_gradient_matches_finite_differences():
    lrs = schedule(SPECS[2], 3000, 3e-4)
    st = np.arange(200, 3001, 50)
    d = CurveData("r", lrs, st, np.ones(st.size), 3e-4)
    m = MultiPowerLaw()
    J = m._gradient(MPL_TRUE, d)
    for i, k in enumerate(MPL_TRUE):
        h = 1e-6 * abs(MPL_TRUE[k])
        up, dn = dict(MPL_TRUE), dict(MPL_TRUE)
        up[k] += h
        dn[k] -= h
        fd = (m._evaluate(up, d) - m._evaluate(dn, d)) / (2 * h)
        np.testing.assert_allclose(J[:, i], fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())


def test_mpl_recovery_curve_and_main_parameters():
    truth = MultiPowerLaw.from_params(MPL_TRUE)
    runs = [synth(truth, s, seed=i) for i, s in enumerate([SPECS[0], SPECS[1], SPECS[3]])]
    m = fit_quiet(MultiPowerLaw(), runs)
    # L0, A, α are well determined; (B, C, β) trade off, so check the held-out curve
    for k, tol in (("L0", 0.003), ("A", 0.02), ("alpha", 0.02)):
        assert abs(m.params_[k] / MPL_TRUE[k] - 1) < tol, (k, m.params_[k])
    held = synth(truth, SPECS[2], noise=0.0)
    st, y = held.curve()
    assert np.max(np.abs(m.predict(held) / y - 1)) < 5e-4


def test_tissue_annealing_area_matches_recursion():
    lrs = schedule("wsd(cooldown=0.4)+warmup(20)", 200, 1e-3)
    lam = 0.95
    kp = int(np.argmax(lrs))
    m, s2, ref = 0.0, 0.0, []
    for k in range(lrs.size):
        drop = lrs[k - 1] - lrs[k] if k > kp else 0.0
        m = lam * m + drop
        s2 += m
        ref.append(s2)
    steps = np.array([1, 50, 150, 200])
    np.testing.assert_allclose(annealing_area(lrs, steps, lam), np.array(ref)[steps - 1],
                               rtol=1e-12, atol=1e-18)


def test_tissue_recovery():
    true = {"L0": 2.5, "A": 0.5, "alpha": 0.5, "C": 0.4}
    truth = TissueLaw.from_params(true)
    runs = [synth(truth, s, seed=i) for i, s in enumerate(SPECS[:3])]
    m = fit_quiet(TissueLaw(), runs)
    for k, v in true.items():
        assert abs(m.params_[k] / v - 1) < 0.02, (k, m.params_[k])
    assert m.identified_


def test_powerlaw_recovery_and_constant_lr_is_identified():
    true = {"L0": 2.5, "A": 0.5, "alpha": 0.5}
    truth = PowerLaw.from_params(true)
    runs = [synth(truth, s, seed=i) for i, s in enumerate(SPECS[:2])]
    m = fit_quiet(PowerLaw(), runs)
    for k, v in true.items():
        assert abs(m.params_[k] / v - 1) < 0.01, (k, m.params_[k])


def test_mpl_on_constant_lr_only_is_not_identified():
    truth = MultiPowerLaw.from_params(MPL_TRUE)
    run = synth(truth, "constant+warmup(150)")
    with pytest.warns(FitWarning, match="not identified"):
        m = MultiPowerLaw().fit([run])
    assert not m.identified_
    assert m.to_dict()["identified"] is False


def test_bad_hyper_parameters():
    run = synth(PowerLaw.from_params({"L0": 2.5, "A": 0.5, "alpha": 0.5}), SPECS[0])
    with pytest.raises(ValueError, match="lam"):
        TissueLaw(lam=1.5).fit([run])
    with pytest.raises(ValueError, match="loss must be"):
        PowerLaw(loss="l3").fit([run])


def test_mpl_thins_a_run_logged_at_every_step_and_predicts_in_blocks():
    """A run logged at every one of 3000 steps: the fit uses max_points evenly spaced
    observations (the last kept) and still recovers the curve; a prediction longer than
    max_points (evaluated a block at a time) equals the one-block evaluation to 1e-5."""
    truth = MultiPowerLaw.from_params(MPL_TRUE)
    lrs = schedule(SPECS[0], 3000, 3e-4)
    st = np.arange(200, 3001)
    y = truth.predict(lrs, st, peak=3e-4)
    run = Run(name="every-step", lrs=lrs, curves={"train": (st, y)}, peak_lr=3e-4)
    m = fit_quiet(MultiPowerLaw(max_points=300), [run])
    assert m.fit_info_["points"] == 300
    assert np.max(np.abs(m.predict(run) / y - 1)) < 2e-3
    d = CurveData("r", lrs, st, np.ones(st.size), 3e-4)
    whole = MultiPowerLaw(max_points=10**6)._evaluate(MPL_TRUE, d)
    blocks = MultiPowerLaw(max_points=700)._predict_data(MPL_TRUE, d)
    np.testing.assert_allclose(blocks, whole, rtol=1e-5)
    with pytest.raises(ValueError, match="max_points"):
        MultiPowerLaw(max_points=1).fit([run])
