"""The built-in schedule shapes: elementwise functions of the step s of an n-step run.

Each shape is ``fn(s, n, **params)``: ``s`` is a sorted float64 array of 0-based steps (any
run of them, not necessarily from 0) and the result holds the multiplier at each of them,
a function of s, n and the parameters only. That is what lets ``schedules.chunks`` cut
the steps of a long run into chunks that stay in cache and hand them to threads: every
value is computed by the same operations on the same numbers, whatever the chunking, so
the arrays are the same to the bit (``tests/test_schedules.py`` checks it). Piecewise
shapes find their pieces in the chunk by ``np.searchsorted`` on the sorted steps.

Each is registered with its parameters and formula (``convexlaw schedules`` lists them).
Durations below 1 are fractions of the run, from 1 on step counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.schedules.spec import Param, SpecError, register
from convexlaw.schedules.tables import cos_pi, exp_steps, half_cos


def _steps_of(duration: float, n: int) -> int:
    """A duration as a step count: fractions of ``n`` below 1, step counts from 1 on."""
    return int(round(duration * n)) if duration < 1 else int(duration)


def _first(s: np.ndarray, step: float) -> int:
    """Index in the sorted steps ``s`` of the first step >= ``step``."""
    return int(np.searchsorted(s, step))


def _pieces(s: np.ndarray, starts: ArrayLike, values: np.ndarray) -> np.ndarray:
    """``values[k]`` at each step, k = the number of (sorted) ``starts`` <= s."""
    out = np.empty(s.size)
    cuts = np.r_[0, np.searchsorted(s, starts), s.size]
    for v, a, b in zip(values, cuts[:-1], cuts[1:], strict=True):
        out[a:b] = v
    return out


_FINAL = Param("final", 0.0, "float", 0.0, 1.0, help="multiplier at the end")


@register("constant", "m(s) = 1", "constant learning rate")
def constant(s: np.ndarray, n: int) -> np.ndarray:
    return np.ones(s.size)


@register("linear", "m(s) = 1 − (1 − final)·s/n", "linear decay to `final`", _FINAL,
           aliases=("linear_decay",))
def linear(s: np.ndarray, n: int, final: float = 0.0) -> np.ndarray:
    return 1.0 - (1.0 - final) * (s / n)


@register("cosine", "m(s) = final + (1 − final)·½(1 + cos(π s/n))", "cosine decay to a floor",
           _FINAL, aliases=("cos",))
def cosine(s: np.ndarray, n: int, final: float = 0.0) -> np.ndarray:
    return cos_pi(s, 0.0, n, *half_cos(final))


_COOLDOWN_SHAPES = ("linear", "cosine", "sqrt", "square", "geometric")


def _cooldown(s: np.ndarray, start: int, length: int, shape: str, final: float
              ) -> np.ndarray:
    """Cool-down multiplier at the steps s of a cool-down of ``length`` steps from
    ``start``: progress x = (s − start)/length ∈ [0, 1)."""
    if shape == "cosine":
        return cos_pi(s, start, length, *half_cos(final))
    x = (s - start) / length
    if shape == "linear":
        f = 1.0 - x
    elif shape == "sqrt":
        f = 1.0 - np.sqrt(x)
    elif shape == "square":
        f = 1.0 - x**2
    else:  # geometric: final**x, the floor is reached as x → 1
        return final**x
    return final + (1.0 - final) * f


@register(
    "wsd",
    "m(s) = 1 for s < n−C; then final + (1 − final)·f(x), x = (s − n + C)/C, with f = 1−x "
    "(linear), ½(1+cos πx) (cosine), 1−√x (sqrt), 1−x² (square); geometric: final^x",
    "warmup-stable-decay: constant, then a cool-down of C steps",
    Param("cooldown", 0.2, "duration", 0.0, None, help="cool-down length"),
    Param("shape", "linear", "choice", choices=_COOLDOWN_SHAPES, help="cool-down shape"),
    _FINAL,
)
def wsd(s: np.ndarray, n: int, cooldown: float = 0.2, shape: str = "linear",
        final: float = 0.0) -> np.ndarray:
    if shape == "geometric" and final <= 0:
        raise SpecError("in 'wsd': shape=geometric needs final > 0 (a geometric decay never "
                        f"reaches 0), got final={final:g}")
    c = min(_steps_of(cooldown, n), n)
    m = np.ones(s.size)
    if c > 0:
        k = _first(s, n - c)
        m[k:] = _cooldown(s[k:], n - c, c, shape, final)
    return m


@register(
    "step",
    "m(s) = factor^k(s), k(s) = number of milestones ≤ s",
    "step decay at milestones",
    Param("milestones", [0.5, 0.75], "list", 0.0, None, help="where to decay"),
    Param("factor", 0.1, "float", 0.0, 1.0, help="multiplier per milestone"),
)
def step(s: np.ndarray, n: int, milestones: Sequence[float] = (0.5, 0.75), factor: float = 0.1
         ) -> np.ndarray:
    ms = np.sort([_steps_of(m, n) for m in milestones])
    return _pieces(s, ms, factor ** np.arange(ms.size + 1, dtype=np.float64))


@register("exponential", "m(s) = final^(s/n)", "exponential decay to `final`",
           Param("final", 0.01, "float", 1e-300, 1.0, help="multiplier reached at s = n"),
           aliases=("exp",))
def exponential(s: np.ndarray, n: int, final: float = 0.01) -> np.ndarray:
    return exp_steps(s, math.log(final) / n)


# the contributing page shows this schedule as the recipe: --8<-- [start:poly]
@register("poly", "m(s) = final + (1 − final)·(1 − s/n)^power", "polynomial decay",
           Param("power", 2.0, "float", 0.0, None, help="exponent p"), _FINAL,
           aliases=("polynomial",))
def poly(s: np.ndarray, n: int, power: float = 2.0, final: float = 0.0) -> np.ndarray:
    return final + (1.0 - final) * (1.0 - s / n) ** power
# --8<-- [end:poly]


@register(
    "rsqrt",
    "m(s) = min((s+1)/W, √(W/(s+1)))  (Vaswani et al. 2017; peak at s+1 = W)",
    "inverse square root with linear warm-up",
    Param("warmup", 0.0, "duration", 0.0, None, help="warm-up W (0: pure 1/√t)"),
    aliases=("inverse_sqrt", "invsqrt"),
)
def rsqrt(s: np.ndarray, n: int, warmup: float = 0.0) -> np.ndarray:
    t = s + 1.0
    w = max(_steps_of(warmup, n), 1)
    return np.minimum(t / w, np.sqrt(w / t))


@register("inverse", "m(s) = 1/(1 + s/τ)", "1/t decay", Param("tau", 1.0, "float", 1e-12, None,
           help="time constant τ in steps"), aliases=("1/t", "invtime"))
def inverse(s: np.ndarray, n: int, tau: float = 1.0) -> np.ndarray:
    return 1.0 / (1.0 + s / tau)


@register(
    "onecycle",
    "cosine from 1/div up to 1 over the first pct·n steps, then cosine down to "
    "1/(div·final_div) (PyTorch OneCycleLR, anneal='cos')",
    "one-cycle policy",
    Param("pct", 0.3, "float", 0.0, 1.0, help="fraction of steps rising"),
    Param("div", 25.0, "float", 1.0, None, help="peak / initial"),
    Param("final_div", 1e4, "float", 1.0, None, help="initial / final"),
)
def onecycle(s: np.ndarray, n: int, pct: float = 0.3, div: float = 25.0,
             final_div: float = 1e4) -> np.ndarray:
    up = int(round(pct * n))
    lo, end = 1.0 / div, 1.0 / (div * final_div)
    m = np.empty(s.size)
    k = _first(s, up)
    k_up, off_up = half_cos(lo)  # lo + (1 − lo)·½(1 − cos x): the same with −scale
    m[:k] = cos_pi(s[:k], 0.0, max(up, 1), -k_up, off_up)
    m[k:] = cos_pi(s[k:], up, max(n - up, 1), *half_cos(end))
    return m


@register(
    "restarts",
    "cycle i of length n_i = n₀·mult^i: final + (1 − final)·½(1 + cos(π s_i/n_i)) (SGDR)",
    "cosine with warm restarts",
    Param("cycles", 4, "int", 1, None, help="number of cycles"),
    Param("mult", 1.0, "float", 1.0, None, help="cycle length multiplier"),
    _FINAL,
    aliases=("sgdr", "cosine_restarts"),
)
def restarts(s: np.ndarray, n: int, cycles: int = 4, mult: float = 1.0, final: float = 0.0
             ) -> np.ndarray:
    lengths = mult ** np.arange(cycles)
    edges = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum() * n
    # cycle i holds the steps s with edges[i] <= s < edges[i+1] (the last: all after)
    cuts = np.r_[np.searchsorted(s, np.ceil(edges[:-1])), s.size]
    m = np.empty(s.size)
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        m[a:b] = cos_pi(s[a:b], edges[i], edges[i + 1] - edges[i], *half_cos(final))
    return m


@register(
    "piecewise",
    "m(s) = values[k], k = number of bounds ≤ s",
    "piecewise constant",
    Param("values", [1.0, 0.1], "list", 0.0, None, help="multipliers, one per piece"),
    Param("bounds", [0.5], "list", 0.0, None, help="starts of pieces 2…"),
)
def piecewise(s: np.ndarray, n: int, values: Sequence[float] = (1.0, 0.1),
              bounds: Sequence[float] = (0.5,)) -> np.ndarray:
    if len(values) != len(bounds) + 1:
        raise SpecError(f"in 'piecewise': {len(values)} values need {len(values) - 1} bounds, "
                        f"got {len(bounds)}")
    b = np.sort([_steps_of(x, n) for x in bounds])
    return _pieces(s, b, np.asarray(values, dtype=np.float64))


@register(
    "csv",
    "m = column / max(column), resampled linearly in s/n when its length is not n",
    "a user's learning rates from a CSV column",
    Param("path", "", "path", help="CSV file with a header row"),
    Param("column", "lr", "str", help="column name"),
)
def csv(s: np.ndarray, n: int, path: str = "", column: str = "lr") -> np.ndarray:
    a, top = _column(path, column, n)
    return interpolate(a, s, n) / top


@register(
    "warmup",
    "m(s) = start + (1 − start)·r(s/W) for s < W, r(x) = x (linear) or ½(1 − cos πx) "
    "(cosine); the base schedule follows on steps W … n−1",
    "warm-up prefix of any schedule",
    Param("steps", 0.0, "duration", 0.0, None, help="warm-up length W"),
    Param("start", 0.0, "float", 0.0, 1.0, help="multiplier at s = 0"),
    Param("shape", "linear", "choice", choices=("linear", "cosine"), help="ramp shape"),
    modifier=True,
)
def warmup(s: np.ndarray, n: int, base: Callable[[np.ndarray, int], np.ndarray],
           steps: float = 0.0, start: float = 0.0, shape: str = "linear") -> np.ndarray:
    w = _steps_of(steps, n)
    if w > n:  # cutting it would silently give another schedule
        raise SpecError(f"warmup({steps:g}) is longer than the run ({n} steps); expected a "
                        f"warm-up of at most {n} steps (or a fraction below 1)")
    k = _first(s, w)
    m = np.empty(s.size)
    if shape == "linear":
        m[:k] = start + (1.0 - start) * (s[:k] / max(w, 1))
    else:  # start + (1 − start)·½(1 − cos πx)
        k_up, off = half_cos(start)
        m[:k] = cos_pi(s[:k], 0.0, max(w, 1), -k_up, off)
    if k < s.size:  # the base on its own clock: step s of the run is its step s − W
        m[k:] = base(s[k:] - w, n - w)
    return m


def as_lrs(values: ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D sequence, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if bad.size:
        raise ValueError(f"{what} must be finite and >= 0; element {bad[0]} is "
                         f"{float(a[bad[0]])}")
    if not a.any():
        raise ValueError(f"{what} is all zeros: no learning rate to schedule")
    return a


def interpolate(a: np.ndarray, s: np.ndarray, n: int) -> np.ndarray:
    """Values of ``a`` (a sequence over a whole run) at steps ``s`` of an n-step run:
    ``a`` itself when it has n values, else linear interpolation in s/n."""
    if a.size == n:
        return a[s.astype(np.int64)]
    return np.interp(s / n, np.arange(a.size) / a.size, a)


def resample(a: np.ndarray, n: int, what: str) -> np.ndarray:
    """A user's sequence onto n steps (``interpolate``), scaled to max 1."""
    a = as_lrs(a, what)
    if a.size != n:
        a = interpolate(a, np.arange(n, dtype=np.float64), n)
    return a / a.max()


