"""CLI: ``convexlaw runs import | list | show | export | delete`` on a run store."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from convexlaw.cli.common import (
    DbOpt,
    JsonOpt,
    abort,
    console,
    err_console,
    number_option,
    open_store,
    print_json,
    steps_option,
)

runs_app = typer.Typer(
    help="Training runs: import curves (CSV/TSV, JSONL, Parquet, W&B exports, TensorBoard) "
    "into a SQLite run store, list, show, export and delete them.",
    no_args_is_help=True,
)

_store = open_store


def _errors() -> tuple[type[BaseException], ...]:
    from convexlaw.runs import RunStoreError
    from convexlaw.schedules import SpecError

    return (ValueError, KeyError, OSError, RunStoreError, SpecError)


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return format(x, spec) if math.isfinite(x) else str(x)
    return str(x)


def _size(n: float | None) -> str:
    """A parameter count as 25M / 123.6M / 1.3B."""
    if n is None:
        return "—"
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.4g}{unit}"
    return f"{n:g}"


# ---------------------------------------------------------------- import
@runs_app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="Files or folders to import.")],
    db: DbOpt = None,
    name: Annotated[str | None, typer.Option(help="Run name (one file only).")] = None,
    schedule: Annotated[str | None, typer.Option(
        help="Schedule spec to rebuild per-step LRs, checked against a logged lr.")] = None,
    steps: Annotated[int | None, steps_option("Horizon T (updates) for --schedule.")] = None,
    peak: Annotated[float | None, number_option("--peak", help="Peak LR for --schedule.",
                                                minimum=0, strict=True)] = None,
    lr_logged: Annotated[str, typer.Option(
        help="A logged lr at step t is the LR of update t ('current') or t+1 ('next').")
    ] = "current",
    diverged: Annotated[bool, typer.Option(
        "--diverged", help="Keep NaN/inf losses: store with status 'diverged'.")] = False,
    preset: Annotated[str, typer.Option(
        help="Known published format: auto, mpl-25m or none.")] = "auto",
    loss_tag: Annotated[str | None, typer.Option(help="TensorBoard tag of the loss.")] = None,
    val_tag: Annotated[str | None, typer.Option(help="TensorBoard tag of the val loss.")] = None,
    lr_tag: Annotated[str | None, typer.Option(help="TensorBoard tag of the LR.")] = None,
    lr_rtol: Annotated[float, typer.Option(
        help="Largest relative error allowed between rebuilt and logged LRs.")] = 1e-9,
    as_json: JsonOpt = False,
) -> None:
    """Import runs from files or folders into the store.

    Each file is all-or-nothing; failing files are reported, the others still import.
    Exit code 2 if any file failed.
    """
    from convexlaw.runs import import_files

    store = _store(db, must_exist=False)
    opts = dict(name=name, schedule=schedule, steps=steps, peak=peak, lr_logged=lr_logged,
                status="diverged" if diverged else None, preset=preset, loss_tag=loss_tag,
                val_tag=val_tag, lr_tag=lr_tag, lr_rtol=lr_rtol)
    try:
        if schedule is not None:  # a bad spec is a usage error, not one per file
            from convexlaw.schedules import parse

            parse(schedule)
        report = import_files(files, store, **opts)
    except _errors() as err:
        abort(str(err))
    rows = []
    for path, ids in report.imported.items():
        for run in store.summaries(id=ids):  # metadata only: a big run is not read back
            source = run["tags"].get("source", {})
            rows.append({"file": path, "id": run["id"], "name": run["name"], "T": run["T"],
                         "points": run["n_points"], "lr": source.get("lr"),
                         "lr_check_max_rel_err": source.get("lr_check_max_rel_err")})
    if as_json:
        print_json({"db": str(store.path), "imported": rows, "failed": report.failed,
                    "warnings": report.warnings})
    else:
        from rich.table import Table

        if rows:
            table = Table(title=f"imported into {store.path}")
            for col in ("id", "name", "T", "points", "lr", "lr check"):
                table.add_column(col, overflow="fold")
            for r in rows:
                table.add_row(r["id"], r["name"], str(r["T"]), str(r["points"]), r["lr"] or "—",
                              _fmt(r["lr_check_max_rel_err"], ".2g"))
            console.print(table)
        for w in report.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False,
                              soft_wrap=True)
        for msg in report.failed.values():
            err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False,
                              soft_wrap=True)
    if report.failed:
        if not as_json and len(report.failed) + len(report.imported) > 1:
            err_console.print(f"{len(report.failed)} of {len(report.failed) + len(report.imported)}"
                              " files failed; the others were imported", highlight=False)
        raise typer.Exit(2)


# ---------------------------------------------------------------- list
def _tag_filters(tags: list[str] | None) -> dict[str, Any] | None:
    if not tags:
        return None
    out: dict[str, Any] = {}
    for item in tags:
        key, eq, value = item.partition("=")
        if not eq or not key:
            abort(f"--tag expects KEY=VALUE, got {item!r}")
        try:
            out[key] = int(value) if re.fullmatch(r"-?\d+", value) else float(value)
        except ValueError:
            out[key] = value
    return out


@runs_app.command("list")
def list_cmd(
    db: DbOpt = None,
    as_json: JsonOpt = False,
    name: Annotated[str | None, typer.Option(help="Name glob, e.g. 'cos*'.")] = None,
    status: Annotated[str | None, typer.Option(help="finished, diverged or running.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Schedule spec glob.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="Optimizer name.")] = None,
    N: Annotated[float | None, number_option("--N", help="Model size (parameters).")] = None,
    T: Annotated[int | None, steps_option("Horizon T (updates).")] = None,
    peak: Annotated[float | None, number_option("--peak", help="Peak LR.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE tag filter (repeatable).")
                   ] = None,
) -> None:
    """List stored runs (id, name, T, peak, schedule, N, status, #points, final loss)."""
    store = _store(db)
    where = dict(name=name, status=status, schedule=schedule, optimizer=optimizer, N=N, T=T,
                 peak_lr=peak, tags=_tag_filters(tag))
    try:
        rows = store.summaries(**where)
    except _errors() as err:
        abort(str(err))
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} runs in {store.path}")
    widths = {"id": 16, "T": 6, "peak": 7, "N": 6, "status": 8, "#points": 7, "final loss": 10}
    for col in ("id", "name", "T", "peak", "schedule", "N", "status", "#points", "final loss"):
        right = col in ("T", "peak", "N", "#points", "final loss")
        table.add_column(col, justify="right" if right else "left", min_width=widths.get(col),
                         no_wrap=col in widths, overflow="fold", max_width=40 if col == "name"
                         else None)
    for r in rows:
        table.add_row(r["id"], r["name"], str(r["T"]), _fmt(r["peak_lr"]),
                      r["schedule"] or "—", _size(r["N"]), r["status"],
                      str(r["n_points"]), _fmt(r["final_loss"], ".5g"))
    # piped output is not squeezed to 80 columns
    out = console if console.is_terminal else Console(width=200)
    out.print(table)


