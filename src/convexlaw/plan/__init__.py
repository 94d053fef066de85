"""Plan a long run from pilot runs: recommended peak LR, predicted final loss, the curve.

From finished pilot runs (any schedules, peaks and horizons; a single horizon with a few
peaks is enough) the plan

1. leaves out what no law describes, each run with its reason (``convexlaw.laws.screen``):
   diverged runs, plateaus, spikes, and the edge-of-stability peaks whose final loss lies
   far above the law fitted to the others — no user window (``window`` still forces one);
2. chooses the burn-in of each curve model (``convexlaw.curve.burnin``: an explicit step,
   the stored convexity onset, or the earliest start whose held-out error is within noise
   of the best, on the same held-out splits that then score the model);
3. fits every *forecaster* (``convexlaw.forecasters``): the horizon law and its variants on
   the pilots' final losses, and loss-curve models on every logged point of every pilot;
4. scores each on held-out splits (``convexlaw.curve.holdout``): the shorter horizons
   predict the longest one — scored by the plan's own error there, η* and L* against the
   measured optimum when the longest pilots bracket it (else the held-out curves) — or, at
   a single horizon or when the shorter horizons cannot determine a forecaster, each
   longest pilot's second half is predicted from its first half and the other pilots;
5. takes L* at the target horizon and schedule from the forecaster with the lowest
   held-out error, and η* from the one whose η* held out best (``choose_eta``; the same
   forecaster on a tail split), never one whose parameter sits at a bound, whose optimum
   is not interior, or whose η* rises with T (κ > 0) unless no other is left (then it says
   so). Every number says which forecaster produced it.

Intervals: for a law, the percentile bootstrap over pilot runs; for a curve model, the
peaks whose predicted loss lies within the model's held-out error of its optimum, and
L*·(1 ± held-out error). Both widened to cover the other forecasters within 1.5× the best
held-out error (model disagreement is uncertainty too).

>>> import numpy as np
>>> from convexlaw import bound_terms, schedule
>>> from convexlaw.runs import Run
>>> def synth(T, eta):  # the literal law in shape mode: L∞ = 0.5, q1² = 4, q2² = 25
...     s = schedule("cosine", T, 1.0); X, Y = bound_terms(s, at=[T])
...     loss = 0.5 + 4.0 * X[0] / eta + 25.0 * Y[0] * eta
...     return Run(f"T{T}p{eta}", lrs=eta * s, peak_lr=eta, schedule="cosine",
...                curves={"val": ([T // 2, T], [1.1 * loss, loss])})
>>> runs = [synth(T, e) for T in (100, 400) for e in (0.05, 0.1, 0.2, 0.4)]
>>> p = make_plan(runs, 1600, variants=("literal",), n_boot=0, curve_models=())
>>> X, Y = bound_terms(schedule("cosine", 1600, 1.0), at=[1600])
>>> p.source, round(float(p.eta_star / (4.0 * X[0] / (25.0 * Y[0])) ** 0.5), 6)
('law literal', 1.0)
"""

from convexlaw.laws.peers import measured_optimum
from convexlaw.plan.core import CURVE_MODELS, PLAN_VARIANTS, make_plan
from convexlaw.plan.core import MAX_TESTS as MAX_TESTS  # bench/diagnose_124m.py
from convexlaw.plan.pilots import _select as _select  # bench/protocol2d_size.py
from convexlaw.plan.pilots import pilot_runs
from convexlaw.plan.result import Plan, PlanError, loss_from, plan_lines

__all__ = ["CURVE_MODELS", "PLAN_VARIANTS", "Plan", "PlanError", "loss_from", "make_plan",
           "measured_optimum", "pilot_runs", "plan_lines"]
