"""One self-contained HTML page of a study: ``write_report(store, "report.html", plan)``.

Sections, each present when the study has what it needs:

- **Runs**: a table of every run (type to filter, click a header to sort) and the loss
  and learning-rate curves (interactive: zoom, hover for the exact value).
- **Curve fits**: one curve model (default ``convex-ed-peak``, the plan's) fitted to the
  finished runs, drawn against the logged curves, with its parameters and per-run errors.
- **Laws**: every horizon-law variant with its in-sample and held-out errors, the chosen
  one marked, its parameters with standard errors and bootstrap intervals.
- **Plan** (given a plan, or ``steps`` to make one): the recommended peak LR and final loss
  with intervals, the law against the pilots, the predicted curve.
- **Exam**: the qualifying exam of every schedule the runs (and the plan) use.
- **Convexity**: the diagnostics stored with a run (``run.tags["convexity"]``, written by
  ``convexlaw train --diagnose``), one figure per run, the onset t0 marked.

The page embeds plotly's JavaScript once (about 4.7 MB) and loads nothing else: it works
offline and can be mailed. Figures come from :mod:`convexlaw.report.interactive`.

>>> from convexlaw.runs import RunStore
>>> write_report(RunStore("runs.db"), "report.html", steps=40000)   # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_report"]

MAX_RUNS_IN_FIGURES = 150  # beyond this the page gets heavy; the table still lists all


class Raw(str):
    """A table cell that is already HTML."""


def _e(x: Any) -> str:
    return x if isinstance(x, Raw) else html.escape(str(x))


def _num(x: Any, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, fmt) if isinstance(x, (int, float, np.number)) else str(x)


def _table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]], table_id: str = "",
           sortable: bool = False) -> str:
    """A table; sortable ones (click a header) also scroll when long."""
    ident = f' id="{table_id}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers or [])
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f"<table{ident}{cls}>{thead}<tbody>{body}</tbody></table>"


def _notes(lines: Sequence[str], cls: str = "note") -> str:
    return "".join(f'<p class="{cls}">{_e(x)}</p>' for x in lines)


class _Page:
    """Sections and figures of the page, in order."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []
        self.figures: list[str] = []

    def figure(self, fig: Any) -> str:
        div_id = f"fig-{len(self.figures) + 1}"
        self.figures.append(div_id)
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True})

    def add(self, key: str, title: str, body: str) -> None:
        self.sections.append((key, title, body))


# ---------------------------------------------------------------- inputs
def _load_runs(source: Any) -> tuple[list[Any], str]:
    from convexlaw.runs import RunStore

    if isinstance(source, (str, Path)):
        source = RunStore(source)
    if isinstance(source, RunStore):
        return source.list(curves=True), str(source.path)
    runs = list(source)
    return runs, f"{len(runs)} runs"


def _load_plan(plan: Any) -> dict[str, Any] | None:
    if plan is None or isinstance(plan, dict):
        return plan
    if isinstance(plan, (str, Path)):
        try:
            d = json.loads(Path(plan).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"plan {plan}: not a readable plan JSON ({err})") from None
        if not isinstance(d, dict) or not {"eta_star", "pilots", "laws"} <= set(d):
            raise ValueError(f"plan {plan}: not a plan (expected the JSON of `convexlaw plan "
                             "--json`, with eta_star, pilots and laws)")
        return d
    return plan.to_dict()


def _kind(runs: Sequence[Any], kind: str | None) -> str:
    if kind is not None:
        return kind
    done = [r for r in runs if r.status == "finished"]
    return "val" if done and all("val" in r.curves for r in done) else "train"