# ---------------------------------------------------------------- show
def _describe(run: Any) -> dict[str, Any]:
    import numpy as np

    lrs = run.lrs
    pos = np.flatnonzero(lrs > 0)
    curves = {}
    for kind, (s, v) in run.curves.items():
        fin = np.isfinite(v)
        curves[kind] = {
            "points": int(s.size), "first_step": int(s[0]) if s.size else None,
            "last_step": int(s[-1]) if s.size else None,
            "first": float(v[0]) if s.size else None, "last": float(v[-1]) if s.size else None,
            "min": float(v[fin].min()) if fin.any() else None,
            "min_step": int(s[fin][np.argmin(v[fin])]) if fin.any() else None,
            "non_finite": int((~fin).sum()),
        }
    return {
        "id": run.id, "name": run.name, "status": run.status, "T": run.T,
        "peak_lr": run.peak_lr, "schedule": run.schedule, "warmup": run.warmup, "N": run.N,
        "optimizer": run.optimizer, "batch_size": run.batch_size, "seed": run.seed,
        "lr": {"first": float(lrs[0]), "last": float(lrs[-1]), "max": float(lrs.max()),
               "argmax_step": int(np.argmax(lrs)) + 1, "mean": float(lrs.mean()),
               "sum": float(lrs.sum()), "zero_steps": int(lrs.size - pos.size)},
        "curves": curves, "final_loss": run.final_loss(), "tags": run.tags,
    }


def _plot(run: Any, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_l, ax_r) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1]})
    for kind, (s, v) in run.curves.items():
        if kind in ("train", "val") or kind.endswith("loss"):
            ax_l.plot(s, v, lw=1.2, label=kind)
    ax_l.set_ylabel("loss")
    ax_l.legend(loc="upper right")
    ax_l.set_title(f"{run.name}  ({run.id})", fontsize=9)
    ax_l.grid(alpha=0.3)
    ax_r.plot(np.arange(1, run.T + 1), run.lrs, color="k", lw=1.0)
    ax_r.set_ylabel("learning rate")
    ax_r.set_xlabel("step (updates)")
    ax_r.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@runs_app.command("show")
