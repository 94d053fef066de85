"""convexlaw.curve.burnin and .holdout: the burn-in selector on curves with a known
burn-in, the stored onset, the explicit option, held-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from convexlaw import schedule
from convexlaw.curve import ConvexED, ConvexModel
from convexlaw.curve.burnin import (
    curve_noise,
    default_starts,
    resolve_burn_in,
    select_burn_in,
    stored_onset,
)
from convexlaw.curve.holdout import make_splits, score_split
from convexlaw.runs import Run

TRUTH = ConvexED.from_params({"L_inf": 2.0, "D2": 0.6, "G2": 30.0, "c": 0.5})


def known_burn_in(peak: float, t0: int, T: int = 3000, noise: float = 3e-4,
                  seed: int = 0, every: int = 20) -> Run:
    """A cosine run on the model after t0; before t0 the loss is off the model, by 15 %
    at step 0 falling linearly to 0 at t0 (the non-convex start)."""
    lrs = schedule("cosine+warmup(50)", T, peak)
    st = np.arange(every, T + 1, every)
    y = TRUTH.predict(lrs, st) * (1 + 0.15 * np.clip(1 - st / t0, 0, None))
    y *= np.exp(np.random.default_rng(seed).normal(0, noise, st.size))
    return Run(f"p{peak}", lrs=lrs, peak_lr=peak, schedule="cosine+warmup(50)",
               curves={"val": (st, y)})


STARTS = (0, 100, 200, 300, 400, 600, 900)


@pytest.mark.parametrize("t0", [200, 400])
def test_selector_finds_a_known_burn_in(t0):
    runs = [known_burn_in(p, t0, seed=i) for i, p in enumerate((3e-3, 1e-2, 3e-2))]
    b = select_burn_in(runs, ConvexED(), starts=STARTS)
    assert b.step == t0 and b.source == "selector"
    rows = {r["start"]: r for r in b.evidence}
    assert not rows[0]["within"] and rows[t0]["within"]
    # starting too early costs a held-out error far above the noise
    assert rows[0]["holdout_PredE"] > 5 * rows[t0]["holdout_PredE"]
    assert b.noise == pytest.approx(3e-4, rel=0.5)


def test_selector_with_two_horizons_uses_the_horizon_split():
    runs = [known_burn_in(p, 300, T=T, seed=i)
            for i, (T, p) in enumerate((T, p) for T in (1500, 3000) for p in (3e-3, 1e-2, 3e-2))]
    b = select_burn_in(runs, ConvexED(), starts=STARTS)
    assert b.step == 300 and "horizon split" in b.rule


def test_stored_onset_wins_and_option_overrides():
    runs = [known_burn_in(p, 300) for p in (3e-3, 1e-2)]
    for r, t0 in zip(runs, (250, 320), strict=True):
        r.tags["convexity"] = {"t0": t0}
    assert [stored_onset(r) for r in runs] == [250, 320]
    b = resolve_burn_in(runs, "auto", ConvexED())
    assert (b.step, b.source) == (320, "onset") and "p0.01" in b.rule
    b = resolve_burn_in(runs, 150, ConvexED())
    assert (b.step, b.source) == (150, "option")
    runs[0].tags["convexity"] = {"t0": None}  # one run without an onset: the selector
    b = resolve_burn_in(runs, None, ConvexModel(), starts=(0, 300))
    assert b.source == "selector"


@pytest.mark.parametrize("bad", [-1, "soon", 2.5, True])
def test_bad_burn_in(bad):
    with pytest.raises(ValueError, match="burn-in"):
        resolve_burn_in([known_burn_in(1e-2, 300)], bad, ConvexED())


def test_default_starts_and_noise():
    runs = [known_burn_in(1e-2, 300, T=2000, noise=1e-3)]
    assert default_starts(runs) == [0, 20, 40, 80, 160, 320]
    assert curve_noise(runs) == pytest.approx(1e-3, rel=0.3)


def test_splits_and_scores():
    runs = [known_burn_in(p, 1, T=T) for T in (1000, 2000) for p in (3e-3, 1e-2, 3e-2)]
    (h,) = make_splits(runs, "auto")
    assert h.kind == "horizon" and len(h.fit) == 3 and all(r.T == 2000 for r, _ in h.test)
    tails = make_splits(runs, "tail", max_tests=2)
    assert [r.peak_lr for sp in tails for r, _ in sp.test] == [3e-3, 3e-2]
    sp = tails[0]
    held = next(r for r in sp.fit if r.peak_lr == 3e-3)
    assert held.curve("val")[0].max() == 1000 and len(sp.fit) == 6
    exact = score_split(lambda run, st: TRUTH.predict(run, st), sp)
    assert exact["PredE"] < 1e-3 and exact["final"] < 1e-3
    off = score_split(lambda run, st: 1.01 * TRUTH.predict(run, st), sp)
    assert off["final"] == pytest.approx(0.01, abs=1.2e-3)
    with pytest.raises(ValueError, match="two or more horizons"):
        make_splits(runs[:3], "horizon")
    with pytest.raises(ValueError, match="tail must be"):
        make_splits(runs, "tail", tail=1.5)
