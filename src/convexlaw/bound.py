"""The last-iterate bound of SGD as a function of the whole learning-rate sequence.

For a convex G-Lipschitz objective, SGD's last iterate after ``t`` updates with learning
rates η₁…η_t satisfies E f(x_t) − f* ≤ Ω_t (Defazio et al. 2023, Thm 10), with
P_t = Σ_{s≤t} η_s and Q_t = Σ_{s≤t} η_s² G_s²::

    Ω_t = D²/(2P_t) + Q_t/(2P_t)
          + ½ Σ_{k=1}^{t−1} [η_k/(P_t − P_k)]·[(Q_t − Q_{k−1})/(P_t − P_{k−1})]

Summation by parts (η_k = P_k − P_{k−1}) turns this into::

    Ω_t = D²·X_t + Y_t,   X_t = 1/(2P_t),
    Y_t = ½ (η_t²G_t² + η_{t−1}²G_{t−1}²)/η_t + ½ S_t,
    S_t = Σ_{k=1}^{t−2} η_k²G_k² / (P_t − P_k)

S_t for every t is a causal Cauchy-kernel sum Σ_k w_k/(x − y_k) over sorted points y_k = P_k:
``bound_terms`` evaluates it for all steps with a one-dimensional fast multipole method
(``convexlaw.cauchy``, O(T) work at fixed accuracy), and ``bound_direct`` evaluates the
defining formula per step (O(T) per step, O(T²) for all) as the reference.

Steps are 1-based (t = 1…T) and step t uses ``lrs[t − 1]``. At a step whose learning rate
is 0 the bound is +∞ (the last update did not move; the formula divides by η_t).

>>> import numpy as np
>>> lrs = np.full(4, 0.5)
>>> float(bound(lrs, D=1.0, G=1.0, at=[4])[0])   # D²/(2Tη) + ηG²/2·(1 + H₃)
0.9583333333333333
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import overload

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.cauchy import causal_sums, suffix_sum

__all__ = ["bound", "bound_direct", "bound_terms", "optimal_peak", "peak_split",
           "peak_split_blocks"]

_FEW = 32  # up to this many requested steps, evaluate each by one dot product
_INF_BITS = np.float64(np.inf).view(np.uint64)  # 0x7FF0000000000000


# ---------------------------------------------------------------------------- inputs
def _check_lrs(lrs: ArrayLike) -> np.ndarray:
    a = np.asarray(lrs, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"learning rates must be a 1-D sequence, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("learning rates are empty: need at least one step")
    # One reduction for the common case: read as unsigned integers, the finite doubles >= 0
    # are the bit patterns below +inf's, in the order of their values (a set sign bit reads
    # larger), so 0 < max < +inf's pattern means all finite, none negative, one positive.
    if 0 < np.maximum.reduce(a.view(np.uint64)) < _INF_BITS:
        return a
    lo, hi = a.min(), a.max()  # -0.0 (sign bit set) lands here; NaN fails both comparisons
    if lo >= 0 and 0 < hi < np.inf:
        return a
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"learning rate at step {bad[0] + 1} is {float(a[bad[0]])}; "
                         "expected a finite number")
    bad = np.flatnonzero(a < 0)
    if bad.size:
        raise ValueError(f"learning rate at step {bad[0] + 1} is {a[bad[0]]:g}; "
                         "expected >= 0")
    raise ValueError("all learning rates are zero: the bound is infinite at every step")


def _check_profile(g: ArrayLike | None, n: int, name: str) -> np.ndarray | None:
    """Per-step scale g_t as an array of n values, or None for g ≡ 1."""
    if g is None:
        return None
    a = np.asarray(g, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have one value per step ({n}), "
                         f"got shape {a.shape}")
    if not (a.min() >= 0 and a.max() < np.inf):
        bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
        raise ValueError(f"{name} at step {bad[0] + 1} is {float(a[bad[0]])}; "
                         "expected finite >= 0")
    return a


def _few_steps(at: ArrayLike | None, n: int) -> list[int] | None:
    """``at`` as a list of at most _FEW valid 1-based steps, else None (then _check_at)."""
    if type(at) is list and len(at) == 1 and type(at[0]) is int and 1 <= at[0] <= n:
        return at  # the exam's and the laws' one step: no generator, no copy
    if isinstance(at, (list, tuple)) and 0 < len(at) <= _FEW and all(
            type(x) is int and 1 <= x <= n for x in at):
        return list(at)  # the common case, without numpy
    if at is None:
        return None
    a = _check_at(at, n)
    return a.tolist() if a.size <= _FEW else None


@overload
def _check_at(at: None, n: int) -> None: ...
@overload
def _check_at(at: ArrayLike, n: int) -> np.ndarray: ...
def _check_at(at: ArrayLike | None, n: int) -> np.ndarray | None:
    if at is None:
        return None
    a = np.atleast_1d(np.asarray(at))
    if a.size == 0:
        raise ValueError("`at` is empty: give 1-based steps in 1..T")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"`at` must hold integer steps, got {a[:5]!r}")
        a = a.astype(np.int64)
    bad = np.flatnonzero((a < 1) | (a > n))
    if bad.size:
        raise ValueError(f"step {a[bad[0]]} in `at` is outside 1..{n}")
    return a


def _check_positive(value: object, name: str) -> float:
    if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def last_positive(lrs: np.ndarray) -> int:
    """1-based index of the last positive learning rate (lrs validated: one is positive)."""
    if lrs[-1] > 0:
        return lrs.size
    return int(np.flatnonzero(lrs)[-1]) + 1


# ---------------------------------------------------------------------------- the terms
def _terms(eta: np.ndarray, g: np.ndarray | None,
           steps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """X and Y of validated inputs (g None: g ≡ 1) at 1-based ``steps`` or everywhere."""
    w = None if g is None else (eta * g) ** 2
    if steps is not None and steps.size <= _FEW:
        # one reversed running sum per step (what the exam and the laws ask for)
        X, Y = np.array([_terms_at(eta, w, t - 1) for t in steps.tolist()]).T
        return X.copy(), Y.copy()
    X = np.empty(eta.size)
    Y = _every_step(eta, w, X)
    if steps is not None:
        X, Y = X[steps - 1], Y[steps - 1]
    return X, Y


_BLOCK = 1 << 16  # steps per block of the every-step epilogue


def _every_step(eta: np.ndarray, w: np.ndarray | None, X: np.ndarray | None,
                D2: float = 0.0, g2: float = 1.0) -> np.ndarray:
    """Every step: Y (with X = 1/(2P) into ``X``), or Ω = D²X + G²Y when X is None.

    After the causal sums, one pass in cached blocks (P carried from block to block
    exactly as one cumulative sum would), writing over the sums: no other T-sized array.
    """
    out = causal_sums(eta, w)  # S, then Y or Ω in place
    P = np.empty(min(_BLOCK, eta.size))
    carry = 0.0
    for a in range(0, eta.size, _BLOCK):
        b = min(a + _BLOCK, eta.size)
        e, p, o = eta[a:b], P[: b - a], out[a:b]
        np.copyto(p, e)
        p[0] += carry
        np.cumsum(p, out=p)
        carry = float(p[-1])
        here = e * e if w is None else w[a:b]  # η_t²G_t², then + the step before
        local = np.empty(b - a)
        local[0] = here[0] + (0.0 if a == 0 else float(eta[a - 1]) ** 2 if w is None
                              else float(w[a - 1]))
        np.add(here[1:], here[:-1], out=local[1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            local /= e
            o += local
            o *= 0.5
            np.divide(0.5, p, out=p)
            if X is None:
                o *= g2
                p *= D2
                o += p
            else:
                X[a:b] = p
        dead = e == 0
        o[dead] = np.inf
        if X is not None:
            X[a:b][dead] = np.inf
    return out


def _terms_at(eta: np.ndarray, w: np.ndarray | None, i: int) -> tuple[float, float]:
    """X and Y at one 0-based step i, as Python floats."""
    e = float(eta[i])
    if e == 0:
        return math.inf, math.inf
    S, gaps = suffix_sum(eta, w, i) if i else (0.0, 0.0)  # gaps: P_i − P_0
    here = e * e if w is None else float(w[i])
    prev = 0.0 if i == 0 else (float(eta[i - 1]) ** 2 if w is None else float(w[i - 1]))
    return 0.5 / (gaps + float(eta[0])), 0.5 * (here + prev) / e + 0.5 * S


# ---------------------------------------------------------------------------- public API
def bound_terms(lrs: ArrayLike, grad_scale: ArrayLike | None = None,
                at: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distance part X_t and gradient part Y_t of the bound, Ω_t = D²·X_t + G²·Y_t.

    X_t = 1/(2P_t); Y_t is Ω_t − D²X_t at G = 1 with the per-step gradient profile
    ``grad_scale`` g_t (G_t = G·g_t; default 1). Both are +∞ where η_t = 0.
    ``at``: 1-based steps to evaluate (default: every step 1…T). A few steps cost one
    reversed cumulative sum each; many, or all, one fast multipole pass.

    >>> X, Y = bound_terms([1.0, 1.0])
    >>> X.tolist(), Y.tolist()
    ([0.5, 0.25], [0.5, 1.0])
    """
    eta = _check_lrs(lrs)
    n = eta.size
    return _terms(eta, _check_profile(grad_scale, n, "grad_scale"), _check_at(at, n))


