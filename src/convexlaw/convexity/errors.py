"""The one error type of the diagnostics, and the check that torch is there (no torch here)."""

from __future__ import annotations

import importlib.util

__all__ = ["ConvexityError", "require_torch"]


class ConvexityError(ValueError):
    """Bad input to the diagnostics, or a measurement that cannot be made (one line)."""


def require_torch() -> None:
    """Raise a one-line ConvexityError when the ``train`` extra (torch) is missing."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a blocked or half-installed torch
        found = False
    if not found:
        raise ConvexityError("convexity diagnostics need torch, which is not installed: "
                             "pip install 'convexlaw[train]'")
