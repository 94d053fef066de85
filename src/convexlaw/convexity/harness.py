"""The diagnoser as a hook of the training harness (``convexlaw train ... --diagnose``).

What the harness adds to :class:`~convexlaw.convexity.Diagnoser`:

- the fixed evaluation batch: ``eval_batch`` samples (default: the run's batch size)
  drawn once from the *training* data with a generator of its own (seed
  ``EVAL_SEED + run seed``), so the training batches are untouched;
- the cadence default (:mod:`.cadence`): checks and Hessian readings within a budget of
  15 % of the run's forward-backward passes, estimated from counts (steps, batch sizes,
  parameters, the model's FLOPs) — 11 or 21 checks; Hessian and per-sample readings at
  none, the last, or steps 0, T/2 and T as the run's length allows;
- the probe step along the update direction: the run's peak learning rate, so the
  curvature readings are comparable across the schedule;
- the record, stored in ``run.tags["convexity"]`` (t0 at ``run.onset``);
- ``save_final``: the final parameters to a file, to serve as ``reference`` (the star
  gaps' w*) of a shorter run of the same model.

>>> from convexlaw.train import TrainConfig, train
>>> run = train(TrainConfig(model="mlp", size=16, dataset="digits", steps=40, peak=0.05),
...             hooks=[HarnessDiagnoser(every=10, hessian_every=2)])
>>> run.tags["convexity"]["steps"], run.onset is None or 0 <= run.onset <= 40
([0, 10, 20, 30, 40], True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .cadence import Cadence, default_cadence
from .diagnoser import Diagnoser, _positive_int
from .errors import ConvexityError

__all__ = ["EVAL_SEED", "HarnessDiagnoser", "evaluation_batch", "load_reference",
           "save_params"]

EVAL_SEED = 7_919_000  # the evaluation batch's own generator: training batches stay as they are
MAX_OUTPUTS = 64  # per-sample readings only for models with at most this many outputs


def evaluation_batch(data: Any, size: int, seed: int, context: int = 64
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` training images, or windows of ``context + 1`` bytes, fixed by ``seed``."""
    gen = torch.Generator().manual_seed(EVAL_SEED + seed)
    if data.kind == "image":
        idx = torch.randperm(len(data.train_x), generator=gen)[:size]
        return data.train_x[idx], data.train_y[idx]
    starts = torch.randint(len(data.train) - context - 1, (size,), generator=gen)
    w = torch.stack([data.train[s:s + context + 1] for s in starts.tolist()]).long()
    return w[:, :-1], w[:, 1:]


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward of ``x`` (``torch.utils.flop_counter``), in eval mode and
    without gradients: no buffer moves and no random number is drawn."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def save_params(model: torch.nn.Module, path: str | Path, name: str = "") -> None:
    """Write the flat trainable parameters (float32) for use as a ``reference`` later."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    torch.save({"format": "convexlaw-params", "name": name, "params": flat.float().cpu()},
               path)


def load_reference(path: str | Path) -> torch.Tensor:
    """The flat parameter vector saved by :func:`save_params` (one-line errors)."""
    path = Path(path)
    if not path.exists():
        raise ConvexityError(f"reference file {path} does not exist")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise ConvexityError(f"reference file {path} is not readable ({type(err).__name__})"
                             ) from None
    if not isinstance(d, dict) or d.get("format") != "convexlaw-params":
        raise ConvexityError(f"reference file {path} was not written by --save-final")
    return d["params"]


class HarnessDiagnoser:
    """``hooks=[HarnessDiagnoser(...)]`` for :func:`convexlaw.train.train`.

    ``every`` and ``hessian_every`` (default: :func:`.cadence.default_cadence`; with
    ``hessian_every`` the readings are at every so many checks and the last),
    ``eval_batch`` (the run's batch size), ``samples`` (8), ``reference`` (a file from
    ``save_final``), ``save_final`` (a path), ``checkpoint_dir`` and the Lanczos settings
    as in ``Diagnoser``. ``cadence`` holds the default's choice after ``on_start``.
    """

    def __init__(self, every: int | None = None, hessian_every: int | None = None,
                 eval_batch: int | None = None, samples: int = 8,
                 reference: str | Path | None = None, save_final: str | Path | None = None,
                 checkpoint_dir: str | Path | None = None, **lanczos: Any) -> None:
        self.every = None if every is None else _positive_int("cadence (every)", every)
        self.hessian_every = (None if hessian_every is None
                              else _positive_int("hessian_every", hessian_every))
        self.eval_batch = None if eval_batch is None else _positive_int("eval_batch",
                                                                         eval_batch)
        self.reference = None if reference is None else load_reference(reference)
        self.reference_path = None if reference is None else str(reference)
        self.samples, self.save_final = samples, save_final
        self.checkpoint_dir, self.lanczos = checkpoint_dir, lanczos
        self.diag: Diagnoser | None = None
        self.cadence: Cadence | None = None
        self.result = None

    def on_start(self, *, model: torch.nn.Module, data: Any, config: Any, loss_fn: Any
                 ) -> None:
        size = self.eval_batch or config.batch_size
        batch = evaluation_batch(data, size, config.seed, config.context)
        self.model, self.name = model, config.name()
        outputs = 0 if data.kind != "image" else int(data.classes)
        rows = self.samples * outputs if 0 < outputs <= MAX_OUTPUTS else 0
        n = max(1, sum(p.numel() for p in model.parameters() if p.requires_grad))
        # floor: 2 FLOPs per parameter and sample, should the counter miss the model's ops
        # (a model without parameters is refused by the Diagnoser below, with its message)
        flops = max(forward_flops(model, batch[0]) * config.batch_size / size,
                    2.0 * n * config.batch_size)
        self.cadence = default_cadence(
            config.steps, params=n, flops=flops, batch=config.batch_size,
            eval_ratio=size / config.batch_size, sample_rows=max(0, min(rows, size * outputs)),
            every=self.every)
        every = self.every or self.cadence.every
        hessian = ({"hessian_every": self.hessian_every} if self.hessian_every is not None
                   else {"hessian_steps": self.cadence.hessian_steps})
        self.diag = Diagnoser(model, loss_fn, batch, every=every, **hessian,
                              checks=config.steps // every + 2, eps=config.peak,
                              reference=self.reference, samples=self.samples,
                              max_outputs=MAX_OUTPUTS, checkpoint_dir=self.checkpoint_dir,
                              **{f"lanczos_{k}": v for k, v in self.lanczos.items()})

    def before_update(self, t: int) -> None:
        self.diag.before_update(t)

    def after_update(self, t: int, lr: float) -> None:
        self.diag.after_update(t, lr)

    def on_end(self, *, steps_done: int, status: str) -> dict[str, Any]:
        self.result = self.diag.finish(steps_done)
        if self.save_final is not None:
            save_params(self.model, self.save_final, self.name)
        record = self.result.to_dict()
        record["settings"]["eval_seed"] = EVAL_SEED
        c = self.cadence
        record["settings"]["cadence"] = {
            "rule": "convexlaw.convexity.cadence", "every_given": self.every is not None,
            "hessian_every_given": self.hessian_every is not None,
            "estimated_cost": c.cost, "budget": c.budget, "unit": "forward-backward passes"}
        if self.reference_path is not None:
            record["settings"]["reference_file"] = self.reference_path
        return {"convexity": record}
