"""Pilot sweeps: a grid of training runs from a TOML file, run once each, kept in the store.

A sweep file has optional ``name``, a ``[base]`` table of settings shared by every run and
a ``[grid]`` table of lists whose Cartesian product gives the runs (any field of
:class:`convexlaw.train.TrainConfig`; a scalar in ``[grid]`` counts as a one-value list)::

    name = "mlp-pilots"
    [base]
    model = "mlp"
    dataset = "fashion-mnist"
    [grid]
    size = [64, 256]
    optimizer = ["sgd"]
    schedule = ["cosine", "wsd(cooldown=0.2)"]
    peak = [0.03, 0.1, 0.3]
    steps = [500, 2000]
    seed = [0]

Each run's id is the hash of its normalised config, so a re-run skips what the store
already holds (finished or diverged) and runs only the rest: a sweep killed half-way loses
at most the runs that were in flight, which simply start again. The parent process is the
only writer: each run is stored in its own transaction the moment it returns.

Backends: ``local`` — a pool of ``workers`` spawned processes, one torch thread each (on
a 2-core machine two single-thread processes beat one two-thread process); ``ray`` — one
Ray task per run (``num_cpus=1``), on a local Ray instance (``ray.init(num_cpus=workers)``)
or an existing cluster (``address``).

Example::

    >>> sweep = Sweep.from_dict({"base": {"model": "mlp", "dataset": "digits"},
    ...                          "grid": {"peak": [0.1, 0.3], "steps": [100]}})
    >>> len(sweep.configs), sweep.configs[1].peak
    (2, 0.3)
"""

from __future__ import annotations

import itertools
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from convexlaw.runs import Run, RunStore
from convexlaw.train.config import TrainConfig

BACKENDS = ("local", "ray")
POOL_RESTARTS = 2  # a worker killed from outside (OOM) breaks the pool: rebuild it this often


@dataclass
class Sweep:
    """A named list of normalised, distinct run configs (``axes``: the grid's keys)."""

    name: str
    configs: list[TrainConfig]
    axes: list[str] = field(default_factory=list)

    @classmethod
    def from_toml(cls, path: str | Path) -> Sweep:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"sweep file {str(path)!r} not found")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: not valid TOML ({err})") from None
        return cls.from_dict(data, source=str(path), default_name=path.stem)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "sweep",
                  default_name: str = "sweep") -> Sweep:
        unknown = sorted(set(data) - {"name", "base", "grid"})
        if unknown:
            raise ValueError(f"{source}: unknown top-level key(s) {unknown}; expected "
                             "'name', '[base]' and '[grid]'")
        base, grid = dict(data.get("base", {})), dict(data.get("grid", {}))
        allowed = {f.name for f in fields(TrainConfig)}
        for table, d in (("base", base), ("grid", grid)):
            bad = sorted(set(d) - allowed)
            if bad:
                raise ValueError(f"{source}: [{table}] has unknown setting(s) {bad}; "
                                 f"expected among {sorted(allowed)}")
        both = sorted(set(base) & set(grid))
        if both:
            raise ValueError(f"{source}: {both} set in both [base] and [grid]; keep one")
        axes = {k: (v if isinstance(v, list) else [v]) for k, v in grid.items()}
        for k, v in axes.items():
            if not v:
                raise ValueError(f"{source}: [grid] {k} is an empty list; give at least one value")
        configs, seen = [], set()
        for combo in itertools.product(*axes.values()):
            settings = {**base, **dict(zip(axes, combo, strict=True))}
            try:
                cfg = TrainConfig.from_dict(settings).normalised()
            except ValueError as err:
                raise ValueError(f"{source}: run {settings}: {err}") from None
            if cfg.run_id() not in seen:
                seen.add(cfg.run_id())
                configs.append(cfg)
        if not configs:
            raise ValueError(f"{source}: the grid is empty")
        return cls(name=str(data.get("name", default_name)), configs=configs,
                   axes=[k for k, v in axes.items() if len(v) > 1])


@dataclass
class Outcome:
    """What became of one run: finished / diverged (trained now), skipped (already
    stored), error (the message says why; nothing was stored)."""

    config: TrainConfig
    run_id: str
    status: str
    run: Run | None = None
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def work(config: dict[str, Any]) -> tuple[Run | None, str | None]:
    """Worker entry point (local pool and Ray): train one run with one thread.

    Errors come back as text instead of exceptions, so one bad run never stops a sweep.
    """
    try:
        from convexlaw.train import train

        return train(TrainConfig(**config), threads=1), None
    except Exception:  # noqa: BLE001 - reported per run, the sweep goes on
        return None, traceback.format_exc(limit=6)


def _local(todo: list[TrainConfig], workers: int):
    """Yield (config, run, error) as local worker processes finish them."""
    remaining = list(todo)
    for attempt in range(POOL_RESTARTS + 1):
        ctx = get_context("spawn")  # fork after torch initialised its thread pool can hang
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(work, asdict(c)): c for c in remaining}
            broken = []
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    cfg = futures[fut]
                    try:
                        run, err = fut.result()
                    except BrokenProcessPool:
                        broken.append(cfg)
                        continue
                    yield cfg, run, err
        if not broken:
            return
        remaining = broken
        if attempt == POOL_RESTARTS:
            for cfg in broken:
                yield cfg, None, "a worker process died (killed or out of memory) " \
                                 f"{POOL_RESTARTS + 1} times; run not stored"


def _ray(todo: list[TrainConfig], workers: int, address: str | None):
    """Yield (config, run, error) as Ray tasks finish them."""
    import ray  # optional, and slow to import

    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, logging_level="ERROR")
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR")
    try:
        task = ray.remote(num_cpus=1, max_retries=1)(work)
        refs = {task.remote(asdict(c)): c for c in todo}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    run, err = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost worker, not a bad run
                    run, err = None, f"ray task failed: {exc}"
                yield refs[ref], run, err
    finally:
        if started:
            ray.shutdown()


def run_sweep(sweep: Sweep, store: RunStore, *, backend: str = "local", workers: int = 2,
              address: str | None = None,
              on_result: Callable[[Outcome, int, int], None] | None = None) -> list[Outcome]:
    """Run every config of ``sweep`` not yet in ``store``; store each as it finishes.

    ``on_result(outcome, done, total)`` is called after each run (progress display).
    Returns one Outcome per config, in the sweep's order.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    outcomes = {c.run_id(): Outcome(c, c.run_id(), "skipped") for c in sweep.configs}
    todo = [c for c in sweep.configs if c.run_id() not in store]
    total, done = len(todo), 0
    started = time.perf_counter()
    results: Iterable = (_local(todo, workers) if backend == "local"
                         else _ray(todo, workers, address)) if todo else ()
    for cfg, run, err in results:
        out = outcomes[cfg.run_id()]
        out.seconds = time.perf_counter() - started
        if run is None:
            out.status, out.error = "error", err
        else:
            run.tags["sweep"] = sweep.name
            run.tags["backend"] = backend
            store.put(run.validate())
            out.status, out.run = run.status, run
        done += 1
        if on_result is not None:
            on_result(out, done, total)
    return [outcomes[c.run_id()] for c in sweep.configs]
