"""convexlaw.design and `convexlaw schedule design`: closed forms, the search, bad input."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from convexlaw import optimal_peak, schedule
from convexlaw.baselines import MultiPowerLaw
from convexlaw.cli import app
from convexlaw.curve import ConvexED, ConvexEDHorizon, ConvexModel
from convexlaw.design import DesignError, Objective, Spline, design_schedule
from convexlaw.runs import Run
from convexlaw.schedules import lr_lambda

D, G = 2.0, 3.0
LITERAL = ConvexModel.from_params({"L_inf": 0.0, "D2": D * D, "G2": G * G})
# coefficients of the convex-ed-gt fit to the Multi-Power-Law protocol's 25M runs
ED_GT = {"L_inf": 3.04, "D2": 0.983, "G2": 116.0, "c": 0.45, "a": -0.059}


def ed(peak: str | None = None, **extra: float) -> ConvexED:
    grad = "power" if "a" in extra or peak is None else "constant"
    params = dict(ED_GT) if peak is None else {k: ED_GT[k] for k in ("L_inf", "D2", "G2",
                                                                      "c")}
    params.update(extra)
    return ConvexED.from_params(params, grad=grad, peak=peak)


# ---------------------------------------------------------------- the closed forms
def test_tuned_peak_is_the_bounds_closed_form():
    """Literal model: p* = √(A/B) and L* = 2√(AB) of convexlaw.optimal_peak."""
    obj = Objective(LITERAL, 3000)
    for spec in ("cosine", "wsd(cooldown=0.3,shape=sqrt)", "linear+warmup(100)"):
        shape = schedule(spec, 3000)
        p, loss = obj.tuned(shape)
        p_ref, omega = optimal_peak(shape, D=D, G=G)
        assert p == pytest.approx(p_ref, rel=1e-9)
        assert loss == pytest.approx(omega, rel=1e-9)


@pytest.mark.parametrize("family", ["linear", "wsd"])
def test_family_design_recovers_linear_decay(family):
    """Linear decay is the bound's optimum: the linear family ends at 0, WSD cools down
    over the whole run; both reach linear's Ω* (→ 2DG/√T)."""
    T = 2000
    d = design_schedule(LITERAL, T, family=family)
    lin_peak, lin = optimal_peak("linear", T, D=D, G=G)
    np.testing.assert_allclose(d.designed.shape, schedule("linear", T), atol=1e-12)
    assert d.designed.loss == pytest.approx(lin, rel=1e-9)
    assert d.designed.peak == pytest.approx(lin_peak, rel=1e-9)
    assert math.sqrt(T) * d.designed.loss == pytest.approx(2 * D * G, rel=2e-3)


def test_free_design_recovers_linear_decay():
    """The free spline, from cosine/WSD/linear starts, finds linear decay: √T·L* within
    0.15 % of 2DG (linear: 0.17 % at T = 2000), no worse than linear, and the shape
    within 0.005 of 1 − t/T."""
    T = 2000
    d = design_schedule(LITERAL, T, family="free", knots=16)
    lin = optimal_peak("linear", T, D=D, G=G)[1]
    assert d.designed.label == "free"
    assert d.designed.loss <= lin * (1 + 1e-12)
    assert math.sqrt(T) * d.designed.loss == pytest.approx(2 * D * G, rel=1.5e-3)
    x = np.arange(T) / T
    assert np.max(np.abs(d.designed.shape - (1 - x))[: int(0.98 * T)]) < 5e-3


def test_fast_path_matches_predict_and_its_gradient():
    """The closed-form bound path equals model.predict (1e-9) and its gradient equals
    central differences, at a fixed and at a tuned peak, with two horizons."""
    T = 3000
    shape = schedule("wsd(cooldown=0.3)+warmup(100)", T)
    for model in (ed(), ed("bound", gamma=0.3), ed("grad", beta=0.2)):
        for peak in (3e-4, None):
            obj = Objective(model, T, {1500: 1.0, 3000: 2.0}, peak)
            assert obj.fast
            p = obj.peak_of(shape)
            direct = (model.predict(p * shape[:1500], [1500], peak=p)[0]
                      + 2 * model.predict(p * shape, [3000], peak=p)[0]) / 3
            assert obj.value(shape) == pytest.approx(direct, rel=1e-9)
            v, g = obj.value_and_grad(shape)
            for j in (150, 1400, 2000, 2998, 2999):
                e = np.zeros(T)
                e[j] = 1e-6
                fd = (obj.value(shape + e) - obj.value(shape - e)) / 2e-6
                assert g[j] == pytest.approx(fd, rel=2e-4, abs=1e-9)


