"""The bound: closed forms, fast path against the defining formula, properties, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexlaw import bound, bound_direct, bound_terms, optimal_peak, schedule
from convexlaw.bound import peak_split
from convexlaw.cauchy import causal_sum_at, causal_sums


def harmonic(n):
    return float(np.sum(1.0 / np.arange(1, n + 1))) if n > 0 else 0.0


@pytest.mark.parametrize("T", [1, 2, 3, 17, 100, 1000])
def test_constant_lr_closed_form(T):
    eta, D, G = 0.03, 1.7, 0.6
    expect = D**2 / (2 * T * eta) + eta * G**2 / 2 * (1 + harmonic(T - 1))
    assert bound(np.full(T, eta), D=D, G=G, at=[T])[0] == pytest.approx(expect, rel=1e-13)
    every = bound(np.full(T, eta), D=D, G=G)
    closed = [D**2 / (2 * t * eta) + eta * G**2 / 2 * (1 + harmonic(t - 1))
              for t in range(1, T + 1)]
    np.testing.assert_allclose(every, closed, rtol=1e-12)


def test_linear_decay_is_the_worst_case_optimum():
    # √T·Ω*_T → 2DG for linear decay to zero
    D, G = 2.0, 3.0
    for T, tol in [(10**4, 3e-3), (10**5, 4e-4)]:
        _, omega = optimal_peak("linear", T, D=D, G=G)
        assert math.sqrt(T) * omega == pytest.approx(2 * D * G, rel=tol)


def _random_schedules(rng, T):
    yield "random", rng.random(T)
    w = max(T // 10, 2)
    yield "warm-up from 0", np.r_[np.linspace(0, 1, w), rng.random(T - w)]
    yield "cosine+warmup", schedule("cosine+warmup(0.1)", T)
    yield "wsd sqrt", schedule("wsd(cooldown=0.3,shape=sqrt)", T)
    yield "drops by 1e8", np.where(np.arange(T) < T // 2, 1.0, 1e-8) * (1 + rng.random(T))
    yield "zero stretch", np.where((np.arange(T) > T // 3) & (np.arange(T) < T // 2), 0.0,
                                   rng.random(T))
    yield "step x1e-3", schedule("step(milestones=[0.4,0.7],factor=0.001)", T)
    yield "jump x1e9", np.where(np.arange(T) < T // 2, 1e-9, 1.0) * (1 + rng.random(T))
    yield "spikes", np.where(rng.random(T) < 0.05, 1e3, 1e-3) * rng.random(T)


@pytest.mark.parametrize("T", [5, 40, 333, 4000])
def test_fast_path_equals_direct_formula(T):
    rng = np.random.default_rng(T)
    for name, lrs in _random_schedules(rng, T):
        G = 0.5 + rng.random(T)  # per-step G_t
        fast = bound(lrs, D=1.3, G=G)
        direct = bound_direct(lrs, D=1.3, G=G)
        finite = np.isfinite(direct)
        assert np.array_equal(finite, np.isfinite(fast)), name
        assert np.all(lrs[~finite] == 0), name
        rel = np.abs(fast[finite] - direct[finite]) / direct[finite]
        assert rel.max() <= 1e-9, (name, rel.max())
        # the single-step path (one dot product) agrees too
        at = np.flatnonzero(finite)[-3:] + 1
        np.testing.assert_allclose(bound(lrs, D=1.3, G=G, at=at), direct[at - 1], rtol=1e-9)


def test_fast_path_large_random_sample():
    rng = np.random.default_rng(7)
    T = 200_000
    lrs = schedule("cosine+warmup(0.02)", T) * (1 + 0.5 * rng.random(T))
    fast = bound(lrs)
    at = np.r_[rng.integers(2, T + 1, 20), T]
    np.testing.assert_allclose(fast[at - 1], bound_direct(lrs, at=at), rtol=1e-9)


@pytest.mark.parametrize("T", [16 * 4096 - 1, 16 * 4096 + 17])
def test_fast_path_across_leaf_blocks(T):
    # sizes around one block of leaves (16 steps × 4096 leaves), partial last leaf
    rng = np.random.default_rng(T)
    for lrs in (rng.random(T), np.where(np.arange(T) < T // 3, 1e-9, 1.0)):
        G = 0.5 + rng.random(T)
        at = np.unique(np.r_[rng.integers(2, T + 1, 30), np.arange(T - 40, T + 1),
                             np.arange(T // 3 - 20, T // 3 + 40)])
        np.testing.assert_allclose(bound(lrs, G=G)[at - 1], bound_direct(lrs, G=G, at=at),
                                   rtol=1e-9)


def test_segments_give_the_same_sums():
    # long runs are summed in segments (bounded memory); small segments here: a coarse
    # tree over 25 segments, windows of two segments, and segments that do not separate
    T = 100_000
    rng = np.random.default_rng(3)
    lrs = np.where((np.arange(T) // 4096) % 3 == 0, 1e-9, 1.0) * rng.random(T)
    for w in (None, (lrs * (0.5 + rng.random(T))) ** 2):
        seg = causal_sums(lrs, w, segment=4096)
        at = np.unique(np.r_[rng.integers(2, T, 60), (4096 * np.arange(1, 24)[:, None]
                                                      + np.arange(-2, 3)).ravel()])
        ref = np.array([causal_sum_at(lrs, w, i) for i in at])
        live = lrs[at] > 0
        np.testing.assert_allclose(seg[at][live], ref[live], rtol=1e-10)
        np.testing.assert_allclose(seg[lrs > 0], causal_sums(lrs, w)[lrs > 0], rtol=1e-10)


@pytest.mark.parametrize("T", [3, 4095, 4096, 4097, 32768, 32769, 32770, 70001])
def test_one_step_sum_against_exact_sums(T):
    # the one-step path (blocks of running sums, carried) against math.fsum of the terms
    rng = np.random.default_rng(T)
    eta = rng.random(T)
    eta[rng.random(T) < 0.1] = 0.0
    eta[-1] = 0.7
    for w in (None, rng.random(T)):
        gaps = np.cumsum(eta[T - 1 : 0 : -1])[::-1]  # P_T − P_j, j = 0 … T−2
        terms = (eta**2 if w is None else w)[: T - 2] / gaps[: T - 2]
        assert causal_sum_at(eta, w, T - 1) == pytest.approx(math.fsum(terms), rel=1e-13)


def test_causal_sums_small_by_hand():
    eta = np.array([1.0, 2.0, 1.0, 1.0])
    w = eta**2
    expect = [0.0, 0.0, 1 / 3, 1 / 4 + 4 / 2]
    np.testing.assert_allclose(causal_sums(eta, w), expect)
    assert [causal_sum_at(eta, w, i) for i in range(4)] == pytest.approx(expect)


lr_arrays = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=80).map(np.array)


@settings(max_examples=60, deadline=None)
@given(lrs=lr_arrays, D=st.floats(0.0, 10.0), G=st.floats(0.0, 10.0))
def test_linear_in_D2_and_G2(lrs, D, G):
    X, Y = bound_terms(lrs)
    np.testing.assert_allclose(bound(lrs, D=D, G=G), D**2 * X + G**2 * Y, rtol=1e-12,
                               atol=1e-300)
    # the difference of two bounds loses ~eps of their size to cancellation
    big = bound(lrs, D=2 * D, G=G)
    np.testing.assert_allclose(big - bound(lrs, D=D, G=G), 3 * D**2 * X,
                               rtol=1e-8, atol=1e-12 * (1 + big.max()))


@settings(max_examples=60, deadline=None)
@given(lrs=lr_arrays, c=st.floats(1e-3, 1e3))
def test_scaling_the_learning_rates(lrs, c):
    # η → cη turns A/η + Bη into A/(cη) + Bcη: X scales by 1/c, Y by c
    X, Y = bound_terms(lrs)
    Xc, Yc = bound_terms(c * lrs)
    np.testing.assert_allclose(Xc, X / c, rtol=1e-12)
    np.testing.assert_allclose(Yc, Y * c, rtol=1e-10)


@pytest.mark.parametrize("spec", ["cosine", "wsd(cooldown=0.2,shape=sqrt)+warmup(0.05)",
                                  "constant"])
def test_optimal_peak_closed_form_is_the_minimum(spec):
    T, D, G = 500, 1.5, 0.7
    peak, omega = optimal_peak(spec, T, D=D, G=G)
    A, B, _ = peak_split(schedule(spec, T), D=D, G=G)
    assert peak == pytest.approx(math.sqrt(A / B)) and omega == pytest.approx(2 * math.sqrt(A * B))
    grid = peak * np.geomspace(0.5, 2, 41)
    values = [bound(schedule(spec, T, p), D=D, G=G, at=[T])[0] for p in grid]
    assert np.argmin(values) == 20
    assert min(values) == pytest.approx(omega, rel=1e-12)


def test_zero_learning_rates():
    lrs = np.array([0.0, 0.0, 0.5, 0.5, 0.0])
    om = bound(lrs)
    assert np.isinf(om[[0, 1, 4]]).all() and np.isfinite(om[[2, 3]]).all()
    # leading zeros do not change the bound
    np.testing.assert_allclose(om[2:4], bound([0.5, 0.5]))
    with pytest.warns(UserWarning, match="evaluated at step 4"):
        A, B, at = peak_split(lrs / 0.5)
    assert at == 4
    # +∞ where η_t = 0 whatever D and G (not 0·∞)
    for D, G in [(0.0, 1.0), (1.0, 0.0)]:
        assert np.isinf(bound(lrs, D=D, G=G)[[0, 1, 4]]).all()
        assert np.isinf(bound(lrs, D=D, G=G, at=[1, 5])).all()


@pytest.mark.parametrize("lrs,message", [
    ([], "learning rates are empty"),
    ([0.1, -0.2], "learning rate at step 2 is -0.2; expected >= 0"),
    ([0.1, np.nan], "learning rate at step 2 is nan; expected a finite number"),
    ([0.1, np.inf], "learning rate at step 2 is inf"),
    ([0.0, 0.0], "all learning rates are zero"),
    ([-0.0, 0.0], "all learning rates are zero"),
    ([0.1, -np.inf], "learning rate at step 2 is -inf"),
    ([0.1, -np.nan], "learning rate at step 2 is nan"),
    ([0.1, -5e-324], "learning rate at step 2 is -4.94066e-324; expected >= 0"),
    ([[0.1, 0.2]], "must be a 1-D sequence"),
])
def test_bad_learning_rates(lrs, message):
    with pytest.raises(ValueError) as err:
        bound(lrs)
    assert message in str(err.value)


def test_edge_learning_rates_pass_the_one_reduction_check_or_the_exact_one():
    # the fast check reads the doubles as integers: -0.0 (sign bit set), the smallest
    # subnormal and the largest finite double must still be accepted, as numbers
    for lrs in ([0.1, -0.0, 0.2], [5e-324, 0.0], [1.7976931348623157e308, 1.0]):
        assert bound(lrs, at=[1]).shape == (1,)  # accepted (Ω may overflow to +inf)
    np.testing.assert_array_equal(bound([0.1, -0.0, 0.2]), bound([0.1, 0.0, 0.2]))


def test_bad_other_inputs():
    with pytest.raises(ValueError, match="step 5 in `at` is outside 1..3"):
        bound([0.1] * 3, at=[5])
    with pytest.raises(ValueError, match="D must be a finite number >= 0"):
        bound([0.1], D=-1.0)
    with pytest.raises(ValueError, match=r"G must be a scalar or have one value per step \(3\)"):
        bound([0.1] * 3, G=np.ones(2))
    with pytest.raises(ValueError, match="grad_scale at step 1 is nan"):
        bound_terms([0.1] * 2, grad_scale=[np.nan, 1.0])
    with pytest.raises(ValueError, match="steps is required"):
        optimal_peak("cosine")
    with pytest.raises(ValueError, match="unknown schedule"):
        optimal_peak("cosinus", 10)


_THREADS_SCRIPT = """
import hashlib, numpy as np
from convexlaw import bound, bound_terms, schedule
from convexlaw.exam import exam
h = hashlib.sha256()
for spec in ["cosine", "step(milestones=[0.5,0.75],factor=0.1)", "wsd(cooldown=0.2)"]:
    r = exam(spec, horizons=[10**3, 10**4, 10**5, 4 * 10**5], workers=2)
    h.update(r.scaled_bound.tobytes()); h.update(r.scaled_peak.tobytes())
lrs = schedule("cosine+warmup(0.05)", 300_000, peak=3e-4)
h.update(bound(lrs).tobytes())  # every step: the multipole path (BLAS products)
h.update(bound(lrs[:4000], at=[4000, 3999]).tobytes())  # the short one-step sum (ddot)
h.update(bound_terms(lrs, grad_scale=np.linspace(1, 2, lrs.size), at=[7, 300_000])[1].tobytes())
print(h.hexdigest())
"""


def test_results_do_not_depend_on_the_number_of_blas_threads():
    # exam --json used to differ in its last digits between 1 and 2 BLAS threads (ddot
    # splits its sum by thread); every path that feeds the exam, the laws and the curve
    # models must give the same bits with any number of threads
    import os
    import subprocess
    import sys

    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env, check=True,
                             capture_output=True, text=True)
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1]


def test_threads_of_the_leaf_passes_do_not_change_a_bit(monkeypatch):
    import convexlaw.cauchy as cauchy

    lrs = schedule("wsd(cooldown=0.3,shape=sqrt)+warmup(0.02)", 200_003)
    out = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(cauchy, "WORKERS", workers)
        out.append(bound(lrs, G=np.linspace(2, 1, lrs.size)))
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
