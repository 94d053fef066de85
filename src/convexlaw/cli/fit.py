"""CLI: fit a loss-curve model to runs, predict with a fit, compare models on a protocol.

    convexlaw fit RUNS... --model convex-ed-gt --out fit.json
    convexlaw predict fit.json --run FILE            (predicted next to logged loss)
    convexlaw predict fit.json --schedule 'cosine+warmup(0.05)' --steps 50000 --peak 1e-3
    convexlaw compare RUNS... --models convex,convex-ed-gt,mpl --protocol mpl --plot f.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from convexlaw.cli.common import (
    DbOpt,
    JsonOpt,
    abort,
    console,
    number_option,
    print_json,
    steps_option,
    warn,
    working,
)

KindOpt = Annotated[str | None, typer.Option(
    "--kind", help="Which logged loss to model: val or train (default: val if logged).")]
BurnOpt = Annotated[int, typer.Option(
    "--burn-in", min=0, help="Ignore observations at steps ≤ this (fit and score).")]


def _load(items: list[str], db: Path | None) -> list[Any]:
    from convexlaw.runs import load_runs

    try:
        return load_runs(items, db=db)
    except (ValueError, OSError, KeyError) as err:
        abort(str(err))


def _model_names() -> str:
    from convexlaw.protocols import MODELS

    return ", ".join(MODELS)


def fit_cmd(
    runs: Annotated[list[str], typer.Argument(help="Run files (CSV, JSONL, Parquet, W&B "
                                              "JSON, TensorBoard) or run ids in the store.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name: convex, convex-gt, "
                                       "convex-gt-3t, convex-ed, convex-ed-gt, convex-ed-gt-hz,"
                                       " convex-ed-peak, convex-ed-gpeak, convex-ed-gt-gpeak,"
                                       " mpl, tissue, powerlaw.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the fit here "
                                             "(JSON).")] = None,
    kind: KindOpt = None,
    burn_in: BurnOpt = 0,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit one shared set of coefficients to all given runs; print a fit report."""
    import warnings

    from convexlaw.curve import FitWarning
    from convexlaw.protocols import make_model

    loaded = _load(runs, db)
    try:
        m = make_model(model, kind=kind, burn_in=burn_in)
        with warnings.catch_warnings(), working(f"fitting {model} to {len(loaded)} run(s)",
                                                disable=as_json):
            warnings.simplefilter("ignore", FitWarning)  # they are in the report
            m.fit(loaded)
    except (ValueError, RuntimeError) as err:
        abort(str(err))
    d = m.to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(d, indent=1))
    if as_json:
        print_json(d)
        return
    console.print(m.report(), highlight=False)
    if out is not None:
        console.print(f"wrote {out}")


