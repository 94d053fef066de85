"""The qualifying exam: verdicts theory expects, constants with closed forms."""

import math
from functools import lru_cache

import numpy as np
import pytest

from convexlaw.exam import BUILTIN_FAMILIES
from convexlaw.exam import exam as _exam

exam = lru_cache(maxsize=None)(_exam)  # each family examined once per session


@pytest.mark.parametrize("spec", [
    "linear", "cosine", "cosine+warmup(0.05)", "wsd(cooldown=0.2)",
    "wsd(cooldown=0.2,shape=sqrt)", "poly(power=2)",
])
def test_families_that_qualify(spec):
    r = exam(spec)
    assert r.verdict == "pass", r.summary()
    assert r.limit is not None and 2.0 - 1e-9 <= r.limit < 2.5  # linear decay is the optimum
    assert r.c == pytest.approx(1 / r.k**2)


@pytest.mark.parametrize("spec,growth", [
    ("constant", "√(log T)"), ("cosine(final=0.1)", "√(log T)"), ("rsqrt", "√(log T)"),
    ("inverse", "T^"),
])
def test_families_that_fail(spec, growth):
    r = exam(spec)
    assert r.verdict == "fail", r.summary()
    assert r.growth.startswith(growth)
    assert r.scaled_bound[-1] > r.scaled_bound[0]


def test_closed_forms():
    lin = exam("linear")
    assert lin.limit == pytest.approx(2.0, abs=1e-4)  # 2DG
    assert lin.k == pytest.approx(1.0, abs=1e-3)  # η* = D/(G√T)
    # constant LR: √T·Ω*_T = DG·√(1 + H_{T−1}) exactly
    const = _exam("constant", horizons=[10, 100, 1000])
    H = [np.sum(1 / np.arange(1, T)) for T in (10, 100, 1000)]
    np.testing.assert_allclose(const.scaled_bound, np.sqrt(1 + np.array(H)), rtol=1e-12)
    # poly(p): η* = D√(p+1)… closed-form peak constant k = √(2/(p+1))·… measured: p=2 → √2
    assert exam("poly(power=2)").k == pytest.approx(math.sqrt(2), rel=1e-3)


def test_builtin_expectations_hold():
    for spec, expected in BUILTIN_FAMILIES.items():
        assert exam(spec).verdict == expected, spec


def test_zero_final_lr_is_noted():
    r = _exam("piecewise(values=[1,0],bounds=[0.9])", horizons=[100, 1000, 10000])
    assert r.notes and "last step with a positive learning rate" in r.notes[0]


def test_bad_horizons():
    with pytest.raises(ValueError, match="horizons must be"):
        _exam("linear", horizons=[100, 10])
