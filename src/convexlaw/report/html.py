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
offline and can be mailed. Figures come from :mod:`convexlaw.report.interactive`, the
sections from :mod:`convexlaw.report.sections`, the HTML around them from
:mod:`convexlaw.report.page`.

>>> from convexlaw.runs import RunStore
>>> write_report(RunStore("runs.db"), "report.html", steps=40000)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from convexlaw.report.page import _Page, _render
from convexlaw.report.sections import (
    _convexity_section,
    _exam_section,
    _fits_section,
    _laws_section,
    _plan_section,
    _runs_section,
)

__all__ = ["write_report"]


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
