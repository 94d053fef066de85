"""PyTorch training harness: bundled real data, sized models, optimizers, the loop.

Needs the optional extra ``convexlaw[train]`` (torch); the rest of convexlaw never
imports this package. ``TrainConfig`` (and so sweep planning) works without importing
torch: the torch-backed names below load on first use.

>>> from convexlaw.train import TrainConfig, train
>>> run = train(TrainConfig(model="mlp", size=64, optimizer="sgd", schedule="cosine",
...                         peak=0.1, steps=100, dataset="digits"))
>>> run.status, len(run.lrs)
('finished', 100)
"""

from importlib import import_module

from .config import TrainConfig

# name -> submodule; imported lazily because each of them imports torch
_LAZY = {
    "Batches": "data", "heldout": "data", "load_dataset": "data",
    "evaluate": "loop", "train": "loop",
    "build_model": "models", "param_count": "models",
    "Muon": "optim", "MuonNSGD": "optim", "build_optimizers": "optim", "newton_schulz": "optim",
}

__all__ = ["TrainConfig", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
