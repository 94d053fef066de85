"""``convexlaw convexity``: the convexity diagnostics stored with runs (t0, tables, figure).

Runs get their diagnostics from ``convexlaw train ... --diagnose``; this command reads them
from the store (no torch needed) and can re-apply the onset rule with other thresholds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from convexlaw.cli.common import abort, console, print_json

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Run store file (default: $CONVEXLAW_DB or ./convexlaw.db).")]
Opt = typer.Option


def _num(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "—"
    try:
        import math

        return format(x, spec) if math.isfinite(x) else "—"
    except (TypeError, ValueError):
        return str(x)


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


def _check_table(c: Any, a: dict, title: str) -> Any:
    """One row per check: what it measured and whether it holds."""
    import numpy as np
    from rich.table import Table

    ch = c.checks
    with np.errstate(divide="ignore", invalid="ignore"):
        gen = ch["alpha_star"] / ch["lr"]
        eos = ch["lam_max"] * ch["lr"] / 2
    table = Table(title=title, title_justify="left")
    cols = ("step", "loss", "r(t,s)≥0", "star gap", "ρ", "κ/‖d‖²", "R²", "α*/η", "λ_max",
            "λ_min", "λ_max·η/2", "‖∇θℓ‖", "log λ-ratio", "holds")
    for col in cols:
        table.add_column(col, justify="right")
    for i, t in enumerate(c.steps):
        later = a["pairs"][i, i + 1:]
        later = later[np.isfinite(later)]
        rho = a["rho"][i, i + 1:]
        rho = rho[np.isfinite(rho)]
        h = a["check_holds"][i]
        verdict = "—" if not np.isfinite(h) else ("[green]yes[/]" if h else "[red]no[/]")
        if a["t0"] is not None and t == a["t0"]:
            verdict += " ← t0"
        table.add_row(str(t), _num(ch["loss"][i], ".4f"),
                      _pct(later.mean()) if later.size else "—", _num(c.star_gap[i]),
                      _num(rho.max()) if rho.size else "—",
                      _num(ch["curvature_normalised"][i]), _num(ch["r2"][i], ".4f"),
                      _num(gen[i]), _num(ch["lam_max"][i]), _num(ch["lam_min"][i]),
                      _num(eos[i]), _num(ch["sample_grad_norm"][i]),
                      _num(ch["structural_gap"][i]), verdict)
    return table


def register(app: typer.Typer) -> None:
    @app.command("convexity")
    def convexity_cmd(
        keys: Annotated[list[str], typer.Argument(help="Run ids, unique names or id prefixes.")],
        db: DbOpt = None,
        plot: Annotated[Path | None, Opt(help="Write the panels of one run (PNG).")] = None,
        window: Annotated[int, Opt(help="Onset rule: window of consecutive checks.")] = 5,
        fraction: Annotated[float, Opt(help="Onset rule: share of a window that must hold.")
                            ] = 0.8,
        pair_fraction: Annotated[float, Opt(help="A check holds when this share of its "
                                            "iterate-wise gaps holds (and κ > 0).")] = 0.9,
        as_json: Annotated[bool, Opt("--json", help="Print JSON.")] = False,
    ) -> None:
        """Convexity along stored runs: path gaps, curvature along the update, Hessian
        extremes, per-sample readings, and the onset step t0 (from `train --diagnose`)."""
        from convexlaw.convexity import Convexity
        from convexlaw.runs import RunStore, RunStoreError, default_db_path

        if window < 1:
            abort(f"--window {window}: expected a positive number of checks")
        for name, v in (("--fraction", fraction), ("--pair-fraction", pair_fraction)):
            if not 0 < v <= 1:
                abort(f"{name} {v}: expected a share in (0, 1]")
        if plot is not None and len(keys) > 1:
            abort(f"--plot takes one run, got {len(keys)}")
        path = db if db is not None else default_db_path()
        if not path.exists():
            abort(f"no run store at {path}; train runs with `convexlaw train ... --diagnose "
                  f"--db {path}`")
        rule = {"window": window, "fraction": fraction, "pair_fraction": pair_fraction}
        try:
            store = RunStore(path)
            runs = [store.get(k) for k in keys]
            records = [Convexity.from_run(r) for r in runs]
        except (KeyError, ValueError, RunStoreError) as err:
            abort(str(err).strip("'\""))
        out = []
        for run, c in zip(runs, records, strict=True):
            s = c.summary(**rule)
            out.append({"id": run.id, "name": run.name, **s,
                        "checks_detail": c.to_dict()["checks"] | {"step": c.steps.tolist()}})
        if plot is not None:
            from convexlaw.convexity.plot import plot_convexity

            plot_convexity(records[0], plot, title=runs[0].name, **rule)
        if as_json:
            print_json(out if len(out) > 1 else out[0])
            return
        if len(runs) == 1:
            c, s = records[0], out[0]
            console.print(_check_table(c, c.analysis(**rule), f"convexity of {runs[0].name}"))
            _print_summary(s)
        else:
            _print_runs(out)
        if plot is not None:
            console.print(f"figure written to {plot}")


def _print_summary(s: dict) -> None:
    t0 = s["t0"]
    console.print(("[bold]t0 = " + str(t0) + "[/]") if t0 is not None else
                  "[bold red]no onset[/]: the run never becomes convex-like by the rule",
                  highlight=False)
    console.print(f"  rule: {s['rule']}", highlight=False, soft_wrap=True)
    console.print(
        f"  path pairs holding: {_pct(s['pairs_holding'])} of all, "
        f"{_pct(s['pairs_holding_after_t0'])} after t0; checks holding after t0 "
        f"{_pct(s['checks_holding_after_t0'])}; star gaps holding {_pct(s['star_holding'])} "
        f"(reference: {s['reference']}); ρ max {_num(s['rho_max'])} (after t0 "
        f"{_num(s['rho_max_after_t0'])})", highlight=False, soft_wrap=True)
    console.print(
        f"  along the update: curvature > 0 at {_pct(s['curvature_positive'])} of checks, "
        f"median quadratic R² {_num(s['quadratic_r2_median'], '.4f')}, median GeN step / "
        f"schedule's η {_num(s['gen_step_over_lr_median'])}", highlight=False, soft_wrap=True)
    console.print(
        f"  Hessian: λ_max last {_num(s['lam_max_last'])} (max {_num(s['lam_max_max'])}), "
        f"λ_min min {_num(s['lam_min_min'])}, |λ_min|/λ_max median {_num(s['ratio_median'])}"
        f" (last {_num(s['ratio_last'])}), λ_max·η/2 max {_num(s['eos_max'])}",
        highlight=False, soft_wrap=True)
    console.print(
        f"  per sample: ‖∇θℓ‖ last {_num(s['sample_grad_norm_last'])}, structural gap last "
        f"{_num(s['structural_gap_last'])}, bounds hold on {_pct(s['bounds_hold_min'])} of "
        f"samples (worst check); cost {_num(s['cpu_seconds'])} CPU s",
        highlight=False, soft_wrap=True)
    if s.get("error"):
        console.print(f"  [red]diagnostics stopped early:[/] {s['error']}", highlight=False)


def _print_runs(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="convexity of runs")
    for col in ("run", "t0", "pairs ≥ 0 after t0", "ρ max", "κ > 0", "λ_max", "λ_min",
                "|λ_min|/λ_max", "λ_max·η/2", "struct. gap"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for s in rows:
        table.add_row(s["name"], "—" if s["t0"] is None else str(s["t0"]),
                      _pct(s["pairs_holding_after_t0"]), _num(s["rho_max"]),
                      _pct(s["curvature_positive"]), _num(s["lam_max_last"]),
                      _num(s["lam_min_min"]), _num(s["ratio_median"]), _num(s["eos_max"]),
                      _num(s["structural_gap_last"]))
    console.print(table)


# ---------------------------------------------------------------- used by `convexlaw train`
def diagnose_hook(diagnose: bool, every: int | None, hessian_every: int | None,
                  reference: Path | None, save_final: Path | None) -> list[Any]:
    """The hooks for ``convexlaw train`` (``[]`` without --diagnose); one-line errors."""
    if not diagnose:
        if (every is not None or hessian_every is not None or reference is not None
                or save_final is not None):
            abort("--diagnose-every, --hessian-every, --reference and --save-final need "
                  "--diagnose")
        return []
    if every is not None and every < 1:
        abort(f"--diagnose-every {every}: expected a positive number of updates")
    if hessian_every is not None and hessian_every < 1:
        abort(f"--hessian-every {hessian_every}: expected a positive number of checks")
    from convexlaw.convexity.errors import ConvexityError

    try:
        from convexlaw.convexity import HarnessDiagnoser

        return [HarnessDiagnoser(every=every, hessian_every=hessian_every,
                                 reference=reference, save_final=save_final)]
    except ConvexityError as err:
        abort(str(err))


def report_diagnosis(run: Any, out: Any) -> None:
    """One line on the run's convexity after `train --diagnose` (``out=None``: only the
    error); exit 2 if the diagnostics stopped."""
    from convexlaw.convexity import describe

    d = run.tags.get("convexity")
    if d is None:
        return
    if out is not None:
        out.print(f"  convexity: {describe(d['summary'])}", highlight=False, soft_wrap=True)
        out.print(f"  details: convexlaw convexity {run.id} [--plot f.png]", highlight=False)
    if d.get("error"):
        abort(f"convexity diagnostics stopped: {d['error']}")
