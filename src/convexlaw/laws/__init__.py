"""Scaling laws of loss and learning rate across horizon T and model size N.

- ``HorizonLaw``: L(T, η) = L∞ + q1²/(T·η) + q2²·η (and the effective-distance and
  gradient-scale variants), η*(T) = q1/(q2√T), L*(T) = L∞ + 2q1q2/√T.
- ``SizeLaw``: the same with L∞, q1, q2 power laws in N, fitted jointly.
- ``OptimumLaw``: L*(N, T) for rows tuned at their optimum (no peak LR known).
- ``read_table``/``fit_table``: CSV tables of final losses; ``compare_variants`` lets
  held-out horizons choose between the variants.
"""

from convexlaw.laws.base import VARIANTS, Law
from convexlaw.laws.data import LawData
from convexlaw.laws.horizon import HorizonLaw, SizeLaw
from convexlaw.laws.optimum import OptimumLaw
from convexlaw.laws.selection import (
    compare_variants,
    fit_runs,
    fit_table,
    law_for,
    load_laws,
    save_laws,
)
from convexlaw.laws.table import TableError, read_table

__all__ = ["VARIANTS", "HorizonLaw", "Law", "LawData", "OptimumLaw", "SizeLaw", "TableError",
           "compare_variants", "fit_runs", "fit_table", "law_for", "load_laws", "read_table",
           "save_laws", "transfer"]


def transfer(eta_small: float, T_small: float, T_target: float, kappa: float = -0.5) -> float:
    """Transfer rule η*(T) = η*(T_small)·(T/T_small)^κ (κ = −1/2: η_ref/√T).

    >>> transfer(1e-3, 1000, 4000)
    0.0005
    """
    for name, v in (("eta_small", eta_small), ("T_small", T_small), ("T_target", T_target)):
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    return float(eta_small * (T_target / T_small) ** kappa)
