"""bench/design_fit.py: the evaluation weights and the gap criterion of the design bench."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from convexlaw.curve import ConvexModel
from convexlaw.runs import Run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from design_fit import gap_error, weighted  # noqa: E402

T = 100


def run(schedule: str, peak: float, seed: int = 0, loss: float = 1.0) -> Run:
    steps = np.arange(10, T + 1, 10)
    lrs = np.full(T, peak) if schedule == "constant" else peak * (1 - np.arange(T) / T)
    r = Run(name=f"{schedule}/{peak}/{seed}", lrs=lrs,
            curves={"val": (steps, loss + 1.0 / steps)}, peak_lr=peak, schedule=schedule,
            seed=seed)
    return r


def counts(runs: list) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in runs:
        for t in r.curve("val")[0]:
            out[int(t)] = out.get(int(t), 0) + 1
    return out


def test_late_weights_are_one_plus_four_t_over_T():
    c = counts(weighted([run("linear", 0.1)], "val", "late"))
    assert c == {t: 1 + (4 * t) // T for t in range(10, T + 1, 10)}
    assert c[10] == 1 and c[50] == 3 and c[100] == 5


def test_end_keeps_the_last_fifth_and_all_keeps_everything():
    assert counts(weighted([run("linear", 0.1)], "val", "end")) == {80: 1, 90: 1, 100: 1}
    rs = [run("linear", 0.1), run("constant", 0.1)]
    assert weighted(rs, "val", "all") == rs


def test_unknown_weights_name_the_value():
    with pytest.raises(ValueError, match="'heavy'"):
        weighted([run("linear", 0.1)], "val", "heavy")


def test_gap_error_pairs_schedules_at_equal_peaks():
    """Measured gap (linear − constant) 0.02 at peak 0.1, −0.01 at 0.2 (seed means); a
    model predicting exactly those has RMS 0 and slope 1; twice them, slope 2."""
    runs = [run("constant", 0.1, s, 1.0) for s in (0, 1)] + [
        run("linear", 0.1, 0, 1.01), run("linear", 0.1, 1, 1.03),
        run("constant", 0.2, 0, 0.9), run("linear", 0.2, 0, 0.89),
        run("linear", 0.4, 0, 0.5)]  # no constant run at 0.4: not paired
    truth = {("constant", 0.1): 1.0, ("linear", 0.1): 1.02, ("constant", 0.2): 0.9,
             ("linear", 0.2): 0.89, ("linear", 0.4): 0.5}

    def final(r):
        return float(r.curve("val")[1][-1])

    def predict(scale):
        def f(model, lrs, peak):
            kind = "constant" if np.ptp(lrs) == 0 else "linear"
            base = truth[("constant", peak)] if ("constant", peak) in truth else 0.0
            return base + scale * (truth[(kind, peak)] - base)
        return f

    model = ConvexModel.from_params({"L_inf": 0.0, "D2": 1.0, "G2": 1.0})
    exact = gap_error(model, runs, "constant", final, predict(1.0))
    assert [p["peak"] for p in exact["pairs"]] == [0.1, 0.2]
    assert np.allclose([p["measured"] for p in exact["pairs"]], [0.02, -0.01])
    assert exact["rms"] == pytest.approx(0.0, abs=1e-12)
    assert exact["slope"] == pytest.approx(1.0)
    double = gap_error(model, runs, "constant", final, predict(2.0))
    assert double["slope"] == pytest.approx(2.0)


def test_step_weights_count_absolute_steps():
    """w(t) = ⌈t/200⌉: a 400-step run's points up to 200 once, the later ones twice."""
    steps = np.arange(40, 401, 40)
    r = Run(name="r", lrs=0.1 * (1 - np.arange(400) / 400), curves={"val": (steps, 1 + 1 / steps)},
            peak_lr=0.1, schedule="linear", seed=0)
    c = counts(weighted([r], "val", "step"))
    assert c == {int(t): -(-int(t) // 200) for t in steps}
