"""Tabulated cos and exp over the steps of a run: one table per length or rate, so that a
schedule of 10⁷ steps costs a few multiplications a step instead of a transcendental.

np.cos and np.power cost ~40 and ~7 ns a float64 here (no SIMD path); by angle addition
(cos) or a product of powers (exp) from a table indexed by the step, a value costs a few
ns. The step u is split as q·_SPAN + r, both functions of the step alone, so a value does
not depend on where a chunk starts (``schedules.chunks``: bit-identical chunkings).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from convexlaw.schedules.chunks import is_step_run

__all__ = ["consecutive", "cos_pi", "exp_steps", "half_cos"]


def consecutive(s: np.ndarray) -> bool:
    """Are the sorted steps ``s`` consecutive integers s₀, s₀ + 1, …? In O(1) for the steps
    ``schedules.chunks`` hands to a shape (and contiguous pieces of them), else by a pass.

    >>> consecutive(np.arange(3.0, 7.0)), consecutive(np.array([0.0, 0.5, 2.0]))
    (True, False)
    """
    if is_step_run(s):
        return True
    s0 = float(s[0])
    return bool(s0 == math.floor(s0) and s[-1] - s0 == s.size - 1
                and np.array_equal(s, np.arange(s0, s0 + s.size)))


# cos(π·u/L) by angle addition: u = q·_SPAN + r, cos(a_q + b_r) = cos a_q·cos b_r − sin a_q·
# sin b_r, b_r tabulated once per L. np.cos costs ~40 ns a float64 here (no SIMD path), this
# ~4 ns; q and r are functions of the step alone, so a value does not depend on where a
# chunk starts (bit-identical chunkings), and the error is ~3 ulp of 1, as np.cos(π·x)'s own
# rounding of its argument.
_SPAN = 1 << 14  # = schedules.chunks.CHUNK: a chunk spans at most two table runs


@functools.lru_cache(maxsize=64)
def _angle_table(length: float) -> tuple[np.ndarray, np.ndarray]:
    b = np.pi * (np.arange(_SPAN, dtype=np.float64) / length)
    c, s = np.cos(b), np.sin(b)
    c.setflags(write=False)
    s.setflags(write=False)
    return c, s


def cos_pi(s: np.ndarray, start: float, length: float, scale: float = 1.0,
            offset: float = 0.0) -> np.ndarray:
    """offset + scale·cos(π(s − start)/length) at the sorted steps s (the affine part
    folded into the angle addition: two passes fewer than applying it after).

    >>> x = np.arange(5000.0)
    >>> bool(np.allclose(cos_pi(x, 0.5, 4000), np.cos(np.pi * (x - 0.5) / 4000), atol=1e-15))
    True
    """
    if not s.size:
        return np.empty(0)
    first = math.ceil(start)
    frac = first - start  # s − start = u + frac, u = s − first an integer
    length = float(length)
    c, sn = _angle_table(length)
    out = np.empty(s.size)
    runs = _table_runs(s, first)
    if runs is None:  # not steps: no table applies
        return offset + scale * np.cos(np.pi * ((s - start) / length))
    for o, r, q in runs:
        _angle_sum(out[o], c[r], sn[r], q, frac, length, scale)
    if offset:
        out += offset
    return out


def _table_runs(s: np.ndarray, first: int) -> list[tuple[slice, Any, int]] | None:
    """The sorted steps s as runs of one table span each: (slice of s, the table rows of
    u = s − first in it, q with u = q·_SPAN + row), the rows a slice for consecutive steps
    (no gathers) and an index array otherwise; None when s are not whole steps."""
    if consecutive(s):
        u0, i, runs = int(s[0]) - first, 0, []
        while i < s.size:
            q, r = divmod(u0 + i, _SPAN)
            j = min(s.size, i + _SPAN - r)
            runs.append((slice(i, j), slice(r, r + j - i), q))
            i = j
        return runs
    u = s - first
    if not np.array_equal(u, np.floor(u)):
        return None
    q = np.floor_divide(u, _SPAN)
    r = (u - q * _SPAN).astype(np.intp)
    cuts = np.flatnonzero(np.diff(q)) + 1  # s is sorted: runs of equal q
    return [(slice(i, j), r[i:j], int(q[i]))
            for i, j in zip(np.r_[0, cuts], np.r_[cuts, s.size], strict=True)]


def _angle_sum(out: np.ndarray, cos_b: np.ndarray, sin_b: np.ndarray, q: int, frac: float,
               length: float, scale: float) -> None:
    """out = scale·cos(a_q + b) = (scale·cos a_q)·cos b − (scale·sin a_q)·sin b, with
    a_q = π(q·_SPAN + frac)/length, for table entries cos b, sin b."""
    a = math.pi * ((q * _SPAN + frac) / length)
    np.multiply(cos_b, scale * math.cos(a), out=out)
    out -= (scale * math.sin(a)) * sin_b


def half_cos(final: float) -> tuple[float, float]:
    """(scale, offset) of final + (1 − final)·½(1 + cos x) = offset + scale·cos x."""
    k = 0.5 * (1.0 - final)
    return k, final + k


@functools.lru_cache(maxsize=64)
def _exp_table(rate: float) -> np.ndarray:
    t = np.exp(rate * np.arange(_SPAN, dtype=np.float64))
    t.setflags(write=False)
    return t


def exp_steps(s: np.ndarray, rate: float) -> np.ndarray:
    """exp(rate·s) at the sorted steps s: for whole steps s = q·_SPAN + r, the product
    exp(rate·q·_SPAN)·exp(rate·r) from a table of exp(rate·r) (relative error ≈ ε·|rate·s|,
    about three times np.exp's; np.exp where s are not whole steps).

    >>> x = np.arange(40000.0)
    >>> bool(np.allclose(exp_steps(x, -1e-4), np.exp(-1e-4 * x), rtol=1e-15, atol=0))
    True
    """
    if not s.size:
        return np.empty(0)
    runs = _table_runs(s, 0)
    if runs is None:  # not steps: no table applies
        return np.exp(rate * s)
    t = _exp_table(float(rate))
    out = np.empty(s.size)
    for o, r, q in runs:
        np.multiply(t[r], math.exp(rate * (q * _SPAN)), out=out[o])
    return out