def show_cmd(
    key: Annotated[str, typer.Argument(help="Run id, unique name or unique id prefix.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option(help="Write loss and LR vs step (PNG).")] = None,
) -> None:
    """Metadata and a curve summary of one run (optionally a plot of loss and LR)."""
    store = _store(db)
    try:
        run = store.get(key)
        info = _describe(run)
        if plot is not None:
            _plot(run, plot)
    except _errors() as err:
        abort(str(err))
    if as_json:
        print_json(info | ({"plot": str(plot)} if plot else {}))
        return
    from rich.table import Table

    meta = Table(show_header=False, box=None, title=f"run {run.id}", title_justify="left")
    meta.add_column(style="bold cyan")
    meta.add_column(overflow="fold")
    for k in ("name", "status", "T", "peak_lr", "schedule", "warmup", "N", "optimizer",
              "batch_size", "seed", "final_loss"):
        meta.add_row(k, _fmt(info[k], ".6g"))
    lr = info["lr"]
    meta.add_row("lr", f"max {lr['max']:.4g} at step {lr['argmax_step']}, first {lr['first']:.4g}"
                       f", last {lr['last']:.4g}, sum {lr['sum']:.4g}"
                       + (f", {lr['zero_steps']} zero steps" if lr["zero_steps"] else ""))
    tags = {k: v for k, v in run.tags.items() if k not in ("source", "convexity")}
    if tags:
        meta.add_row("tags", ", ".join(f"{k}={v}" for k, v in tags.items()))
    if isinstance(run.tags.get("convexity"), dict):  # `train --diagnose`: t0 and headline
        from convexlaw.convexity import describe
        meta.add_row("convexity", describe(run.tags["convexity"].get("summary", {})))
    for k, v in run.tags.get("source", {}).items():
        meta.add_row(f"source.{k}", _fmt(v, ".3g"))
    console.print(meta)
    table = Table(title="curves")
    for col in ("kind", "points", "steps", "first", "min (step)", "last", "non-finite"):
        table.add_column(col)
    for kind, c in info["curves"].items():
        table.add_row(kind, str(c["points"]), f"{c['first_step']}…{c['last_step']}",
                      _fmt(c["first"], ".5g"), f"{_fmt(c['min'], '.5g')} ({c['min_step']})",
                      _fmt(c["last"], ".5g"), str(c["non_finite"]))
    console.print(table)
    if plot is not None:
        console.print(f"plot written to {plot}")


# ---------------------------------------------------------------- export
def write_csv(run: Any, out: Path) -> None:
    """One row per step t = 1..T: step, lr (LR of update t), then one column per curve
    ("loss" for train, "val_loss" for val, else the kind), empty where not logged."""
    import csv

    import numpy as np

    names = {"train": "loss", "val": "val_loss"}
    kinds = list(run.curves)
    cols = {}
    for kind in kinds:
        s, v = run.curves[kind]
        col = np.full(run.T, None, dtype=object)
        col[s - 1] = [repr(float(x)) for x in v]
        cols[kind] = col
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "lr"] + [names.get(k, k) for k in kinds])
        for t in range(run.T):
            w.writerow([t + 1, repr(float(run.lrs[t]))]
                       + ["" if cols[k][t] is None else cols[k][t] for k in kinds])


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "run"


@runs_app.command("export")
def export_cmd(
    keys: Annotated[list[str], typer.Argument(help="Run ids or names.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (a folder for several "
                                      "runs as CSV).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl.")] = "jsonl",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export runs as JSONL or CSV.

    JSONL: one full run dict per line (re-importable with all metadata).
    CSV: one file per run, a row per step t: step, lr (LR of update t), loss, val_loss...
    """
    import json

    if fmt not in ("csv", "jsonl"):
        abort(f"--format {fmt!r}; expected csv or jsonl")
    store = _store(db)
    try:
        runs = [store.get(k) for k in keys]
        if fmt == "jsonl":
            with out.open("w") as fh:
                for run in runs:
                    fh.write(json.dumps(run.to_dict(), allow_nan=False) + "\n")
            written = [out]
        elif len(runs) == 1 and out.suffix.lower() in (".csv", ".tsv", ".txt"):
            write_csv(runs[0], out)
            written = [out]
        else:
            out.mkdir(parents=True, exist_ok=True)
            written = []
            for run in runs:
                path = out / f"{_safe(run.name)}.csv"
                write_csv(run, path)
                written.append(path)
    except _errors() as err:
        abort(str(err))
    if as_json:
        print_json({"db": str(store.path), "format": fmt,
                    "runs": [{"id": r.id, "name": r.name} for r in runs],
                    "written": [str(p) for p in written]})
        return
    for p in written:
        console.print(f"wrote {p}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- delete
@runs_app.command("delete")
def delete_cmd(
    key: Annotated[str, typer.Argument(help="Run id, unique name or unique id prefix.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete one run from the store."""
    store = _store(db)
    try:
        run_id = store.resolve(key)
        name = store.summaries(id=run_id)[0]["name"]
        store.delete(run_id)
    except _errors() as err:
        abort(str(err))
    if as_json:
        print_json({"db": str(store.path), "deleted": {"id": run_id, "name": name}})
        return
    console.print(f"deleted {run_id} ({name})", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
