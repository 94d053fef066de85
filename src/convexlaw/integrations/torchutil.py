"""What the callbacks read from torch objects: future learning rates, N, gradient norms.

``future_lrs`` steps a copy of a scheduler bound to a stand-in optimizer, so the planned
learning rates of the rest of the run come from the trainer's own scheduler, whatever it
is (LambdaLR, OneCycleLR, SequentialLR...), without touching the real optimizer.

>>> import torch
>>> w = torch.nn.Parameter(torch.zeros(1))
>>> opt = torch.optim.SGD([w], lr=0.1)
>>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
>>> future_lrs(sched, 5).tolist(), opt.param_groups[0]["lr"]
([0.1, 0.1, 0.05, 0.05, 0.025], 0.1)
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch

__all__ = ["future_lrs", "grad_norm", "param_count", "torch_scheduler"]


def torch_scheduler(scheduler: Any) -> Any:
    """The torch LR scheduler inside a wrapper (accelerate's AcceleratedScheduler), or None
    when the learning rate depends on metrics (ReduceLROnPlateau) and cannot be planned."""
    inner = getattr(scheduler, "scheduler", scheduler)
    if not isinstance(inner, torch.optim.lr_scheduler.LRScheduler):
        return None
    if isinstance(inner, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return None
    return inner


def _shadow(obj: Any, real: torch.optim.Optimizer, stand_in: torch.optim.Optimizer) -> Any:
    """Copy a scheduler's own state (numbers, lists, dicts, nested schedulers), pointing at
    ``stand_in``; functions and other objects are shared, never deep-copied (an lr_lambda
    may be a bound method of a whole model)."""
    if obj is real:
        return stand_in
    if isinstance(obj, torch.optim.lr_scheduler.LRScheduler):
        new = copy.copy(obj)
        new.__dict__ = {k: _shadow(v, real, stand_in) for k, v in vars(obj).items()}
        return new
    if isinstance(obj, list):
        return [_shadow(v, real, stand_in) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_shadow(v, real, stand_in) for v in obj)
    if isinstance(obj, dict):
        return {k: _shadow(v, real, stand_in) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    return obj


def future_lrs(scheduler: Any, n: int, group: int = 0) -> np.ndarray:
    """The next ``n`` learning rates of param group ``group``: the optimizer's current one
    first, then one per further ``scheduler.step()``. The real optimizer and scheduler are
    left as they are."""
    inner = torch_scheduler(scheduler)
    if inner is None:
        raise ValueError(f"{type(scheduler).__name__} cannot be planned ahead (it reacts to "
                         "metrics); give the planned learning rates instead")
    real = inner.optimizer
    stand_in = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]}
                                for _ in real.param_groups], lr=0.0)
    for mine, theirs in zip(stand_in.param_groups, real.param_groups, strict=True):
        mine.update({k: copy.deepcopy(v) for k, v in theirs.items() if k != "params"})
    shadow = _shadow(inner, real, stand_in)
    out = np.empty(max(int(n), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stand-in never steps: torch would say so
        for i in range(out.size):
            out[i] = float(stand_in.param_groups[group]["lr"])
            if i + 1 < out.size:
                shadow.step()
    return out


def param_count(module: torch.nn.Module) -> int:
    """N: trainable parameters, tied weights once (as ``convexlaw.train`` counts them)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def grad_norm(params: Any) -> torch.Tensor | None:
    """L2 norm of all gradients, as a tensor (not synced to the host), or None."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        return torch.nn.utils.get_total_norm(grads, 2.0)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
