"""convexlaw: peak learning rate and loss for long runs from cheap pilot runs.

The last-iterate bound of SGD on convex Lipschitz objectives (Defazio et al. 2023), taken
as a model of deep-learning training (Bu, Xu & Mao, ICLR 2026), turns a learning-rate
schedule into a predicted loss curve and an optimal peak learning rate.

>>> import convexlaw
>>> lrs = convexlaw.schedule("cosine+warmup(0.05)", 1000, peak=0.1)
>>> omega = convexlaw.bound(lrs, D=1.0, G=1.0)
>>> peak, best = convexlaw.optimal_peak("linear", 1000)

``convexlaw.record(store, config)`` records a hand-written training loop into a run store
(see ``convexlaw.integrations``; loaded on first use).
"""

from convexlaw._version import __version__
from convexlaw.bound import bound, bound_direct, bound_terms, optimal_peak
from convexlaw.exam import ExamResult, exam
from convexlaw.schedules import SpecError, schedule

__all__ = [
    "ExamResult",
    "__version__",
    "SpecError",
    "bound",
    "bound_direct",
    "bound_terms",
    "exam",
    "optimal_peak",
    "record",
    "schedule",
]


def __getattr__(name: str):
    # lazily: the record helper pulls in the run store, which the math core does not need
    if name == "record":
        from convexlaw.integrations import record

        return record
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
