"""One CLI that never crashes: every bad input is one line naming the value (exit 2), and
every command speaks the same options (--steps/-T, --db, --json, --version)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from convexlaw import bound_terms, schedule
from convexlaw.cli import app, common
from convexlaw.runs import Run, RunStore

runner = CliRunner()


def cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r: object, message: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert "Traceback" not in r.output and "╭" not in r.output


def write_csv(path: Path, lrs: np.ndarray, loss: np.ndarray, every: int = 1) -> Path:
    lr, y = lrs.tolist(), loss.tolist()
    rows = ["step,lr,loss"] + [f"{t},{lr[t - 1]!r},{y[t - 1]!r}" if t % every == 0
                               else f"{t},{lr[t - 1]!r}," for t in range(1, len(lr) + 1)]
    path.write_text("\n".join(rows) + "\n")
    return path


def pilot(T: int, peak: float, shift: float = 0.0) -> Run:
    lrs = schedule("cosine", T, peak)
    steps = np.arange(10, T + 1, 10)
    X, Y = bound_terms(lrs, at=steps)
    return Run(f"cosine/T={T}/peak={peak:g}", lrs=lrs, peak_lr=peak, schedule="cosine",
               curves={"val": (steps, 0.8 + 0.5 * X + 0.1 * Y + shift)}, N=1000.0)


@pytest.fixture
def pilots(tmp_path) -> Path:
    store = RunStore(tmp_path / "pilots.db")
    store.put_many([pilot(T, p) for T in (100, 200, 400) for p in (0.05, 0.1, 0.2, 0.4)])
    return store.path


# ------------------------------------------------------------------ section 2
def test_huge_horizons_are_refused_up_front(monkeypatch, pilots):
    monkeypatch.setattr(common, "available_memory", lambda: 16 * 10**9)
    r = cli("bound", "cosine", "--steps", "1000000000")
    one_line_error(r, "--steps 1000000000: the bound needs about 64 GB (64 bytes per step), "
                      "more than the 16 GB of memory available; the largest horizon that "
                      "fits is about 2e8 steps")
    one_line_error(cli("bound", "cosine", "-T", "1e9", "--plot", "x.png"),
                   "the bound at every step needs about 480 GB")
    one_line_error(cli("plan", "--db", pilots, "--steps", "1e9"),
                   "the plan needs about 2.4 TB (2400 bytes per step)")
    monkeypatch.setattr(common, "available_memory", lambda: 10**5)  # a tiny machine
    one_line_error(cli("bound", "cosine", "-T", "2000"), "the largest horizon that fits is "
                   "about 1.2e3 steps")
    assert cli("bound", "cosine", "-T", "1000", "--json").exit_code == 0


def test_parser_errors_are_one_line():
    one_line_error(cli("bound", "cosine", "--D", "nan", "--steps", "100"),
                   "Invalid value for '--D': 'nan' is not finite; expected a finite number "
                   ">= 0")
    one_line_error(cli("bound", "cosine", "--steps", "1.5"), "'1.5' is not a whole number")
    one_line_error(cli("bound", "cosine", "--steps", "abc"), "'abc' is not a number of steps")
    one_line_error(cli("bound", "cosine"), "Missing option '--steps' / '-T'")
    one_line_error(cli("bound", "cosine", "-T", "10", "--G", "-1"), "'-1' is out of range")
    one_line_error(cli("exam", "--nope"), "No such option: --nope")
    one_line_error(cli("plan", "-T", "100", "--boot", "x"), "'--boot'")
    one_line_error(cli("nosuch"), "No such command 'nosuch'")
    r = cli("bound", "linear", "--steps", "1e3", "--at", "1e3", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["steps"] == 1000


def test_mpl_fits_a_run_whose_last_lr_is_zero(tmp_path):
    """The usual cosine-to-zero log: the last update has η = 0 (a no-op)."""
    T = 400
    lrs = schedule("cosine", T, 3e-3)
    lrs[-1] = 0.0
    rng = np.random.default_rng(0)
    loss = 2.0 + 3.0 * np.cumsum(lrs) ** -0.5 + 0.002 * rng.standard_normal(T)
    f = write_csv(tmp_path / "cos0.csv", lrs, loss)
    r = cli("fit", f, "--model", "mpl", "--json")
    assert r.exit_code == 0, r.output
    assert "RuntimeWarning" not in r.output and "every start" not in r.output
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert d["fit"]["r2"] > 0.95
    r = cli("compare", f, "--json")
    rows = {x["model"]: x for x in json.loads(r.stdout[r.stdout.index("["):])}
    assert "error" not in rows["mpl"] and rows["mpl"]["metrics"]["R2"] > 0.9


def test_degenerate_fits_are_named(tmp_path):
    T = 500
    lrs = schedule("cosine", T, 0.1)
    one_line_error(cli("fit", write_csv(tmp_path / "flat.csv", lrs, np.full(T, 2.0), 10),
                       "--model", "convex"),
                   "the loss is constant (2 at all 50 points of flat): a curve model cannot "
                   "be fitted to it")
    rising = write_csv(tmp_path / "rise.csv", lrs, 1.0 + np.arange(1, T + 1) / T, 10)
    r = cli("fit", rising, "--model", "convex", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert d["identified"] is False
    assert any("rises over the fit window" in w for w in d["warnings"])
    assert any("R² = " in w and "< 0" in w for w in d["warnings"]), d["warnings"]


def test_negative_losses_are_refused(tmp_path, pilots):
    f = tmp_path / "neg.csv"
    f.write_text("step,lr,loss\n1,0.1,2.0\n2,0.1,1.0\n3,0.1,-0.5\n")
    one_line_error(cli("runs", "import", f, "--db", tmp_path / "x.db"),
                   "neg.csv: train loss -0.5 at step 3 is negative; expected losses >= 0")
    bad = pilot(400, 0.1, shift=-5.0)  # a store written by other means
    bad.name, bad.id = "negative", "neg"
    RunStore(pilots).put(bad)
    one_line_error(cli("plan", "--db", pilots, "-T", "4000", "--boot", "0"),
                   "pilot run 'negative' (neg): val loss")


@contextlib.contextmanager
def read_only(path: Path):
    """The file cannot be written, even by root (chattr +i), or the test is skipped."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("root cannot make a read-only file here (no chattr +i)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)