def _column(path: str, column: str, n: int) -> tuple[np.ndarray, float]:
    """The validated column and the maximum of its resampling onto n steps, each computed
    once per version of the file: a long run is evaluated chunk by chunk, and every chunk
    asks for them."""
    p = Path(path)
    if not path or not p.is_file():
        raise SpecError(f"csv schedule: file {path!r} not found")
    st = p.stat()
    version = (path, column, st.st_mtime_ns, st.st_size)
    return _read_column(*version), _column_top(*version, n)


@functools.lru_cache(maxsize=16)
def _read_column(path: str, column: str, mtime_ns: int, size: int) -> np.ndarray:
    a = as_lrs(_read_csv_column(path, column), f"csv({path})")
    a.setflags(write=False)  # shared by every caller of the cache
    return a


@functools.lru_cache(maxsize=16)
def _column_top(path: str, column: str, mtime_ns: int, size: int, n: int) -> float:
    a = _read_column(path, column, mtime_ns, size)
    return float(interpolate(a, np.arange(n, dtype=np.float64), n).max())


def _read_csv_column(path: str, column: str) -> np.ndarray:
    import csv as csvlib

    p = Path(path)
    if not path or not p.is_file():
        raise SpecError(f"csv schedule: file {path!r} not found")
    with p.open(newline="") as fh:
        rows = list(csvlib.reader(fh))
    if not rows:
        raise SpecError(f"csv schedule: {path} is empty")
    header = [h.strip() for h in rows[0]]
    if column not in header:
        raise SpecError(f"csv schedule: {path} has no column {column!r}; columns: {header}")
    j = header.index(column)
    out = []
    for i, row in enumerate(rows[1:], start=2):
        try:
            out.append(float(row[j]))
        except (IndexError, ValueError):
            raise SpecError(f"csv schedule: {path} line {i}, column {column!r}: expected a "
                            f"number, got {row[j] if j < len(row) else '(missing)'!r}") from None
    if not out:
        raise SpecError(f"csv schedule: {path} has a header but no rows")
    return np.asarray(out)
