"""The demo's experimental design (``DemoConfig``, ``DEFAULT``, ``QUICK``) and its goals."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from convexlaw.plan import PLAN_VARIANTS

__all__ = ["DEFAULT", "ETA_GOAL", "LOSS_GOAL", "QUICK", "DemoConfig", "quick_config"]

ETA_GOAL = 1.25   # predicted η* within ×1.25 of the measured optimum
LOSS_GOAL = 0.01  # predicted final loss within 1 %


@dataclass(frozen=True)
class DemoConfig:
    """The demo's experimental design (the defaults were chosen by measurement: see the
    module docstring, ``bench/testbed.py`` and the README)."""

    model: str = "mlp"
    size: int = 128
    dataset: str = "fashion-mnist"
    optimizer: str = "sgd"
    schedule: str = "cosine"
    batch_size: int = 14       # T = 4000 draws 56,000 of the 60,000 images: fresh data
    context: int = 64          # (byte models only)
    sampling: str | None = "fresh"
    eval_size: int | None = 10000
    evals_per_run: int = 10
    pilot_steps: tuple[int, ...] = (50, 100, 200, 400, 800)
    pilot_peaks: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16)
    factor: int = 80           # target horizon = factor × the shortest pilot
    target_points: int = 5     # peaks of the target sweep (×ratio apart, centred on η*)
    ratio: float = math.sqrt(2.0)
    max_extend: int = 2        # extra peaks when the target optimum is not bracketed
    seeds: tuple[int, ...] = (0, 1, 2)  # every run is repeated; losses are seed means
    workers: int = 2
    n_boot: int = 60
    window: float = 1.2
    variants: tuple[str, ...] = PLAN_VARIANTS

    @property
    def target_steps(self) -> int:
        return self.factor * min(self.pilot_steps)

    def run_config(self, steps: int, peak: float, seed: int = 0) -> Any:
        from convexlaw.train import TrainConfig

        text = self.model == "gpt"  # context and sampling are byte-model settings
        return TrainConfig(model=self.model, size=self.size, optimizer=self.optimizer,
                           schedule=self.schedule, peak=float(peak), steps=int(steps),
                           seed=seed, dataset=self.dataset, batch_size=self.batch_size,
                           eval_every=max(1, steps // self.evals_per_run),
                           eval_size=self.eval_size,
                           **({"context": self.context, "sampling": self.sampling}
                              if text else {}))


DEFAULT = DemoConfig()
# seconds, for tests and a first look: tiny MLP on scikit-learn's 8×8 digits (these
# data repeat: the regime line says so)
QUICK = DemoConfig(size=16, dataset="digits", batch_size=32, eval_size=None,
                   evals_per_run=10, pilot_steps=(20, 40, 80),
                   pilot_peaks=(0.1, 0.2, 0.4, 0.8), factor=10, target_points=3,
                   max_extend=1, n_boot=10, window=3.0, seeds=(0,))


def quick_config(**changes: Any) -> DemoConfig:
    """QUICK with some fields changed (tests)."""
    return replace(QUICK, **changes)
