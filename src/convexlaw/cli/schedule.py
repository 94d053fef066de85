"""CLI: ``convexlaw schedule design`` — the schedule a fitted curve model says is best.

    convexlaw schedule design --fit fit.json --steps 24000 --family wsd --peak 3e-4
    convexlaw schedule design --fit fit.json -T 50000 --family free --out lr.csv --plot d.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convexlaw.cli.common import abort, console, print_json

schedule_app = typer.Typer(help="Design learning-rate schedules from a fitted curve model.",
                           no_args_is_help=True)


def _weights(text: str | None) -> dict[int, float] | None:
    if text is None:
        return None
    out: dict[int, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        step, sep, w = part.partition(":")
        try:
            out[int(float(step))] = float(w) if sep else 1.0
        except ValueError:
            abort(f"--weights must look like 12000:1,24000:2 (step:weight, ...), got {part!r}")
    if not out:
        abort("--weights is empty: give step:weight pairs like 12000:1,24000:2")
    return out


def design_cmd(
    fit: Annotated[Path, typer.Option("--fit", help="fit.json written by `convexlaw fit`.")],
    steps: Annotated[int, typer.Option("--steps", "-T", help="Length T of the run (steps).")],
    family: Annotated[str, typer.Option("--family", help="wsd | cosine | linear | free "
                                        "(a monotone spline after the warm-up).")] = "wsd",
    peak: Annotated[float | None, typer.Option("--peak", help="Fixed peak LR (default: "
                                               "tuned).")] = None,
    tune_peak: Annotated[bool, typer.Option("--tune-peak", help="Tune the peak LR with the "
                                            "model (the default without --peak).")] = False,
    warmup: Annotated[int, typer.Option("--warmup", help="Warm-up steps (the minimum with "
                                        "--tune-warmup).")] = 0,
    tune_warmup: Annotated[bool, typer.Option("--tune-warmup", help="Search the warm-up "
                                              "length too (up to T/4).")] = False,
    weights: Annotated[str | None, typer.Option("--weights", help="Minimise a weighted "
                                                "average of the predicted loss at several "
                                                "steps, e.g. 12000:1,24000:2.")] = None,
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="Schedule spec to "
                                                       "score beside the design (repeat; "
                                                       "default: cosine, "
                                                       "wsd(cooldown=0.2)).")] = None,
    knots: Annotated[int, typer.Option("--knots", help="Spline coefficients of the free "
                                       "family.")] = 24,
    out: Annotated[Path | None, typer.Option("--out", help="Write the designed per-step "
                                             "LRs (CSV step,lr); a free design's spec is "
                                             "then csv(path=OUT).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Figure of the schedules and "
                                              "their predicted loss curves (PNG).")] = None,
) -> None:
    """The schedule a fitted curve model predicts is best at step T, beside cosine and WSD.

    Cosine and WSD are scored at their own tuned peaks (and at --peak when given).
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from convexlaw.design import BASELINES, DesignError, design_schedule
    from convexlaw.design.core import planned_ticks

    if steps < 2:
        abort(f"--steps must be an integer ≥ 2 (the run's length T), got {steps}")
    if peak is not None and tune_peak:
        abort("give either --peak P or --tune-peak, not both")
    if not fit.is_file():
        abort(f"--fit {fit}: no such file (write one with `convexlaw fit RUNS... --out "
              "fit.json`)")
    w = _weights(weights)
    progress = Progress(SpinnerColumn(), TextColumn("designing {task.description}"),
                        BarColumn(), TimeElapsedColumn(), console=console, transient=True,
                        disable=as_json)
    try:
        with progress:
            task = progress.add_task("", total=planned_ticks(family))

            def tick(msg: str) -> None:
                progress.update(task, advance=1, description=msg)

            d = design_schedule(fit, steps, family=family, peak=peak, weights=w,
                                warmup=warmup, tune_warmup=tune_warmup,
                                baselines=tuple(baseline) if baseline else BASELINES,
                                knots=knots, progress=tick)
        if out is not None:
            d.to_csv(out)
        if plot is not None:
            from convexlaw.design.plot import plot_design

            plot_design(d, plot)
    except (DesignError, ValueError, OSError) as err:
        abort(str(err))
    result = d.to_dict()
    if plot is not None:
        result["figure"] = str(plot)
    if as_json:
        print_json(result)
        return
    _print(d, out, plot)


def _print(d, out: Path | None, plot: Path | None) -> None:
    from rich.table import Table

    c = d.designed
    where = "at T" if len(d.horizons) == 1 else "weighted over " + ", ".join(
        f"{t}:{w:.2g}" for t, w in zip(d.horizons, d.weights, strict=True))
    t = Table(title=f"{d.model}: predicted loss {where} = {d.steps} ({d.family} design)")
    for col in ("schedule", "peak", "", "predicted loss", "vs design"):
        t.add_column(col, justify="left" if col in ("schedule", "") else "right",
                     overflow="fold")
    t.add_row(f"[bold]{c.spec or 'free spline'}[/]", f"{c.peak:.4g}", c.peak_mode,
              f"{c.loss:.5f}", "")
    for b in d.baselines:
        t.add_row(b.spec, f"{b.peak:.4g}", b.peak_mode, f"{b.loss:.5f}",
                  f"{100 * (b.loss - c.loss) / b.loss:+.3f} %")
    console.print(t)
    spec = c.spec
    if spec is None and out is not None:
        spec = f"csv(path={out})"
    if spec is not None:
        console.print(f"designed: [bold]{spec}[/] at peak {c.peak:.4g}", highlight=False)
        console.print(f"  run it: convexlaw train --schedule '{spec}' --peak {c.peak:.4g} "
                      f"--steps {d.steps} ...", highlight=False, soft_wrap=True)
    else:
        console.print("free design: give --out FILE.csv to write it as a schedule "
                      "(spec csv(path=FILE.csv))", highlight=False)
    for n in d.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    if out is not None:
        console.print(f"wrote {out}")
    if plot is not None:
        console.print(f"figure: {plot}")


def register(app: typer.Typer) -> None:
    schedule_app.command("design")(design_cmd)
    app.add_typer(schedule_app, name="schedule")
