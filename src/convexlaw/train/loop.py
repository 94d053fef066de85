"""The training loop: one config in, one :class:`convexlaw.runs.Run` out.

Steps convention (the project's): update t = 1..T uses ``lrs[t-1]``.

- ``train`` curve, step t: the minibatch loss of update t, i.e. measured on the
  parameters after t-1 updates, on the batch that update t then learns from.
- ``val`` curve, step t: the loss on the fixed held-out set after t updates (every
  ``eval_every`` updates and after the last). The held-out loss before any update is kept
  as ``tags["initial_val"]``.
- ``grad_norm`` curve, step t: the L2 norm of the minibatch gradient of update t (before
  clipping), at the same steps as ``val``.

A non-finite loss (or a training loss above ``DIVERGE_RATIO`` times the first one) ends
the run with status "diverged": the curves keep every point up to and including the one
that blew up; ``tags["diverged"]`` says why. A run can also blow up and then *collapse*
(dead ReLUs predicting the class frequencies) with finite losses: it stays "finished", and
``tags["beats_constant"]`` is False — its final held-out loss is not 1 % below
``tags["constant_loss"]``, that of the best constant predictor (training label or byte
frequencies). Filter on it before fitting laws.

Same config and seed, same curves (bit for bit, at a fixed thread count).
An interrupted run is simply run again: pilot runs are short, so there are no checkpoints.

Example::

    >>> run = train(TrainConfig(model="mlp", size=32, dataset="digits", steps=50,
    ...                         schedule="cosine", peak=0.1))
    >>> run.status, run.T, run.curves["val"][0][-1].item()
    ('finished', 50, 50)
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from convexlaw import __version__, schedule
from convexlaw.runs import Run
from convexlaw.schedules import lambda_lr

from .config import HARNESS_VERSION, TrainConfig
from .data import Batches, constant_loss, heldout, load_dataset
from .models import build_model, loss_fn, param_count
from .optim import build_optimizers

DIVERGE_RATIO = 100.0  # a cross-entropy 100× its starting value has left the basin for good
EVAL_CHUNK = 1000
CONSTANT_MARGIN = 0.01  # a collapsed net sits a hair below the constant predictor's loss


@torch.inference_mode()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean held-out loss (eval mode, so BatchNorm uses its running statistics)."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), EVAL_CHUNK):
        xb, yb = x[i:i + EVAL_CHUNK], y[i:i + EVAL_CHUNK]
        total += loss_fn(model(xb), yb).item() * len(xb)
    model.train()
    return total / len(x)


def grad_norm(params: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.detach().norm() for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)).item() if norms else 0.0


def versions() -> dict[str, str]:
    return {"convexlaw": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def train(config: TrainConfig, *, threads: int | None = 1,
          on_eval: Callable[[int, float, float], None] | None = None,
          hooks: Sequence[Any] = ()) -> Run:
    """Train one run and return it as a Run (``id`` = the config's hash).

    ``threads``: torch intra-op threads for this process (``None`` leaves it alone); the
    default 1 is what sweep workers use, so a single run reproduces a sweep's curves.
    ``on_eval(t, train_loss, val_loss)`` is called after each held-out evaluation.
    ``hooks``: observers such as ``convexlaw.convexity.HarnessDiagnoser``, called with
    ``on_start(model=, data=, config=, loss_fn=)``, ``before_update(t)`` (gradients of
    update t computed, not yet applied), ``after_update(t, lr)`` and
    ``on_end(steps_done=, status=)``, whose dict is merged into the run's tags. A hook
    must leave parameters, buffers and random generators as it found them.
    """
    cfg = config.normalised()
    if threads is not None:
        torch.set_num_threads(threads)
    t_setup = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.dataset, cfg.data_path)
    text = data.kind == "text"
    model = build_model(cfg.model, cfg.size, cfg.depth, context=cfg.context,
                        **({} if text else {"in_shape": tuple(data.train_x.shape[1:]),
                                            "classes": data.classes}))
    opts, impl = build_optimizers(cfg.optimizer, model, cfg.peak, cfg.momentum,
                                  cfg.weight_decay)
    scheds = [lambda_lr(o, cfg.schedule, cfg.steps) for o in opts]
    batches = Batches(data, cfg.batch_size, cfg.seed, cfg.context, cfg.sampling)
    val_x, val_y = heldout(data, cfg.eval_size, cfg.context)
    params = [p for p in model.parameters() if p.requires_grad]
    planned = schedule(cfg.schedule, cfg.steps, cfg.peak)

    T, k = cfg.steps, cfg.eval_every
    lrs, train_loss = planned.copy(), np.full(T, np.nan)
    val_steps, val_loss, norms = [], [], []
    status, reason, limit, done = "finished", None, math.inf, 0
    initial_val = evaluate(model, val_x, val_y)
    for h in hooks:
        h.on_start(model=model, data=data, config=cfg, loss_fn=loss_fn)
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(1, T + 1):
        x, y = batches.next()
        loss = loss_fn(model(x), y)
        value = loss.item()
        train_loss[t - 1], done = value, t
        if t == 1:
            limit = DIVERGE_RATIO * value
        if not value <= limit:  # NaN fails every comparison
            status, reason = "diverged", f"train loss {value:.4g} at step {t}"
            break
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        measure = t % k == 0 or t == T
        if measure:
            norms.append(grad_norm(params))
        if cfg.clip is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        lrs[t - 1] = opts[0].param_groups[0]["lr"]  # what the optimizer really used
        for h in hooks:
            h.before_update(t)
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
        for h in hooks:
            h.after_update(t, lrs[t - 1])
        if measure:
            val_steps.append(t)
            val_loss.append(evaluate(model, val_x, val_y))
            if on_eval is not None:
                on_eval(t, value, val_loss[-1])
            if not (math.isfinite(val_loss[-1]) and math.isfinite(norms[-1])):
                status = "diverged"
                reason = f"held-out loss {val_loss[-1]}, gradient norm {norms[-1]} at step {t}"
                break
    hook_tags = {}
    for h in hooks:
        hook_tags.update(h.on_end(steps_done=done, status=status))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    constant = constant_loss(data, val_y)

    steps = np.arange(1, done + 1)
    curves = {"train": (steps, train_loss[:done])}
    if val_steps:
        curves["val"] = (np.array(val_steps), np.array(val_loss))
        curves["grad_norm"] = (np.array(val_steps), np.array(norms[:len(val_steps)]))
    per_step = cfg.batch_size * (cfg.context if text else 1)
    tags = {
        "model": cfg.model, "size": cfg.size, "depth": cfg.depth, "dataset": data.name,
        "context": cfg.context if text else None, "eval_every": k, "eval_size": len(val_x),
        "momentum": cfg.momentum, "weight_decay": cfg.weight_decay, "clip": cfg.clip,
        "optimizer_impl": impl, "initial_val": _finite_or_none(initial_val),
        "constant_loss": constant,
        "beats_constant": bool(val_loss and math.isfinite(val_loss[-1])
                               and val_loss[-1] < (1 - CONSTANT_MARGIN) * constant),
        "steps_done": done, "samples_seen": done * cfg.batch_size,
        "tokens_seen": done * per_step if text else None,
        # the regime: fresh_data = no training sample (image, or target byte) seen twice
        "sampling": cfg.sampling, "epochs": batches.epochs,
        "fresh_data": batches.sampling == "fresh" and batches.epochs <= 1.0,
        "wall_time": wall, "cpu_time": cpu, "setup_time": t0 - t_setup,
        "threads": torch.get_num_threads(),
        "versions": versions(), "harness": HARNESS_VERSION, "config": cfg.key(),
    }
    if status == "diverged":
        tags["diverged"], tags["diverged_at"] = reason, done
    tags.update(hook_tags)
    return Run(name=cfg.name(), lrs=lrs, curves=curves, peak_lr=cfg.peak,
               schedule=cfg.schedule, N=float(param_count(model)), optimizer=cfg.optimizer,
               batch_size=cfg.batch_size, seed=cfg.seed, tags=tags, status=status,
               id=cfg.run_id())


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
