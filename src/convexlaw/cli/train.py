"""``convexlaw train`` (one run) and ``convexlaw sweep`` (a grid of pilot runs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from convexlaw.cli.common import DbOpt, JsonOpt, abort, print_json, steps_option

Opt = typer.Option


def _summary(run: Any) -> dict[str, Any]:
    """The numbers a person wants from a finished run (no curves)."""
    def final(kind: str) -> float | None:
        return run.final_loss(kind) if kind in run.curves else None

    val = run.curves.get("val")
    best = None
    if val is not None and len(val[1]):
        finite = [v for v in val[1].tolist() if math.isfinite(v)]
        best = min(finite) if finite else None
    wall = run.tags.get("wall_time")
    done = run.tags.get("steps_done", run.T)
    return {
        "id": run.id, "name": run.name, "status": run.status, "N": run.N,
        "optimizer": run.optimizer, "schedule": run.schedule, "peak": run.peak_lr,
        "steps": run.T, "steps_done": done, "final_train": final("train"),
        "final_val": final("val"), "best_val": best, "wall_time": wall,
        "steps_per_s": done / wall if wall else None,
        "beats_constant": run.tags.get("beats_constant"),
    }


def _fmt(x: Any, spec: str = ".4f") -> str:
    return "—" if x is None else format(x, spec)


def _table(sweep: Any, rows: list[dict], outcomes: list[Any], path: Any) -> Any:
    """One row per run, one column per grid axis; the shared settings in the caption."""
    from dataclasses import asdict

    from rich.table import Table

    settings = [asdict(o.config) for o in outcomes]
    varying = [k for k in sweep.axes if len({repr(d[k]) for d in settings}) > 1]
    hidden = {"eval_every"} | ({"context"} if settings[0]["model"] != "gpt" else set())
    fixed = ", ".join(f"{k}={v}" for k, v in settings[0].items()
                      if k not in sweep.axes and v is not None and k not in hidden)
    sizes = {r.get("N") for r in rows if r.get("N")}
    if len(sizes) == 1:
        fixed += f", N={sizes.pop():,.0f}"
    table = Table(title=f"sweep {sweep.name} -> {path}", caption=fixed)
    columns = [*varying, *(["N"] if sizes else []), "status", "train", "val", "best val", "s"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("schedule", "status") else "right")
    for d, r in zip(settings, rows, strict=True):
        cells = [format(d[k], "g") if isinstance(d[k], float) else str(d[k]) for k in varying]
        if sizes:
            cells.append(_fmt(r.get("N"), ",.0f"))
        status = r.get("status", "error")
        if status == "finished" and r.get("beats_constant") is False:
            status = "collapsed"  # finite, but no better than the label frequencies
        table.add_row(*cells, status, _fmt(r.get("final_train"), ".4g"),
                      _fmt(r.get("final_val"), ".4g"), _fmt(r.get("best_val"), ".4g"),
                      _fmt(r.get("wall_time"), ".1f"))
    return table


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        model: Annotated[str, Opt(help="mlp | cnn | gpt")] = "mlp",
        size: Annotated[int, Opt(help="The size knob: MLP/GPT width, CNN channels.")] = 256,
        optimizer: Annotated[str, Opt(help="sgd | adamw | muon | muon-nsgd")] = "sgd",
        schedule: Annotated[str, Opt(help="Schedule spec, e.g. 'cosine+warmup(0.05)'.")
                            ] = "cosine",
        peak: Annotated[float, Opt(help="Peak learning rate (TrainConfig checks it).")] = 0.1,
        steps: Annotated[int, steps_option("Horizon T (optimizer updates), e.g. 1000 or 1e3.")
                         ] = 1000,
        dataset: Annotated[str | None, Opt(help="image | fashion-mnist | mnist-5k | digits "
                                           "(images); kjv | news | kjv-news (bytes).")] = None,
        data_path: Annotated[str | None, Opt(help="Directory of the Fashion-MNIST .gz files.")
                             ] = None,
        seed: Annotated[int, Opt()] = 0,
        depth: Annotated[int | None, Opt(help="Hidden layers / blocks (model default).")] = None,
        batch_size: Annotated[int | None, Opt(help="Default 128 (images), 16 (bytes).")] = None,
        context: Annotated[int, Opt(help="GPT context in bytes.")] = 64,
        sampling: Annotated[str | None, Opt(help="Bytes: fresh (no target byte twice "
                                            "within an epoch; default) | random.")] = None,
        eval_every: Annotated[int | None, Opt(help="Held-out loss every k updates (T/50).")
                              ] = None,
        eval_size: Annotated[int | None, Opt(help="Held-out images (1000) / windows (64).")
                             ] = None,
        momentum: Annotated[float | None, Opt(help="SGD/Muon momentum, AdamW beta1.")] = None,
        weight_decay: Annotated[float, Opt()] = 0.0,
        clip: Annotated[float | None, Opt(help="Clip the gradient norm at this value.")] = None,
        threads: Annotated[int, Opt(help="torch threads; curves reproduce per thread count "
                                    "(sweeps use 1).")] = 1,
        db: DbOpt = None,
        force: Annotated[bool, Opt("--force", help="Train again even if already stored.")
                         ] = False,
        diagnose: Annotated[bool, Opt("--diagnose", help="Measure convexity along the run "
                                      "(see `convexlaw convexity`).")] = False,
        diagnose_every: Annotated[int | None, Opt(help="Convexity checks every k updates "
                                                  "(default T/10 or T/20 by the run's "
                                                  "length).")] = None,
        hessian_every: Annotated[int | None, Opt(
            help="Hessian and per-sample readings at every n-th check and the last "
                 "(default: as the run's length allows; see `convexlaw.convexity.cadence`)."
        )] = None,
        reference: Annotated[Path | None, Opt(help="Star-gap reference w*: a --save-final "
                                              "file of a longer run (default: final iterate)."
                                              )] = None,
        save_final: Annotated[Path | None, Opt(help="Save the final parameters (for a later "
                                               "--reference).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Train one run on bundled real data and store it (id = hash of its config)."""
        from convexlaw.cli.convexity import diagnose_hook, report_diagnosis

        hooks = diagnose_hook(diagnose, diagnose_every, hessian_every, reference, save_final)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from convexlaw.runs import RunStore
        from convexlaw.train import TrainConfig, train

        console = Console(stderr=True)
        cfg = TrainConfig(model=model, size=size, optimizer=optimizer, schedule=schedule,
                          peak=peak, steps=steps, seed=seed, dataset=dataset, depth=depth,
                          batch_size=batch_size, context=context, eval_every=eval_every,
                          eval_size=eval_size, momentum=momentum, weight_decay=weight_decay,
                          clip=clip, data_path=data_path, sampling=sampling)
        try:
            cfg = cfg.normalised()
        except (ValueError, FileNotFoundError) as err:
            abort(str(err))
        store = RunStore(db)
        if cfg.run_id() in store and not force and not (
                hooks and "convexity" not in store.get(cfg.run_id()).tags):
            run = store.get(cfg.run_id())
            console.print(f"[yellow]already stored[/] as {run.id} in {store.path} "
                          "(--force to train again)")
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[losses]}"), TimeRemainingColumn(),
                          console=console, disable=as_json) as bar:
                task = bar.add_task(cfg.name(), total=cfg.steps, losses="")

                def on_eval(t: int, tr: float, va: float) -> None:
                    bar.update(task, completed=t, losses=f"train {tr:.4f} val {va:.4f}")

                run = train(cfg, threads=threads, on_eval=on_eval, hooks=hooks)
            store.put(run.validate())
        s = _summary(run)
        if as_json:
            print_json({**s, "db": str(store.path)}
                       | ({"convexity": run.tags["convexity"]["summary"]}
                          if "convexity" in run.tags else {}))
            report_diagnosis(run, None)
            return
        colour = "green" if run.status == "finished" else "red"
        console.print(f"[{colour}]{run.status}[/] {run.name}  id {run.id}  N = {run.N:,.0f}")
        console.print(f"  final train {_fmt(s['final_train'])}  val {_fmt(s['final_val'])}  "
                      f"best val {_fmt(s['best_val'])}  |  {s['steps_done']} steps in "
                      f"{_fmt(s['wall_time'], '.1f')} s ({_fmt(s['steps_per_s'], '.0f')} steps/s)"
                      f"  ->  {store.path}")
        report_diagnosis(run, console)

    @app.command("sweep")
    def sweep_cmd(
        file: Annotated[Path, typer.Argument(help="Sweep TOML: name, \\[base], \\[grid] "
                                             "(see examples/sweep-mlp.toml).")],
        backend: Annotated[str, Opt(help="local (process pool) | ray")] = "local",
        workers: Annotated[int, Opt(help="Worker processes (local) / CPUs of a local Ray.")] = 2,
        address: Annotated[str | None, Opt(help="Ray cluster address (ray backend).")] = None,
        db: DbOpt = None,
        dry_run: Annotated[bool, Opt("--dry-run", help="List the runs, train nothing.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Run a grid of pilot runs; finished runs are skipped, each result stored at once."""
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from convexlaw.runs import RunStore
        from convexlaw.sweep import Sweep, run_sweep

        console = Console(stderr=as_json)
        try:
            sweep = Sweep.from_toml(file)
        except (ValueError, FileNotFoundError) as err:
            abort(str(err))
        if backend not in ("local", "ray"):
            abort(f"--backend {backend!r}: expected local or ray")
        if workers < 1:
            abort(f"--workers {workers}: expected a positive integer")
        store = RunStore(db)
        todo = [c for c in sweep.configs if c.run_id() not in store]
        console.print(f"sweep [bold]{sweep.name}[/]: {len(sweep.configs)} runs, "
                      f"{len(sweep.configs) - len(todo)} already in {store.path}, "
                      f"{len(todo)} to train on {backend} ({workers} workers)", soft_wrap=True)
        if dry_run:
            for c in sweep.configs:
                console.print(f"  {'todo' if c in todo else 'done'}  {c.run_id()}  {c.name()}",
                              soft_wrap=True, highlight=False)
            return
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task(sweep.name, total=len(todo))

            def on_result(out: Any, done: int, total: int) -> None:
                bar.update(task, completed=done)
                colour = {"finished": "green", "diverged": "red"}.get(out.status, "magenta")
                line = f"[{colour}]{out.status:8}[/] {out.config.name()}"
                if out.run is not None:
                    line += f"  val {_fmt(out.run.final_loss())}"
                bar.console.print(line, highlight=False, soft_wrap=True)
                if out.error:
                    bar.console.print(out.error.rstrip().splitlines()[-1], style="magenta")

            outcomes = run_sweep(sweep, store, backend=backend, workers=workers,
                                 address=address, on_result=on_result)
        rows = []
        for out in outcomes:
            run = out.run if out.run is not None else (
                store.get(out.run_id) if out.status == "skipped" else None)
            s = _summary(run) if run is not None else {"id": out.run_id, "name": out.config.name()}
            rows.append({**s, "outcome": out.status, "error": out.error})
        if as_json:
            print_json(rows)
        else:
            console.print(_table(sweep, rows, outcomes, store.path))
        counts = {k: sum(r["outcome"] == k for r in rows)
                  for k in ("finished", "diverged", "skipped", "error")}
        collapsed = sum(r.get("status") == "finished" and r.get("beats_constant") is False
                        for r in rows)
        console.print(", ".join(f"{v} {k}" for k, v in counts.items())
                      + f" (skipped = already in the store); {collapsed} collapsed to the "
                      "constant predictor")
        if counts["error"]:
            raise typer.Exit(1)
