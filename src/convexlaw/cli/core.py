"""CLI: the schedule vocabulary, the bound of one schedule, the qualifying exam."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convexlaw.cli.common import (
    JsonOpt,
    abort,
    check_memory,
    console,
    number_option,
    print_json,
    steps_option,
    working,
)


def _parse_at(text: str | None, total: int) -> list[int] | None:
    from convexlaw.cli.common import parse_steps

    if text is None:
        return None
    try:
        steps = [parse_steps(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError as err:
        abort(f"--at {text!r}: {err}")
    if not steps:
        abort("--at is empty: give steps like 100,1000")
    bad = [t for t in steps if t > total]
    if bad:
        abort(f"--at {bad[0]} is outside 1..{total} (the run has --steps {total} steps)")
    return steps


def schedules_cmd(as_json: JsonOpt = False) -> None:
    """List the built-in schedules with their parameters and formulas."""
    from rich.table import Table

    from convexlaw.schedules import REGISTRY

    rows = []
    for name, d in REGISTRY.items():
        params = [{"name": p.name, "default": p.default, "kind": p.kind,
                   "min": p.lo, "max": p.hi, "choices": list(p.choices), "help": p.help}
                  for p in d.params]
        rows.append({"name": name, "aliases": list(d.aliases), "modifier": d.modifier,
                     "summary": d.summary, "formula": d.formula, "params": params})
    if as_json:
        print_json(rows)
        return
    table = Table(title="Schedules  (spec: NAME(key=value,...)+warmup(W); durations < 1 are "
                  "fractions of the run, ≥ 1 are steps)", show_lines=True)
    table.add_column("name", style="bold cyan")
    table.add_column("parameters (default)")
    table.add_column("formula, s = 0…n−1")
    for r in rows:
        params = ", ".join(
            f"{p['name']}={p['default']}" + (f" ∈ {{{','.join(p['choices'])}}}" if p["choices"]
                                             else "")
            for p in r["params"]) or "—"
        name = r["name"] + (" (modifier)" if r["modifier"] else "")
        if r["aliases"]:
            name += "\n" + ", ".join(r["aliases"])
        table.add_row(name, params, f"{r['summary']}\n[dim]{r['formula']}[/]")
    console.print(table)


def bound_cmd(
    spec: Annotated[str, typer.Argument(help="Schedule spec, e.g. 'cosine+warmup(0.05)'.")],
    steps: Annotated[int, steps_option()],
    peak: Annotated[float | None, number_option(
        "--peak", help="Peak LR (default: the optimal one).", minimum=0, strict=True)] = None,
    D: Annotated[float, number_option("--D", help="Distance to the optimum.", minimum=0)
                 ] = 1.0,
    G: Annotated[float, number_option("--G", help="Gradient-norm bound.", minimum=0)] = 1.0,
    at: Annotated[str | None, typer.Option(help="Steps to report, e.g. 10,100,1000.")] = None,
    as_json: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option(help="Write a figure (PNG).")] = None,
) -> None:
    """The last-iterate bound Ω_t of a schedule, and its optimal peak learning rate."""
    import numpy as np

    from convexlaw.bound import bound, optimal_peak
    from convexlaw.schedules import parse, schedule

    chosen = _parse_at(at, steps)
    try:
        parse(spec)
    except ValueError as err:
        abort(str(err))
    check_memory(steps, "bound at every step" if plot is not None else "bound")
    try:
        best_peak, best_omega = optimal_peak(spec, steps, D=D, G=G)
        use_peak = best_peak if peak is None else peak
        lrs = schedule(spec, steps, peak=use_peak)
        if chosen is None:
            grid = np.unique(np.round(np.geomspace(1, steps, min(steps, 8))).astype(int))
            chosen = grid.tolist()
        every = bound(lrs, D=D, G=G) if plot is not None else None
        omega = every[np.asarray(chosen) - 1] if every is not None else bound(lrs, D, G, chosen)
    except ValueError as err:
        abort(str(err))
    result = {
        "spec": spec, "steps": steps, "D": D, "G": G, "peak": use_peak,
        "optimal_peak": best_peak, "optimal_bound": best_omega,
        "at": chosen, "bound": omega,
    }
    if plot is not None:
        from convexlaw.plot import plot_bound

        title = f"{spec}, T={steps}, peak={use_peak:.4g}"
        result["plot"] = str(plot_bound(lrs, every, plot, title))
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    console.print(f"[bold]{spec}[/], T = {steps}, D = {D:g}, G = {G:g}")
    console.print(f"optimal peak η* = {best_peak:.6g}  →  Ω*_T = {best_omega:.6g}"
                  + ("" if peak is None else f"; using peak {peak:g}"))
    table = Table("step t", "η_t", "Ω_t")
    for t, o in zip(chosen, omega, strict=True):
        table.add_row(str(t), f"{lrs[t - 1]:.6g}", f"{o:.6g}")
    console.print(table)
    if plot is not None:
        console.print(f"figure: {result['plot']}")


def exam_cmd(
    specs: Annotated[
        list[str] | None, typer.Argument(help="Schedule specs (default: all built-in).")
    ] = None,
    as_json: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option(help="Write a figure (PNG).")] = None,
) -> None:
    """The qualifying exam: is √T·Ω*_T bounded as T grows (optimal O(1/√T) rate)?"""
    from convexlaw.exam import exam_all

    try:  # all families at once: their horizons share the threads, the longest first
        with working("examining", disable=as_json) as update:
            results = exam_all(specs or None, progress=lambda done, total: update(
                f"examining: {100 * done // total}% of the steps"))
    except ValueError as err:
        abort(str(err))
    figure = None
    if plot is not None:
        from convexlaw.plot import plot_exam

        figure = str(plot_exam(results, plot))
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    from rich.table import Table

    table = Table(title="Qualifying exam: √T·Ω*_T for T = 10² … 10⁷ (D = G = 1, peak tuned)")
    # specs are never cut: three WSD variants must not look alike
    table.add_column("schedule", style="bold", overflow="fold",
                     min_width=min(max(len(r.spec) for r in results), 40))
    table.add_column("verdict")
    table.add_column("√T·Ω* at 10⁷", justify="right")
    table.add_column("c  (η* = D/(G√(cT)))", justify="right")
    table.add_column("growth")
    for r in results:
        colour = "green" if r.verdict == "pass" else "red"
        table.add_row(r.spec, f"[{colour}]{r.verdict}[/]", f"{r.scaled_bound[-1]:.4f}",
                      f"{r.c:.4g}" if r.c is not None else "—",
                      "bounded" if r.verdict == "pass" else
                      f"like {r.growth}, ×{10 ** r.slope:.3f}/decade")
    console.print(table)
    if figure:
        console.print(f"figure: {figure}")


def register(app: typer.Typer) -> None:
    app.command("schedules")(schedules_cmd)
    app.command("bound")(bound_cmd)
    app.command("exam")(exam_cmd)
