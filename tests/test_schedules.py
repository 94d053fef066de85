"""Schedules: formulas at known points, the spec grammar, errors, the torch adapter."""

import math

import numpy as np
import pytest

from convexlaw.schedules import REGISTRY, SpecError, lr_lambda, parse, schedule, shape

BASES = [n for n, d in REGISTRY.items() if not d.modifier and n != "csv"]


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_every_schedule_is_a_valid_shape(name, n):
    m = shape(name, n)
    assert m.shape == (n,) and m.dtype == np.float64
    assert np.all(np.isfinite(m)) and np.all(m >= 0)
    assert m.max() == pytest.approx(1.0)


def test_formulas_at_known_points():
    n = 10
    s = np.arange(n)
    np.testing.assert_allclose(schedule("linear", n), 1 - s / n)
    np.testing.assert_allclose(schedule("linear(final=0.1)", n), 1 - 0.9 * s / n)
    np.testing.assert_allclose(schedule("cosine(final=0.1)", n),
                               0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * s / n)))
    np.testing.assert_allclose(schedule("poly(power=3)", n), (1 - s / n) ** 3)
    np.testing.assert_allclose(schedule("exponential(final=0.01)", n), 0.01 ** (s / n))
    np.testing.assert_allclose(schedule("inverse(tau=2)", n), 1 / (1 + s / 2))
    np.testing.assert_allclose(schedule("step(milestones=[2,5],factor=0.5)", n),
                               [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(schedule("piecewise(values=[1,0.3,0.2],bounds=[0.5,0.8])", n),
                               [1] * 5 + [0.3] * 3 + [0.2] * 2)
    # rsqrt: min(t/W, √(W/t)), t = s + 1, peak at t = W
    t = s + 1.0
    np.testing.assert_allclose(schedule("rsqrt(warmup=4)", n), np.minimum(t / 4, np.sqrt(4 / t)))


@pytest.mark.parametrize("cool,expect", [
    ("linear", [1, 1, 0.75, 0.5, 0.25]),
    ("sqrt", [1, 1, 1 - np.sqrt(0.25), 1 - np.sqrt(0.5), 1 - np.sqrt(0.75)]),
    ("square", [1, 1, 1 - 0.0625, 0.75, 1 - 0.5625]),
    ("cosine", [1, 1, *(0.5 * (1 + np.cos(np.pi * np.array([0.25, 0.5, 0.75]))))]),
])
def test_wsd_cooldown_shapes(cool, expect):
    m = schedule(f"wsd(cooldown=4,shape={cool})", 6)
    np.testing.assert_allclose(m[1:], expect)
    assert m[0] == 1


def test_wsd_geometric_needs_a_floor():
    m = schedule("wsd(cooldown=0.5,shape=geometric,final=0.01)", 4)
    np.testing.assert_allclose(m, [1, 1, 1, 0.1])
    with pytest.raises(SpecError, match="final > 0"):
        schedule("wsd(shape=geometric)", 10)


def test_warmup_is_a_prefix_and_base_runs_on_its_own_clock():
    m = schedule("cosine+warmup(4,start=0.2)", 12)
    np.testing.assert_allclose(m[:4], 0.2 + 0.8 * np.arange(4) / 4)
    np.testing.assert_allclose(m[4:], schedule("cosine", 8))
    c = schedule("constant+warmup(0.5,shape=cosine)", 4)
    np.testing.assert_allclose(c, [0, 0.5, 1, 1])


def test_onecycle_and_restarts():
    m = schedule("onecycle(pct=0.5,div=10,final_div=100)", 10)
    assert m[0] == pytest.approx(0.1) and m[5] == pytest.approx(1.0)
    assert m[-1] < m[6]
    r = schedule("restarts(cycles=2)", 10)
    np.testing.assert_allclose(r[:5], r[5:])
    assert r[0] == 1 and r[5] == 1


def test_peak_scales_and_aliases():
    np.testing.assert_allclose(schedule("cos", 50, peak=3e-4), 3e-4 * shape("cosine", 50))
    assert [t.name for t in parse("sgdr(cycles=3)")] == ["restarts"]


def test_arrays_and_csv(tmp_path):
    np.testing.assert_allclose(schedule([0.5, 1.0, 0.25], 3, peak=2.0), [1.0, 2.0, 0.5])
    np.testing.assert_allclose(shape([2.0, 0.0], 4), [1.0, 0.5, 0.0, 0.0])
    f = tmp_path / "lr.csv"
    f.write_text("step,lr\n1,0.002\n2,0.001\n")
    np.testing.assert_allclose(schedule(f"csv(path={f},column=lr)", 2), [1.0, 0.5])
    f.write_text("step,lr\n1,abc\n")
    with pytest.raises(SpecError, match="line 2, column 'lr'"):
        schedule(f"csv(path={f})", 2)


@pytest.mark.parametrize("spec,message", [
    ("cosin", "unknown schedule 'cosin'; known: constant, cosine"),
    ("wsd(shape=foo)", "parameter 'shape' is 'foo'; allowed: linear, cosine, sqrt"),
    ("cosine(final=2)", "parameter 'final' is 2; it must be <= 1"),
    ("cosine(final=abc)", "parameter 'final' must be a number, got 'abc'"),
    ("cosine(floor=0.1)", "unknown parameter 'floor' for 'cosine'; allowed: final"),
    ("wsd(cooldown=-1)", "parameter 'cooldown' is -1; it must be >= 0"),
    ("warmup(10)", "starts with the modifier 'warmup'"),
    ("cosine+linear", "'linear' is a base schedule and can only come first"),
    ("cosine(final=0.1", "cannot read schedule term"),
    ("", "empty schedule spec"),
    ("restarts(cycles=2.5)", "must be an integer"),
    ("wsd(0.2,sqrt)", "only the first argument may be positional"),
])
def test_spec_errors_name_the_bad_token(spec, message):
    with pytest.raises(SpecError) as err:
        schedule(spec, 10)
    assert message in str(err.value)


@pytest.mark.parametrize("bad", [[], [1.0, -0.1], [np.nan, 1.0], [0.0, 0.0]])
def test_bad_arrays(bad):
    with pytest.raises(ValueError):
        schedule(bad, 2)


def test_bad_steps_and_peak():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        schedule("cosine", 0)
    with pytest.raises(ValueError, match="peak must be a finite positive number"):
        schedule("cosine", 10, peak=-1.0)


def test_lambda_lr_matches_schedule():
    torch = pytest.importorskip("torch")
    from convexlaw.schedules import lambda_lr

    spec, n, peak = "wsd(cooldown=0.3,shape=sqrt)+warmup(5)", 40, 0.05
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = lambda_lr(opt, spec, n)
    seen = []
    for _ in range(n):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(seen, schedule(spec, n, peak), rtol=1e-15)
    assert lr_lambda(spec, n)(10**6) == shape(spec, n)[-1]


_CHUNKED = [
    "linear", "cosine(final=0.1)", "cosine+warmup(0.05)", "wsd(cooldown=0.2,shape=sqrt)",
    "wsd(cooldown=0.3,shape=cosine)+warmup(0.01)", "step(milestones=[0.5,0.75],factor=0.1)",
    "piecewise(values=[1,0.3,0],bounds=[0.25,0.9])", "onecycle", "restarts(cycles=3,mult=2)",
    "exponential(final=0.01)", "rsqrt(warmup=0.1)", "inverse", "poly(power=0.5)", "constant",
]


@pytest.mark.parametrize("spec", _CHUNKED)
def test_chunked_shapes_are_the_whole_array_to_the_bit(spec, monkeypatch):
    # every shape is elementwise in the step: evaluated in chunks of any size, in stripes
    # on threads, it is the same array as evaluated over all steps at once
    from convexlaw.schedules import Shaper, chunks

    fn = Shaper(spec)._fn
    for n in [1, 2, 7, 1000, 3 * chunks.CHUNK + 5, chunks.THREADED + 77]:
        whole = fn(np.arange(n, dtype=np.float64), n)
        top = whole.max()
        whole = whole / top if top != 1.0 else whole
        assert np.array_equal(shape(spec, n), whole), (spec, n)
        monkeypatch.setattr(chunks, "CHUNK", 97)  # chunks cut everywhere, pieces included
        monkeypatch.setattr(chunks, "_BASE", np.arange(97, dtype=np.float64))
        assert np.array_equal(chunks.evaluate(lambda s, n=n: fn(s, n), n, workers=3), whole)
        monkeypatch.undo()


def test_the_steps_handed_to_a_shape_are_known_consecutive_in_o1():
    from convexlaw.schedules import chunks
    from convexlaw.schedules.tables import consecutive

    seen = []

    def probe(s):
        seen.append((chunks.is_step_run(s), chunks.is_step_run(s[3:9]),
                     chunks.is_step_run(s[::2]), chunks.is_step_run(s + 0.0),
                     consecutive(s[::2])))
        return np.ones(s.size)

    chunks.evaluate(probe, 2 * chunks.CHUNK + 11, workers=1)
    assert seen and all(x == (True, True, False, False, False) for x in seen)
    assert not chunks.is_step_run(np.arange(10.0))  # not handed out: the full check decides
    assert consecutive(np.arange(5.0, 9.0)) and not consecutive(np.array([1.0, 1.5, 3.0]))


def test_exponential_by_table_is_the_power_to_a_few_ulp():
    # against exp in long double: the exponent's roundings cost ~ε·|ln final| (np.power's
    # own error is about a third of that), far below anything the bound resolves
    for n, final in [(1000, 0.01), (3 * 2**14 + 5, 1e-6), (10**6, 0.5), (10**6, 1e-300)]:
        s = np.arange(n, dtype=np.float64)
        ref = np.exp(np.log(np.longdouble(final)) * s.astype(np.longdouble) / n)
        got = shape(f"exponential(final={final})", n).astype(np.longdouble)
        assert float(np.max(np.abs(got / ref - 1))) < 4e-16 * (1 - math.log(final)), final


def test_tabulated_shapes_at_sampled_steps_are_the_whole_array_to_the_bit():
    # a value is a function of its step alone: at steps picked out of the run (gathers
    # from the tables) it is the value of the whole run, for the cosine and the exp tables
    from convexlaw.schedules import Shaper

    n = 3 * 2**14 + 11
    picked = np.array([0.0, 5.0, 2.0**14 - 1, 2.0**14, 40000.0, n - 1.0])
    for spec in ("exponential(final=0.01)", "cosine(final=0.1)", "onecycle"):
        fn = Shaper(spec)._fn
        assert np.array_equal(fn(picked, n), fn(np.arange(n, dtype=np.float64), n)[
            picked.astype(int)]), spec