# ---------------------------------------------------------------- sections
def _runs_section(page: _Page, runs: list[Any], kind: str) -> None:
    from convexlaw.report.interactive import runs_figure

    rows = []
    for r in runs:
        t0 = (r.tags.get("convexity") or {}).get("t0") if isinstance(r.tags, dict) else None
        rows.append([r.id, r.name, r.status, r.T, _num(r.peak_lr), r.schedule or "—",
                     _num(r.N, ".4g"), r.optimizer or "—",
                     sum(len(s) for s, _ in r.curves.values()),
                     _num(r.final_loss(kind), ".5g"), "—" if t0 is None else t0])
    body = ('<input id="runs-filter" type="search" placeholder="filter runs: type any part '
            'of a name, schedule, status…" oninput="filterRuns(this.value)">'
            + _table(["id", "name", "status", "T", "peak", "schedule", "N", "optimizer",
                      "points", f"final {kind} loss", "convexity t0"], rows, "runs-table",
                     sortable=True))
    shown = runs[:MAX_RUNS_IN_FIGURES]
    if len(runs) > len(shown):
        body += _notes([f"figure: the first {len(shown)} of {len(runs)} runs"])
    body += page.figure(runs_figure(shown, kind))
    page.add("runs", f"Runs ({len(runs)})", body)


def _fits_section(page: _Page, runs: list[Any], kind: str, model_name: str,
                  fitted: Any = None) -> None:
    from convexlaw.curve import FitWarning, as_curve_data
    from convexlaw.metrics import curve_metrics
    from convexlaw.protocols import make_model
    from convexlaw.report.interactive import fits_figure

    done = [r for r in runs if r.status == "finished"][:MAX_RUNS_IN_FIGURES]
    if not done:
        page.add("fits", "Curve fits", _notes(["no finished run to fit"]))
        return
    try:
        if fitted is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitWarning)
                fitted = make_model(model_name, kind=kind).fit(done)
        curves, rows = [], []
        for r in done:
            d = as_curve_data(r, kind)
            pred = fitted.predict(d.lrs, d.steps, peak=d.peak)
            ok = np.isfinite(pred)
            m = curve_metrics(d.y[ok], pred[ok]) if ok.sum() > 1 else {}
            curves.append({"name": r.name, "T": r.T, "steps": d.steps, "logged": d.y,
                           "predicted": pred})
            rows.append([r.name, r.T, _num(m.get("R2")), _num(100 * m["PredE"], ".3f")
                         if m else "—", _num(100 * m["WorstE"], ".2f") if m else "—"])
    except (ValueError, RuntimeError) as err:
        page.add("fits", "Curve fits", _notes([f"the curve model {model_name} could not be "
                                               f"fitted: {err}"], "warning"))
        return
    d = fitted.to_dict()
    params = [[k, _num(v, ".6g"), _num(d["stderr"].get(k), ".3g")]
              for k, v in d["params"].items()]
    warns = list(d.get("warnings", []))
    body = (_notes([f"one shared set of coefficients of {model_name} fitted to the {kind} "
                    f"curves of {len(done)} finished runs (fit R² "
                    f"{_num(d['fit'].get('r2'))})"])
            + page.figure(fits_figure(curves, model_name))
            + '<div class="cols"><div>' + _table(["parameter", "value", "std. error"], params)
            + "</div><div>" + _table(["run", "T", "R²", "mean rel. error %",
                                      "worst rel. error %"], rows, sortable=True)
            + "</div></div>" + _notes(warns, "warning"))
    page.add("fits", "Curve fits", body)


def _law_params(law: Any) -> list[list[str]]:
    rows = []
    boot = np.asarray(law.boot_)
    q = 100 * (1 - law.level) / 2
    for name, v in law.params_.items():
        if name in law.free_ and boot.size:
            j = law.free_.index(name)
            lo, hi = np.nanpercentile(boot[:, j], [q, 100 - q])
            iv = f"[{lo:.4g}, {hi:.4g}]"
        else:
            iv = "fixed" if name not in law.free_ else "—"
        rows.append([name, _num(v, ".5g"), _num(law.stderr_.get(name), ".3g"), iv])
    return rows