def test_horizon_drift_model_takes_the_fast_path_at_one_horizon():
    """A -hz fit is convex-ed with c = c(T) for a run of T steps: at one horizon the
    closed-form path uses that c and equals predict (1e-9); over several horizons (each its
    own exponent of the peak) it goes through predict."""
    p = {"L_inf": 0.3, "D2": 0.5, "G2": 2.0, "c": 0.5, "c1": 0.1, "a": 0.05}
    model = ConvexEDHorizon.from_params(p, grad="power", horizon_ref=800.0)
    T = 4000
    shape = schedule("wsd(cooldown=0.3)+warmup(100)", T)
    obj = Objective(model, T)
    assert obj.fast and not obj.notes
    assert obj.layout["c"] == pytest.approx(0.5 + 0.1 * math.log(T / 800.0), rel=1e-15)
    peak, loss = obj.tuned(shape)
    assert loss == pytest.approx(model.predict(peak * shape, [T], peak=peak)[0], rel=1e-9)
    assert not Objective(model, T, {2000: 1.0, 4000: 1.0}).fast


def test_spline_schedules_are_monotone_and_carry_linear_decay():
    sp = Spline(1000, warmup=50, knots=12)
    lin = 1 - np.arange(950) / 950
    m = sp.shape(sp.coefficients_of(lin))
    assert m[50] == 1.0 and m.max() == 1.0
    np.testing.assert_allclose(m[:50], np.arange(50) / 50)
    np.testing.assert_allclose(m[50:], lin, atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        d = rng.dirichlet(np.ones(12))[:11]
        m = sp.shape(d)
        assert np.all(np.diff(m[50:]) <= 1e-12) and m.min() >= 0


# ---------------------------------------------------------------- the search
@pytest.mark.parametrize("family,peak", [("wsd", 3e-4), ("cosine", None), ("free", 3e-4)])
def test_design_never_predicts_worse_than_its_starts(family, peak):
    """Every starting member (cosine, linear, WSD 10/20/40 %, ...) predicts at least the
    design's loss; the baselines too (same peak mode), and the numbers are predict()'s."""
    T = 4000
    model = ed()
    d = design_schedule(model, T, family=family, peak=peak, warmup=200, knots=12)
    assert d.starts
    for c in d.starts + [b for b in d.baselines if b.peak_mode == d.designed.peak_mode]:
        assert d.designed.loss <= c.loss + 1e-12, c.spec
    lrs = schedule(d.designed.spec, T, d.designed.peak) if d.designed.spec else d.lrs
    assert model.predict(lrs, [T], peak=d.designed.peak)[0] == pytest.approx(
        d.designed.loss, rel=1e-12)
    if family == "wsd":  # the effective-distance model wants a long stable phase
        assert d.designed.params["cooldown"] < 0.6
        same = [b.loss for b in d.baselines if b.peak_mode == "fixed"]
        assert len(same) == 2 and d.designed.loss < min(same) - 1e-4


def test_generic_models_design_through_predict():
    """A Multi-Power-Law fit (no closed form) designs at a fixed peak through predict()."""
    mpl = MultiPowerLaw.from_params({"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 400.0,
                                     "C": 2.0, "beta": 0.6, "gamma": 0.6})
    d = design_schedule(mpl, 1500, family="cosine", peak=3e-4, warmup=100)
    assert not d.fast
    for c in d.starts:
        assert d.designed.loss <= c.loss + 1e-12
    with pytest.raises(DesignError, match="no interior optimal peak"):
        design_schedule(mpl, 1500, family="cosine", warmup=100)


def test_weighted_horizons():
    """With weight on an early stop the design is scored on the weighted average."""
    T = 3000
    d = design_schedule(ed(), T, family="wsd", peak=3e-4, weights={1500: 1, 3000: 1})
    assert d.horizons == [1500, 3000] and d.weights == [0.5, 0.5]
    lrs = d.lrs
    avg = 0.5 * (ed().predict(lrs[:1500], [1500])[0] + ed().predict(lrs, [3000])[0])
    assert d.designed.loss == pytest.approx(avg, rel=1e-12)
    late = design_schedule(ed(), T, family="wsd", peak=3e-4)
    assert avg <= 0.5 * (ed().predict(late.lrs[:1500], [1500])[0]
                         + ed().predict(late.lrs, [3000])[0]) + 1e-12


# ---------------------------------------------------------------- bad input
def constant_lr_fit() -> ConvexModel:
    lrs = np.full(400, 0.05)
    steps = np.arange(10, 401, 10)
    loss = 1.0 + LITERAL.predict(lrs, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConvexModel().fit(Run("const", lrs=lrs, curves={"val": (steps, loss)},
                                     peak_lr=0.05))


@pytest.mark.parametrize("model,kw,match", [
    (ConvexModel.from_params({"L_inf": 2.0, "D2": 0.0, "G2": 0.0}), {}, "no LR response"),
    (LITERAL, {"family": "cosin"}, "unknown family 'cosin'; known: wsd"),
    (LITERAL, {"steps": 1}, "steps must be an integer ≥ 2"),
    (LITERAL, {"warmup": 5000}, "warmup"),
    (ConvexModel.from_params({"L_inf": 2.0, "D2": 1.0, "G2": 0.0}), {},
     "no finite optimal peak"),
])
def test_bad_input_is_a_design_error(model, kw, match):
    args = {"steps": 1000, **kw}
    with pytest.raises(DesignError, match=match):
        design_schedule(model, **args)


def test_fit_on_constant_lr_only_has_no_lr_response():
    with pytest.raises(DesignError, match="no measured LR response"):
        design_schedule(constant_lr_fit(), 1000)


def test_docstring_examples():
    import doctest

    import convexlaw.design as pkg
    from convexlaw.design import core, objective, space

    for mod in (pkg, core, objective, space):
        assert doctest.testmod(mod).failed == 0, mod.__name__


# ---------------------------------------------------------------- the CLI
@pytest.fixture
def fit_file(tmp_path):
    p = tmp_path / "fit.json"
    p.write_text(json.dumps(ed().to_dict()))
    return p


def test_cli_json_csv_and_plot(fit_file, tmp_path):
    out, png = tmp_path / "lr.csv", tmp_path / "d.png"
    r = CliRunner().invoke(app, ["schedule", "design", "--fit", str(fit_file), "-T", "3000",
                                 "--peak", "3e-4", "--warmup", "150", "--json",
                                 "--out", str(out), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    spec = d["designed"]["spec"]
    assert spec.startswith("wsd(") and spec.endswith("+warmup(150)")
    np.testing.assert_array_equal(schedule(f"csv(path={out})", 3000, 3e-4),
                                  schedule(spec, 3000, 3e-4))
    f = lr_lambda(spec, 3000)  # what the harness's LambdaLR multiplies the peak by
    np.testing.assert_array_equal([3e-4 * f(s) for s in range(3000)], schedule(spec, 3000, 3e-4))
    assert png.stat().st_size > 10_000
    assert {g["baseline"] for g in d["gains"]} == {"cosine", "wsd"}
    assert all(g["gain"] > 0 for g in d["gains"])


def test_cli_table(fit_file):
    r = CliRunner().invoke(app, ["schedule", "design", "--fit", str(fit_file), "-T", "2000",
                                 "--family", "cosine", "--peak", "3e-4"])
    assert r.exit_code == 0, r.output
    assert "designed: cosine" in r.output and "run it: convexlaw train" in r.output


@pytest.mark.parametrize("args,match", [
    (["-T", "1"], "--steps must be an integer ≥ 2"),
    (["-T", "100", "--family", "foo"], "unknown family 'foo'"),
    (["-T", "100", "--peak", "1e-3", "--tune-peak"], "either --peak P or --tune-peak"),
    (["-T", "100", "--weights", "50:x"], "--weights must look like"),
])
def test_cli_errors_are_one_line(fit_file, args, match):
    r = CliRunner().invoke(app, ["schedule", "design", "--fit", str(fit_file), *args])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and match in lines[0], r.output


def test_cli_fit_without_lr_response(tmp_path):
    p = tmp_path / "const.json"
    p.write_text(json.dumps(constant_lr_fit().to_dict()))
    r = CliRunner().invoke(app, ["schedule", "design", "--fit", str(p), "-T", "1000"])
    assert r.exit_code == 2
    assert "no measured LR response" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(app, ["schedule", "design", "--fit", str(tmp_path / "no.json"),
                                 "-T", "1000"])
    assert r.exit_code == 2 and "no such file" in r.output
