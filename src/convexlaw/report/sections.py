"""The sections of the study report, each added to a ``_Page``: runs, curve fits, laws,
the plan, the exam of the schedules, convexity diagnostics."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from convexlaw.report.page import _e, _notes, _num, _Page, _table

MAX_RUNS_IN_FIGURES = 150  # beyond this the page gets heavy; the table still lists all


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