def _laws_section(page: _Page, plan: dict[str, Any] | None, runs: list[Any], kind: str,
                  n_boot: int) -> tuple[Any, Any]:
    """The variant table and the chosen law; returns (chosen law, literal law)."""
    from convexlaw.laws import Law

    if plan is not None:
        comparison, chosen = plan["comparison"], plan["variant"]
        laws = {k: Law.from_dict(v) for k, v in plan["laws"].items()}
        source = f"the {sum(p['used'] for p in plan['pilots'])} pilot runs used by the plan"
    else:
        from convexlaw.laws.selection import fit_runs

        done = [r for r in runs if r.status == "finished"]
        try:
            rec = fit_runs(done, points="final", n_boot=n_boot)
        except (ValueError, RuntimeError) as err:
            page.add("laws", "Laws", _notes([f"no horizon law: {err}"], "warning"))
            return None, None
        comparison, chosen = rec["comparison"], rec["chosen"]
        laws = {k: Law.from_dict(v) for k, v in rec["laws"].items()}
        source = f"the final {kind} losses of all {len(done)} finished runs"
    rows = [[r["variant"] + (" ✓" if r["chosen"] else ""), r["k"],
             _num(100 * r["PredE"], ".3f"),
             "—" if r.get("holdout_PredE") is None else _num(100 * r["holdout_PredE"], ".3f"),
             _num(r.get("AICc"), ".1f")] for r in comparison]
    law = laws[chosen]
    how = comparison[0].get("selected_by", "holdout")
    level = int(round(100 * law.level))
    body = (_notes([f"fitted to {source}; chosen: {chosen} (by {how}: the longest pilot "
                    "horizon held out and predicted from the shorter ones)"])
            + _table(["variant", "k", "in-sample error %", "held-out error %", "AICc"], rows)
            + f"<h3>{_e(law.kind)} [{_e(chosen)}]</h3>"
            + _table(["parameter", "value", "std. error", f"{level} % bootstrap interval"],
                     _law_params(law))
            + f"<pre>{_e(law.report())}</pre>")
    page.add("laws", "Laws", body)
    return law, laws.get("literal")


def _plan_section(page: _Page, plan: dict[str, Any], law: Any, literal: Any,
                  runs: list[Any], kind: str) -> None:
    from convexlaw.report.interactive import laws_figure, plan_curve_figure

    lvl = f"{100 * plan['level']:.0f} %"
    lit = plan["literal_forecast"]
    lo, hi = plan["eta_interval"]
    llo, lhi = plan["loss_interval"]
    rows = [["target", f"T = {plan['steps']} steps, schedule {plan['schedule']}"
             + ("" if plan.get("size") is None else f", N = {plan['size']:.4g}")],
            ["recommended peak LR η*", f"{plan['eta_star']:.4g}  ({lvl} interval "
                                       f"{_num(lo)} … {_num(hi)}; from the "
                                       f"{plan['source']})"],
            ["predicted final loss", f"{plan['loss_star']:.4f}  (interval {_num(llo, '.4f')} "
                                     f"… {_num(lhi, '.4f')}; from the {plan['loss_source']})"],
            ["law variant, exponent κ of η* ∝ T^κ",
             f"{plan['variant']}, κ = {_num(plan.get('kappa'), '+.3f')}"],
            ["law as written (literal)", f"η* = {lit['eta_star']:.4g}, L* = "
                                         f"{lit['loss_star']:.4f}"]]
    c = plan.get("curve")
    if c:
        rows.append(["curve model " + c["model"], f"final loss at η* {c['final']:.4f}; its "
                     f"own optimum η* = {c['eta_star']:.4g} (L = {c['loss_star']:.4f})"])
    used = {p["id"] for p in plan["pilots"] if p["used"]}
    pilots = [r for r in runs if r.id in used and r.status == "finished"]
    measured = next((r for r in runs if r.T == plan["steps"] and r.status == "finished"
                     and r.peak_lr and math.isclose(r.peak_lr, float(f"{plan['eta_star']:.6g}"),
                                                    rel_tol=1e-9)), None)
    body = _table(None, rows) + _notes(plan.get("warnings", []), "warning")
    if law is not None:
        body += page.figure(laws_figure(plan, law, literal))
    body += page.figure(plan_curve_figure(plan, pilots, kind, measured))
    page.add("plan", f"Plan for T = {plan['steps']}", body)


