"""PyTorch training harness: bundled real data, sized models, optimizers, the loop.

Needs the optional extra ``convexlaw[train]`` (torch); the rest of convexlaw never
imports this package.

>>> from convexlaw.train import TrainConfig, train
>>> run = train(TrainConfig(model="mlp", size=64, optimizer="sgd", schedule="cosine",
...                         peak=0.1, steps=100, dataset="digits"))
>>> run.status, len(run.lrs)
('finished', 100)
"""

from .config import TrainConfig
from .data import Batches, heldout, load_dataset
from .loop import evaluate, train
from .models import build_model, param_count
from .optim import Muon, build_optimizers, newton_schulz

__all__ = [
    "Batches",
    "Muon",
    "TrainConfig",
    "build_model",
    "build_optimizers",
    "evaluate",
    "heldout",
    "load_dataset",
    "newton_schulz",
    "param_count",
    "train",
]
