"""The logic of bench/alternatives.py that decides its table: scores, rules, goals."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from convexlaw.runs import Run

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


am = _load("alt_methods")
alt = _load("alternatives")


def run(train, val=None, fresh=True, status="finished", peak=0.1, seed=0, T=None):
    T = T or len(train)
    curves = {"train": (np.arange(1, len(train) + 1), np.asarray(train, float))}
    if val is not None:
        curves["val"] = ([T], [val])
    return Run(f"r{peak}-{seed}-{status}", lrs=np.full(T, peak), curves=curves, peak_lr=peak,
               seed=seed, status=status, tags={"fresh_data": fresh, "cpu_time": 2.0})


def test_score_follows_the_data_regime():
    train = np.concatenate([np.full(160, 3.0), np.full(40, 1.0)])  # tail = last 5 steps
    assert am.score(run(train, val=1.7, fresh=True)) == 1.7
    assert am.score(run(train, val=1.7, fresh=False)) == 1.0  # repeats: training loss
    assert am.score(run(train, fresh=True)) == 1.0           # no held-out curve
    assert am.score(run(train, val=1.7, status="diverged")) == math.inf
    assert am.score(run(train, val=float("nan"))) == math.inf


def test_transfer_rules_and_budget():
    assert am.transfer(0.04, 400, 4000, 0.5) == pytest.approx(0.04 / math.sqrt(10))
    assert am.transfer(0.04, 400, 4000, 0.32) == pytest.approx(0.04 * 10 ** -0.32)
    assert am.trial_budget(3000, 400) == (7, False)
    assert am.trial_budget(3000, 3000) == (1, False)
    assert am.trial_budget(3000, 4000) == (1, True)  # one trial, over the budget
    assert am.round_lr(0.0123456) == 0.01235


def test_best_run_skips_diverged_and_needs_one_finished():
    a = run(np.ones(10), val=1.2, peak=0.1)
    b = run(np.ones(10), val=0.9, peak=0.2, status="diverged")
    c = run(np.ones(10), val=1.0, peak=0.4)
    assert am.best_run([a, b, c]) is c
    with pytest.raises(ValueError, match="no run finished"):
        am.best_run([b])


def test_oracle_uses_seed_means_and_only_complete_peaks():
    table = {0.01: {0: 1.10, 1: 1.10}, 0.02: {0: 1.00, 1: 1.06},
             0.04: {0: 0.98, 1: 1.10}, 0.08: {0: 0.5}}  # 0.08 lacks seed 1
    o = am.oracle(table, [0, 1])
    assert o["peak"] == 0.02 and o["loss"] == pytest.approx(1.03) and o["bracketed"]
    assert am.oracle({0.01: {0: 2, 1: 2}, 0.02: {0: 1, 1: 1}}, [0, 1])["bracketed"] is False
    runs = [run(np.ones(5), val=v, peak=p, seed=s) for p, s, v in
            ((0.01, 0, 1.2), (0.01, 1, 1.3), (0.02, 0, 1.0), (0.02, 1, math.nan))]
    assert am.grid_table(runs) == {0.01: {0: 1.2, 1: 1.3}, 0.02: {0: 1.0, 1: math.inf}}
    assert am.compute(runs) == {"steps": 20, "cpu": 8.0, "runs": 4}


def test_regret_is_paired_and_relative():
    r = am.regrets({0: 1.02, 1: 0.99}, {0: 1.0, 1: 0.98})
    assert r["mean"] == pytest.approx(1.005 / 0.99 - 1)
    assert r["per_seed"][0] == pytest.approx(0.02)
    assert r["per_seed"][1] == pytest.approx(0.01 / 0.98)
    assert am.compare({0: 0.0, 1: 0.0}, {0: 0.01, 1: 0.01}) == "lower"
    assert am.compare({0: 0.02, 1: 0.0}, {0: 0.01, 1: 0.01}) == "within noise"


def _row(key, mean, per_seed, steps=1000, cpu=10.0, eta=0.01):
    return {"key": key, "method": key, "eta": eta, "mean": mean, "per_seed": per_seed,
            "steps_frac": steps / 32000, "cpu_frac": cpu / 400}


def test_goals_are_reported_as_measured():
    rows = [_row("plan", 0.004, {0: 0.003, 1: 0.005}, steps=3000, cpu=20),
            _row("lrf", 0.03, {0: 0.03, 1: 0.03}),
            _row("sqrt", 0.002, {0: 0.006, 1: -0.002}),
            _row("grid", 0.0, {0: 0.0, 1: 0.0}, steps=32000, cpu=400)]
    g = alt.goals(rows)
    assert g["regret"]["met"] and g["compute"]["met"]
    assert not g["best"]["met"] and g["best"]["below"] == ["lrf"]
    assert g["best"]["not_below"] == [{"method": "sqrt", "regret": 0.002,
                                       "seeds": "within noise"}]
    rows[0] = _row("plan", 0.004, {0: 0.003, 1: 0.005}, steps=3500, cpu=20)  # 10.9 % steps
    assert not alt.goals(rows)["compute"]["met"]
    rows[0] = {"key": "plan", "method": "plan", "eta": None, "steps_frac": 0.1, "cpu_frac": 0.1}
    assert not any(v["met"] for v in alt.goals(rows).values())


def test_cell_optimum_per_seed_and_of_the_seed_means():
    cause = _load("alt_cause")
    # loss = 1 + (ln η − ln η0)², η0 = 0.02 at seed 0 and 0.04 at seed 1: parabolas in ln η
    peaks = [0.01, 0.02, 0.04, 0.08]
    runs = [run(np.ones(4), val=1 + math.log(p / e0) ** 2, peak=p, seed=s, T=4)
            for s, e0 in ((0, 0.02), (1, 0.04)) for p in peaks]
    c = cause.optimum(runs, [0, 1])
    assert c["per_seed"][0] == pytest.approx(0.02) and c["per_seed"][1] == pytest.approx(0.04)
    assert c["eta_star"] == pytest.approx(math.sqrt(0.02 * 0.04))  # mean of two parabolas
    assert c["bracketed"] and c["table"]["0.01"] == {0: 1 + math.log(0.5) ** 2,
                                                     1: 1 + math.log(0.25) ** 2}


def test_plan_note_names_who_gave_eta_and_who_gave_the_loss():
    plan = {"eta": 0.007, "eta_source": "curve convex-ed-peak", "loss_source": "law distance",
            "variant": "distance", "kappa": -0.43, "eta_interval": [0.005, 0.01],
            "loss_pred": 0.37, "fit_cpu": 1.0}
    rows = [{"key": "plan", "loss": 0.36, "detail": plan},
            {"key": "sqrt", "detail": {"from": {"peak": 0.02, "T": 400, "loss": 0.5}}},
            {"key": "lrf", "detail": {"suggestion": 0.04, "suggestion_seed1": 0.05}}]
    rows += [{"key": k, "detail": {"n_trials": 1, "over_budget": False, "trials": []}}
             for k in ("optuna_a", "optuna_b")]
    line = alt.notes({"rows": rows})[0]
    assert "η* from curve convex-ed-peak (κ = -0.43), L* from law distance" in line
    del plan["eta_source"]  # a result file written before the source was recorded
    assert "η* from a forecaster not recorded" in alt.notes({"rows": rows})[0]
