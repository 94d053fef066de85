"""CLI: ``convexlaw plan`` (a long run from pilot runs) and ``convexlaw demo``."""

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


def _check_pilots(runs: list, kind: str | None) -> None:
    """Refuse pilots whose losses no law can describe (named, one line)."""
    import numpy as np

    for r in runs:
        for k in ((kind,) if kind else ("val", "train")):
            if k not in r.curves:
                continue
            _, v = r.curves[k]
            fin = v[np.isfinite(v)]
            if fin.size and fin.min() <= 0:
                i = int(np.argmin(fin))
                abort(f"pilot run {r.name!r} ({r.id}): {k} loss {fin[i]:g} is not positive; "
                      "the laws need losses > 0 (delete or re-import the run)")


def plan_cmd(
    steps: Annotated[int, steps_option("Length T of the target run (updates), e.g. 40000 "
                                       "or 4e4.", minimum=2)],
    db: DbOpt = None,
    size: Annotated[float | None, number_option(
        "--size", help="Target model size N (parameters); needed when the pilots span "
        "several sizes.", minimum=0, strict=True)] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="Target schedule spec "
                                                 "(default: the pilots' schedule).")] = None,
    kind: Annotated[str | None, typer.Option(help="Loss curve: val or train (default: val "
                                             "when every pilot has one).")] = None,
    window: Annotated[float | None, number_option(
        "--window", help="Use only pilots whose final loss is within this factor of the "
        "best at their horizon (default: automatic screening).", minimum=1)] = None,
    burn_in: Annotated[str, typer.Option("--burn-in", help="Burn-in of the curve fits: a "
                                         "step, or auto (the runs' stored convexity onset, "
                                         "else chosen from the data).")] = "auto",
    curve_models: Annotated[str, typer.Option("--curve-models", help="Curve models to try "
                                              "beside the laws: comma-separated names of "
                                              "`convexlaw compare`, none, or default "
                                              "(convexlaw.plan.CURVE_MODELS).")
                            ] = "default",
    boot: Annotated[int, typer.Option(help="Bootstrap refits for the intervals.", min=0)
                    ] = 100,
    as_json: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option(help="Write a figure (PNG): loss vs peak LR "
                                              "at the pilot horizons and at the target.")
                    ] = None,
) -> None:
    """Recommended peak LR, predicted final loss and loss curve of a long run, from pilots.

    The run has --steps steps; the pilot runs are read from --db. Both numbers come with
    95 % bootstrap intervals over the pilot runs.
    """
    from convexlaw.plan import PlanError, make_plan, pilot_runs
    from convexlaw.runs import RunStoreError

    if kind not in (None, "val", "train"):
        abort(f"--kind must be val or train, got {kind!r}")
    if burn_in != "auto":
        try:
            burn_in = int(burn_in)
        except ValueError:
            abort(f"--burn-in must be a step (an integer >= 0) or auto, got {burn_in!r}")
        if burn_in < 0:
            abort(f"--burn-in must be >= 0, got {burn_in}")
    from convexlaw.plan import CURVE_MODELS
    from convexlaw.protocols import MODELS

    names = curve_models.strip()
    models = () if names == "none" else CURVE_MODELS if names == "default" else tuple(
        m.strip() for m in names.split(",") if m.strip())
    bad = [m for m in models if m not in MODELS]
    if bad:
        abort(f"--curve-models: unknown model {bad[0]!r}; choose from {', '.join(MODELS)} "
              "or none")
    check_memory(steps, "plan")
    store = open_store(db)
    try:
        runs = pilot_runs(store)
        _check_pilots(runs, kind)
        with working(f"planning from {len(runs)} pilot runs", disable=as_json) as update:
            plan = make_plan(runs, steps, size=size, schedule=schedule, kind=kind,
                             window=window, burn_in=burn_in, n_boot=boot,
                             curve_models=models,
                             progress=lambda msg: update(f"planning: {msg}"))
    except (PlanError, RunStoreError, ValueError) as err:
        abort(str(err))
    if plot is not None:
        from convexlaw.report import plot_plan

        plot_plan(plan, plot)
    if as_json:
        d = plan.to_dict()
        if plot is not None:
            d["figure"] = str(plot)
        print_json(d)
        return
    from convexlaw.plan import plan_lines

    _candidate_table(plan)
    for line in plan_lines(plan):
        console.print(line, highlight=False)
    if plan.curve is not None:
        c = plan.curve
        pts = list(zip(c["steps"], c["loss"], strict=True))
        pick = [pts[int(i)] for i in
                sorted(set(map(int, [0, len(pts) // 4, len(pts) // 2, 3 * len(pts) // 4,
                                     len(pts) - 1])))]
        src = plan.curve["model"]
        note = "" if src == plan.loss_source else (
            f"; its final loss differs from L* above, which {plan.loss_source} predicts")
        console.print(f"predicted curve at η* ({src}{note}): "
                      + ", ".join(f"t={s}: {v:.4f}" for s, v in pick), highlight=False)
    for w in plan.warnings:
        console.print(f"[yellow]note:[/] {w}", highlight=False)
    if plot is not None:
        console.print(f"figure: {plot}")


