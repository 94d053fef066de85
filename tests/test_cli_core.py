"""CLI: schedules, bound and exam, with --json, figures and clean errors."""

import json

from typer.testing import CliRunner

from convexlaw.cli import app

runner = CliRunner()


def test_schedules_lists_every_name():
    out = runner.invoke(app, ["schedules", "--json"])
    assert out.exit_code == 0
    names = {r["name"] for r in json.loads(out.stdout)}
    assert {"constant", "linear", "cosine", "wsd", "warmup", "step", "exponential", "poly",
            "rsqrt", "inverse", "onecycle", "restarts", "piecewise", "csv"} <= names


def test_bound_json_and_plot(tmp_path):
    fig = tmp_path / "b.png"
    out = runner.invoke(app, ["bound", "linear", "--steps", "100", "--at", "50,100", "--json",
                              "--plot", str(fig)])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["at"] == [50, 100] and len(res["bound"]) == 2
    assert res["peak"] == res["optimal_peak"]
    assert abs(res["bound"][1] - res["optimal_bound"]) < 1e-12
    assert fig.stat().st_size > 10_000


def test_bound_errors_are_one_line():
    out = runner.invoke(app, ["bound", "cosin", "--steps", "10"])
    assert out.exit_code == 2
    assert "unknown schedule 'cosin'" in out.output and "Traceback" not in out.output
    out = runner.invoke(app, ["bound", "linear", "--steps", "10", "--at", "11"])
    assert out.exit_code == 2 and "outside 1..10" in out.output


def test_exam_json(tmp_path):
    fig = tmp_path / "e.png"
    out = runner.invoke(app, ["exam", "linear", "constant", "--json", "--plot", str(fig)])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert [r["verdict"] for r in res] == ["pass", "fail"]
    assert abs(res[0]["c"] - 1.0) < 1e-2 and res[1]["c"] is None
    assert fig.exists()
