"""convexlaw.plan and `convexlaw plan`: parameter recovery on synthetic stores, CLI errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from convexlaw import bound_terms, schedule
from convexlaw.cli import app
from convexlaw.plan import CURVE_MODELS, PlanError, make_plan, measured_optimum, pilot_runs
from convexlaw.runs import Run, RunStore

L_INF, D2, G2 = 0.8, 0.5, 0.1


def synth_run(T: int, peak: float, spec: str = "cosine", every: int = 10) -> Run:
    """A run whose whole loss curve is L∞ + Ω_t (the literal bound, D² and G² known)."""
    lrs = schedule(spec, T, peak)
    steps = np.unique(np.r_[np.arange(every, T + 1, every), T])
    X, Y = bound_terms(lrs, at=steps)
    loss = L_INF + D2 * X + G2 * Y
    return Run(name=f"{spec}/T={T}/peak={peak:g}", lrs=lrs, peak_lr=peak, schedule=spec,
               curves={"val": (steps, loss)}, N=1000.0, id=f"{spec}-{T}-{peak:g}")


def closed_form(T: int, spec: str = "cosine") -> tuple[float, float]:
    """η* = √(D²x/(G²y)), L* = L∞ + 2√(D²x·G²y) for the shape at peak 1."""
    X, Y = bound_terms(schedule(spec, T, 1.0), at=[T])
    x, y = float(X[0]), float(Y[0])
    return math.sqrt(D2 * x / (G2 * y)), L_INF + 2 * math.sqrt(D2 * x * G2 * y)


PEAKS = (0.025, 0.05, 0.1, 0.2, 0.4)


@pytest.fixture
def store(tmp_path) -> RunStore:
    s = RunStore(tmp_path / "pilots.db")
    for T in (100, 200, 400):
        for p in PEAKS:
            s.put(synth_run(T, p))
    return s


def test_plan_recovers_literal_optimum(store):
    plan = make_plan(pilot_runs(store), 8000, n_boot=10, curve_model=None, window=10)
    eta, loss = closed_form(8000)
    assert plan.variant == "literal"
    assert plan.eta_star == pytest.approx(eta, rel=1e-4)
    # the law is exact; its held-out drift is the parabola's error of the measured optimum
    # (≈ 1e-5), carried to the target
    row = next(r for r in plan.candidates if r["chosen"])
    assert row.get("loss_star_fit", plan.loss_star) == pytest.approx(loss, rel=1e-5)
    assert plan.loss_star == pytest.approx(loss, rel=1e-4)
    assert plan.literal_forecast["eta_star"] == pytest.approx(eta, rel=1e-4)
    lo, hi = plan.eta_interval
    assert lo <= plan.eta_star * (1 + 1e-6) and hi >= plan.eta_star * (1 - 1e-6)
    assert plan.kappa == pytest.approx(-0.5, abs=0.02)


def test_plan_transfers_to_another_schedule(store):
    """Cosine pilots plan a WSD run: the schedule enters through the bound constants."""
    spec = "wsd(cooldown=0.2)"
    plan = make_plan(pilot_runs(store), 6000, schedule=spec, n_boot=0, curve_model=None,
                     window=10)
    eta, loss = closed_form(6000, spec)
    assert plan.eta_star == pytest.approx(eta, rel=1e-4)
    row = next(r for r in plan.candidates if r["chosen"])
    assert row.get("loss_star_fit", plan.loss_star) == pytest.approx(loss, rel=1e-5)
    assert plan.loss_star == pytest.approx(loss, rel=1e-4)  # + the held-out drift (≈ 1e-5)


def test_plan_curve_model_predicts_the_target_curve(store):
    plan = make_plan(pilot_runs(store), 3000, n_boot=0, curve_model="convex", window=10,
                     burn_in=0)
    eta, loss = closed_form(3000)
    c = plan.curve
    truth = synth_run(3000, plan.eta_star)
    X, Y = bound_terms(truth.lrs, at=c["steps"])
    np.testing.assert_allclose(c["loss"], L_INF + D2 * X + G2 * Y, rtol=1e-4)
    assert c["final"] == pytest.approx(loss, rel=1e-4)
    assert c["eta_star"] == pytest.approx(eta, rel=0.05)  # on a grid 2.2 % apart
    assert plan.loss_interval[0] <= plan.loss_star <= plan.loss_interval[1]


def test_window_drops_runs_far_from_the_optimum(tmp_path):
    s = RunStore(tmp_path / "w.db")
    for T in (100, 400):
        for p in (*PEAKS, 40.0):
            s.put(synth_run(T, p))
    plan = make_plan(pilot_runs(s), 4000, n_boot=0, curve_model=None, window=1.5)
    dropped = {(r["T"], r["peak"]) for r in plan.pilots if not r["used"]}
    assert (100, 40.0) in dropped and (400, 40.0) in dropped
    assert any("left out" in w for w in plan.warnings)


def test_diverged_pilots_are_reported_not_fitted(store):
    bad = synth_run(100, 5.0)
    bad.status = "diverged"
    bad.id = "div"
    store.put(bad)
    plan = make_plan(pilot_runs(store), 8000, n_boot=0, curve_model=None, window=10)
    assert plan.eta_star == pytest.approx(closed_form(8000)[0], rel=1e-4)
    assert any("diverged" in w for w in plan.warnings)


def test_plan_errors(tmp_path, store):
    with pytest.raises(PlanError, match="store is empty"):
        make_plan([], 1000)
    one = [synth_run(100, p) for p in PEAKS]
    with pytest.raises(PlanError, match="two or more horizons"):
        make_plan(one, 1000, curve_model=None)
    for bad in (0, 1, -5, 2.5, True):
        with pytest.raises(PlanError, match="--steps"):
            make_plan(pilot_runs(store), bad)
    with pytest.raises(PlanError, match="--size"):
        make_plan(pilot_runs(store), 1000, size=-1.0)
    with pytest.raises(PlanError, match="schedule"):
        make_plan(pilot_runs(store), 1000, schedule="nosuchshape")


def test_measured_optimum_parabola():
    e0, L0 = 0.03, 0.5
    p = e0 * 2.0 ** np.array([-2, -1, 0.4, 1, 2])
    loss = L0 + 0.1 * np.log(p / e0) ** 2
    e, L, ok = measured_optimum(p, loss)
    assert ok and e == pytest.approx(e0, rel=1e-9) and L == pytest.approx(L0, rel=1e-9)
    e, L, ok = measured_optimum([0.1, 0.2, 0.4], [3.0, 2.0, 1.0])
    assert (e, L, ok) == (0.4, 1.0, False)
    e, L, ok = measured_optimum([0.1, 0.2, 0.4], [2.0, 1.0, math.inf])  # diverged largest
    assert (e, L, ok) == (0.2, 1.0, True)


def test_measured_optimum_averages_seeds():
    """Three seeds per peak: the parabola runs through the seed means (one per peak)."""
    e0, L0 = 0.03, 0.5
    p = e0 * 2.0 ** np.array([-1.0, 0.3, 1.0])
    mean = L0 + 0.1 * np.log(p / e0) ** 2
    noise = np.array([-0.01, 0.0, 0.01])  # zero-mean over the seeds
    peaks = np.repeat(p, 3)
    loss = np.repeat(mean, 3) + np.tile(noise, 3)
    e, L, ok = measured_optimum(peaks, loss)
    assert ok and e == pytest.approx(e0, rel=1e-9) and L == pytest.approx(L0, rel=1e-9)
    # a peak where most seeds diverged counts as diverged: it brackets from above
    e, L, ok = measured_optimum([0.1, 0.2, 0.4, 0.4, 0.4], [2.0, 1.0, 1.5, math.inf, math.inf])
    assert (e, L, ok) == (0.2, 1.0, True)


def test_optimum_error_scores_the_plan_at_the_held_out_horizon(store):
    """On pilots from the literal bound the literal law's optimum at the held-out horizon
    is exact (score 0) and the choice is made by that score."""
    from convexlaw.choice import choose, optimum_error
    from convexlaw.curve.holdout import make_splits
    from convexlaw.forecasters import LawForecaster

    runs = pilot_runs(store)
    split = make_splits(runs, "horizon")[0]
    fc = LawForecaster("literal").fit(split.fit)
    o = optimum_error(fc, split)
    # the measured optimum is a parabola through 3 peaks ×2 apart: close, not exact
    assert o["eta_ratio"] == pytest.approx(1.0, abs=0.15)
    assert abs(o["loss_error"]) < 2e-3
    assert o["score"] == pytest.approx(0.5 * (abs(math.log(o["eta_ratio"])) / math.log(1.25)
                                              + abs(o["loss_error"]) / 0.01), rel=1e-12)
    assert optimum_error(fc, make_splits(runs, "tail")[0]) is None  # no horizon held out
    plan = make_plan(runs, 8000, n_boot=0, curve_model=None, window=10,
                     variants=("literal", "peak"))
    rows = {r["forecaster"]: r for r in plan.candidates}
    assert all(r["scored_by"] == "optimum at the held-out horizon" for r in rows.values())
    assert rows["law literal"]["score"] == pytest.approx(o["score"], rel=1e-9)
    pick, _ = choose([dict(r) for r in plan.candidates])
    assert pick["score"] == min(r["score"] for r in rows.values())


runner = CliRunner()


def test_cli_plan_json_and_figure(store, tmp_path):
    fig = tmp_path / "plan.png"
    res = runner.invoke(app, ["plan", "--db", str(store.path), "--steps", "8000", "--json",
                              "--boot", "5", "--window", "10", "--plot", str(fig),
                              "--curve-models", "convex", "--burn-in", "0"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    eta, loss = closed_form(8000)
    assert d["eta_star"] == pytest.approx(eta, rel=1e-4)
    for key in ("eta_interval", "loss_star", "loss_interval", "curve", "comparison",
                "literal_forecast", "pilots", "warnings"):
        assert key in d
    assert len(d["curve"]["steps"]) == len(d["curve"]["loss"]) > 10
    assert fig.stat().st_size > 10_000


def test_cli_plan_text(store):
    res = runner.invoke(app, ["plan", "--db", str(store.path), "--steps", "4000",
                              "--boot", "0", "--window", "10", "--curve-models", "none"])
    assert res.exit_code == 0, res.output
    assert "recommended peak LR" in res.output and "predicted final loss" in res.output


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "'0' is below 2; expected a whole number of steps >= 2"),
    (["--steps", "-3"], "'-3' is below 2; expected a whole number of steps >= 2"),
    (["--steps", "1000", "--size", "-5"], "'--size': '-5' is out of range"),
])
def test_cli_plan_bad_arguments(store, args, message):
    res = runner.invoke(app, ["plan", "--db", str(store.path), *args])
    assert res.exit_code == 2
    assert message in res.output


def test_cli_plan_non_integer_steps(store):
    res = runner.invoke(app, ["plan", "--db", str(store.path), "--steps", "abc"])
    assert res.exit_code == 2 and "Invalid value for '--steps'" in res.output


def test_cli_plan_empty_store_and_one_horizon(tmp_path):
    empty = RunStore(tmp_path / "empty.db")
    res = runner.invoke(app, ["plan", "--db", str(empty.path), "--steps", "1000"])
    assert res.exit_code == 2 and "store is empty" in res.output
    one = RunStore(tmp_path / "one.db")
    for p in PEAKS:
        one.put(synth_run(100, p))
    res = runner.invoke(app, ["plan", "--db", str(one.path), "--steps", "1000", "--boot", "0",
                              "--burn-in", "0", "--curve-models", "convex"])
    assert res.exit_code == 0, res.output  # one horizon: held out on the pilots' tails
    assert "tail split" in res.output and "burn-in of convex: 0 (as given)" in res.output
    res = runner.invoke(app, ["plan", "--db", str(one.path), "--steps", "1000",
                              "--curve-models", "nosuch"])
    assert res.exit_code == 2 and "unknown model 'nosuch'" in res.output
    res = runner.invoke(app, ["plan", "--db", str(one.path), "--steps", "1000",
                              "--burn-in", "soon"])
    assert res.exit_code == 2 and "--burn-in must be a step" in res.output
    res = runner.invoke(app, ["plan", "--db", str(tmp_path / "missing.db"), "--steps", "9"])
    assert res.exit_code == 2 and "no such file" in res.output


# ------------------------------------------------------------------ single horizon
def curve_truth():
    from convexlaw.curve import ConvexED

    return ConvexED.from_params({"L_inf": 1.0, "D2": 0.3, "G2": 2.0, "c": 0.5})


def truth_run(T: int, peak: float) -> Run:
    lrs = schedule("cosine", T, peak)
    st = np.arange(20, T + 1, 20)
    return Run(name=f"T={T}/p={peak:g}", lrs=lrs, peak_lr=peak, schedule="cosine",
               curves={"val": (st, curve_truth().predict(lrs, st))}, id=f"{T}-{peak:g}")


def test_single_horizon_plan_works_through_the_curve_model():
    from convexlaw.forecasters import CurveForecaster

    pilots = [truth_run(1000, p) for p in (0.01, 0.03, 0.1, 0.3)]
    plan = make_plan(pilots, 8000, variants=("literal",), curve_models=("convex-ed",),
                     burn_in=0, n_boot=0)
    assert plan.source == "curve convex-ed" and plan.holdout == "tail"
    truth = CurveForecaster("convex-ed").set_fitted(curve_truth())
    eta, loss = truth.optimum(schedule("cosine", 8000, 1.0), (1e-3, 3.0))
    assert plan.eta_star == pytest.approx(eta, rel=0.02)
    assert plan.loss_star == pytest.approx(loss, rel=1e-3)
    assert plan.eta_interval[0] <= plan.eta_star <= plan.eta_interval[1]
    assert -0.45 < plan.kappa < -0.25  # effective distance c = 0.5: κ ≈ −1/3, not −1/2
    lit = next(r for r in plan.candidates if r["forecaster"] == "law literal")
    assert lit["holdout_PredE"] > 10 * next(r["holdout_PredE"] for r in plan.candidates
                                            if r["chosen"])
    peaks = [0.5 * plan.eta_star, plan.eta_star, 2 * plan.eta_star]
    curve = plan.peak_curve(peaks)
    assert curve[1] == pytest.approx(plan.loss_star, rel=1e-9) and curve.argmin() == 1


def test_two_horizons_too_thin_for_the_laws_plan_through_the_curve_model():
    """Two pilots at the shorter horizon cannot determine a law on final losses (the cos-10
    shape of the 124M runs): the curve model, held out across horizons, plans."""
    pilots = [truth_run(1000, p) for p in (0.03, 0.1)] + \
        [truth_run(2000, p) for p in (0.01, 0.03, 0.1, 0.3)]
    plan = make_plan(pilots, 8000, variants=("literal",), curve_models=("convex-ed",),
                     burn_in=0, n_boot=0)
    assert plan.source == "curve convex-ed" and plan.holdout == "horizon"
    lit = next(r for r in plan.candidates if r["forecaster"] == "law literal")
    assert lit["split"] == "tail"  # the law could only be held out on the pilots' tails
    assert any("only two pilot horizons (T = 1000, 2000)" in w for w in plan.warnings)


def test_three_horizons_give_no_two_horizon_warning(store):
    plan = make_plan(pilot_runs(store), 1600, variants=("literal",), curve_models=(),
                     n_boot=0)
    assert not any("only two pilot horizons" in w for w in plan.warnings)


def test_a_curve_model_that_cannot_be_fitted_is_left_out_not_fatal():
    """Pilots logging only their final loss: the curve models cannot be fitted (one point
    per run), so the plan says so and plans with the law (exact on the literal law's
    synthetic sweep: η* = √(q1²X/(q2²Y)) at the target)."""
    import warnings

    def synth(T, eta):
        s = schedule("cosine", T, 1.0)
        X, Y = bound_terms(s, at=[T])
        return Run(f"T{T}p{eta}", lrs=eta * s, peak_lr=eta, schedule="cosine",
                   curves={"val": ([T], [0.5 + 4.0 * X[0] / eta + 25.0 * Y[0] * eta])})

    runs = [synth(T, e) for T in (100, 400) for e in (0.01, 0.02, 0.04, 0.08)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = make_plan(runs, 1600, variants=("literal",), n_boot=0)
    assert p.source == "law literal"
    assert sum("left out: its burn-in could not be chosen" in w for w in p.warnings) == \
        len(CURVE_MODELS)
    X, Y = bound_terms(schedule("cosine", 1600, 1.0), at=[1600])
    assert p.eta_star == pytest.approx((4.0 * X[0] / (25.0 * Y[0])) ** 0.5, rel=1e-6)


def test_eta_comes_from_the_forecaster_whose_eta_held_out_best():
    """choose_eta: among the unflagged rows scored like the chosen one, the smallest
    |ln η*-ratio| at the held-out horizon; flagged rows and other splits never compete."""
    from convexlaw.choice import choose_eta

    def row(name, k, eta_ratio, flags=(), split="horizon"):
        return {"forecaster": name, "k": k, "split": split, "flags": list(flags),
                "eta_star": 0.01, "scored_by": "optimum at the held-out horizon",
                "optimum": {"eta_ratio": eta_ratio, "loss_error": 0.0, "score": 0.0}}

    chosen = row("law distance", 4, 0.6)
    table = [chosen, row("law gradient", 4, 0.95), row("law peak", 5, 1.02, ["at bound"]),
             row("curve x", 5, 1.0, split="tail"), row("law distance+gradient", 5, 0.955)]
    assert choose_eta(table, chosen)["forecaster"] == "law gradient"  # fewer k within 0.01
    table[1]["optimum"]["eta_ratio"] = 0.8
    assert choose_eta(table, chosen)["forecaster"] == "law distance+gradient"
    tail = row("law distance", 4, 0.6, split="tail")
    tail["optimum"] = None
    assert choose_eta([tail], tail) is tail


def test_tied_forecasters_share_the_predicted_loss():
    """pooled_loss: L* is the mean over the rows within TIE of the best score (scored the
    same way, unflagged), the chosen one among them; no tie, the chosen row's own L*."""
    from convexlaw.choice import TIE, choose, pooled_loss

    def row(name, k, score, L, flags=(), by="optimum at the held-out horizon"):
        return {"forecaster": name, "k": k, "split": "horizon", "flags": list(flags),
                "eta_star": 0.01, "loss_star": L, "holdout_PredE": score,
                "optimum": {"eta_ratio": 1.0, "loss_error": 0.0, "score": score}}

    table = [row("law distance", 4, 0.762, 0.3701), row("law distance+peak", 5, 0.744, 0.3755),
             row("law peak", 4, 0.745, 0.50, ["a parameter at its bound"]),
             row("law gradient", 4, 0.744 * TIE + 0.01, 0.40)]
    chosen, _ = choose(table)
    assert chosen["forecaster"] == "law distance"  # the fewest parameters within the tie
    L, pool = pooled_loss(table, chosen)
    assert [r["forecaster"] for r in pool] == ["law distance", "law distance+peak"]
    assert L == pytest.approx((0.3701 + 0.3755) / 2, abs=1e-15)
    table[1]["optimum"]["score"] = 0.70  # distance is no longer within 5 %: no tie
    chosen, _ = choose(table)
    assert pooled_loss(table, chosen) == (0.3755, [chosen])


