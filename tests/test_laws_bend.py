"""convexlaw.laws.bend: the curvature of the pilots' measured η*(T), recovered on known
sweeps; and the plan's note when it is significant."""

from __future__ import annotations

import numpy as np
import pytest

from convexlaw.laws.bend import optimum_bend
from convexlaw.laws.peers import cell_optima
from convexlaw.plan.finish import _bend_note

T = np.array([50, 100, 200, 400, 800])


def sweep(eta_star: np.ndarray, seeds: int, noise: float, rng: np.random.Generator):
    """Final losses of a ×√2 grid of peaks around each η*(T): a parabola in ln η (width
    0.5 in ln η per 1 % of loss) plus independent per-run noise; ``seeds`` runs a peak."""
    rows = []
    for t, e in zip(T, eta_star, strict=True):
        for p in e * np.sqrt(2.0) ** np.arange(-3, 4):
            for _ in range(seeds):
                loss = 0.4 * (1 + 0.04 * np.log(p / e) ** 2) * (1 + noise * rng.standard_normal())
                rows.append((t, p, loss))
    return cell_optima(*np.array(rows).T)


def test_a_parabola_in_log_T_is_recovered():
    u = np.log(T / 800.0)
    eta = np.exp(-4.1 - 0.22 * u + 0.07 * u ** 2)
    cells = [{"T": float(t), "N": None, "eta_star": float(e), "bracketed": True,
              "peaks": [float(e)], "losses": [1.0]} for t, e in zip(T, eta, strict=True)]
    b = optimum_bend(cells)
    assert b["q"] == pytest.approx(0.07, abs=1e-12)
    assert b["kappa_end"] == pytest.approx(-0.22, abs=1e-12)
    assert b["noise"] == "residuals" and b["significant"]
    assert b["local"] == pytest.approx(np.diff(np.log(eta)) / np.diff(np.log(T)))


def test_a_power_law_with_seed_noise_does_not_bend():
    rng = np.random.default_rng(3)
    eta = 0.05 * (T / 50.0) ** -0.3
    b = optimum_bend(sweep(eta, seeds=3, noise=0.002, rng=rng))
    assert b["noise"] == "seeds" and all(s is not None and s > 0 for s in b["sigma"])
    assert not b["significant"] and abs(b["q"]) < 2.5 * b["q_se"]
    assert b["kappa_line"] == pytest.approx(-0.3, abs=0.05)


def test_a_strong_bend_is_seen_through_the_seed_noise():
    rng = np.random.default_rng(4)
    u = np.log(T / 800.0)
    eta = np.exp(np.log(0.016) - 0.15 * u + 0.12 * u ** 2)
    b = optimum_bend(sweep(eta, seeds=3, noise=0.001, rng=rng))
    assert b["significant"] and b["q"] == pytest.approx(0.12, abs=3 * b["q_se"])


def test_too_few_horizons_or_unbracketed_cells_give_no_bend():
    rng = np.random.default_rng(5)
    cells = sweep(0.05 * (T / 50.0) ** -0.3, seeds=1, noise=0.0, rng=rng)
    assert optimum_bend(cells[:3]) is None
    cells[0]["bracketed"] = False
    assert optimum_bend(cells[:4]) is None  # four horizons, one not bracketed: three left
    assert optimum_bend(cells)["T"] == [100.0, 200.0, 400.0, 800.0]


def test_the_plan_notes_a_significant_bend_beyond_the_pilots_only():
    bend = {"T": [50.0, 800.0], "local": [-0.5, -0.2], "q": 0.07, "q_se": 0.01,
            "significant": True, "noise": "seeds"}
    note = _bend_note(bend, 4000)
    assert len(note) == 1 and "flatten" in note[0] and "too low" in note[0]
    assert _bend_note(bend | {"q": -0.07}, 4000)[0].count("too high") == 1
    assert _bend_note(bend, 800) == [] and _bend_note(bend | {"significant": False}, 4000) == []
    assert _bend_note(None, 4000) == []


def test_the_bootstraps_vertices_are_the_measured_optima():
    """_vertices (every bootstrap replicate at once) = measured_optimum row by row."""
    from convexlaw.laws.bend import _vertices
    from convexlaw.laws.peers import measured_optimum

    rng = np.random.default_rng(6)
    peaks = 0.01 * 2.0 ** np.arange(6)
    M = 1 + 0.05 * np.log(peaks / 0.03) ** 2 + 0.02 * rng.standard_normal((400, 6))
    M[::7, 5] = np.inf  # a diverged largest peak
    M[::11, 2] = np.inf  # a diverged neighbour
    got = _vertices(np.log(peaks), M)
    want = [np.log(measured_optimum(peaks, row)[0]) for row in M]
    assert got == pytest.approx(want, abs=1e-9)