def test_read_only_store(tmp_path, pilots):
    good = write_csv(tmp_path / "good.csv", np.full(20, 0.1), np.linspace(3, 2, 20))
    with read_only(pilots):
        assert cli("runs", "list", "--db", pilots, "--json").exit_code == 0  # reading works
        one_line_error(cli("runs", "delete", "cosine/T=100/peak=0.05", "--db", pilots),
                       f"the run store {pilots} is read-only")
        one_line_error(cli("runs", "import", good, "--db", pilots),
                       f"the run store {pilots} is read-only")


def test_folders_and_warmups(tmp_path):
    db = tmp_path / "f.db"
    (tmp_path / "empty").mkdir()
    one_line_error(cli("runs", "import", tmp_path / "empty", "--db", db),
                   "empty: a folder with no run logs in it (found: nothing)")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.txt").write_text("step,lr,loss\n")  # text, not a log: never read
    (notes / "plot.png").write_bytes(b"\x89PNG")
    one_line_error(cli("runs", "import", notes, "--db", db),
                   "found: README.txt, plot.png); expected CSV/TSV, JSONL, JSON or Parquet")
    one_line_error(cli("bound", "cosine+warmup(2000)", "--steps", "1000"),
                   "warmup(2000) is longer than the run (1000 steps)")
    good = write_csv(tmp_path / "g.csv", np.full(50, 0.1), np.linspace(3, 2, 50))
    one_line_error(cli("runs", "import", good, "--db", db, "--schedule", "cosine+warmup(80)",
                       "--steps", "50", "--peak", "0.1"), "warmup(80) is longer than the run")


def test_streamed_csv_reads_every_chunk_like_one(tmp_path, monkeypatch):
    """Chunk boundaries change nothing: same run, same line numbers in errors."""
    from convexlaw.runs import load_runs, readers

    T = 100
    lines = ["step,lr,loss,val_loss"]
    for t in range(1, T + 1):
        lines.append(f"{t},{0.1 * (1 - t / (T + 1))!r},{3 - t / T!r},"
                     + (f"{2.5 - t / T!r}" if t % 10 == 0 else ""))
        if t == 37:
            lines.append("")  # a blank line: skipped, later line numbers still exact
    f = tmp_path / "log.csv"
    f.write_text("\n".join(lines) + "\n")
    whole = load_runs([f])[0]
    monkeypatch.setattr(readers, "CHUNK", 7)
    chunked = load_runs([f])[0]
    assert chunked == whole and chunked.curves["val"][0].tolist() == list(range(10, 101, 10))
    bad = f.read_text().replace("\n60,", "\n60x,")
    f.write_text(bad)
    with pytest.raises(ValueError, match=r"log.csv: line 62, column 'step': '60x' is not a "
                                         "number"):
        load_runs([f])


