"""The onset step t0: from which check on the run behaves convex-like (one rule).

**Rule.** Check k (at step t_k) *holds* when

1. at least ``pair_fraction`` (90 %) of its iterate-wise gaps r(t_k, s), s > t_k, hold
   (r ≥ −tol·(|L(w_t)| + |L(w_s)|), tol = 1e-6: the rounding of two losses), and — when a
   reference point other than the final iterate is given — its star gap holds too;
2. the loss is convex along its update direction: curvature (L₊ + L₋ − 2L₀)/ε² > 0
   (not required where it was not measured, e.g. η = 0).

The last check has no later checkpoint and is not judged. **t0** is the step of the first
check k that holds and from which no window of ``window`` (5) consecutive judged checks
holds fewer than ``fraction`` (80 %) of them — counted as failures: at most
⌊(1 − fraction)·window⌋ = 1 failing check in any five from t0 on (the windows at the end,
shorter, may not have more failures than a full one). ``None`` when no such check exists
(the run never settles into convex-like behaviour by this rule).

The Hessian extremes (λ_min < 0 persists in nets for the whole run, at a small
|λ_min|/λ_max) are reported beside t0 but are not part of the rule.

>>> onset_index([False, False, True, False, True, True, True, True], window=5, fraction=0.8)
2
>>> onset_index([False, True, True, True, True, True], window=5, fraction=0.8)
1
>>> onset_index([True, False, False], window=5, fraction=0.8) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["RULE", "check_holds", "onset_index"]

RULE = ("t0 = first check that holds and after which every window of {window} consecutive "
        "checks has ≥ {fraction:.0%} holding (no more failures in the shorter windows at the "
        "end); a check holds when ≥ {pair_fraction:.0%} of its iterate-wise gaps r(t, s > t) "
        "are ≥ 0 and the curvature along its update is > 0")


def check_holds(pairs: np.ndarray, curvature: np.ndarray, star: np.ndarray | None = None,
                pair_fraction: float = 0.9) -> np.ndarray:
    """Per check: 1.0 holds, 0.0 fails, NaN not judged (the last check).

    ``pairs``: K×K matrix of 1/0/NaN (``path.pair_holds``) with the pair (t_i, t_j), i < j,
    at [i, j]; ``curvature``: K values (NaN = not measured); ``star``: K values 1/0/NaN
    for a reference other than the final iterate, else None.
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    k = pairs.shape[0]
    out = np.full(k, np.nan)
    for i in range(k - 1):
        later = pairs[i, i + 1:]
        later = later[np.isfinite(later)]
        if not later.size:
            continue
        ok = later.mean() >= pair_fraction
        c = curvature[i]
        if np.isfinite(c):
            ok = ok and c > 0
        if star is not None and np.isfinite(star[i]):
            ok = ok and star[i] > 0
        out[i] = float(ok)
    return out


def onset_index(holds: Sequence[bool], window: int = 5, fraction: float = 0.8) -> int | None:
    """Index of the first judged check from which every later window passes (see RULE)."""
    if window < 1 or not 0 < fraction <= 1:
        raise ValueError(f"need window ≥ 1 and 0 < fraction ≤ 1, got window={window}, "
                         f"fraction={fraction}")
    h = np.asarray(holds, dtype=bool)
    n = h.size
    allowed = int(math.floor((1 - fraction) * window + 1e-9))
    ok = np.array([(~h[j:j + window]).sum() <= allowed for j in range(n)], dtype=bool)
    i = n
    while i > 0 and ok[i - 1]:
        i -= 1
    while i < n and not h[i]:  # t0 itself must hold
        i += 1
    return None if i == n else i