def test_plan_loss_is_the_mean_of_its_loss_pool(store):
    plan = make_plan(pilot_runs(store), 1600, n_boot=0)
    rows = {r["forecaster"]: r for r in plan.candidates}
    assert plan.loss_pool and plan.loss_source in plan.loss_pool
    assert plan.loss_star == pytest.approx(
        np.mean([rows[f]["loss_star"] for f in plan.loss_pool]), rel=1e-12)
    assert plan.to_dict()["loss_pool"] == plan.loss_pool


def test_a_recommended_peak_outside_the_pilot_peaks_is_flagged(store):
    # pilots' peaks 0.025 … 0.4; the literal optimum at 50k is 0.0097, ×2.58 below them
    plan = make_plan(pilot_runs(store), 50_000, n_boot=0, curve_model=None, window=10)
    assert plan.eta_star == pytest.approx(closed_form(50_000)[0], rel=1e-3)
    note = next(w for w in plan.warnings if "pilot peak" in w)
    assert "×2.58 below the smallest pilot peak (0.025" in note
    inside = make_plan(pilot_runs(store), 2000, n_boot=0, curve_model=None, window=10)
    assert not any("pilot peak" in w for w in inside.warnings)


# ------------------------------------------------------------------ plausible κ
def _kappa_pilots() -> list[Run]:
    """Curves of convex-ed with c = 0.5 (η* ∝ T^κ, κ = −(1−c)/(2−c) = −1/3) at two horizons."""
    return [truth_run(T, p) for T in (500, 1000) for p in (0.01, 0.03, 0.1, 0.3)]


