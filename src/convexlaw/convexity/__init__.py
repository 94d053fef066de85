"""Measured convexity along a training trajectory: does training become convex-like, and
from which step?

The paper's bound assumes convexity only along the path (its Remark 2.2). Along a real
run, on a fixed evaluation batch, at a cadence the user sets, this package measures

1. path convexity: iterate-wise gaps r(t, s), star gaps against a stated reference, the
   fraction that hold and the implied weak-convexity modulus ρ (:mod:`.path`);
2. convexity along the update direction (GeN): curvature, quadratic R², the quadratic's
   step against the schedule's (:mod:`.direction`);
3. the Hessian's extremes λ_max, λ_min by Lanczos on Hessian-vector products, and the
   edge-of-stability reading λ_max·η/2 (:mod:`.hessian`);
4. per-sample gradient norms and the structural gap log(λ_max/λ_min) of JJᵀ — our reading
   of Qi, Gong & Li (:mod:`.jacobian`);
5. the onset step t0 by one documented rule (:mod:`.onset`), stored with the run;

with the harness, at a default cadence that fits a budget estimated from the run's counts
(:mod:`.cadence`).

The numpy parts (records, analysis, t0, figures) import without torch; the measuring
parts (``Diagnoser``, ``HarnessDiagnoser``, ``hessian_extremes``, ``per_sample``) need the
``train`` extra and load on first use.

>>> from convexlaw.convexity import Convexity, onset_index
>>> onset_index([False, False, True, True, True, True])
2
"""

from __future__ import annotations

from importlib import import_module

from .cadence import Cadence, default_cadence
from .direction import probe_quadratic
from .onset import RULE, check_holds, onset_index
from .path import PathRecorder, pair_holds, weak_convexity
from .result import Convexity, describe

# name -> submodule; imported lazily because each of them imports torch
_LAZY = {
    "Diagnoser": "diagnoser", "ConvexityError": "errors",
    "HarnessDiagnoser": "harness", "load_reference": "harness", "save_params": "harness",
    "forward_flops": "harness",
    "HessianExtremes": "hessian", "dense_hessian": "hessian", "hessian_extremes": "hessian",
    "hvp_fn": "hessian",
    "per_sample": "jacobian",
}

__all__ = ["RULE", "Cadence", "Convexity", "PathRecorder", "check_holds", "default_cadence",
           "describe", "onset_index", "pair_holds", "probe_quadratic", "weak_convexity",
           *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        from .errors import require_torch

        if _LAZY[name] != "errors":
            require_torch()
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
