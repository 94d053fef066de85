"""Learning-rate schedules as pure functions, a registry, and a spec-string grammar.

A *shape* maps step numbers ``s = 0 … n−1`` of an ``n``-step run to multipliers in
``[0, 1]`` (peak 1). The learning rate of update ``s + 1`` is ``peak · shape[s]``.

Spec grammar (one string names any schedule)::

    spec  := term ("+" term)*          the first term is the base schedule,
                                       later terms modify it (only ``warmup`` today)
    term  := NAME | NAME "(" args ")"
    args  := arg ("," arg)*
    arg   := VALUE | KEY "=" VALUE      a positional VALUE fills the first parameter
    VALUE := number | word | "[" number ("," number)* "]"

Durations (``warmup``, ``cooldown``, ``milestones``, ``bounds``…) are fractions of the
run when below 1 and step counts when 1 or more. A warm-up is a prefix: the base schedule
runs over the steps that follow it, on its own clock.

>>> schedule("linear", 4)
array([1.  , 0.75, 0.5 , 0.25])
>>> schedule("cosine+warmup(2)", 6, peak=0.1).round(4)
array([0.    , 0.05  , 0.1   , 0.0854, 0.05  , 0.0146])
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.schedules.chunks import evaluate, reversed_chunks
from convexlaw.schedules.shapes import as_lrs, resample
from convexlaw.schedules.spec import REGISTRY, ScheduleDef, SpecError, Term, parse

__all__ = [
    "REGISTRY",
    "ScheduleDef",
    "SpecError",
    "Term",
    "lambda_lr",
    "lr_lambda",
    "parse",
    "schedule",
    "shape",
    "Shaper",
]


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return int(steps)


def shape(spec: str | ArrayLike, steps: int) -> np.ndarray:
    """Multipliers (max 1) of a schedule over ``steps`` steps.

    An array is resampled linearly onto ``steps`` points when its length differs, and
    scaled to max 1.
    """
    n = _check_steps(steps)
    if not isinstance(spec, str):
        return resample(as_lrs(spec, "schedule array"), n, "schedule array")
    return Shaper(spec)(n)


class Shaper:
    """``spec`` parsed and validated once; then ``Shaper(spec)(n)`` is ``shape(spec, n)``
    for any n (for callers that need one schedule at many lengths, like the exam).

    >>> Shaper("linear")(4).tolist()
    [1.0, 0.75, 0.5, 0.25]
    """

    def __init__(self, spec: str) -> None:
        terms = parse(spec)
        fn = _bind(REGISTRY[terms[0].name].fn, terms[0].kwargs)
        for t in terms[1:]:  # each modifier wraps what is inside it, base first
            fn = _bind_modifier(REGISTRY[t.name].fn, fn, t.kwargs)
        self.spec, self._fn = spec, fn

    def __call__(self, steps: int) -> np.ndarray:
        n = _check_steps(steps)
        return evaluate(lambda s: self._fn(s, n), n)

    def reversed_chunks(self, steps: int) -> Iterator[np.ndarray]:
        """The multipliers block by block, the last block first (each valid until the next
        is asked for), NOT divided by their
        maximum (that needs all of them; it is 1 for the built-in shapes, but a caller
        must check): see ``chunks.reversed_chunks``."""
        n = _check_steps(steps)
        return reversed_chunks(lambda s: self._fn(s, n), n)


def _bind(fn, kwargs):
    return lambda s, n: fn(s, n, **kwargs)


def _bind_modifier(mod, inner, kwargs):
    return lambda s, n: mod(s, n, inner, **kwargs)


def schedule(spec: str | ArrayLike, steps: int, peak: float = 1.0) -> np.ndarray:
    """Per-step learning rates ``peak · shape`` of a run of ``steps`` updates.

    Element ``s`` (0-based) is the learning rate of update ``s + 1``.

    >>> schedule("wsd(cooldown=0.5)", 4, peak=2.0)
    array([2., 2., 2., 1.])
    """
    if not (isinstance(peak, (int, float, np.floating)) and math.isfinite(peak) and peak > 0):
        raise ValueError(f"peak must be a finite positive number, got {peak!r}")
    return float(peak) * shape(spec, steps)


def lr_lambda(spec: str | ArrayLike, steps: int) -> Callable[[int], float]:
    """Multiplier function for ``torch.optim.lr_scheduler.LambdaLR`` (base LR = peak).

    Past the last step the last multiplier is kept.
    """
    m = shape(spec, steps)
    last = len(m) - 1
    return lambda s: float(m[min(int(s), last)])


def lambda_lr(optimizer: Any, spec: str | ArrayLike, steps: int) -> Any:
    """A ``LambdaLR`` whose LR after ``s`` calls of ``step()`` is ``schedule(...)[s]``.

    The optimizer's learning rate(s) must be set to the peak.
    """
    from torch.optim.lr_scheduler import LambdaLR  # torch is an optional extra

    return LambdaLR(optimizer, lr_lambda(spec, steps))