def _kappa_plan(kappa_range=None):
    import warnings

    kw = {} if kappa_range is None else {"kappa_range": kappa_range}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(_kappa_pilots(), 8000, variants=("literal",),
                         curve_models=("convex-ed",), burn_in=0, n_boot=0, **kw)


def test_kappa_over_the_extrapolation_is_reported_and_plausible_by_default():
    plan = _kappa_plan()
    assert plan.source == "curve convex-ed"  # exact model, held out best, κ plausible
    assert plan.kappa_span == pytest.approx(-1 / 3, abs=0.01)
    out = plan.to_dict()
    assert out["kappa_range"] == [-0.7, -0.15] and out["kappa_span"] == plan.kappa_span
    lit = next(r for r in out["candidates"] if r["forecaster"] == "law literal")
    assert lit["kappa_span"] == pytest.approx(-0.5, abs=0.01) and not lit["flags"]


def test_an_implausible_kappa_is_flagged_said_and_passed_over():
    """The same pilots with a range that excludes −1/3: the exact curve model, which held
    out best, is flagged and the plan takes η* from the next candidate, saying why."""
    plan = _kappa_plan((-0.7, -0.4))
    assert plan.source == "law literal"
    assert plan.kappa_span == pytest.approx(-0.5, abs=0.01)
    row = next(r for r in plan.candidates if r["forecaster"] == "curve convex-ed")
    assert any("implausible optimal-LR exponent" in f and "flatter" in f for f in row["flags"])
    assert any(w.startswith("curve convex-ed not used for η*") for w in plan.warnings)
    assert any("held out better" in w and "implausible" in w for w in plan.warnings)
    assert json.loads(json.dumps(plan.to_dict(), default=str))["kappa_range"] == [-0.7, -0.4]


