"""Runs in from the code people already have: callbacks for the trainers they use.

- :func:`record` / :class:`Recorder`: a hand-written loop logs ``rec.log(step, lr, loss)``;
  the run lands in the store as it trains (torch not needed).
- :class:`LightningCallback` (``convexlaw[lightning]``): a PyTorch Lightning ``Callback``.
- :class:`HFCallback` (``convexlaw[hf]``): a Hugging Face transformers ``TrainerCallback``.

Each writes the learning rate of every update (read from the optimizer, so any scheduler
works), the training loss, held-out losses, the gradient norm, N and the config, one
transaction per flush; optionally a :class:`Forecast` of the final loss while training.
The callbacks load their trainer library on first use only.
"""

from importlib import import_module

from convexlaw.integrations.forecast import Forecast
from convexlaw.integrations.recorder import Recorder, RecorderWarning, record

_LAZY = {"LightningCallback": "lightning", "HFCallback": "hf", "future_lrs": "torchutil"}

__all__ = ["Forecast", "HFCallback", "LightningCallback", "Recorder", "RecorderWarning",
           "future_lrs", "record"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