def bound(lrs: ArrayLike, D: float = 1.0, G: float | ArrayLike = 1.0,
          at: ArrayLike | None = None) -> np.ndarray:
    """Ω_t, the last-iterate bound after t updates, at every step or at 1-based ``at``.

    ``G`` is a constant or one value per step (G_t).

    >>> bound([0.1, 0.1, 0.1], D=1.0, G=1.0).round(4)
    array([5.05  , 2.6   , 1.7917])
    """
    D = _check_positive(D, "D")
    eta = _check_lrs(lrs)
    n = eta.size
    if isinstance(G, (int, float, np.floating)) or np.ndim(G) == 0:
        scale, g2 = None, _check_positive(G, "G") ** 2
    else:
        scale, g2 = _check_profile(G, n, "G"), 1.0
    few = _few_steps(at, n)
    if few is not None:  # a few steps: one reversed running sum each, in Python floats
        w = None if scale is None else (eta * scale) ** 2
        at_few = []
        for t in few:
            x, y = _terms_at(eta, w, t - 1)
            at_few.append(D * D * x + g2 * y if x < math.inf else math.inf)
        return np.array(at_few)
    steps = _check_at(at, n)
    w = None if scale is None else (eta * scale) ** 2
    with np.errstate(invalid="ignore"):  # 0·∞ at dead steps, set to +∞ after
        omega = _every_step(eta, w, None, D * D, g2)
    return omega if steps is None else omega[steps - 1]


