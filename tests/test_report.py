"""The HTML study report: its structure, and the page in a real browser (headless Chromium).

The pilot runs follow the literal bound exactly (known L∞, D², G², as in test_plan); one
carries the convexity diagnostics measured on a real run (tests/data, written by
``convexlaw train --diagnose``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convexlaw import bound_terms, schedule
from convexlaw.cli import app
from convexlaw.runs import Run, RunStore

pytest.importorskip("plotly")

DATA = Path(__file__).parent / "data"
L_INF, D2, G2 = 0.8, 0.5, 0.1
PEAKS = (0.05, 0.1, 0.2, 0.4)
SECTIONS = ["runs", "fits", "laws", "plan", "exam", "convexity"]
WIDTH, HEIGHT = 1400, 5200


def synth_run(T: int, peak: float, tags: dict | None = None) -> Run:
    lrs = schedule("cosine", T, peak)
    steps = np.unique(np.r_[np.arange(10, T + 1, 10), T])
    X, Y = bound_terms(lrs, at=steps)
    return Run(name=f"cosine/T={T}/peak={peak:g}", lrs=lrs, peak_lr=peak, schedule="cosine",
               curves={"val": (steps, L_INF + D2 * X + G2 * Y)}, N=1000.0,
               tags=tags or {})


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("report")
    store = RunStore(folder / "study.db")
    record = json.loads((DATA / "convexity-mlp32-digits.json").read_text())["convexity"]
    for T in (100, 200, 400):
        for p in PEAKS:
            tags = {"convexity": record} if (T, p) == (400, 0.1) else None
            store.put(synth_run(T, p, tags))
    from convexlaw.plan import make_plan, pilot_runs
    from convexlaw.report import write_report

    # the literal curve model: the same plan as the default one, in a fraction of the time
    plan = make_plan(pilot_runs(store), 1600, n_boot=5, curve_model="convex")
    (folder / "plan.json").write_text(json.dumps(plan.to_dict(), default=float))
    out = folder / "report.html"
    summary = write_report(store, out, plan=plan)
    return {"folder": folder, "store": store, "out": out, "summary": summary,
            "html": out.read_text(encoding="utf-8"), "plan": folder / "plan.json"}


class _Page(HTMLParser):
    """Sections, figure divs (with what was drawn inside each) and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.figures: dict[str, dict[str, int]] = {}
        self.rows: dict[str, int] = {}
        self._fig: list[tuple[str, int]] = []
        self._table: str | None = None
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "div":
            self.depth += 1
            if "plotly-graph-div" in cls:
                self.figures[a["id"]] = {"plotly": "js-plotly-plot" in cls, "svg": 0,
                                         "traces": 0}
                self._fig.append((a["id"], self.depth))
        if self._fig:
            fig = self.figures[self._fig[-1][0]]
            if tag == "svg" and "main-svg" in cls:
                fig["svg"] += 1
            if tag == "g" and "trace" in cls:
                fig["traces"] += 1
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr" and self._table:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1

    def handle_endtag(self, tag):
        if tag == "div":
            if self._fig and self._fig[-1][1] == self.depth:
                self._fig.pop()
            self.depth -= 1
        if tag == "table":
            self._table = None


def test_report_sections_and_figures(study):
    s = study["summary"]
    assert s["sections"] == SECTIONS and s["plan"] is True and s["runs"] == 12
    page = _Page()
    page.feed(study["html"])
    assert page.sections == SECTIONS
    assert list(page.figures) == s["figures"] and len(s["figures"]) == 6
    assert page.rows["runs-table"] == 1 + 12  # header + one row per run
    html = study["html"]
    # self-contained: plotly's JavaScript inline, once; nothing fetched from anywhere
    assert html.count("* plotly.js v") == 1
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", html)
    # the plan on these exact-bound pilots recovers the literal optimum (test_plan)
    X, Y = bound_terms(schedule("cosine", 1600, 1.0), at=[1600])
    eta = (D2 * X[0] / (G2 * Y[0])) ** 0.5
    assert re.search(r"recommended peak LR η\*</td><td>([0-9.]+)", html).group(1) == \
        f"{eta:.4g}"
    assert "literal ✓" in html
    assert "onset t0 = 15" in html  # the convexity record's own t0


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(url: str, *mode: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
             f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=8000", *mode, url],
            capture_output=True, text=True, timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (Debian package "
                                                 "'chromium'; scripts/setup.sh installs it)")
def test_report_renders_in_chromium(study):
    url = study["out"].resolve().as_uri()
    done = _run_chromium(url, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [ln for ln in done.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console  # no errors, no warnings, no logs from the page
    page = _Page()
    page.feed(done.stdout)
    assert page.sections == SECTIONS
    assert set(page.figures) == set(study["summary"]["figures"])
    for fig_id, drawn in page.figures.items():  # plotly drew every figure
        assert drawn["plotly"] and drawn["svg"] >= 1 and drawn["traces"] >= 1, (fig_id, drawn)
    shot = study["folder"] / "report.png"
    done = _run_chromium(url, f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = np.asarray(im.convert("RGB"))
    # figures are colour: far more distinct colours than text on white
    assert np.unique(rgb.reshape(-1, 3)[::7], axis=0).shape[0] > 500
    kept = Path(tempfile.gettempdir()) / "convexlaw-report-test.png"
    shutil.copy(shot, kept)  # to be looked at


def test_cli_report(study, tmp_path):
    runner = CliRunner()
    db = study["store"].path
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "--db", str(db), "--out", str(out), "--json",
                            "--boot", "0", "--model", "convex"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["sections"] == ["runs", "fits", "laws", "exam", "convexity"] and not s["plan"]
    plan = study["plan"]
    r = runner.invoke(app, ["report", "--db", str(db), "--out", str(out), "--plan", str(plan),
                            "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sections"] == SECTIONS
    for args, msg in [
        (["--plan", str(plan), "--steps", "100"], "give --plan FILE or --steps T, not both"),
        (["--plan", str(tmp_path / "none.json")], "no such file"),
        (["--db", str(tmp_path / "none.db")], "no run store at"),
        (["--model", "nope"], "--model 'nope'; expected one of"),
        (["--steps", "1e12"], "the plan needs about"),
        (["--steps", "1.5"], "not a whole number of steps"),
    ]:
        base = ["report", "--out", str(out)] + ([] if "--db" in args else ["--db", str(db)])
        r = runner.invoke(app, base + args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: ") and msg in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output