def _exam_section(page: _Page, specs: Sequence[str]) -> None:
    from convexlaw.exam import exam
    from convexlaw.report.interactive import exam_figure

    results, failed = [], []
    for s in specs:
        try:
            results.append(exam(s))
        except ValueError as err:
            failed.append(f"{s}: not examined ({err})")
    rows = [[r.spec, r.verdict, f"{r.scaled_bound[-1]:.4f}", _num(r.c),
             "bounded" if r.verdict == "pass" else f"like {r.growth}, ×{10 ** r.slope:.3f} "
                                                   "per decade"] for r in results]
    body = (_notes(["a schedule family qualifies when √T·Ω*_T stays bounded as T grows (the "
                    "optimal O(1/√T) rate), with η* = D/(G√(cT))"])
            + _table(["schedule", "verdict", "√T·Ω* at 10⁷", "c", "growth"], rows)
            + _notes(failed, "warning"))
    if results:
        body += page.figure(exam_figure(results))
    page.add("exam", "Exam of the schedules", body)


def _convexity_section(page: _Page, runs: list[Any]) -> None:
    from convexlaw.report.interactive import convexity_figure

    body = ""
    for r in runs:
        rec = r.tags.get("convexity") if isinstance(r.tags, dict) else None
        if not rec:
            continue
        summary = rec.get("summary") or {}
        items = [[k, _num(v, ".4g") if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else str(v)] for k, v in summary.items()
                 if not isinstance(v, (dict, list)) and k not in ("rule", "error")]
        body += f"<h3>{_e(r.name)} <small>({_e(r.id)})</small></h3>"
        if rec.get("error"):
            body += _notes([f"diagnostics stopped: {rec['error']}"], "warning")
        if summary.get("rule"):
            body += _notes([f"onset rule: {summary['rule']}"])
        body += page.figure(convexity_figure(r))
        third = -(-len(items) // 3)  # the summary in three short tables side by side
        body += '<div class="cols">' + "".join(
            "<div>" + _table(["quantity", "value"], items[i:i + third]) + "</div>"
            for i in range(0, len(items), max(third, 1))) + "</div>"
    if body:
        page.add("convexity", "Convexity diagnostics", body)


# ---------------------------------------------------------------- the page
def write_report(source: Any, out: str | Path, plan: Any = None, *, steps: int | None = None,
                 schedule: str | None = None, size: float | None = None,
                 kind: str | None = None, curve_model: str = "convex-ed-peak",
                 n_boot: int = 100, title: str | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the HTML report of the runs in ``source`` (a RunStore, a store path or runs).

    ``plan``: a :class:`~convexlaw.plan.Plan`, its ``to_dict()``, or the path of the JSON
    that ``convexlaw plan --json`` prints; or give ``steps`` (and ``schedule``/``size``)
    to make the plan here. Returns a summary: path, bytes, sections, figure ids.
    """
    from convexlaw import __version__
    from convexlaw.report.interactive import _go

    _go()  # a clear error before any work when plotly is missing
    say = progress or (lambda _text: None)
    t0 = time.perf_counter()
    runs, where = _load_runs(source)
    if not runs:
        raise ValueError(f"{where}: no runs to report on")
    kind = _kind(runs, kind)
    fitted = None
    if plan is None and steps is not None:
        from convexlaw.plan import make_plan, pilot_runs

        say(f"planning a run of T = {steps} from {len(runs)} runs")
        made = make_plan(pilot_runs(_PilotSource(runs)), steps, size=size, schedule=schedule,
                         kind=kind, n_boot=n_boot)
        fitted, plan = made.curve_fit, made.to_dict()
    elif plan is not None and not isinstance(plan, (dict, str, Path)):
        fitted = getattr(plan, "curve_fit", None)
    plan = _load_plan(plan)
    page = _Page()
    say("runs")
    _runs_section(page, runs, kind)
    say(f"fitting the curve model {curve_model}")
    fit_runs_ = runs
    if plan is not None:
        used = {p["id"] for p in plan["pilots"] if p["used"]}
        fit_runs_ = [r for r in runs if r.id in used] or runs
        curve_model = (plan.get("curve") or {}).get("model", curve_model)
    _fits_section(page, fit_runs_, kind, curve_model, fitted)
    say("laws")
    law, literal = _laws_section(page, plan, runs, kind, n_boot)
    if plan is not None:
        _plan_section(page, plan, law, literal, runs, kind)
    specs = sorted({r.schedule for r in runs if r.schedule}
                   | ({plan["schedule"]} if plan else set()))
    say(f"examining {len(specs)} schedule(s)")
    _exam_section(page, specs)
    _convexity_section(page, runs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    heading = title or f"convexlaw study report: {where}"
    stamp = (f"{len(runs)} runs from {where} · generated {time.strftime('%Y-%m-%d %H:%M')} "
             f"by convexlaw {__version__} in {time.perf_counter() - t0:.1f} s")
    out.write_text(_render(page, heading, stamp), encoding="utf-8")
    return {"out": str(out), "bytes": out.stat().st_size,
            "sections": [k for k, _, _ in page.sections], "figures": page.figures,
            "runs": len(runs), "plan": plan is not None}


class _PilotSource:
    """``pilot_runs`` reads a store; this hands it runs already loaded."""

    def __init__(self, runs: list[Any]) -> None:
        self.runs = runs

    def list(self, curves: bool = False) -> list[Any]:
        return self.runs


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
header{padding:14px 28px;background:#1f2937;color:#fff}header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
nav{position:sticky;top:0;background:#f3f4f6;padding:8px 28px;border-bottom:1px solid #ddd;
z-index:10}nav a{margin-right:18px;color:#1d4ed8;text-decoration:none;font-size:14px}
main{padding:6px 28px 40px}section{margin-top:22px}h2{border-bottom:2px solid #e5e7eb;
padding-bottom:4px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}th{background:#f9fafb}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#eef2ff}
table.sortable{display:block;max-height:320px;overflow:auto}
#runs-filter{width:420px;padding:5px 8px;margin:6px 0;font-size:14px}
.note{color:#444;font-size:14px}.warning{color:#92400e;background:#fffbeb;padding:4px 8px;
font-size:13px;margin:4px 0}pre{background:#f9fafb;padding:8px;font-size:12px;overflow:auto}
.cols{display:flex;gap:28px;flex-wrap:wrap}
"""

SCRIPT = """
function filterRuns(q){q=q.toLowerCase();
 document.querySelectorAll('#runs-table tbody tr').forEach(function(tr){
  tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),up=th.dataset.up!=='1';
  th.dataset.up=up?'1':'0';
  rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,
   u=parseFloat(x),v=parseFloat(y);var c=(isNaN(u)||isNaN(v))?x.localeCompare(y):u-v;
   return up?c:-c;});
  rows.forEach(function(r){body.appendChild(r);});});});});
"""


def _render(page: _Page, heading: str, stamp: str) -> str:
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{k}">{_e(t)}</a>' for k, t, _ in page.sections)
    sections = "".join(f'<section id="{k}"><h2>{_e(t)}</h2>{b}</section>'
                       for k, t, b in page.sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(heading)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f"<header><h1>{_e(heading)}</h1><p>{_e(stamp)}</p></header><nav>{nav}</nav>"
            f"<main>{sections}</main><script>{SCRIPT}</script></body></html>")