def test_when_every_kappa_is_implausible_the_plan_says_so():
    plan = _kappa_plan((-0.3, -0.2))
    assert plan.source == "curve convex-ed"
    assert any("every candidate is; treat η* as unchecked" in w for w in plan.warnings)
    assert all(r["flags"] for r in plan.candidates if r["eta_star"])


@pytest.mark.parametrize("bad", [(-0.2, -0.3), (-0.5,), (float("nan"), -0.1)])
def test_bad_kappa_range_is_a_clear_error(bad):
    with pytest.raises(PlanError, match="kappa_range must be two finite exponents"):
        make_plan(_kappa_pilots(), 8000, variants=("literal",), curve_models=(),
                  n_boot=0, kappa_range=bad)


def test_plan_does_not_depend_on_pilot_order():
    """The same pilots in another order give the same plan, to the last bit (the fits'
    sums and multi-start searches see the points in one canonical order)."""
    rng = np.random.default_rng(3)
    runs = []
    for T in (100, 200, 400):
        for p in PEAKS:
            r = synth_run(T, p)
            steps, loss = r.curves["val"]
            r.curves["val"] = (steps, loss * (1 + 0.01 * rng.standard_normal(loss.size)))
            runs.append(r)
    plans = [make_plan(q, 4000, n_boot=0, curve_model=None, window=10)
             for q in (runs, runs[::-1], [runs[i] for i in rng.permutation(len(runs))])]
    for p in plans[1:]:
        assert (p.eta_star, p.loss_star, p.variant) == \
            (plans[0].eta_star, plans[0].loss_star, plans[0].variant)
        assert [r["loss_star"] for r in p.candidates] == \
            [r["loss_star"] for r in plans[0].candidates]
