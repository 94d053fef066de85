"""The alternatives of ``bench/alternatives.py``: how a user picks the peak LR today.

Pure logic (tested in ``tests/test_alternatives.py``): scoring a run in its data regime,
the transfer rules, Optuna's trial budget, the oracle and the regret table.
With torch / optuna / torch-lr-finder (imported when used): the LR range test and the
Optuna searches, each spending real optimizer steps through the convexlaw harness.

Conventions: every method returns a *choice*, a dict with ``eta`` (the peak LR it picks,
or None with ``error``), ``steps`` and ``cpu`` (optimizer steps and CPU seconds it spent
choosing, pilots included) and method-specific details.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TAIL = 0.025  # training-loss score: mean minibatch loss over the last 2.5 % of the steps


def round_lr(eta: float) -> float:
    """A chosen LR to 4 significant digits: the same choice gives the same run id."""
    return float(f"{eta:.4g}")


def score(run: Any) -> float:
    """The loss a run is judged by, in its data regime: +inf unless it finished.

    Fresh data (no training sample seen twice: ``tags["fresh_data"]``) → the final
    held-out loss, an estimate of the population loss that training lowers; data repeated
    → training loss (mean minibatch loss over the last 2.5 % of the steps), since held-out
    loss would then measure over-fitting, which the law does not describe.

    >>> from convexlaw.runs import Run
    >>> r = Run("a", lrs=np.ones(40), curves={"train": (np.arange(1, 41), np.linspace(2, 1, 40)),
    ...     "val": ([40], [1.5])}, tags={"fresh_data": False})
    >>> round(score(r), 6)
    1.0
    """
    if getattr(run, "status", "finished") != "finished":
        return math.inf
    if run.tags.get("fresh_data") and "val" in run.curves:
        value = float(run.curve("val")[1][-1])
    else:
        _, vals = run.curve("train")
        k = max(1, int(round(TAIL * len(vals))))
        value = float(np.mean(vals[-k:]))
    return value if math.isfinite(value) else math.inf


def transfer(eta: float, T_from: int, T_to: int, exponent: float) -> float:
    """η(T_to) = η(T_from)·(T_to/T_from)^(−exponent): 0.5 is the paper's η ∝ 1/√T,
    0.32 the exponent Bjorck et al. (2025) measured for AdamW.

    >>> transfer(0.04, 400, 1600, 0.5)
    0.02
    """
    return float(eta * (T_to / T_from) ** (-exponent))


def best_run(runs: Sequence[Any]) -> Any:
    """The run with the lowest score (ties: the first)."""
    scored = [(score(r), i, r) for i, r in enumerate(runs)]
    best = min(scored, key=lambda x: (x[0], x[1]))
    if not math.isfinite(best[0]):
        raise ValueError("no run finished: nothing to transfer from")
    return best[2]


def trial_budget(budget_steps: int, trial_steps: int) -> tuple[int, bool]:
    """(trials, over_budget): as many trials of ``trial_steps`` as ``budget_steps`` pays
    for, but at least one (a search that runs nothing chooses nothing).

    >>> trial_budget(3000, 400), trial_budget(3000, 4000)
    ((7, False), (1, True))
    """
    n = budget_steps // trial_steps
    return max(1, n), n < 1


def compute(runs: Sequence[Any]) -> dict[str, float]:
    """Optimizer steps and CPU seconds (training loop with its evaluations) of runs."""
    steps = sum(int(r.tags.get("steps_done", r.T)) for r in runs)
    cpu = sum(float(r.tags.get("cpu_time", 0.0)) for r in runs)
    return {"steps": steps, "cpu": cpu, "runs": len(runs)}


def grid_table(runs: Sequence[Any]) -> dict[float, dict[int, float]]:
    """{peak: {seed: score}} of the target grid."""
    out: dict[float, dict[int, float]] = {}
    for r in runs:
        out.setdefault(float(r.peak_lr), {})[int(r.seed)] = score(r)
    return dict(sorted(out.items()))


def oracle(table: dict[float, dict[int, float]], seeds: Sequence[int]) -> dict[str, Any]:
    """The grid's best peak by seed-mean score (a peak counts only with every seed).

    >>> o = oracle({0.01: {0: 1.1, 1: 1.3}, 0.02: {0: 1.0, 1: 1.2}, 0.04: {0: 1.2, 1: 1.2}},
    ...            [0, 1])
    >>> o["peak"], round(o["loss"], 6), o["bracketed"]
    (0.02, 1.1, True)
    """
    peaks = [p for p, by in table.items() if all(s in by for s in seeds)]
    if not peaks:
        raise ValueError("the grid has no peak with every seed")
    means = [float(np.mean([table[p][s] for s in seeds])) for p in peaks]
    i = int(np.argmin(means))
    return {"peak": peaks[i], "loss": means[i], "per_seed": {s: table[peaks[i]][s] for s in seeds},
            "bracketed": 0 < i < len(peaks) - 1, "means": dict(zip(peaks, means, strict=True))}


def regrets(losses: dict[int, float], best: dict[int, float]) -> dict[str, Any]:
    """Regret of a method against the oracle's best peak, in relative terms: of the seed
    means, and per seed (paired: the same seed is the same initialisation and batches).

    >>> r = regrets({0: 1.01, 1: 1.03}, {0: 1.0, 1: 1.0})
    >>> round(r["mean"], 6), [round(x, 6) for x in r["per_seed"].values()]
    (0.02, [0.01, 0.03])
    """
    seeds = sorted(best)
    mean = float(np.mean([losses[s] for s in seeds]))
    ref = float(np.mean([best[s] for s in seeds]))
    return {"mean": mean / ref - 1, "per_seed": {s: losses[s] / best[s] - 1 for s in seeds},
            "loss": mean}


def compare(ours: dict[int, float], theirs: dict[int, float]) -> str:
    """'lower' when our per-seed regret is lower on every seed, 'higher' when higher on
    every seed, else 'within noise' (the seeds disagree).

    >>> compare({0: 0.01, 1: 0.02}, {0: 0.03, 1: 0.05}), compare({0: 0.01, 1: 0.04},
    ...                                                          {0: 0.03, 1: 0.02})
    ('lower', 'within noise')
    """
    d = [ours[s] - theirs[s] for s in sorted(ours)]
    if all(x < 0 for x in d):
        return "lower"
    if all(x > 0 for x in d):
        return "higher"
    return "within noise"


# ----------------------------------------------------------------------------- plan

def plan_choice(pilots: Sequence[Any], steps: int, schedule: str, n_boot: int = 50
                ) -> dict[str, Any]:
    """``convexlaw.plan.make_plan`` on the pilots (its defaults; ``kind="val"``: the pilots
    are fresh data), with the CPU seconds of its fits."""
    import warnings

    import convexlaw
    from convexlaw.plan import make_plan

    c0 = time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = make_plan(list(pilots), steps, schedule=schedule, kind="val",
                             n_boot=n_boot)
        out = {"eta": float(plan.eta_star), "eta_interval": list(plan.eta_interval),
               "loss_pred": float(plan.loss_star), "variant": plan.variant,
               "loss_source": plan.loss_source, "eta_source": plan.source,
               "kappa": plan.kappa,
               "warnings": [str(w) for w in plan.warnings]}
    except ValueError as err:  # PlanError is a ValueError: no recommendation
        out = {"eta": None, "error": str(err)}
    out["fit_cpu"] = time.process_time() - c0
    out["convexlaw"] = str(Path(convexlaw.__file__).resolve().parents[1])
    return out


def plan_elsewhere(src: str, db: str, ids: Sequence[str], steps: int, schedule: str,
                   n_boot: int = 50) -> dict[str, Any]:
    """``plan_choice`` with the convexlaw found in ``src`` (another checkout, e.g. a
    branch not merged yet), in a subprocess reading the pilots from the store ``db``."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=src)
    cmd = [sys.executable, str(Path(__file__).resolve()), "plan", db, str(steps), schedule,
           str(n_boot), *ids]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"plan with --plan-src {src} failed: {done.stderr[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- training