def _candidate_table(plan: object) -> None:
    from rich.table import Table

    t = Table(title=f"Forecasters: held-out error ({plan.holdout} split), target numbers")
    for col in ("forecaster", "k", "held-out", "final", "opt. η*, L*", "score",
                f"η* (T={plan.steps})", "L*", "κ"):
        t.add_column(col, justify="left" if col == "forecaster" else "right", no_wrap=True)
    flags = []
    for r in plan.candidates:
        def pct(v: float | None) -> str:
            return "—" if v is None else f"{100 * v:.2f} %"

        why = "; ".join(r["flags"]) or r.get("error", "")
        if why:
            flags.append(f"{r['forecaster']}: {why}")
        o = r.get("optimum")
        opt = "—" if not o else f"×{o['eta_ratio']:.2f}, {100 * o['loss_error']:+.2f} %"
        t.add_row(r["forecaster"] + (" ✓" if r["chosen"] else " ⚑" if why else ""),
                  str(r["k"] or "—"), pct(r["holdout_PredE"]), pct(r["holdout_final"]), opt,
                  "—" if r.get("score") is None else f"{r['score']:.3g}",
                  "—" if r["eta_star"] is None else f"{r['eta_star']:.4g}",
                  "—" if r["loss_star"] is None else f"{r['loss_star']:.4f}",
                  "—" if r["kappa"] is None else f"{r['kappa']:+.3f}")
    console.print(t)
    for f in flags:
        console.print(f"⚑ {f}", highlight=False)


def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output folder (run store, figures, "
                                      "summary.json).")] = Path("convexlaw-demo"),
    quick: Annotated[bool, typer.Option("--quick", help="A tiny design (digits, seconds): "
                                        "checks the pipeline, not the claim.")] = False,
    workers: Annotated[int, typer.Option(help="Local worker processes (one thread each).",
                                         min=1)] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the summary as JSON.")
                       ] = False,
) -> None:
    """The end-to-end demo: pilots, laws, a plan 80× longer, that run for real, the verdict.

    A pilot sweep on Fashion-MNIST in the fresh-data regime (no image seen twice), the
    fits, a plan for a run 80× longer than the shortest pilot, that run (and a peak sweep
    around it) for real, and the verdict: predicted vs measured optimal LR and final loss.
    """
    from dataclasses import replace

    from convexlaw.demo import DEFAULT, QUICK, run_demo
    from convexlaw.plan import PlanError

    cfg = replace(QUICK if quick else DEFAULT, workers=workers)
    try:
        summary = run_demo(out, cfg, console=console)
    except (PlanError, OSError) as err:
        abort(str(err))
    if as_json:
        print_json({k: v for k, v in summary.items() if k != "plan"})


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("demo")(demo_cmd)
