"""The version of convexlaw, defined once (pyproject reads it from here)."""

__version__ = "0.2.0"
