"""CLI: ``convexlaw report`` — one self-contained HTML page of a study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convexlaw.cli.common import (
    DbOpt,
    JsonOpt,
    abort,
    check_memory,
    console,
    number_option,
    open_store,
    print_json,
    steps_option,
    working,
)


def report_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")
                   ] = Path("report.html"),
    db: DbOpt = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="A plan to show: the JSON of `convexlaw plan --json > plan.json`.")
    ] = None,
    steps: Annotated[int | None, steps_option(
        "Or make the plan here: the target run's length T, e.g. 4e4.", minimum=2)] = None,
    schedule: Annotated[str | None, typer.Option(
        help="Target schedule for --steps (default: the pilots').")] = None,
    size: Annotated[float | None, number_option(
        "--size", help="Target model size N for --steps.", minimum=0, strict=True)] = None,
    kind: Annotated[str | None, typer.Option(
        help="Loss curve: val or train (default: val when every run has one).")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Curve model drawn against the logged curves (a plan's own "
        "model when there is a plan).")] = "convex-ed-peak",
    boot: Annotated[int, typer.Option(help="Bootstrap refits for the laws' intervals.",
                                      min=0)] = 100,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an HTML report of a study: runs, curve fits, laws, plan, exam, convexity.

    One file, interactive figures (zoom, hover), no network needed to open it.
    """
    from convexlaw.plan import PlanError
    from convexlaw.runs import RunStoreError

    if plan is not None and steps is not None:
        abort("give --plan FILE or --steps T, not both")
    if kind not in (None, "val", "train"):
        abort(f"--kind must be val or train, got {kind!r}")
    if plan is not None and not plan.is_file():
        abort(f"--plan {plan}: no such file; write one with `convexlaw plan --json > {plan}`")
    if steps is not None:
        check_memory(steps, "plan")
    from convexlaw.protocols import MODELS

    if model not in MODELS:
        abort(f"--model {model!r}; expected one of {', '.join(MODELS)}")
    store = open_store(db)
    try:
        with working("writing the report", disable=as_json) as say:
            from convexlaw.report import write_report

            summary = write_report(store, out, plan=plan, steps=steps, schedule=schedule,
                                   size=size, kind=kind, curve_model=model, n_boot=boot,
                                   title=title, progress=say)
    except (PlanError, RunStoreError, ValueError, OSError) as err:
        abort(str(err))
    if as_json:
        print_json(summary)
        return
    console.print(f"wrote {summary['out']} ({summary['bytes'] / 1e6:.1f} MB): "
                  f"{', '.join(summary['sections'])}; {len(summary['figures'])} figures",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
