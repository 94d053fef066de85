"""Pilot sweeps: grid files, skip-on-rerun, divergence, crash safety, Ray = local."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from convexlaw.cli import app  # noqa: E402
from convexlaw.runs import RunStore  # noqa: E402
from convexlaw.sweep import Sweep, run_sweep  # noqa: E402

TINY = {
    "name": "tiny",
    "base": {"model": "mlp", "dataset": "digits", "size": 16, "steps": 60, "eval_every": 20},
    "grid": {"peak": [0.1, 1e4], "schedule": ["cosine", "linear+warmup(5)"]},
}


def _write_toml(path, name, base, grid):
    def val(v):
        return json.dumps(v)  # JSON scalars and lists of them are valid TOML values

    lines = [f"name = {val(name)}", "[base]"]
    lines += [f"{k} = {val(v)}" for k, v in base.items()]
    lines += ["[grid]"] + [f"{k} = {val(v)}" for k, v in grid.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_grid_is_the_cartesian_product_without_duplicates():
    sweep = Sweep.from_dict({"base": {"model": "mlp", "dataset": "digits"},
                             "grid": {"size": [16, 32], "peak": [0.1, 0.3, 0.1],
                                      "steps": 50, "seed": [0, 1]}})
    assert len(sweep.configs) == 2 * 2 * 2  # the repeated 0.1 collapses
    assert len({c.run_id() for c in sweep.configs}) == 8
    assert sweep.configs[0].batch_size == 128  # normalised: defaults filled in


@pytest.mark.parametrize("data,msg", [
    ({"grid": {"peak": []}}, "peak is an empty list"),
    ({"grid": {"lr": [0.1]}}, r"\[grid\] has unknown setting\(s\) \['lr'\]"),
    ({"base": {"peak": 0.1}, "grid": {"peak": [0.2]}}, "both"),
    ({"runs": {}}, "unknown top-level key"),
    ({"base": {"dataset": "digits"}, "grid": {"peak": [0.1, -1.0]}},
     "peak learning rate must be a finite number > 0, got -1.0"),
])
def test_bad_sweep_files_are_named(data, msg):
    with pytest.raises(ValueError, match=msg):
        Sweep.from_dict(data)


def test_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\npeak = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        Sweep.from_toml(bad)
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        Sweep.from_toml(tmp_path / "nope.toml")


def test_local_sweep_stores_diverged_runs_and_skips_on_rerun(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    sweep = Sweep.from_dict(TINY)
    # a batch larger than the data set fails only inside the worker, once data is loaded
    broken = replace(sweep.configs[0], batch_size=5000)
    sweep.configs.append(broken)
    seen = []
    outcomes = run_sweep(sweep, store, on_result=lambda o, d, t: seen.append((o.status, d, t)))
    assert [s[1:] for s in seen] == [(i, 5) for i in range(1, 6)]
    err = outcomes.pop()
    assert err.status == "error" and err.run is None
    assert "batch_size 5000 exceeds the 1500 training samples" in err.error
    status = {o.config.peak: o.status for o in outcomes}
    assert status == {0.1: "finished", 1e4: "diverged"}  # and the sweep went on
    assert len(store) == 4 and broken.run_id() not in store
    for o in outcomes:
        back = store.get(o.run_id)
        assert back.status == o.status and back.tags["sweep"] == "tiny"
        np.testing.assert_array_equal(back.curves["train"][1], o.run.curves["train"][1])
    sweep.configs.pop()
    again = run_sweep(sweep, store)
    assert [o.status for o in again] == ["skipped"] * 4 and len(store) == 4


def _rows_per_id(db):
    try:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT id, COUNT(*) FROM runs GROUP BY id").fetchall())
    except sqlite3.OperationalError:  # the store is still creating its schema
        return {}


@pytest.mark.slow
def test_sweep_killed_with_sigkill_resumes_cleanly(tmp_path):
    grid = {"peak": [0.03, 0.1], "schedule": ["cosine", "constant"]}
    path = _write_toml(tmp_path / "kill.toml", "kill",
                       {"model": "mlp", "dataset": "digits", "size": 64, "steps": 1500,
                        "eval_every": 100}, grid)
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-c", "from convexlaw.cli import main; main()",
           "sweep", str(path), "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and 1 <= sum(_rows_per_id(db).values()) < 4:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-sweep
        proc.wait()
    stored = sum(_rows_per_id(db).values())
    assert 1 <= stored < 4, f"kill landed at {stored} of 4 runs: not half-way"
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300)
    expected = {c.run_id() for c in Sweep.from_toml(path).configs}
    counts = _rows_per_id(db)
    assert set(counts) == expected and set(counts.values()) == {1}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        curves = conn.execute("SELECT run_id, COUNT(*) FROM curves GROUP BY run_id").fetchall()
    assert {r: n for r, n in curves} == {r: 3 for r in expected}  # train, val, grad_norm


@pytest.mark.slow
def test_ray_backend_gives_the_local_results(tmp_path):
    pytest.importorskip("ray")
    sweep = Sweep.from_dict({**TINY, "grid": {"peak": [0.1, 1e4], "seed": [0, 1]}})
    local = run_sweep(sweep, RunStore(tmp_path / "local.db"), backend="local")
    ray_out = run_sweep(sweep, RunStore(tmp_path / "ray.db"), backend="ray", workers=2)
    assert [o.status for o in ray_out] == [o.status for o in local]
    for a, b in zip(local, ray_out, strict=True):
        assert a.run_id == b.run_id and b.run.tags["backend"] == "ray"
        np.testing.assert_array_equal(a.run.lrs, b.run.lrs)
        for kind in a.run.curves:
            np.testing.assert_array_equal(a.run.curves[kind][1], b.run.curves[kind][1])


def test_cli_train_and_sweep(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    args = ["train", "--model", "mlp", "--size", "16", "--dataset", "digits", "--optimizer",
            "sgd", "--schedule", "cosine+warmup(5)", "--peak", "0.1", "--steps", "40",
            "--eval-every", "20", "--db", db, "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "finished" and out["steps"] == 40 and out["final_val"] < 2.3
    assert out["id"] in RunStore(db)
    res = runner.invoke(app, ["train", "--peak", "-1", "--dataset", "digits", "--db", db])
    assert res.exit_code != 0 and "got -1.0" in res.output
    # a sweep whose runs are the one above plus one more: dry run, then the table
    base = {"model": "mlp", "dataset": "digits", "size": 16, "steps": 40, "eval_every": 20,
            "optimizer": "sgd", "peak": 0.1}
    toml = _write_toml(tmp_path / "s.toml", "cli", base,
                       {"schedule": ["cosine+warmup(5)", "constant"]})
    res = runner.invoke(app, ["sweep", str(toml), "--db", db, "--dry-run"])
    assert res.exit_code == 0 and "1 already in" in res.output and "1 to train" in res.output
    assert f"done  {out['id']}" in res.output
    res = runner.invoke(app, ["sweep", str(toml), "--db", db, "--json", "--workers", "1"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["outcome"] for r in rows] == ["skipped", "finished"]
    assert rows[0]["id"] == out["id"] and rows[0]["final_val"] == out["final_val"]
    res = runner.invoke(app, ["sweep", str(toml), "--db", db, "--backend", "slurm"])
    assert res.exit_code != 0 and "slurm" in res.output
