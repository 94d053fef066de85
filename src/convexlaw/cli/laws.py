"""CLI: scaling laws from tables of final losses (``convexlaw laws fit`` / ``predict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from convexlaw.cli.common import JsonOpt, abort, console, number_parser, print_json, working

# the law variants (convexlaw.laws.VARIANTS; a test keeps the two equal — importing the
# laws here would slow every `convexlaw --help` by seconds)
VARIANTS = ("literal", "distance", "gradient", "peak", "distance+gradient", "distance+peak")

laws_app = typer.Typer(help="Scaling laws of loss and peak LR across horizon T and size N, "
                       "from tables of final losses.", no_args_is_help=True)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.3f} %"


@laws_app.command("fit")
def fit_cmd(
    table: Annotated[Path, typer.Argument(help="CSV with columns N, T, loss, optional "
                                          "peak_lr (absent: rows tuned at their optimum).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the fitted laws (JSON).")],
    variant: Annotated[str, typer.Option(help="auto (fit all, the held-out horizon "
                                         f"chooses), or one of: {', '.join(VARIANTS)}.")
                       ] = "auto",
    boot: Annotated[int, typer.Option(help="Bootstrap refits for intervals.", min=0)] = 200,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Fit the horizon law (one size), size law (several) or tuned-loss law to a table."""
    from convexlaw.laws import Law, fit_table, save_laws

    if variant != "auto" and variant not in VARIANTS:
        abort(f"--variant {variant!r}; expected auto or one of {', '.join(VARIANTS)}")
    n = len(VARIANTS) if variant == "auto" else 1
    try:
        with working(f"fitting {n} law variant(s) to {table}, {boot} bootstrap refits each",
                     disable=as_json):
            record = fit_table(table, variant=variant, n_boot=boot, random_state=seed)
    except ValueError as err:
        abort(str(err))
    try:
        save_laws(record, out)
    except OSError as err:
        abort(f"cannot write {out}: {err.strerror}")
    chosen = Law.from_dict(record["laws"][record["chosen"]])
    if as_json:
        print_json({"out": str(out), "chosen": record["chosen"],
                    "comparison": record["comparison"], "left_out": record["left_out"],
                    "params": chosen.params_, "stderr": chosen.stderr_,
                    "warnings": chosen.warnings_})
        return
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(f"{chosen.kind} variants on {table}  (hold-out: longest "
                           "horizon)"))
    for col in ("variant", "k", "PredE", "WorstE", "AICc", "hold-out PredE",
                "hold-out WorstE"):
        t.add_column(col, justify="right" if col != "variant" else "left",
                     no_wrap=col == "variant")
    for r in record["comparison"]:
        mark = " ✓" if r["chosen"] else ""
        t.add_row(r["variant"] + mark, str(r["k"]), _pct(r["PredE"]), _pct(r["WorstE"]),
                  f"{r['AICc']:.1f}", _pct(r["holdout_PredE"]), _pct(r["holdout_WorstE"]))
    console.print(t)
    console.print(f"chosen: [bold]{record['chosen']}[/] (by "
                  f"{record['comparison'][0]['selected_by']})", highlight=False)
    for r in record["comparison"]:
        for note in r.get("notes", []):
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for d in record.get("left_out", []):
        where = f"T = {d['T']:g}" + ("" if d.get("peak") is None else f", peak {d['peak']:.3g}")
        console.print(f"left out ({escape(where)}): {escape(d['reason'])}", highlight=False)
    console.print(chosen.report(), highlight=False, markup=False)
    console.print(f"wrote {out}", highlight=False)


def _forecast_rows(law: Any, Ts: list[float], N: float | None, peak: float | None
                   ) -> list[dict[str, Any]]:
    rows = []
    for T in Ts:
        rows.append(law.forecast(T, N if law.sized else None, peak))
    return rows


