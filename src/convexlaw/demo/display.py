"""What the demo prints: progress of the sweeps, the table of law variants, the plan."""

from __future__ import annotations

import time
from typing import Any

from convexlaw.demo.measure import _final
from convexlaw.plan import Plan, loss_from


class _Display:
    """Rich progress for the sweeps; plain lines when the console is not a terminal."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.t0 = time.perf_counter()

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.t0:6.1f} s"

    def stage(self, text: str) -> None:
        self.console.rule(f"[bold]{text}[/]  [dim]{self.elapsed()}[/]")

    def sweep(self, name: str, configs: list, store: Any, workers: int) -> list:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from convexlaw.sweep import Sweep, run_sweep

        todo = sum(c.run_id() not in store for c in configs)
        self.console.print(f"{name}: {len(configs)} runs, {len(configs) - todo} already "
                           f"in the store, {todo} to train on {workers} workers")
        with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.console,
                      transient=False) as progress:
            task = progress.add_task(name, total=max(todo, 1))

            def on_result(out: Any, done: int, total: int) -> None:
                c = out.config
                loss = ""
                if out.run is not None:  # a run that blew up early has no val curve
                    loss = f"final loss {_final(out.run):.4f}" if out.status == "finished" \
                        else f"diverged at step {out.run.tags.get('diverged_at')}"
                progress.console.print(f"    T = {c.steps:>5}  peak = {c.peak:<8.4g} "
                                       f"{out.status:<9} {loss or out.error or ''}")
                progress.update(task, completed=done)

            outcomes = run_sweep(Sweep(name, configs), store, workers=workers,
                                 on_result=on_result)
            progress.update(task, completed=max(todo, 1))
        bad = [o for o in outcomes if o.status == "error"]
        for o in bad:
            self.console.print(f"[red]run failed[/] {o.config.name()}: {o.error}")
        return [store.get(c.run_id()) for c in configs if c.run_id() in store]


def _law_table(plan: Plan, console: Any) -> None:
    from rich.table import Table

    t = Table(title="Horizon-law variants (final losses of the pilots; hold-out = longest "
                    "pilot horizon fitted from the shorter ones)",
              caption="✓η*: the plan's η* comes from this law (its η* held out best); ✓L: "
                      "its predicted loss does (best joint score; the mean where tied)")
    for col in ("variant", "k", "in-sample err", "hold-out err", "κ (η* ∝ T^κ)",
                f"η* at T={plan.steps}", "L* there"):
        t.add_column(col, justify="left" if col == "variant" else "right",
                     no_wrap=col == "variant")
    for r in plan.comparison:
        law = plan.laws[r["variant"]]
        try:
            kap = f"{law.kappa(shape=plan.schedule):+.3f}"
            e, L = law.optimal_peak(plan.steps, shape=plan.schedule)
            e_txt, L_txt = f"{e[0]:.4g}", f"{L[0]:.4f}"
        except ValueError:
            kap = e_txt = L_txt = "—"
        hold = "—" if r["holdout_PredE"] is None else f"{100 * r['holdout_PredE']:.2f} %"
        name = f"law {r['variant']}"
        mark = (" ✓η*" if name == plan.source else "") + (
            " ✓L" if name in (plan.loss_pool or [plan.loss_source]) else "")
        t.add_row(r["variant"] + mark, str(r["k"]), f"{100 * r['PredE']:.2f} %", hold, kap,
                  e_txt, L_txt)
    console.print(t)


def _plan_lines(plan: Plan) -> list[str]:
    lo, hi = plan.eta_interval
    llo, lhi = plan.loss_interval
    lit = plan.literal_forecast
    lines = [f"target: T = {plan.steps} steps, schedule {plan.schedule}",
             f"recommended peak LR  η* = {plan.eta_star:.4g}   ({100 * plan.level:.0f} % "
             f"interval {lo:.4g} … {hi:.4g}; from the {plan.source}, κ = "
             f"{plan.kappa:+.3f})" if plan.kappa is not None else
             f"recommended peak LR  η* = {plan.eta_star:.4g}   (from the {plan.source})",
             f"predicted final loss L = {plan.loss_star:.4f}   (interval {llo:.4f} … {lhi:.4f};"
             f" from {loss_from(plan) if len(plan.loss_pool) > 1 else 'the ' + plan.loss_source})",
             f"law as written: η* = {lit['eta_star']:.4g}, L* = {lit['loss_star']:.4f}"]
    if plan.curve is not None:
        c = plan.curve
        lines.append(f"curve model {c['model']}: final loss at η* {c['final']:.4f}; its own "
                     f"optimum η* = {c['eta_star']:.4g} (L = {c['loss_star']:.4f})")
    return lines