def _model_and_data(cfg: Any, lr: float):
    """The harness's model, optimizer and batch stream for ``cfg`` (as ``train`` builds
    them: same seed, same initialisation and batches)."""
    import torch

    from convexlaw.train.data import Batches, load_dataset
    from convexlaw.train.models import build_model
    from convexlaw.train.optim import build_optimizers

    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.dataset, cfg.data_path)
    text = data.kind == "text"
    model = build_model(cfg.model, cfg.size, cfg.depth, context=cfg.context,
                        **({} if text else {"in_shape": tuple(data.train_x.shape[1:]),
                                            "classes": data.classes}))
    opts, _ = build_optimizers(cfg.optimizer, model, lr, cfg.momentum, cfg.weight_decay)
    if len(opts) != 1:
        raise ValueError(f"the LR range test needs one optimizer; {cfg.optimizer} has "
                         f"{len(opts)}")
    return model, opts[0], Batches(data, cfg.batch_size, cfg.seed, cfg.context, cfg.sampling)


def lr_range_test(cfg: Any, start: float = 1e-7, end: float = 10.0, num_iter: int = 100
                  ) -> dict[str, Any]:
    """torch-lr-finder's range test on the target model (LR from ``start`` to ``end``,
    exponentially over ``num_iter`` updates, smoothed loss, stop at 5× the best loss) and
    its own suggestion: the LR of the steepest descent of the loss curve (``plot``,
    skipping the first 10 and last 5 points — the library's defaults)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from torch.utils.data import DataLoader, IterableDataset
    from torch_lr_finder import LRFinder

    from convexlaw.train.models import loss_fn

    cfg = cfg.normalised()
    torch.set_num_threads(1)
    model, opt, batches = _model_and_data(cfg, start)

    class Stream(IterableDataset):  # the harness's seeded batches, endless
        def __iter__(self):
            while True:
                yield batches.next()

    finder = LRFinder(model, opt, loss_fn, device="cpu")
    c0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(DataLoader(Stream(), batch_size=None), start_lr=start, end_lr=end,
                          num_iter=num_iter)
        cpu = time.process_time() - c0
        fig, ax = plt.subplots()
        _, suggestion = finder.plot(ax=ax, suggest_lr=True)
        plt.close(fig)
    return {"eta": float(suggestion), "steps": len(finder.history["lr"]), "cpu": cpu,
            "lrs": [float(x) for x in finder.history["lr"]],
            "losses": [float(x) for x in finder.history["loss"]],
            "settings": {"start_lr": start, "end_lr": end, "num_iter": num_iter,
                         "step_mode": "exp", "smooth_f": 0.05, "diverge_th": 5,
                         "suggestion": "steepest gradient (skip_start 10, skip_end 5)"}}


def optuna_search(make_config: Callable[[float], Any], n_trials: int, low: float, high: float,
                  get_run: Callable[[Any], Any], seed: int = 0) -> dict[str, Any]:
    """Optuna TPE over log η in [low, high]: ``n_trials`` real runs (``get_run(config)``
    trains or fetches one), minimising their score. TPE's random start-up is half the
    trials (default 10 would make a small budget pure random search)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, n_trials // 2))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    runs: list[Any] = []

    def objective(trial: Any) -> float:
        eta = round_lr(trial.suggest_float("lr", low, high, log=True))
        run = get_run(make_config(eta))
        runs.append(run)
        value = score(run)
        # a diverged trial is a very bad value, not a failure: TPE learns from it
        return value if math.isfinite(value) else 1e6

    study.optimize(objective, n_trials=n_trials)
    best = min(range(len(runs)), key=lambda i: (score(runs[i]), i))
    if not math.isfinite(score(runs[best])):
        return {"eta": None, "error": "every trial diverged", **compute(runs), "trials": []}
    return {"eta": float(runs[best].peak_lr), "best_loss": score(runs[best]), **compute(runs),
            "trials": [{"eta": float(r.peak_lr), "loss": score(r)} for r in runs],
            "sampler": f"TPESampler(seed={seed}, n_startup_trials={max(1, n_trials // 2)})",
            "space": [low, high]}


if __name__ == "__main__":  # python alt_methods.py plan DB STEPS SCHEDULE N_BOOT ID...
    import json
    import sys

    from convexlaw.runs import RunStore

    _, _, db, steps, spec, n_boot, *ids = sys.argv
    store = RunStore(db)
    print(json.dumps(plan_choice([store.get(i) for i in ids], int(steps), spec, int(n_boot)),
                     default=float))
