"""Loss-curve models: a run's learning-rate sequence in, its loss curve out.

``ConvexModel`` (the last-iterate bound as written), ``ConvexGT`` (with a gradient-norm
profile G_t ∝ t^a and an optional burn-in restart) and ``ConvexED`` (the effective
distance D² → D²·P_t^c, with optional G_t ∝ t^a and a peak-LR factor) share the
scikit-learn-style interface of ``CurveModel``; ``ConvexEDHorizon`` lets c drift with
the run's horizon, c(T) = c + c1·ln(T/T_ref); the peer laws live in
``convexlaw.baselines`` behind the same interface.
"""

from convexlaw.curve.base import CurveModel, FitWarning
from convexlaw.curve.convex import BoundModel, ConvexED, ConvexGT, ConvexModel
from convexlaw.curve.data import CurveData, as_curve_data, restrict
from convexlaw.curve.horizon import ConvexEDHorizon

__all__ = [
    "BoundModel",
    "ConvexED",
    "ConvexEDHorizon",
    "ConvexGT",
    "ConvexModel",
    "CurveData",
    "CurveModel",
    "FitWarning",
    "as_curve_data",
    "restrict",
]
