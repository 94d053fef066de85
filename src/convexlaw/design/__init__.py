"""Schedule design: the schedule a fitted curve model predicts is best for a run of T steps.

Data flow: schedule → bound → model fit → **design**. ``design_schedule`` searches a
family's parameters (WSD, cosine, linear) or a free monotone spline for the lowest
predicted loss at T, at a given or tuned peak, and scores cosine and WSD beside it.

>>> from convexlaw.curve import ConvexModel
>>> from convexlaw.design import design_schedule
>>> literal = ConvexModel.from_params({"L_inf": 0.0, "D2": 1.0, "G2": 1.0})
>>> design_schedule(literal, 1000, family="cosine").designed.spec
'cosine'
"""

from convexlaw.design.core import BASELINES, design_schedule
from convexlaw.design.objective import DesignError, Objective
from convexlaw.design.result import Candidate, Design
from convexlaw.design.space import FAMILIES, Spline

__all__ = ["BASELINES", "FAMILIES", "Candidate", "Design", "DesignError", "Objective",
           "Spline", "design_schedule"]
