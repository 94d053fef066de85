"""One training run's configuration, validated up front, and its stable id.

The id is the first 16 hex digits of the SHA-256 of the *normalised* configuration
(defaults filled in, the dataset resolved) as canonical JSON, together with the harness
version: the same run asked for twice has the same id, which is how a sweep knows what it
has already done.

Example::

    >>> c = TrainConfig(model="mlp", size=64, optimizer="sgd", schedule="cosine",
    ...                 peak=0.1, steps=200, dataset="digits").normalised()
    >>> c.batch_size, c.eval_every, len(c.run_id())
    (128, 4, 16)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

HARNESS_VERSION = 3  # bump when the loop changes what a config produces
IMAGE_MODELS, TEXT_MODELS = ("mlp", "cnn"), ("gpt",)
OPTIMIZERS = ("sgd", "adamw", "muon", "muon-nsgd")
IMAGE_DATASETS = ("image", "fashion-mnist", "mnist-5k", "digits")
TEXT_DATASETS = ("kjv", "news", "kjv-news")
SAMPLING = ("fresh", "random")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's curves (``None`` = a model-dependent default).

    ``size`` is the model's one size knob (MLP width, CNN channels, GPT width); ``depth``
    hidden layers / blocks per stage / transformer blocks. ``eval_every`` = k: held-out
    loss and gradient norm after every k-th update and after the last; defaults to T/50.
    ``eval_size``: held-out images (default 1000) or byte windows (default 64).
    ``sampling`` (text only): "fresh" (default; no byte is a training target twice
    within an epoch) or "random" (windows at random offsets, which overlap and repeat).
    """

    model: str = "mlp"
    size: int = 256
    optimizer: str = "sgd"
    schedule: str = "cosine"
    peak: float = 0.1
    steps: int = 1000
    seed: int = 0
    dataset: str | None = None
    depth: int | None = None
    batch_size: int | None = None
    context: int = 64
    eval_every: int | None = None
    eval_size: int | None = None
    sampling: str | None = None
    momentum: float | None = None
    weight_decay: float = 0.0
    clip: float | None = None
    data_path: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping, naming any key that is not a field."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown run setting(s) {unknown}; expected among {sorted(names)}")
        return cls(**d)

    def normalised(self) -> TrainConfig:
        """Validate every value (messages name the bad value) and fill in the defaults."""
        if self.model not in IMAGE_MODELS + TEXT_MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of "
                             f"{', '.join(IMAGE_MODELS + TEXT_MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of "
                             f"{', '.join(OPTIMIZERS)}")
        for name in ("size", "steps", "context"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("depth", "batch_size", "eval_every", "eval_size"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer or unset, got {v!r}")
        if not isinstance(self.peak, int | float) or not math.isfinite(self.peak) \
                or self.peak <= 0:
            raise ValueError(f"peak learning rate must be a finite number > 0, got {self.peak!r}")
        if self.weight_decay < 0 or not math.isfinite(self.weight_decay):
            raise ValueError(f"weight_decay must be finite and ≥ 0, got {self.weight_decay!r}")
        if self.momentum is not None and not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be > 0 or unset, got {self.clip!r}")
        if not isinstance(self.schedule, str) or not self.schedule.strip():
            raise ValueError(f"schedule must be a spec string, got {self.schedule!r}")
        text = self.model in TEXT_MODELS
        sampling = self.sampling or "fresh"
        if sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}; expected one of "
                             f"{', '.join(SAMPLING)}")
        if sampling != "fresh" and not text:
            raise ValueError(f"sampling {self.sampling!r} does not fit model {self.model!r}; "
                             "images are drawn without replacement: expected fresh")
        dataset = self.dataset or ("kjv" if text else "image")
        allowed = TEXT_DATASETS if text else IMAGE_DATASETS
        if dataset not in allowed:
            raise ValueError(f"dataset {dataset!r} does not fit model {self.model!r}; "
                             f"expected one of {', '.join(allowed)}")
        if dataset == "image":
            from .sources import resolve_image_dataset
            dataset = resolve_image_dataset(self.data_path)
        # the schedule spec is checked by the schedule itself: fail before training starts
        from convexlaw import schedule
        schedule(self.schedule, self.steps, self.peak)
        return replace(
            self,
            peak=float(self.peak),
            weight_decay=float(self.weight_decay),
            dataset=dataset,
            batch_size=self.batch_size or (16 if text else 128),
            eval_every=self.eval_every or max(1, self.steps // 50),
            eval_size=self.eval_size or (64 if text else 1000),
            sampling=sampling,
        )

    def key(self) -> dict[str, Any]:
        """The hashed content: every field (normalised) plus the harness version."""
        d = asdict(self.normalised())
        if d["data_path"] is None:
            del d["data_path"]  # keeps ids stable for the common case
        if d["model"] not in TEXT_MODELS:
            del d["sampling"]  # images have one sampling only: their ids stay as they were
        return {"harness": HARNESS_VERSION, **d}

    def run_id(self) -> str:
        blob = json.dumps(self.key(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def name(self) -> str:
        """A readable name, e.g. ``fashion-mnist/mlp256/sgd/cosine/peak=0.1/T=1000/seed=0``."""
        c = self.normalised()
        depth = "" if c.depth is None else f"x{c.depth}"
        return (f"{c.dataset}/{c.model}{c.size}{depth}/{c.optimizer}/{c.schedule}/"
                f"peak={c.peak:g}/T={c.steps}/seed={c.seed}")
