"""Peer loss-curve laws behind the CurveModel interface.

``MultiPowerLaw`` (Luo et al. 2025, 7 parameters), ``TissueLaw`` (Tissue et al. 2024,
momentum form of the annealing area, 4 parameters) and ``PowerLaw`` (L0 + A·P_t^(−α),
3 parameters), each fitted by robust least squares on log loss.
"""

from convexlaw.baselines.mpl import MultiPowerLaw
from convexlaw.baselines.powerlaw import PowerLaw
from convexlaw.baselines.tissue import TissueLaw

__all__ = ["MultiPowerLaw", "PowerLaw", "TissueLaw"]
