"""The fitting engine (convexlaw.fitting): each step against a closed form or scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import least_squares

from convexlaw.fitting import (
    Param,
    Problem,
    bootstrap,
    fit,
    grid_starts,
    log_residuals,
    param_lines,
    polish,
    polish_batch,
    robust_cost,
    search,
    solve_linear,
    standard_errors,
)

T = np.geomspace(1e3, 6.4e4, 14)


def power_problem(y: np.ndarray, batched: bool = True, **kw) -> Problem:
    """ŷ = L + A·(T/1e3)^(−k): L, A linear (A log-fitted), k nonlinear."""
    params = [Param("L", 0.0, float(y.min()), linear=True),
              Param("A", 1e-6, 1e6, log=True, linear=True),
              Param("k", 0.05, 2.0, grid=(0.2, 0.5, 1.0))]
    x = T / 1e3

    def predict(v, idx):
        return v["L"] + v["A"] * x[idx] ** -v["k"]

    def basis(v, idx):
        return {"L": np.ones(idx.size), "A": x[idx] ** -v["k"]}

    return Problem(params, predict, y, basis=basis, batched=batched, **kw)


def truth(L=2.0, A=1.5, k=0.4):
    return L + A * (T / 1e3) ** -k


# ---------------------------------------------------------------- parameters, residuals
def test_param_conversions_and_validation():
    p = Param("q", 1e-4, 1e4, log=True, linear=True, power=2)
    assert p.to_z(1e-9) == pytest.approx(math.log(1e-4))  # clipped into the bounds
    assert p.from_z(p.to_z(3.0)) == pytest.approx(3.0)
    assert (p.to_coef(3.0), p.from_coef(9.0), p.from_coef(-1.0)) == (9.0, 3.0, 0.0)
    assert p.middle == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lower bound 2.0 must be below"):
        Param("x", 2.0, 1.0)
    with pytest.raises(ValueError, match="log-parametrised parameter needs a lower bound > 0"):
        Param("x", 0.0, 1.0, log=True)


def test_log_residuals_floor_and_bad_predictions():
    y = np.array([2.0, 2.0, 2.0, 2.0])
    r = log_residuals(np.array([2.0 * math.e, -1.0, np.nan, np.inf]), y)
    assert r[0] == pytest.approx(1.0) and np.all(r[1:] == 1e3)
    r = log_residuals(np.array([-1.0, 1e-9]), y[:2], floor=1e-3)
    np.testing.assert_allclose(r, math.log(1e-3))


@pytest.mark.parametrize("loss", ["huber", "soft_l1", "linear"])
def test_robust_cost_is_what_least_squares_minimises(loss):
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(30, 2)), rng.normal(size=30) * 0.01
    res = least_squares(lambda x: A @ x - b, np.zeros(2), loss=loss, f_scale=1e-3)
    assert float(robust_cost(res.fun, loss, 1e-3)) == pytest.approx(res.cost, rel=1e-12)
    with pytest.raises(ValueError, match="loss must be one of"):
        robust_cost(res.fun, "l1")


# ---------------------------------------------------------------- variable projection
def test_solve_linear_bounds_and_dead_columns():
    x = np.linspace(1, 2, 20)
    M = np.column_stack([np.ones(20), 1 / x, np.zeros(20)])
    y = 3.0 + 2.0 / x
    beta, rss = solve_linear(M, y)
    np.testing.assert_allclose(beta, [3.0, 2.0, 0.0], atol=1e-12)
    assert rss < 1e-25
    beta, rss = solve_linear(M, y, 0.0, [2.5, np.inf, np.inf])  # the bound binds
    assert beta[0] == pytest.approx(2.5) and rss > 0
    # the constrained optimum: β1 = argmin Σ((2.5 + β1/x)/y − 1)²
    w = 1 / (x * y)
    assert beta[1] == pytest.approx(np.sum(w * (1 - 2.5 / y)) / np.sum(w * w), rel=1e-10)


def test_grid_starts_project_the_linear_parameters():
    pr = power_problem(truth())
    starts = grid_starts(pr, np.arange(T.size), keep=2)
    assert len(starts) == 2 and starts[0]["k"] == 0.5  # the grid point nearest 0.4
    assert starts[0]["L"] <= truth().min()


def test_search_finds_the_minimum_of_a_box():
    def f(th):
        return (th[0] - 0.31) ** 2 + 2 * (th[1] + 0.6) ** 2 + 1.0

    params = [Param("u", -1.0, 1.0, grid=(-0.5, 0.0, 0.5)), Param("v", -1.0, 1.0, grid=(0.0,))]
    th, val = search(f, params)
    np.testing.assert_allclose(th, [0.31, -0.6], atol=1e-4)
    assert val == pytest.approx(1.0, abs=1e-8)
    assert search(lambda th: 5.0, [])[1] == 5.0


# ---------------------------------------------------------------- polish
def test_fit_recovers_parameters_and_huber_ignores_an_outlier():
    y = truth()
    res = fit(power_problem(y))
    for k, v in {"L": 2.0, "A": 1.5, "k": 0.4}.items():
        assert res.values[k] == pytest.approx(v, rel=1e-7)
    bad = y.copy()
    bad[5] *= 1.2  # a 20 % outlier
    robust = fit(power_problem(bad)).values
    plain = fit(power_problem(bad), loss="linear").values
    # Huber: the outlier's pull is bounded (δ per point); least squares follows it
    assert abs(robust["k"] - 0.4) < 2e-3 and abs(plain["k"] - 0.4) > 0.1


def test_fit_reports_bounds_and_standard_errors():
    rng = np.random.default_rng(1)
    y = truth() * np.exp(rng.normal(0, 1e-3, T.size))
    res = fit(power_problem(y))
    assert set(res.stderr) == {"L", "A", "k"} and all(np.isfinite(list(res.stderr.values())))
    assert res.at_bound == []
    # the data want k = 3, beyond its upper bound 2: k sits at the bound, stderr nan
    res = fit(power_problem(truth(k=3.0)))
    assert "k" in res.at_bound and math.isnan(res.stderr["k"])
    assert "(at bound)" in res.report()
    with pytest.raises(ValueError, match="2 points cannot determine 3 parameters"):
        fit(power_problem(truth()), idx=np.arange(2))


@pytest.mark.parametrize("loss", ["huber", "soft_l1", "linear"])
def test_batched_polish_reaches_the_least_squares_minimum(loss):
    rng = np.random.default_rng(2)
    y = truth() * np.exp(rng.normal(0, 3e-3, T.size))
    pr = power_problem(y)
    idx = np.arange(T.size)
    z0 = pr.z({"L": 1.0, "A": 1.0, "k": 1.0})
    z_ref, c_ref, _ = polish(pr, [z0], idx, loss=loss, tol=1e-15, max_nfev=10000)
    Z, cost = polish_batch(pr, np.array([z0, z0 + 0.1]), idx, loss=loss)
    np.testing.assert_allclose(cost, c_ref, rtol=1e-9)
    np.testing.assert_allclose(Z, [z_ref, z_ref], atol=1e-5)


def test_batched_polish_holds_a_coordinate_at_its_bound_and_weights_count_points():
    y = truth(k=3.0)  # wants k = 3 > 2: k ends at its upper bound
    pr = power_problem(y)
    idx = np.arange(T.size)
    Z, _ = polish_batch(pr, pr.z({"L": 0.4, "A": 1.0, "k": 1.0})[None], idx)
    assert Z[0, 2] == pytest.approx(2.0)
    # integer weights are duplicated points
    w = np.random.default_rng(3).integers(0, 3, T.size).astype(float)
    y = truth() * np.exp(np.random.default_rng(4).normal(0, 3e-3, T.size))
    pr = power_problem(y)
    z0 = pr.z({"L": 1.5, "A": 1.0, "k": 0.5})
    Zw, cw = polish_batch(pr, z0[None], idx, weights=w[None])
    dup = np.repeat(idx, w.astype(int))
    z_ref, c_ref, _ = polish(pr, [z0], dup, tol=1e-15, max_nfev=10000)
    assert cw[0] == pytest.approx(c_ref, rel=1e-9)


def test_batched_and_unbatched_models_agree():
    y = truth() * 1.001
    Z = np.array([[1.0, 0.1, 0.3], [1.5, -0.2, 0.7]])
    idx = np.arange(3, 10)
    np.testing.assert_allclose(power_problem(y).batch_residuals(Z, idx),
                               power_problem(y, batched=False).batch_residuals(Z, idx))


# ---------------------------------------------------------------- standard errors
def test_standard_errors_of_a_linear_model_are_the_ols_formula():
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(40), rng.normal(size=40), rng.normal(size=40)])
    yv = X @ [1.0, 2.0, -0.5] + rng.normal(0, 0.1, 40)
    beta = np.linalg.lstsq(X, yv, rcond=None)[0]
    se = standard_errors(lambda b: X @ b - yv, beta, np.full(3, -np.inf), np.full(3, np.inf))
    r = X @ beta - yv
    ols = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * (r @ r) / (40 - 3))
    np.testing.assert_allclose(se.stderr, ols, rtol=1e-6)
    assert se.cond < 10 and se.dead == []
    # hold the last coordinate: it gets nan, the others the 2-column OLS formula
    se = standard_errors(lambda b: X @ b - yv, beta, np.full(3, -np.inf), np.full(3, np.inf),
                         hold=[2])
    assert math.isnan(se.stderr[2])
    X2 = X[:, :2]
    ols2 = np.sqrt(np.diag(np.linalg.inv(X2.T @ X2)) * (r @ r) / (40 - 2))
    np.testing.assert_allclose(se.stderr[:2], ols2, rtol=1e-6)


def test_standard_errors_flag_a_dead_or_collinear_parameter():
    x = np.linspace(0, 1, 20)
    se = standard_errors(lambda b: b[0] + b[1] * x + 0 * b[2] - x, np.array([0.0, 1.0, 0.5]),
                         np.full(3, -np.inf), np.full(3, np.inf))
    assert se.dead == [2] and se.cond == math.inf
    se = standard_errors(lambda b: (b[0] + b[1]) * x - x, np.array([0.5, 0.5]),
                         np.full(2, -np.inf), np.full(2, np.inf))
    assert se.cond > 1e6 and sorted(se.weak) == [0, 1]


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_refits_equal_single_refits_on_the_resampled_points():
    rng = np.random.default_rng(6)
    y = truth() * np.exp(rng.normal(0, 2e-3, T.size))
    pr = power_problem(y)
    idx = np.arange(T.size)
    full = fit(pr)
    groups = np.arange(T.size) // 2  # two points per "run"
    samples = bootstrap(pr, full.z, idx, groups, 20, np.random.default_rng(0))
    assert samples.shape == (20, 3)
    # the same draws, refitted one by one with scipy on the duplicated points
    draw = np.random.default_rng(0)
    labels = list(np.unique(groups))
    for row in samples[:5]:
        pick = draw.choice(labels, size=len(labels))
        pts = np.concatenate([idx[groups == g] for g in pick])
        z, _, _ = polish(pr, [full.z], pts, tol=1e-15, max_nfev=10000)
        np.testing.assert_allclose(row, np.where(pr.is_log, np.exp(z), z), rtol=1e-5)
    # resamples with too few distinct points are skipped, strata are kept apart
    few = bootstrap(pr, full.z, idx[:4], np.array([0, 0, 1, 1]), 30,
                    np.random.default_rng(0))
    assert len(few) < 30
    strat = bootstrap(pr, full.z, idx, groups, 10, np.random.default_rng(0),
                      strata=[labels[:3], labels[3:]])
    assert strat.shape == (10, 3)


def test_param_lines_are_lmfit_style():
    lines = param_lines({"L": 2.0, "k": 0.4, "a": 0.0}, {"L": 0.01, "k": float("nan")},
                        {"L": (0.0, 3.0), "k": (0.05, 0.4)}, at_bound=["k"])
    assert lines[0].split() == ["L", "=", "2", "+/-", "0.01", "(0.5", "%)", "bounds", "[0,",
                                "3]"]
    assert "+/- n/a" in lines[1] and lines[1].endswith("(at bound)")
    assert lines[2].strip() == "a        =  0 (fixed)"
