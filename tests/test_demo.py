"""`convexlaw demo`: a tiny end-to-end run (digits, seconds) and re-use of stored runs."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

pytest.importorskip("torch")

from convexlaw.cli import app  # noqa: E402
from convexlaw.demo import quick_config, run_demo  # noqa: E402

TINY = quick_config(size=8, pilot_steps=(10, 20), pilot_peaks=(0.1, 0.3, 0.9),
                    factor=4, target_points=3, max_extend=0, n_boot=5, window=100.0,
                    evals_per_run=5,
                    variants=("literal", "distance"))


@pytest.mark.slow  # ~15 s on an idle 2-core machine (two worker pools, the fits)
def test_demo_smoke(tmp_path):
    out = tmp_path / "demo"
    log = io.StringIO()
    s = run_demo(out, TINY, console=Console(file=log, width=120))
    text = log.getvalue()
    for key in ("predicted", "measured", "literal", "eta_ratio", "loss_rel_error", "goals",
                "verdict", "figures", "plan", "config", "wall_seconds", "regime"):
        assert key in s
    # digits: 1,500 training images; the longest run, 40 steps × batch 32, draws 1,280
    assert s["regime"]["fresh"] is True
    assert s["regime"]["max_epochs"] == pytest.approx(40 * 32 / 1500)
    assert "regime: fresh data: every step new, max 0.85 epochs" in text
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["target_steps"] == 40 == s["target_steps"]
    assert on_disk["measured"]["planned_loss"] > 0
    assert on_disk["eta_ratio"] == pytest.approx(s["predicted"]["eta_star"]
                                                 / s["measured"]["eta_star"])
    for name in ("plan.png", "curve.png", "optimum.png"):
        assert (out / name).stat().st_size > 10_000
    assert "Verdict" in text and ("goals met" in text or "goals missed" in text)
    n_runs = s["runs"]
    assert n_runs >= 6 + 3

    # a second demo trains nothing: every run is found by its config hash
    log2 = io.StringIO()
    s2 = run_demo(out, TINY, console=Console(file=log2, width=120))
    assert s2["runs"] == n_runs
    assert "0 to train" in log2.getvalue()
    assert s2["predicted"]["eta_star"] == pytest.approx(s["predicted"]["eta_star"])


def test_demo_cli_registered():
    res = CliRunner().invoke(app, ["demo", "--help"])
    assert res.exit_code == 0
    assert "--quick" in res.output and "--out" in res.output


def test_regime_reads_the_runs_tags():
    from convexlaw.demo import DEFAULT, regime
    from convexlaw.runs import Run

    def run(T, epochs, fresh):
        return Run(f"r{T}", lrs=[0.1] * T, curves={"train": (list(range(1, T + 1)), [1.0] * T)},
                   tags={"epochs": epochs, "fresh_data": fresh})

    r = regime([run(50, 0.01, True), run(4000, 0.93, True)])
    assert r["fresh"] and r["text"] == "fresh data: every step new, max 0.93 epochs"
    assert r["longest_T"] == 4000
    r = regime([run(50, 0.01, True), run(4000, 8.5, False)])
    assert not r["fresh"] and r["text"].startswith("data repeat (up to 8.5 epochs)")
    # the default design: batch 14 × T = 4000 = 56,000 draws < the 60,000 training images
    assert DEFAULT.batch_size * DEFAULT.target_steps < 60000
