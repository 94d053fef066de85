"""A Hugging Face transformers ``TrainerCallback`` that writes the run into a convexlaw run
store as it trains.

What is recorded (steps are optimizer updates, ``state.global_step``):

- the learning rate of every update, read from the optimizer in ``on_pre_optimizer_step``
  (after clipping, right before ``optimizer.step()``): what the update applies;
- ``train``: the Trainer's logged ``loss`` — the mean over the ``logging_steps`` updates
  since the previous log, at the log's step (``logging_steps=1`` gives every update's);
- ``grad_norm``: the Trainer's logged gradient norm (before clipping) at the same steps;
- ``val`` (and ``val_<name>`` for several eval sets): ``eval_loss`` after each evaluation;
  an evaluation before any update (``eval_on_start``) goes to ``tags["initial_val"]``;
- N (trainable parameters; ``tags["N_non_embedding"]`` too), the model's config and
  ``config`` in ``tags["config"]``, the training arguments in ``tags["training_args"]``.

For ``lr_scheduler_type`` linear, cosine, constant and constant_with_warmup the run's
``schedule`` is the matching convexlaw spec (e.g. ``"cosine+warmup(100)"``), kept only if
every logged learning rate agrees with it, so ``convexlaw plan`` can use these runs as
pilots. Only the main process writes. To continue a killed run from a checkpoint, pass
the same ``run_id`` and ``resume_from_checkpoint``.

Example::

    from convexlaw.integrations import HFCallback
    trainer = Trainer(model, args, train_dataset=ds, eval_dataset=ev,
                      callbacks=[HFCallback("runs.db", sweep="pilots")])
    trainer.train()
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - depends on what is installed
    raise ImportError("HFCallback needs transformers: pip install 'convexlaw[hf]'") from None

from convexlaw.integrations.forecast import Forecast
from convexlaw.integrations.recorder import Recorder, RecorderWarning
from convexlaw.integrations.tags import config_value, versions
from convexlaw.integrations.torchutil import future_lrs, param_count, torch_scheduler
from convexlaw.runs import RunStore

__all__ = ["HFCallback"]

# transformers' scheduler types whose learning rates are exactly a convexlaw spec
SPECS = {"linear": "linear", "cosine": "cosine", "constant": "constant",
         "constant_with_warmup": "constant"}
ARGS_KEPT = ("learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps",
             "warmup_ratio", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
             "max_grad_norm", "optim", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_steps", "num_train_epochs", "seed",
             "logging_steps", "eval_steps", "bf16", "fp16")


class HFCallback(TrainerCallback):
    """Record ``trainer.train()`` into ``store`` (a RunStore or a path).

    ``config``: extra settings merged over the model's config; ``name``: default the
    model's type and the time; ``forecast``/``sweep``/``flush_every``/``flush_secs``/
    ``tags``/``run_id``: as in :class:`convexlaw.integrations.Recorder`. The forecast's
    planned learning rates come from the Trainer's scheduler, stepped on a stand-in
    optimizer.
    """

    def __init__(self, store: RunStore | str | os.PathLike, config: Mapping | None = None, *,
                 name: str | None = None, run_id: str | None = None,
                 forecast: Forecast | bool | None = None, sweep: str | None = None,
                 tags: Mapping | None = None, flush_every: int | None = None,
                 flush_secs: float = 10.0) -> None:
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.config, self.name, self.run_id = dict(config or {}), name, run_id
        if isinstance(forecast, Forecast):
            forecast.validate()
        self.options = dict(forecast=forecast, sweep=sweep, tags=tags,
                            flush_every=flush_every, flush_secs=flush_secs)
        self.recorder: Recorder | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       optimizer: Any = None, lr_scheduler: Any = None, **kw: Any) -> None:
        if not state.is_world_process_zero:
            return
        steps = int(state.max_steps) if state.max_steps and state.max_steps > 0 else None
        spec = self._spec(args, steps)
        model_cfg = getattr(model, "config", None)
        model_cfg = config_value(model_cfg.to_dict()) if hasattr(model_cfg, "to_dict") else {}
        model_type = model_cfg.get("model_type") or type(model).__name__
        inner = getattr(optimizer, "optimizer", optimizer)
        self.recorder = rec = Recorder(
            self.store, {**model_cfg, **self.config}, source="hf",
            name=self.name or f"{model_type}-{time.strftime('%Y%m%d-%H%M%S')}",
            run_id=self.run_id, N=param_count(model), steps=steps,
            schedule=spec, peak_lr=float(args.learning_rate) if spec else None,
            optimizer=type(inner).__name__.lower() if inner is not None else None,
            batch_size=(args.per_device_train_batch_size * args.gradient_accumulation_steps
                        * max(1, args.world_size)),
            seed=int(args.seed), planned=self._future(lr_scheduler, steps), **self.options)
        args_d = args.to_dict()
        rec.tags.update(training_args=config_value({k: args_d.get(k) for k in ARGS_KEPT}),
                        scheduler=type(getattr(lr_scheduler, "scheduler", lr_scheduler)).__name__,
                        train_loss_window=int(args.logging_steps)
                        if args.logging_steps >= 1 else None,
                        versions=versions("torch", "transformers", "accelerate"))
        if hasattr(model, "num_parameters"):
            rec.tags["N_non_embedding"] = int(model.num_parameters(only_trainable=True,
                                                                   exclude_embeddings=True))
        if state.global_step:
            try:
                rec.resume_at(int(state.global_step))
            except ValueError as err:  # recording must not stop the training
                warnings.warn(f"convexlaw: not recording this resumed run: {err} (pass the "
                              "killed run's run_id to HFCallback to continue it)",
                              RecorderWarning, stacklevel=2)
                self.recorder = None
                return
        self.run_id = rec.id

    @staticmethod
    def _spec(args: Any, steps: int | None) -> str | None:
        kind = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
        if steps is None or kind not in SPECS or args.lr_scheduler_kwargs:
            return None
        warm = int(args.get_warmup_steps(steps))
        if kind == "constant":
            warm = 0
        return f"{SPECS[kind]}+warmup({warm})" if warm else SPECS[kind]

    @staticmethod
    def _future(lr_scheduler: Any, steps: int | None) -> Any:
        if steps is None or lr_scheduler is None or torch_scheduler(lr_scheduler) is None:
            return None
        return lambda k: future_lrs(lr_scheduler, steps - k + 1)

    def _active(self) -> Recorder | None:
        rec = self.recorder
        return rec if rec is not None and not rec.closed else None

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any,
                              optimizer: Any = None, **kw: Any) -> None:
        rec = self._active()
        if rec is not None:  # its loss is logged later: flush at the next update's start
            rec.log_lr(int(state.global_step) + 1, optimizer, flush=False)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        rec = self._active()
        if rec is not None:
            rec.maybe_flush()

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping | None = None,
               **kw: Any) -> None:
        rec = self._active()
        if rec is None or not logs or not state.global_step:
            return
        step = int(state.global_step)
        for key, kind in (("loss", "train"), ("grad_norm", "grad_norm")):
            if key in logs and step > rec.last_step(kind):
                rec.log_value(kind, step, logs[key])

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Mapping | None = None,
                    **kw: Any) -> None:
        rec = self._active()
        if rec is None or not metrics:
            return
        for key, value in metrics.items():
            if key == "eval_loss":
                kind = "val"
            elif key.startswith("eval_") and key.endswith("_loss"):
                kind = "val_" + key[len("eval_"):-len("_loss")]
            else:
                continue
            if int(state.global_step) > rec.last_step(kind) or state.global_step == 0:
                rec.log_value(kind, int(state.global_step), value)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        rec = self._active()
        if rec is not None:
            rec.finish()