@laws_app.command("predict")
def predict_cmd(
    law_file: Annotated[Path, typer.Argument(help="Law file written by `laws fit`.")],
    T: Annotated[list[float], typer.Option(
        "--steps", "-T", help="Target horizon (repeatable), same unit as the table's T, e.g. "
        "1e5.", parser=number_parser(0, strict=True), metavar="FLOAT")],
    N: Annotated[float | None, typer.Option(
        "--N", help="Target model size.", parser=number_parser(0, strict=True),
        metavar="FLOAT")] = None,
    peak: Annotated[float | None, typer.Option(
        "--peak", help="Also predict the loss at this peak LR.",
        parser=number_parser(0, strict=True), metavar="FLOAT")] = None,
    variant: Annotated[str | None, typer.Option(help="Use this variant instead of the "
                                                "chosen one.")] = None,
    as_json: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option(help="Write a figure (PNG): loss vs peak LR "
                                              "at the pilot horizons and the targets.")
                    ] = None,
) -> None:
    """Optimal peak LR η*(T) and loss L*(T) (with intervals) at target horizons and size."""
    from convexlaw.laws import load_laws

    try:
        laws, chosen, _ = load_laws(law_file)
    except ValueError as err:
        abort(str(err))
    name = variant or chosen
    if name not in laws:
        abort(f"{law_file} has no variant {name!r}; it has {', '.join(laws)}")
    law = laws[name]
    notes = []
    if N is not None and not law.sized:
        pil = (law.points_.get("N") or [None])[0]
        if pil is not None and abs(N / pil - 1) > 1e-9:
            notes.append(f"the law was fitted at one model size (N = {pil:.4g}); --N {N:.4g} "
                         "is ignored")
    if law.sized and N is None:
        abort("this law spans several model sizes: give --N")
    for name_, v in (("--steps", min(T)), ("--N", N), ("--peak", peak)):
        if v is not None and not v > 0:
            abort(f"{name_} must be > 0, got {v:g}")
    try:
        rows = _forecast_rows(law, T, N, peak)
    except ValueError as err:
        abort(str(err))
    if plot is not None:
        try:
            _plot(law, T, N, plot)
        except ValueError as err:
            abort(str(err))
    if as_json:
        print_json({"variant": name, "kind": law.kind, "forecasts": rows, "notes": notes,
                    "plot": None if plot is None else str(plot)})
        return
    from rich.markup import escape
    from rich.table import Table

    lvl = int(round(100 * law.level))
    t = Table(title=escape(f"{law.kind} [{name}] from {law_file}  ({lvl} % bootstrap "
                           "intervals)"))
    cols = ["T", "N", f"η* [{lvl} %]", f"L* [{lvl} %]"]
    if peak is not None:
        cols.append(f"L at η={peak:.3g} [{lvl} %]")
    for c in cols:
        t.add_column(c, justify="right", no_wrap=c in ("T", "N"))

    def cell(v: float | None, iv: list[float] | None, fmt: str) -> str:
        if v is None:
            return "—"
        if iv is None or not all(x is not None and x == x for x in iv):
            return escape(f"{v:{fmt}} [n/a]")
        return escape(f"{v:{fmt}} [{iv[0]:{fmt}}, {iv[1]:{fmt}}]")

    for r in rows:
        cells = [f"{r['T']:.6g}", "—" if r["N"] is None else f"{r['N']:.4g}",
                 cell(r["eta_star"], r["eta_star_interval"], ".3g"),
                 cell(r["loss_star"], r["loss_star_interval"], ".4f")]
        if peak is not None:
            cells.append(cell(r["loss"], r["loss_interval"], ".4f"))
        t.add_row(*cells)
    console.print(t)
    for w in notes + sorted({w for r in rows for w in r["warnings"]}):
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if plot is not None:
        console.print(f"wrote {plot}", highlight=False)


def _plot(law: Any, Ts: list[float], N: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pts = law.points_
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if law.kind == "OptimumLaw":
        T_all = np.array(pts["T"])
        lo, hi = T_all.min() / 1.5, max(max(Ts), T_all.max()) * 1.5
        grid = np.geomspace(lo, hi, 120)
        Nq = N if law.sized else None
        band = [law.forecast(t, Nq) for t in grid]
        ax.plot(grid, [b["loss_star"] for b in band], color="C0", label="L*(T) law")
        ax.fill_between(grid, [b["loss_star_interval"][0] for b in band],
                        [b["loss_star_interval"][1] for b in band], color="C0", alpha=0.2)
        sel = np.ones(T_all.size, bool) if not law.sized or pts["N"] is None else \
            np.isclose(pts["N"], N)
        ax.scatter(T_all[sel], np.array(pts["loss"])[sel], color="k", s=14, label="pilots")
        ax.set_xscale("log")
        ax.set_xlabel("T")
        ax.set_ylabel("tuned loss L*")
    else:
        peaks = np.array(pts["peak"])
        pgrid = np.geomspace(peaks.min() / 3, peaks.max() * 3, 80)
        finals = np.array(pts["T"]) == np.array(pts["horizon"])
        horizons = sorted(set(np.array(pts["horizon"])[finals]))
        Nq = N if law.sized else None
        targets = [t for t in sorted(Ts) if not any(np.isclose(t, horizons))]
        for i, h in enumerate(horizons + targets):
            target = i >= len(horizons)
            y, lo, hi = law.peak_curve(h, pgrid, Nq)
            color = f"C{i % 10}"
            ax.plot(pgrid, y, color=color, ls="-" if target else "--",
                    label=f"T = {h:.4g}" + (" (target)" if target else " (pilots)"))
            ax.fill_between(pgrid, lo, hi, color=color, alpha=0.15)
            if not target:
                sel = finals & (np.array(pts["horizon"]) == h)
                if law.sized and pts["N"] is not None:
                    sel &= np.isclose(pts["N"], N)
                ax.scatter(peaks[sel], np.array(pts["loss"])[sel], color=color, s=16)
            e, ls = law.optimal_peak([h], Nq)
            ax.plot(e, ls, marker="*", color=color, ms=10)
        # keep the interesting part: the valleys, not the far walls of the curves
        ys = np.array(pts["loss"])
        lows = [line.get_ydata().min() for line in ax.get_lines()]
        span = max(ys.max() - min(lows), 1e-3)
        ax.set_ylim(min(lows) - 0.05 * span, ys.max() + 0.3 * span)
        ax.set_xscale("log")
        ax.set_xlabel("peak learning rate")
        ax.set_ylabel("final loss")
    title = f"{law.kind} [{law.variant}]" + (f", N = {N:.3g}" if N is not None else "")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror}") from None
    finally:
        plt.close(fig)


def register(app: typer.Typer) -> None:
    app.add_typer(laws_app, name="laws")