def bound_direct(lrs: ArrayLike, D: float = 1.0, G: float | ArrayLike = 1.0,
                 at: ArrayLike | None = None) -> np.ndarray:
    """Ω_t from the defining double-ratio formula, O(t) per step (the reference).

    Suffix sums P_t − P_k and Q_t − Q_k are reversed cumulative sums, never differences of
    totals, so that late steps of a decayed schedule keep their precision.
    """
    D = _check_positive(D, "D")
    eta = _check_lrs(lrs)
    n = eta.size
    g = _check_profile(None if np.ndim(G) == 0 else G, n, "G")
    g2 = _check_positive(G, "G") ** 2 if np.ndim(G) == 0 else 1.0
    steps = _check_at(at, n)
    w = (eta if g is None else eta * g) ** 2 * g2
    out = np.empty(n if steps is None else steps.size)
    for j, t in enumerate(np.arange(1, n + 1) if steps is None else steps):
        if eta[t - 1] == 0:
            out[j] = np.inf
            continue
        # Rp[k] = P_t − P_k and Rq[k] = Q_t − Q_k for k = 0..t−1 (reversed cumsums)
        Rp = np.cumsum(eta[t - 1::-1])[::-1]
        Rq = np.cumsum(w[t - 1::-1])[::-1]
        P_t, Q_t = Rp[0], Rq[0]
        k = np.arange(1, t)  # k = 1..t−1
        terms = eta[k - 1] / Rp[k] * Rq[k - 1] / Rp[k - 1]
        out[j] = D * D / (2 * P_t) + Q_t / (2 * P_t) + 0.5 * terms.sum()
    return out


def peak_split(shape: ArrayLike, D: float = 1.0, G: float = 1.0,
               at: int | None = None, *, check: bool = True) -> tuple[float, float, int]:
    """Constants of Ω = A/η_peak + B·η_peak for η = η_peak·shape, and the step used.

    A = D²/(2 Σ s) and B the gradient part at η_peak = 1, both at step ``at`` (default:
    the last step with a positive learning rate, with a warning if that is not T).
    ``check=False`` skips validating ``shape`` (for arrays made by
    ``convexlaw.schedules.shape``, already finite, ≥ 0 and not all 0).
    """
    s = _check_lrs(shape) if check else np.asarray(shape)
    D, G = _check_positive(D, "D"), _check_positive(G, "G")
    if at is None:
        at = last_positive(s)
        if at < s.size:
            warnings.warn(f"the schedule's learning rate is 0 from step {at + 1} on; "
                          f"the bound is evaluated at step {at}, the last with a positive "
                          "learning rate", stacklevel=2)
    if not (type(at) is int and 1 <= at <= s.size):
        at = int(_check_at(at, s.size)[0])
    X, Y = _terms_at(s, None, at - 1)
    return D * D * X, G * G * Y, at


