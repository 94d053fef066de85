"""convexlaw.curve.replicates: run-to-run noise from prefix replicates (known noise, the
published 124M runs, bad input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convexlaw import schedule
from convexlaw.curve.replicates import agreement_step, replicate_noise
from convexlaw.runs import Run, load_runs

DATA = Path("/work/shared/data/lr-scheduling-124m")


def _pair(sigma: float, seed: int, T: tuple[int, int] = (20000, 30000), peak: float = 1e-3):
    """Two cosine runs of different horizons at one peak (same LRs for their first steps),
    each the same smooth curve times independent noise of relative size sigma."""
    rng = np.random.default_rng(seed)
    out = []
    for n in T:
        st = np.arange(50, n + 1, 50)
        y = (2.5 + 3.0 / np.sqrt(st)) * (1 + sigma * rng.standard_normal(st.size))
        out.append(Run(f"T{n}", lrs=schedule("cosine", n, peak), peak_lr=peak,
                       curves={"val": (st, y)}))
    return out


def test_agreement_step_is_where_the_cosines_part():
    a, b = schedule("cosine", 20000, 1.0), schedule("cosine", 30000, 1.0)
    t = agreement_step(a, b, 0.01)
    rel = np.abs(a[:20000] / b[:20000] - 1)  # step t is index t − 1
    assert rel[:t].max() <= 0.01 < rel[t]
    # small-angle closed form: 1 − (πt)²(1/20000² − 1/30000²)/4 = 0.99 at t ≈ 1 708
    assert abs(t - 1708) <= 2
    assert agreement_step(a, a, 0.0) == 20000 and agreement_step(a, 2 * a, 0.4) == 0


@pytest.mark.parametrize("sigma", [5e-4, 2e-3])
def test_recovers_a_known_run_to_run_noise(sigma):
    est = [replicate_noise(_pair(sigma, seed), "val", after=0)["sigma_run"]
           for seed in range(5)]
    # ~80 points a pair, 5 pairs: the pooled estimate is within 10 % of the truth
    assert np.mean(est) == pytest.approx(sigma, rel=0.10)


def test_no_pair_without_a_shared_peak_or_prefix():
    a, b = _pair(1e-3, 0)
    c = Run("other-peak", lrs=b.lrs * 2, peak_lr=2e-3, curves=b.curves)
    r = replicate_noise([a, c], "val")
    assert r["pairs"] == [] and r["sigma_run"] is None


@pytest.mark.parametrize("kw, msg", [({"lr_tol": -0.1}, "lr_tol must be >= 0"),
                                     ({"after": -5}, "after must be a step >= 0")])
def test_bad_input_names_the_value(kw, msg):
    with pytest.raises(ValueError, match=msg):
        replicate_noise(_pair(1e-3, 0), "val", **kw)


@pytest.mark.skipif(not DATA.exists(), reason="shared data not present")
def test_noise_floor_of_the_published_124m_runs():
    """The cos-zero and cos-10 runs at T = 25k share their first ~5 140 steps (LRs within
    1 %): four prefix replicates. After step 1000 one run's loss scatters by 0.040 % —
    an order of magnitude below the 0.5 % goal on the final losses."""
    runs = load_runs(sorted(str(p) for p in DATA.glob("*.json")))
    r = replicate_noise(runs, "val", after=1000)
    assert len(r["pairs"]) == 4
    assert {p["peak"] for p in r["pairs"]} == {1e-4, 5e-4, 1e-3, 2e-3}
    assert all(5100 <= p["until"] <= 5200 for p in r["pairs"])
    assert r["sigma_run"] == pytest.approx(3.98e-4, rel=0.01)
    # the first steps (warm-up transient) are far noisier
    assert replicate_noise(runs, "val", after=0)["sigma_run"] > 2.5 * r["sigma_run"]