def _sample(n: int, k: int = 15) -> list[int]:
    import numpy as np

    if n <= k:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def predict_cmd(
    fit_file: Annotated[Path, typer.Argument(help="fit.json written by `convexlaw fit`.")],
    run: Annotated[str | None, typer.Option("--run", help="A run file or id: predict at "
                                            "its logged steps.")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="Schedule spec, e.g. "
                                                 "'cosine+warmup(0.05)'.")] = None,
    steps: Annotated[int | None, steps_option("Horizon T for --schedule.")] = None,
    peak: Annotated[float | None, number_option("--peak", help="Peak LR for --schedule.",
                                                minimum=0, strict=True)] = None,
    at: Annotated[str | None, typer.Option("--at", help="Steps to predict, e.g. "
                                           "1000,5000 (default: 20 spread over 1..T).")]
    = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predicted loss of a fitted model for a run or a schedule."""
    import numpy as np
    from rich.table import Table

    from convexlaw.metrics import curve_metrics
    from convexlaw.protocols import load_fit

    try:
        m = load_fit(fit_file)
    except (OSError, ValueError) as err:
        abort(str(err))
    if (run is None) == (schedule is None):
        abort("give exactly one of --run FILE or --schedule SPEC (with --steps and --peak)")
    if run is not None:
        r = _load([run], db)
        if len(r) != 1:
            abort(f"--run {run} holds {len(r)} runs; give one")
        r = r[0]
        try:
            from convexlaw.curve import as_curve_data

            d = as_curve_data(r, m.kind)
            pred = m.predict(r, d.steps)
        except ValueError as err:
            abort(str(err))
        ok = np.isfinite(pred) & (d.steps > m.burn_in)
        metrics = curve_metrics(d.y[ok], pred[ok]) if ok.sum() > 1 else {}
        notes = m.extrapolation(float(d.peak), int(d.T))
        out = {"run": r.name, "model": m.name, "steps": d.steps, "logged": d.y,
               "predicted": pred, "metrics": metrics, "warnings": notes}
        if as_json:
            print_json(out)
            return
        for note in notes:
            warn(note)
        t = Table(title=f"{m.name} on {r.name}")
        for c in ("step", "logged", "predicted", "rel. error"):
            t.add_column(c, justify="right")
        for i in _sample(d.steps.size):
            t.add_row(str(d.steps[i]), f"{d.y[i]:.4f}", f"{pred[i]:.4f}",
                      f"{100 * (pred[i] / d.y[i] - 1):+.3f} %")
        console.print(t)
        if metrics:
            console.print("  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        return
    if steps is None or peak is None:
        abort("--schedule needs --steps T and --peak P")
    from convexlaw.schedules import SpecError
    from convexlaw.schedules import schedule as make_schedule

    try:
        lrs = make_schedule(schedule, steps, peak)
        if at is None:
            pts = np.unique(np.linspace(1, steps, 20).round().astype(int))
        else:
            pts = np.array([int(float(x)) for x in at.split(",") if x.strip()])
        pred = m.predict(lrs, pts, peak=peak)
    except (SpecError, ValueError) as err:
        abort(str(err))
    notes = m.extrapolation(peak, steps)
    out = {"schedule": schedule, "steps": steps, "peak": peak, "model": m.name,
           "at": pts, "predicted": pred, "warnings": notes}
    if as_json:
        print_json(out)
        return
    for note in notes:
        warn(note)
    t = Table(title=f"{m.name}: {schedule}, T = {steps}, peak {peak:g}")
    t.add_column("step", justify="right")
    t.add_column("predicted loss", justify="right")
    for s, v in zip(pts, pred, strict=True):
        t.add_row(str(s), f"{v:.4f}")
    console.print(t)


def _split(protocol: str, runs: list[Any], fit_names: str | None, test_peak: float | None,
           burn_in: int, kind: str | None) -> list[Any]:
    from convexlaw import protocols as P

    if protocol == "seq2seq":
        return [P.seq2seq(r, burn_in=burn_in, kind=kind) for r in runs]
    if protocol == "mpl":
        return [P.cross_schedule(runs, P.MPL_FIT)]
    if protocol == "cross-schedule":
        if not fit_names:
            abort("--protocol cross-schedule needs --fit NAME,NAME (the runs to fit)")
        return [P.cross_schedule(runs, [x.strip() for x in fit_names.split(",")])]
    if protocol == "cross-horizon":
        return [P.cross_horizon(runs)]
    if protocol == "cross-lr":
        return [P.cross_lr(runs, test_peak)]
    abort(f"--protocol must be one of {', '.join(P.PROTOCOLS)}, got {protocol!r}")


def _compare_split(sp: Any, names: list[str], kind: str | None, burn_in: int, quiet: bool,
                   say: Any) -> list[dict[str, Any]]:
    """Every model on one split; a degenerate split is an error row per model."""
    from convexlaw.protocols import evaluate, make_model

    rows = []
    for n in names:
        say(f"{sp.label}: fitting {n}")
        try:
            r = evaluate(make_model(n, kind=kind, burn_in=burn_in), sp)
        except (ValueError, RuntimeError) as err:
            r = {"model": n, "split": sp.label, "error": str(err)}
        r["model"] = n
        rows.append(r)
    return rows


def compare_cmd(
    runs: Annotated[list[str], typer.Argument(help="Run files or ids.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names.")]
    = "convex,convex-ed,convex-ed-gt,mpl",
    protocol: Annotated[str, typer.Option("--protocol", "-p", help="seq2seq | mpl | "
                                          "cross-schedule | cross-horizon | cross-lr")]
    = "seq2seq",
    fit_names: Annotated[str | None, typer.Option("--fit", help="cross-schedule: names of "
                                                  "the runs to fit.")] = None,
    test_peak: Annotated[float | None, number_option(
        "--test-peak", help="cross-lr: the peak LR to hold out.", minimum=0, strict=True)
    ] = None,
    kind: KindOpt = None,
    burn_in: BurnOpt = 0,
    plot: Annotated[Path | None, typer.Option("--plot", help="Figure of predicted vs "
                                              "logged curves (PNG).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Side-by-side scores of several models on one protocol (R², MAE, RMSE, PredE, WorstE)."""
    from rich.table import Table

    from convexlaw.protocols import make_model

    names = [x.strip() for x in models.split(",") if x.strip()]
    try:
        for n in names:
            make_model(n)
    except ValueError as err:
        abort(f"{err} (known: {_model_names()})")
    loaded = _load(runs, db)
    try:
        splits = _split(protocol, loaded, fit_names, test_peak, burn_in, kind)
    except ValueError as err:
        abort(str(err))
    results = []
    with working("comparing models", disable=as_json) as say:
        for sp in splits:
            results += _compare_split(sp, names, kind, burn_in, as_json, say)

    if plot is not None:
        _plot(results, plot)
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "curves"} for r in results])
        return
    for sp in splits:
        t = Table(title=f"{sp.label}: fit {len(sp.fit)} run(s), score {len(sp.test)}")
        for c in ("model", "k", "R²", "MAE", "RMSE", "PredE", "WorstE", "fit s", "note"):
            t.add_column(c, justify="left" if c in ("model", "note") else "right",
                         no_wrap=c != "note")
        for r in results:
            if r["split"] != sp.label:
                continue
            if "error" in r:
                t.add_row(r["model"], "", "", "", "", "", "", "", r["error"])
                continue
            m = r["metrics"]
            note = "" if r["identified"] else "not identified"
            t.add_row(r["model"], str(r["k"]), f"{m['R2']:.4f}", f"{m['MAE']:.5f}",
                      f"{m['RMSE']:.5f}", f"{100 * m['PredE']:.3f}%",
                      f"{100 * m['WorstE']:.2f}%", f"{r['fit_seconds']:.1f}", note)
        console.print(t)
    console.print("PredE: mean over scored runs of each run's mean relative error; WorstE: "
                  "largest relative error", style="dim")
    if plot is not None:
        console.print(f"wrote {plot}")


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, list[tuple[str, dict]]] = {}
    observed: dict[str, dict] = {}
    for r in results:
        for c in r.get("curves", []):
            key = f"{r['split']} | {c['run']}" if r["split"].startswith("seq2seq") else c["run"]
            panels.setdefault(key, []).append((r["model"], c))
            observed[key] = c
    if not panels:
        abort("nothing to plot: every fit failed")
    n = len(panels)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, (key, items) in zip(axes.flat, panels.items(), strict=False):
        c = observed[key]
        ax.plot(c["steps"], c["observed"], "k.", ms=2, label="logged")
        for model, cv in items:
            ax.plot(cv["steps"], cv["predicted"], lw=1.2, label=model)
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(lw=0.2)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_cmd)
    app.command("predict")(predict_cmd)
    app.command("compare")(compare_cmd)
