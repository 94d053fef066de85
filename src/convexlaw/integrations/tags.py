"""What every recorder tags a run with: its config as plain JSON (``config_value``) and
the versions of the packages it ran with (``versions``)."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw._version import __version__

__all__ = ["config_value", "versions"]


def config_value(obj: Any, depth: int = 0) -> Any:
    """A JSON-plain copy of a config: mappings, sequences, finite numbers, strings, None;
    anything else by its ``repr`` (a run's tags must be plain JSON)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else repr(x)
    if depth < 8 and isinstance(obj, Mapping):
        return {str(k): config_value(v, depth + 1) for k, v in obj.items()}
    if depth < 8 and isinstance(obj, (list, tuple, set, frozenset)):
        return [config_value(v, depth + 1) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def versions(*packages: str) -> dict[str, str]:
    out = {"python": platform.python_version(), "convexlaw": __version__}
    for p in ("numpy", *packages):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out
