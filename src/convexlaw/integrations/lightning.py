"""A PyTorch Lightning callback that writes the run into a convexlaw run store as it trains.

What is recorded (steps are optimizer updates, the project's convention):

- the learning rate of every update, read from the (first) optimizer in
  ``on_before_optimizer_step``, i.e. what the update applies, whatever the scheduler;
- ``train``: the training loss of every update (``training_step``'s loss; with gradient
  accumulation the mean over the update's micro-batches);
- ``val``: the validation loss (``val_key`` in ``trainer.callback_metrics``) after each
  validation run; before any update it goes to ``tags["initial_val"]``;
- ``grad_norm``: the L2 norm of all gradients before clipping, every ``grad_norm_every``
  updates (default 10: on a small model the norm costs as much as the rest of recording);
- N (trainable parameters), the module's hyper-parameters and ``config`` in
  ``tags["config"]``, the trainer's settings in ``tags["trainer"]``.

Losses stay on their device until a flush, so recording adds no device sync per update.
The run id is saved in checkpoints: ``trainer.fit(..., ckpt_path=...)`` continues the
same run (updates after the checkpoint are dropped and redone).

Example::

    from convexlaw.integrations import LightningCallback
    trainer = L.Trainer(max_steps=2000, callbacks=[LightningCallback("runs.db", sweep="pilots")])
    trainer.fit(module, train_loader, val_loader)
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch

try:  # the unified package first, then the standalone one
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        import pytorch_lightning as pl
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError("LightningCallback needs PyTorch Lightning: pip install "
                          "'convexlaw[lightning]'") from None

from convexlaw.integrations.forecast import Forecast
from convexlaw.integrations.recorder import Recorder, RecorderWarning
from convexlaw.integrations.tags import config_value, versions
from convexlaw.integrations.torchutil import future_lrs, grad_norm, param_count, torch_scheduler
from convexlaw.runs import RunStore

__all__ = ["LightningCallback"]

VAL_KEYS = ("val_loss", "val/loss", "validation_loss", "val_loss_epoch")


class LightningCallback(Callback):
    """Record the fit into ``store`` (a RunStore or a path).

    ``config``: extra settings merged over the module's ``hparams``; ``name``: default
    the module's class name and the time; ``val_key``: the logged metric that is the
    validation loss (default the first of ``val_loss``, ``val/loss``...);
    ``grad_norm_every``: updates between gradient-norm measurements (0: never);
    ``forecast``/``sweep``/``flush_every``/``flush_secs``/``schedule``/``tags``/``run_id``:
    as in :class:`convexlaw.integrations.Recorder`. The planned learning rates for the
    forecast come from the trainer's scheduler (stepped on a stand-in optimizer) when it
    steps every update, else give ``schedule``.
    """

    def __init__(self, store: RunStore | str | os.PathLike, config: Mapping | None = None, *,
                 name: str | None = None, run_id: str | None = None,
                 val_key: str | None = None, grad_norm_every: int = 10,
                 forecast: Forecast | bool | None = None, sweep: str | None = None,
                 schedule: str | None = None, tags: Mapping | None = None,
                 flush_every: int | None = None, flush_secs: float = 10.0) -> None:
        if isinstance(grad_norm_every, bool) or not isinstance(grad_norm_every, int) \
                or grad_norm_every < 0:
            raise ValueError(f"grad_norm_every must be an integer >= 0, got {grad_norm_every!r}")
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.config, self.name, self.run_id = dict(config or {}), name, run_id
        self.val_key, self.grad_norm_every = val_key, grad_norm_every
        self.options = dict(forecast=forecast, sweep=sweep, schedule=schedule, tags=tags,
                            flush_every=flush_every, flush_secs=flush_secs)
        if isinstance(forecast, Forecast):
            forecast.validate()
        self.recorder: Recorder | None = None
        self._losses: list[torch.Tensor] = []  # micro-batch losses of the current update
        self._loss_step = 0
        self._params: list[torch.nn.Parameter] = []

    # ------------------------------------------------------------------ set-up
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        steps = self._planned_steps(trainer)
        opt = trainer.optimizers[0] if trainer.optimizers else None
        sched = self._scheduler(trainer)
        hparams = config_value(dict(getattr(pl_module, "hparams", {}) or {}))
        peak = self._peak(opt, sched)
        self.recorder = Recorder(
            self.store, {**hparams, **self.config}, source="lightning",
            name=self.name or f"{type(pl_module).__name__}-{time.strftime('%Y%m%d-%H%M%S')}",
            run_id=self.run_id, N=param_count(pl_module), steps=steps,
            optimizer=type(opt).__name__.lower() if opt is not None else None,
            batch_size=self._batch_size(trainer), seed=_env_int("PL_GLOBAL_SEED"),
            peak_lr=peak if self.options["schedule"] else None,
            planned=self._future(trainer, sched, opt, steps), **self.options)
        rec = self.recorder
        rec.tags.update(trainer=self._trainer_info(trainer),
                        scheduler=type(sched).__name__ if sched is not None else None,
                        optimizer_defaults=config_value(getattr(opt, "defaults", {})),
                        versions=versions("torch", "lightning", "pytorch-lightning"))
        if trainer.global_step:
            try:
                rec.resume_at(trainer.global_step)
            except ValueError as err:  # recording must not stop the training
                warnings.warn(f"convexlaw: not recording this resumed run: {err}",
                              RecorderWarning, stacklevel=2)
                self.recorder = None
                return
        self.run_id = rec.id
        self._losses, self._loss_step = [], rec.T
        self._params = [p for p in pl_module.parameters() if p.requires_grad]

    @staticmethod
    def _planned_steps(trainer: pl.Trainer) -> int | None:
        if trainer.max_steps and trainer.max_steps > 0:
            return int(trainer.max_steps)
        est = trainer.estimated_stepping_batches
        return int(est) if est and est != float("inf") else None

    @staticmethod
    def _scheduler(trainer: pl.Trainer) -> Any:
        configs = getattr(trainer, "lr_scheduler_configs", None) or []
        return configs[0].scheduler if configs else None

    @staticmethod
    def _peak(opt: Any, sched: Any) -> float | None:
        if sched is not None and getattr(sched, "base_lrs", None):
            return float(sched.base_lrs[0])
        return float(opt.param_groups[0]["lr"]) if opt is not None else None

    def _future(self, trainer: pl.Trainer, sched: Any, opt: Any, steps: int | None) -> Any:
        """future(k): learning rates of updates k..T, from the trainer's scheduler."""
        if steps is None or opt is None or self.options["schedule"]:
            return None  # a given spec plans the run itself
        if sched is None:
            return lambda k: [opt.param_groups[0]["lr"]] * (steps - k + 1)
        cfg = trainer.lr_scheduler_configs[0]
        if torch_scheduler(sched) is None or cfg.interval != "step" or cfg.frequency != 1:
            return None
        return lambda k: future_lrs(sched, steps - k + 1)

    @staticmethod
    def _batch_size(trainer: pl.Trainer) -> int | None:
        loader = getattr(trainer, "train_dataloader", None)
        b = getattr(loader, "batch_size", None)
        if not isinstance(b, int):
            return None
        return b * int(trainer.accumulate_grad_batches) * int(trainer.world_size)

    @staticmethod
    def _trainer_info(trainer: pl.Trainer) -> dict[str, Any]:
        return config_value({
            "max_steps": trainer.max_steps, "max_epochs": trainer.max_epochs,
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": trainer.gradient_clip_algorithm,
            "precision": trainer.precision, "world_size": trainer.world_size,
        })

    # ------------------------------------------------------------------ every update
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        rec = self.recorder
        if rec is None or rec.closed or optimizer is not trainer.optimizers[0]:
            return
        step = rec.T + 1
        if self.grad_norm_every and step % self.grad_norm_every == 0:
            gn = grad_norm(self._params)
            if gn is not None:
                rec.log_value("grad_norm", step, gn.detach())
        before = rec.forecast
        rec.log_lr(step, optimizer, flush=False)  # its loss comes at the batch's end
        if rec.forecast is not before and "final_loss" in rec.forecast:
            self._log_forecast(trainer, rec.forecast)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        rec = self.recorder
        if rec is None or rec.closed:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach())
        if rec.T > self._loss_step:  # this batch completed an update
            # automatic optimization divides each micro-batch loss by the accumulation
            acc = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
            n = len(self._losses)
            if n == 1 and acc == 1:
                rec.log_value("train", rec.T, self._losses[0])
            elif n:
                rec.log_value("train", rec.T, torch.stack(self._losses).sum() * (acc / n))
            self._losses, self._loss_step = [], rec.T
            rec.maybe_flush()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rec = self.recorder
        if rec is None or rec.closed or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        keys = (self.val_key,) if self.val_key else VAL_KEYS
        for key in keys:
            if key in metrics:
                rec.log_value("val", rec.T, metrics[key].detach()
                              if isinstance(metrics[key], torch.Tensor) else metrics[key])
                return

    def _log_forecast(self, trainer: pl.Trainer, fc: Mapping[str, Any]) -> None:
        values = {"convexlaw/forecast_final_loss": fc["final_loss"]}
        if fc.get("on_track") is not None:
            values["convexlaw/on_track"] = float(fc["on_track"])
        for lg in trainer.loggers:
            lg.log_metrics(values, step=int(fc["step"]))

    # ------------------------------------------------------------------ the end
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.recorder is not None and not self.recorder.closed:
            self.recorder.finish()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if self.recorder is not None and not self.recorder.closed:
            self.recorder.abort(exception)

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.run_id = state_dict.get("run_id") or self.run_id


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None
