"""Laws on real-sweep shapes: diverged rows, edge-of-stability peaks, flagged variants,
run screening, and the empirical peers (power law, literal √T rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convexlaw import schedule
from convexlaw.laws import HorizonLaw, LawData, compare_variants, fit_table
from convexlaw.laws.peers import LiteralRule, PowerLawPeer, cell_optima
from convexlaw.laws.screen import edge_trim, screen_runs
from convexlaw.laws.selection import law_flags
from convexlaw.runs import Run

HORIZONS = np.array([1e3, 2e3, 4e3, 8e3])
# 10 peaks per cell, ×2 apart, from far below the optimum (≈ 1e-2 … 5e-3) to far above
PEAKS = 1e-3 * 2.0 ** np.arange(10)


def law_loss(T, eta, c=0.0, a=0.0, gamma=0.0, t_ref=2828.4271247, L=2.0, q1=1.0, q2=4.5):
    excess = q1**2 * (1 / T) ** (1 - c) * eta ** (c - 1) + q2**2 * (T / t_ref) ** (2 * a) * eta
    return L + excess * (eta / 8e-3) ** gamma


TRUE = {"literal": {}, "distance": {"c": 0.5}, "gradient": {"a": -0.15},
        "peak": {"gamma": 0.2}, "distance+gradient": {"c": 0.4, "a": -0.1},
        "distance+peak": {"c": 0.4, "gamma": 0.2}}


def sweep_table(path, variant, seed=0):
    """A Step-Law-shaped sweep: the two largest peaks of every cell diverge (NaN), the
    third largest sits at the edge of stability (final loss ×1.25)."""
    rng = np.random.default_rng(seed)
    lines = ["N,T,peak_lr,loss"]
    for T in HORIZONS:
        for i, p in enumerate(PEAKS):
            v = law_loss(T, p, **TRUE[variant]) * math.exp(rng.normal(0, 0.001))
            if i >= 8:
                text = "nan" if i == 8 else "diverged"
            else:
                text = f"{v * (1.25 if i == 7 else 1.0):.6f}"
            lines.append(f"1e8,{T:g},{p:g},{text}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("variant", list(TRUE))
def test_each_variant_recovered_from_a_sweep_with_diverged_and_edge_points(tmp_path, variant):
    rec = fit_table(sweep_table(tmp_path / "s.csv", variant), variant=variant, n_boot=0)
    reasons = [d["reason"] for d in rec["left_out"]]
    assert sum(r.startswith("diverged") for r in reasons) == 8  # 2 per cell
    edge = [d for d in rec["left_out"] if d["reason"].startswith("edge of stability")]
    assert sorted(d["peak"] for d in edge) == [PEAKS[7]] * 4
    law = HorizonLaw.from_dict(rec["laws"][variant])
    p = law.params_
    assert p["L_inf"] == pytest.approx(2.0, rel=0.01)
    for name, value in TRUE[variant].items():
        assert p[name] == pytest.approx(value, abs=0.05), name
    # what matters: η* and L* 8× beyond the longest pilot
    truth = HorizonLaw(variant=variant, n_boot=0)
    grid = np.geomspace(1e-4, 1e-1, 20001)
    true_loss = law_loss(64e3, grid, **TRUE[variant])
    e, L = law.optimal_peak(64e3)
    assert e[0] == pytest.approx(grid[np.argmin(true_loss)], rel=0.08)
    assert L[0] == pytest.approx(true_loss.min(), rel=2e-3)
    assert truth.variant == variant


def test_without_screening_the_edge_points_bend_the_law(tmp_path):
    path = sweep_table(tmp_path / "s.csv", "distance")
    raw = HorizonLaw.from_dict(fit_table(path, "distance", n_boot=0, screen=False)
                               ["laws"]["distance"])
    clean = HorizonLaw.from_dict(fit_table(path, "distance", n_boot=0)["laws"]["distance"])
    assert abs(clean.params_["c"] - 0.5) < abs(raw.params_["c"] - 0.5)


def test_a_variant_with_eta_rising_in_T_is_not_chosen():
    # G_t ∝ t^a with a = −0.7: κ = −(1 + 2a)/2 = +0.2, the optimal peak rises with T
    T, eta = np.meshgrid(HORIZONS, PEAKS[:7], indexing="ij")
    loss = law_loss(T.ravel(), eta.ravel(), a=-0.7)
    data = LawData.from_arrays(T=T.ravel(), peak=eta.ravel(), loss=loss)
    law = HorizonLaw(variant="gradient", n_boot=0).fit(data)
    assert law.kappa() == pytest.approx(0.2, abs=0.02)
    assert any("rises with the horizon" in f for f in law_flags(law))
    rows, chosen = compare_variants(data, ("literal", "gradient"), n_boot=0)
    by = {r["variant"]: r for r in rows}
    assert by["gradient"]["holdout_PredE"] < by["literal"]["holdout_PredE"]
    assert chosen == "literal"
    assert any("gradient scored better but is not chosen" in n for n in by["literal"]["notes"])


def test_a_parameter_at_its_bound_is_flagged():
    T, eta = np.meshgrid(HORIZONS, PEAKS[:7], indexing="ij")
    loss = law_loss(T.ravel(), eta.ravel(), gamma=1.5)  # beyond γ's bound 0.9
    law = HorizonLaw(variant="peak", n_boot=0).fit(
        LawData.from_arrays(T=T.ravel(), peak=eta.ravel(), loss=loss))
    assert "gamma" in law.at_bound_
    assert any(f.startswith("gamma = 0.9 at its bound") for f in law_flags(law))


def _run(name, losses, status="finished", T=100, tags=None):
    st = np.linspace(10, T, len(losses)).astype(int)
    return Run(name, lrs=schedule("cosine", T, 0.1), peak_lr=0.1, status=status,
               curves={"val": (st, np.asarray(losses, float))}, tags=tags or {})


def test_screen_runs_names_each_reason():
    good = _run("good", np.linspace(3.0, 2.0, 10))
    runs = [good,
            _run("div", [3.0, 2.8, np.nan], status="diverged", tags={"diverged_at": 30}),
            _run("nan", [3.0, 2.8, np.inf, 2.0]),
            _run("flat", np.full(10, 3.0)),
            _run("const", np.linspace(3.0, 2.0, 10), tags={"beats_constant": False}),
            _run("spike", [3.0, 2.6, 2.4, 3.9, 2.3, 2.2, 2.1, 2.1]),
            _run("rising", [3.0, 2.5, 2.2, 2.1, 2.15, 2.2])]
    noisy = _run("noisy", [3.0, 2.5, 2.2, 2.5, 2.0, 2.3, 1.9, 2.1, 1.85, 1.8])  # small batches
    kept, out = screen_runs([*runs, noisy])
    assert kept == [good, noisy]
    why = {d["name"]: d["reason"] for d in out}
    assert why["div"] == "diverged at step 30"
    assert why["nan"].startswith("loss not finite from step")
    assert why["flat"].startswith("no progress")
    assert why["const"].startswith("no better than the constant predictor")
    assert why["spike"].startswith("unstable: the loss rose 62 %")
    assert "no recovery" in why["rising"]


def test_edge_trim_keeps_a_clean_sweep_whole():
    T, eta = np.meshgrid(HORIZONS, PEAKS[:8], indexing="ij")
    loss = law_loss(T.ravel(), eta.ravel(), c=0.5) * np.exp(
        np.random.default_rng(3).normal(0, 0.002, T.size))
    keep, notes = edge_trim(LawData.from_arrays(T=T.ravel(), peak=eta.ravel(), loss=loss))
    assert keep.size == T.size and notes == []


# ------------------------------------------------------------------------ peers
def test_power_law_peer_recovers_power_laws():
    Ts = np.array([1e3, 2e3, 4e3, 8e3, 16e3])
    Ns = np.array([1e6, 1e7, 1e8])
    rows = []
    for N in Ns:
        for T in Ts:
            e_star = 0.3 * T ** -0.3 * N ** -0.2
            L_star = 1.5 + 40.0 * N ** -0.3 + 6.0 * T ** -0.4
            for k in (-2, -1, 0, 1, 2):  # a parabola in log η around the optimum
                rows.append((T, N, e_star * 2.0 ** k, L_star + 0.01 * (k * math.log(2)) ** 2))
    T, N, P, L = map(np.array, zip(*rows, strict=True))
    cells = cell_optima(T, P, L, N)
    assert len(cells) == 15 and all(c["bracketed"] for c in cells)
    peer = PowerLawPeer().fit(cells)
    assert peer.eta_["b_T"] == pytest.approx(-0.3, abs=1e-6)
    assert peer.eta_["b_N"] == pytest.approx(-0.2, abs=1e-6)
    assert peer.loss_["beta"] == pytest.approx(0.4, abs=0.02)
    assert peer.loss_["alpha"] == pytest.approx(0.3, abs=0.02)
    f = peer.forecast(128e3, 1e9)
    assert f["eta_star"] == pytest.approx(0.3 * 128e3 ** -0.3 * 1e9 ** -0.2, rel=1e-6)
    assert f["loss_star"] == pytest.approx(1.5 + 40 * 1e9 ** -0.3 + 6 * 128e3 ** -0.4,
                                           rel=2e-3)
    lit = LiteralRule().fit(cells)
    assert lit.eta_["b_T"] == -0.5 and lit.eta_["b_N"] == 0.0
    assert lit.forecast(4e3, 1e9)["eta_star"] / lit.forecast(16e3, 1e9)["eta_star"] == \
        pytest.approx(2.0)


def test_peers_refuse_what_one_horizon_cannot_tell():
    cells = cell_optima([1e3] * 3, [0.01, 0.02, 0.04], [2.2, 2.1, 2.3])
    with pytest.raises(ValueError, match="two or more values of T"):
        PowerLawPeer().fit(cells)
    f = LiteralRule().fit(cells).forecast(4e3)
    assert f["eta_star"] == pytest.approx(cells[0]["eta_star"] / 2)
    assert f["loss_star"] is None and any("two or more horizons" in n for n in f["notes"])
    # a diverged largest peak brackets the optimum; an all-diverged cell has none
    cells = cell_optima([1e3] * 3 + [2e3] * 2, [0.01, 0.02, 0.04, 0.01, 0.02],
                        [2.2, 2.1, math.inf, math.nan, math.inf])
    assert len(cells) == 1 and cells[0]["bracketed"]


def test_cli_laws_fit_reports_what_was_left_out(tmp_path):
    import json

    from typer.testing import CliRunner

    from convexlaw.cli import app

    path = sweep_table(tmp_path / "s.csv", "distance")
    res = CliRunner().invoke(app, ["laws", "fit", str(path), "--out", str(tmp_path / "l.json"),
                                   "--boot", "0", "--variant", "distance"])
    assert res.exit_code == 0, res.output
    assert res.output.count("left out") == 12 and "edge of stability" in res.output
    res = CliRunner().invoke(app, ["laws", "fit", str(path), "--out", str(tmp_path / "l.json"),
                                   "--boot", "0", "--variant", "distance", "--json"])
    d = json.loads(res.output)
    assert len(d["left_out"]) == 12


def test_a_schedule_whose_runs_were_all_left_out_does_not_break_the_fit():
    """Shape mode with two schedules; every run of the second is left out (as screening
    does with a schedule of only diverged or plateaued runs): the gradient variant, which
    evaluates log y(a) per shape, fits the remaining schedule alone."""
    runs = []
    for T in (200, 400, 800):
        for p in (0.02, 0.04, 0.08, 0.16, 0.32):
            s = schedule("cosine", T, 1.0)
            L = law_loss(T, p, a=-0.15, t_ref=400.0)
            runs.append(Run(f"c{T}-{p}", lrs=p * s, peak_lr=p, schedule="cosine",
                            curves={"val": ([T // 2, T], [1.1 * L, L])}))
    w = schedule("wsd(cooldown=0.2)", 300, 1.0)
    runs.append(Run("wsd", lrs=0.05 * w, peak_lr=0.05, schedule="wsd(cooldown=0.2)",
                    curves={"val": ([150, 300], [3.0, 2.9])}))
    data = LawData.from_runs(runs)
    wsd = data.group[-1]  # the wsd run's shape: the last run's
    kept = data.subset(np.flatnonzero(data.group != wsd))
    assert len(kept.shapes) == len(data.shapes) and wsd not in kept.group
    law = HorizonLaw(variant="gradient").fit(kept)
    assert -1 <= law.params_["a"] <= 1 and np.all(np.isfinite(list(law.params_.values())))
