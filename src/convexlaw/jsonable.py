"""Plain JSON values from numpy-laden structures (used by the run record and the CLI)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["plain"]


def plain(obj: Any, finite: bool = False) -> Any:
    """Dicts, lists, tuples and arrays become dicts and lists; numpy scalars Python ones.

    With ``finite=True`` inf and NaN become ``None`` (strict JSON has neither).

    >>> plain({"a": np.arange(2), 3: (np.float64(1.5), np.inf)}, finite=True)
    {'a': [0, 1], '3': [1.5, None]}
    """
    if isinstance(obj, dict):
        return {str(k): plain(v, finite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, finite) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), finite)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if finite and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