# ------------------------------------------------------------------ section 3
def _commands(group=None, prefix=""):
    group = group or get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_command_speaks_the_same_options():
    horizon, seen = [], []
    for name, cmd in _commands():
        seen.append(name)
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert "--json" in opts, f"{name} has no --json"
        assert "--T" not in opts, f"{name} spells the horizon --T"
        for p in cmd.params:
            if "--steps" in getattr(p, "opts", []):
                assert p.opts == ["--steps", "-T"], (name, p.opts)
                horizon.append(name)
            if "--db" in getattr(p, "opts", []):
                assert p.default is None and "$CONVEXLAW_DB" in p.help, name
    assert {"bound", "plan", "predict", "train", "report", "runs import", "runs list",
            "laws predict"} <= set(horizon)
    assert {"runs export", "runs delete", "report"} <= set(seen)


def test_version_is_defined_once_and_shown():
    import tomllib
    from pathlib import Path

    import convexlaw
    from convexlaw import _version

    r = cli("--version")
    assert r.exit_code == 0
    assert r.output.strip() == f"convexlaw {_version.__version__}"
    assert convexlaw.__version__ == _version.__version__
    # pyproject reads the same attribute, so a build's metadata cannot disagree
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "convexlaw._version.__version__"}


def test_plan_and_others_default_to_the_same_store(pilots, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVEXLAW_DB", str(pilots))
    r = cli("plan", "-T", "1000", "--boot", "0", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["steps"] == 1000
    assert len(json.loads(cli("runs", "list", "--json").stdout)) == 12
    out = tmp_path / "x.jsonl"
    r = cli("runs", "export", "cosine/T=100/peak=0.05", "--out", out, "--json")
    assert json.loads(r.stdout)["written"] == [str(out)]
    r = cli("runs", "delete", "cosine/T=100/peak=0.05", "--json")
    assert json.loads(r.stdout)["deleted"]["name"] == "cosine/T=100/peak=0.05"
    monkeypatch.setenv("CONVEXLAW_DB", str(tmp_path / "none.db"))
    one_line_error(cli("plan", "-T", "1000"), "no run store at")


def test_help_texts():
    r = cli("sweep", "--help")
    assert "[base], [grid]" in r.output
    from convexlaw.cli.laws import VARIANTS
    from convexlaw.laws import VARIANTS as LAW_VARIANTS

    assert VARIANTS == LAW_VARIANTS
    text = re.sub(r"[\s│]+", " ", cli("laws", "fit", "--help").output)
    for v in LAW_VARIANTS:
        assert f" {v}," in text or f" {v}." in text, v
    from convexlaw.protocols import MODELS

    text = re.sub(r"[\s│]+", " ", cli("fit", "--help").output)
    for m in MODELS:  # the help's static list names every model `fit --model` takes
        assert f" {m}," in text or f" {m}." in text, m


def test_exam_table_keeps_whole_spec_names():
    specs = ["wsd(cooldown=0.2)", "wsd(cooldown=0.2,shape=sqrt)",
             "wsd(cooldown=0.2,shape=cosine)"]
    r = cli("exam", *specs)
    assert r.exit_code == 0, r.output
    for s in specs:
        assert re.search(rf"│ {re.escape(s)} +│", r.output), (s, r.output)


def test_the_commands_map_names_every_command_of_each_module():
    # `convexlaw CMD` builds an app with CMD's module alone: the map must be complete
    from convexlaw import cli

    for module in cli.MODULES:
        names = set(get_command(cli.make_app((module,))).commands)
        assert names == {c for c, m in cli.COMMANDS.items() if m == module}, module
    assert set(get_command(cli.app).commands) == set(cli.COMMANDS)


def test_main_runs_one_command_from_its_own_module(monkeypatch, capsys):
    from convexlaw import cli

    built = []
    real = cli.make_app
    monkeypatch.setattr(cli, "make_app", lambda modules=cli.MODULES: built.append(modules)
                        or real(modules))
    monkeypatch.setattr(sys, "argv", ["convexlaw", "schedules", "--json"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0 and built == [("core",)]
    assert json.loads(capsys.readouterr().out)[0]["name"]
    monkeypatch.setattr(sys, "argv", ["convexlaw", "--version"])
    with pytest.raises(SystemExit):
        cli.main()
    assert built[-1] == cli.MODULES  # no command named first: the whole app