def peak_split_blocks(blocks: Iterable[np.ndarray], n: int, D: float = 1.0,
                      G: float = 1.0) -> tuple[float, float, int]:
    """``peak_split(shape)`` at the last positive step, for a shape of n steps given as
    consecutive blocks from its end: the last block first, each block in step order.

    The shape is never held whole: each block can be made just before it is summed, and
    is summed while it is in cache (the exam's schedules of 10⁷ steps are made so; writing
    and re-reading them whole cost as much as the sums). The sums are those of
    ``cauchy.suffix_sum``: every gap P_t − P_k a suffix sum, one running sum carried from
    block to block, terms added by numpy's pairwise summation (not BLAS, so no dependence
    on threads); the blocks cut the running sum elsewhere, so the result may differ from
    ``peak_split``'s in the last bits. Values must be finite and >= 0 (not checked);
    zeros at the end are skipped silently. Returns (A, B, t), t the 1-based step used.

    >>> s = np.linspace(1.0, 0.1, 10)
    >>> A, B, t = peak_split_blocks([s[6:], s[:6]], 10)
    >>> bool(np.allclose([A, B], peak_split(s)[:2], rtol=1e-15)), t
    (True, 10)
    """
    D, G = _check_positive(D, "D"), _check_positive(G, "G")
    end = n  # the blocks seen cover the steps end … n−1 (0-based)
    t = -1  # 0-based target: the last positive step, once found
    last = prev = 0.0  # s_t, s_{t−1}
    want_prev = False  # s_{t−1} is the last value of the next block
    carry = 0.0  # P_t − P_{end−1}, the gap of the step left of the blocks seen
    total = 0.0  # Σ s_k²/(P_t − P_k) over the sources k ≤ t − 2 seen
    buf = np.empty(0)
    for v in blocks:
        a = end - v.size
        end = a
        if v.size == 0:
            continue
        if t < 0:  # still in the zeros at the end
            nz = np.flatnonzero(v)
            if not nz.size:
                continue
            t = a + int(nz[-1])
            v = v[: t - a + 1]
            last = float(v[-1])
            if v.size > 1:
                prev = float(v[-2])
            else:
                want_prev = True
        elif want_prev:
            prev, want_prev = float(v[-1]), False
        if buf.size < v.size:
            buf = np.empty(max(v.size, 1 << 15))
        g = buf[: v.size]
        g[-1] = carry
        if v.size > 1 and v.flags.writeable:
            # g[k − a] = P_t − P_k = carry + v[-1] + … + v[k+1]: summed straight from v
            # (its last value lent the carry for the pass) rather than from a copy
            last_v = v[-1]
            v[-1] = last_v + carry
            try:
                np.cumsum(v[:0:-1], out=g[-2::-1])
            finally:
                v[-1] = last_v
        elif v.size > 1:  # a read-only block: the same sums from a copy
            g[:-1] = v[1:]
            np.cumsum(g[::-1], out=g[::-1])
        carry = float(v[0] + g[0])
        m = min(v.size, t - 1 - a)  # sources k = a … t − 2
        if m > 0:
            ratio = np.divide(v[:m], g[:m], out=g[:m])
            total += float(np.einsum("i,i->", ratio, v[:m]))
    if end != 0:
        raise ValueError(f"the blocks cover {n - end} steps, expected {n}")
    if t < 0:
        raise ValueError("all learning rates are zero: the bound is infinite at every step")
    X = 0.5 / carry  # the gap of step −1 is P_t
    Y = 0.5 * (last * last + prev * prev) / last + 0.5 * total
    return D * D * X, G * G * Y, t + 1


def optimal_peak(spec_or_shape: str | ArrayLike, steps: int | None = None, D: float = 1.0,
                 G: float = 1.0) -> tuple[float, float]:
    """Peak learning rate minimising Ω_T = A/η + Bη, and the minimal bound.

    η*_peak = √(A/B) and Ω*_T = 2√(AB). ``spec_or_shape`` is a schedule spec (then
    ``steps`` is required) or an array of per-step multipliers.

    >>> peak, omega = optimal_peak("constant", 100)
    >>> round(peak * 10 * (1 + sum(1/k for k in range(1, 100))) ** 0.5, 12)  # √(1/(T(1+H)))
    1.0
    """
    from convexlaw.schedules import shape as _shape

    if isinstance(spec_or_shape, str):
        if steps is None:
            raise ValueError("steps is required with a schedule spec")
        s = _shape(spec_or_shape, steps)
    else:
        s = _check_lrs(spec_or_shape)
        if steps is not None and steps != s.size:
            raise ValueError(f"steps={steps} but the shape has {s.size} values")
    A, B, _ = peak_split(s, D, G)
    if B == 0:
        raise ValueError("the gradient part of the bound is 0 (G = 0): no finite optimal peak")
    return math.sqrt(A / B), 2.0 * math.sqrt(A * B)
