"""The size split (``convexlaw.laws.sizesplit``): a plan beyond the largest pilot size is
chosen by how well the smaller sizes predict the largest; parameter recovery on synthetic
sized sweeps with diverged runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convexlaw import bound_terms, schedule
from convexlaw.forecasters import LawForecaster
from convexlaw.laws import LawData, SizeLaw
from convexlaw.laws.selection import bound_flags
from convexlaw.laws.sizesplit import size_optimum_error, size_split
from convexlaw.plan import make_plan
from convexlaw.runs import Run

SIZES = (1e4, 2e4, 4e4, 8e4)
HORIZONS = (200, 400, 800)
N_REF = math.exp(np.mean(np.log(SIZES)))
# truth: the distance variant, L∞(N) = E + A·n^(−α), q1 = Q1·n^β1, q2 = Q2·n^β2
E, A, ALPHA, Q1, B1, Q2, B2, C = 0.30, 0.10, 0.5, 0.8, -0.05, 2.0, -0.1, 0.4


def truth(T: int, peak: float, N: float) -> float:
    n = N / N_REF
    X, Y = bound_terms(schedule("cosine", T, 1.0), at=[T])
    q1, q2 = Q1 * n ** B1, Q2 * n ** B2
    return float(E + A * n ** -ALPHA + q1**2 * X[0] ** (1 - C) * peak ** (C - 1)
                 + q2**2 * Y[0] * peak)


def truth_optimum(T: int, N: float) -> tuple[float, float]:
    grid = np.geomspace(1e-3, 10.0, 20001) / math.sqrt(T)
    L = np.array([truth(T, p, N) for p in grid[::20]])
    i = int(np.argmin(L))
    fine = grid[max(0, 20 * i - 40):20 * i + 40]
    Lf = np.array([truth(T, p, N) for p in fine])
    return float(fine[np.argmin(Lf)]), float(Lf.min())


def sweep(sizes=SIZES, diverged: bool = True) -> list[Run]:
    runs = []
    for N in sizes:
        for T in HORIZONS:
            for e in (0.05, 0.1, 0.2, 0.4, 0.8):
                p = e / math.sqrt(T)
                runs.append(Run(f"N={N:g}/T={T}/p={p:.4g}", lrs=schedule("cosine", T, p),
                                peak_lr=p, schedule="cosine", N=N, id=f"{N:g}-{T}-{e}",
                                curves={"val": (np.array([T]), np.array([truth(T, p, N)]))}))
            if diverged:  # a blown-up pilot at 8× the largest peak: left out, reported
                p = 6.4 / math.sqrt(T)
                runs.append(Run(f"N={N:g}/T={T}/p={p:.4g}", lrs=schedule("cosine", T, p),
                                peak_lr=p, schedule="cosine", N=N, id=f"{N:g}-{T}-div",
                                status="diverged", curves={"val": (np.array([T // 2]),
                                                                   np.array([math.inf]))}))
    return runs


def test_size_split_holds_out_the_largest_size():
    runs = sweep(diverged=False)
    sp = size_split(runs, 1e6)
    assert sp is not None and sp.kind == "size"
    assert {r.N for r in sp.fit} == set(SIZES[:-1])
    assert {r.N for r, _ in sp.test} == {SIZES[-1]}
    assert size_split(runs, SIZES[-1]) is None          # not beyond the pilots
    assert size_split(sweep(SIZES[:2], False), 1e6) is None  # two sizes: refit impossible
    assert size_split(runs, None) is None


def test_size_optimum_error_of_the_truth_is_zero_and_of_a_wrong_law_is_not():
    runs = sweep(diverged=False)
    sp = size_split(runs, 1e6)
    right = LawForecaster("distance", "val").fit(sp.fit)
    wrong = LawForecaster("literal", "val").fit(sp.fit)
    ok, bad = size_optimum_error(right, sp, "val"), size_optimum_error(wrong, sp, "val")
    assert [c["T"] for c in ok["cells"]] == list(HORIZONS)
    # the measured optimum is a parabola through grid points ×2 apart: a few % in η*
    assert ok["loss_error"] < 2e-3 and ok["eta_ratio"] < 1.08
    assert bad["score"] > 2 * ok["score"]


def test_plan_beyond_the_pilot_sizes_is_chosen_on_the_size_split():
    runs = sweep()
    target_N, T = 8e5, 800           # 10× the largest pilot, at a pilot horizon
    plan = make_plan(runs, T, size=target_N, kind="val", n_boot=0)
    law_rows = [c for c in plan.candidates if c["source"] == "law" and c["k"]]
    assert law_rows and all(c["split"] == "size" for c in law_rows)
    assert {c["scored_by"] for c in law_rows} == {
        "optima at every horizon of the largest pilot size"}
    assert plan.variant == "distance"
    assert any("diverged" in d["reason"] for d in plan.left_out)
    e_true, L_true = truth_optimum(T, target_N)
    assert plan.eta_star == pytest.approx(e_true, rel=0.02)
    assert plan.loss_star == pytest.approx(L_true, rel=2e-3)
    law = plan.laws["distance"]
    assert law.params_["c"] == pytest.approx(C, abs=0.02)
    assert law.params_["beta1"] == pytest.approx(B1, abs=0.02)
    assert law.params_["beta2"] == pytest.approx(B2, abs=0.02)


def test_size_law_bound_on_the_shared_linf_form_is_warned_not_flagged():
    # L∞ independent of N: the offset form's A → 0 and α goes wherever (a bound)
    runs = sweep(diverged=False)
    data = LawData.from_runs(runs, points="final", kind="val")
    flat = data.loss - (A * (data.N / N_REF) ** -ALPHA)
    data.loss = flat
    law = SizeLaw(variant="distance", n_boot=0, linf="offset").fit(data)
    shared = [p for p in law.at_bound_ if p in ("E", "A", "alpha")]
    assert shared, law.params_
    assert not any(f.split(" ")[0] in shared for f in bound_flags(law))
    assert any("sits at its bound" in w for w in law.warnings_)


def test_plan_inside_the_pilot_sizes_keeps_the_horizon_split():
    plan = make_plan(sweep(diverged=False), 800, size=SIZES[1], kind="val", n_boot=0,
                     variants=("literal", "distance"))
    rows = [c for c in plan.candidates if c["source"] == "law" and c["k"]]
    assert rows and all(c["split"] == "horizon" for c in rows)
