"""Learning-rate schedules as pure functions, a registry, and a spec-string grammar.

A *shape* maps step numbers ``s = 0 … n−1`` of an ``n``-step run to multipliers in
``[0, 1]`` (peak 1). The learning rate of update ``s + 1`` is ``peak · shape[s]``.

Spec grammar (one string names any schedule)::

    spec  := term ("+" term)*          the first term is the base schedule,
                                       later terms modify it (only ``warmup`` today)
    term  := NAME | NAME "(" args ")"
    args  := arg ("," arg)*
    arg   := VALUE | KEY "=" VALUE      a positional VALUE fills the first parameter
    VALUE := number | word | "[" number ("," number)* "]"

Durations (``warmup``, ``cooldown``, ``milestones``, ``bounds``…) are fractions of the
run when below 1 and step counts when 1 or more. A warm-up is a prefix: the base schedule
runs over the steps that follow it, on its own clock.

>>> schedule("linear", 4)
array([1.  , 0.75, 0.5 , 0.25])
>>> schedule("cosine+warmup(2)", 6, peak=0.1).round(4)
array([0.    , 0.05  , 0.1   , 0.0854, 0.05  , 0.0146])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "REGISTRY",
    "ScheduleDef",
    "SpecError",
    "lambda_lr",
    "lr_lambda",
    "parse",
    "schedule",
    "shape",
]


class SpecError(ValueError):
    """A schedule spec that cannot be parsed or has an invalid parameter."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    kind: str  # "float", "int", "choice", "list", "duration", "path", "str"
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def convert(self, raw: Any, term: str) -> Any:
        where = f"in {term!r}: parameter {self.name!r}"
        if self.kind == "choice":
            if raw not in self.choices:
                raise SpecError(f"{where} is {raw!r}; allowed: {', '.join(self.choices)}")
            return raw
        if self.kind in ("path", "str"):
            return str(raw)
        if self.kind == "list":
            values = raw if isinstance(raw, list) else [raw]
            try:
                out = [float(v) for v in values]
            except (TypeError, ValueError):
                raise SpecError(f"{where} must be a list of numbers like [0.5,0.75], "
                                f"got {raw!r}") from None
            for v in out:
                self._check_range(v, where)
            return out
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SpecError(f"{where} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise SpecError(f"{where} must be finite, got {raw!r}")
        if self.kind == "int":
            if value != int(value):
                raise SpecError(f"{where} must be an integer, got {raw!r}")
            value = int(value)
        self._check_range(value, where)
        return value

    def _check_range(self, value: float, where: str) -> None:
        if self.lo is not None and value < self.lo:
            raise SpecError(f"{where} is {value:g}; it must be >= {self.lo:g}")
        if self.hi is not None and value > self.hi:
            raise SpecError(f"{where} is {value:g}; it must be <= {self.hi:g}")


@dataclass(frozen=True)
class ScheduleDef:
    """A registered schedule: a shape function, its parameters and its formula."""

    name: str
    fn: Callable[..., np.ndarray]
    params: tuple[Param, ...]
    formula: str
    summary: str
    modifier: bool = False
    aliases: tuple[str, ...] = field(default=())


REGISTRY: dict[str, ScheduleDef] = {}
_ALIASES: dict[str, str] = {}


def _register(name: str, formula: str, summary: str, *params: Param, modifier: bool = False,
              aliases: tuple[str, ...] = ()):
    def wrap(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        REGISTRY[name] = ScheduleDef(name, fn, params, formula, summary, modifier, aliases)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return wrap


def _steps_of(duration: float, n: int) -> int:
    """A duration as a step count: fractions of ``n`` below 1, step counts from 1 on."""
    return int(round(duration * n)) if duration < 1 else int(duration)


def _progress(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / n


_FINAL = Param("final", 0.0, "float", 0.0, 1.0, help="multiplier at the end")


# ---------------------------------------------------------------------------- shapes
@_register("constant", "m(s) = 1", "constant learning rate")
def constant(n: int) -> np.ndarray:
    return np.ones(n)


@_register("linear", "m(s) = 1 − (1 − final)·s/n", "linear decay to `final`", _FINAL,
           aliases=("linear_decay",))
def linear(n: int, final: float = 0.0) -> np.ndarray:
    return 1.0 - (1.0 - final) * _progress(n)


@_register("cosine", "m(s) = final + (1 − final)·½(1 + cos(π s/n))", "cosine decay to a floor",
           _FINAL, aliases=("cos",))
def cosine(n: int, final: float = 0.0) -> np.ndarray:
    return final + (1.0 - final) * 0.5 * (1.0 + np.cos(np.pi * _progress(n)))


_COOLDOWN_SHAPES = ("linear", "cosine", "sqrt", "square", "geometric")


def _cooldown(x: np.ndarray, shape: str, final: float) -> np.ndarray:
    """Cool-down multiplier at progress x ∈ [0, 1) through the cool-down."""
    if shape == "linear":
        f = 1.0 - x
    elif shape == "cosine":
        f = 0.5 * (1.0 + np.cos(np.pi * x))
    elif shape == "sqrt":
        f = 1.0 - np.sqrt(x)
    elif shape == "square":
        f = 1.0 - x**2
    else:  # geometric: final**x, the floor is reached as x → 1
        return final**x
    return final + (1.0 - final) * f


@_register(
    "wsd",
    "m(s) = 1 for s < n−C; then final + (1 − final)·f(x), x = (s − n + C)/C, with f = 1−x "
    "(linear), ½(1+cos πx) (cosine), 1−√x (sqrt), 1−x² (square); geometric: final^x",
    "warmup-stable-decay: constant, then a cool-down of C steps",
    Param("cooldown", 0.2, "duration", 0.0, None, help="cool-down length"),
    Param("shape", "linear", "choice", choices=_COOLDOWN_SHAPES, help="cool-down shape"),
    _FINAL,
)
def wsd(n: int, cooldown: float = 0.2, shape: str = "linear", final: float = 0.0) -> np.ndarray:
    if shape == "geometric" and final <= 0:
        raise SpecError("in 'wsd': shape=geometric needs final > 0 (a geometric decay never "
                        f"reaches 0), got final={final:g}")
    c = min(_steps_of(cooldown, n), n)
    m = np.ones(n)
    if c > 0:
        m[n - c:] = _cooldown(np.arange(c) / c, shape, final)
    return m


@_register(
    "step",
    "m(s) = factor^k(s), k(s) = number of milestones ≤ s",
    "step decay at milestones",
    Param("milestones", [0.5, 0.75], "list", 0.0, None, help="where to decay"),
    Param("factor", 0.1, "float", 0.0, 1.0, help="multiplier per milestone"),
)
def step(n: int, milestones: list[float] = (0.5, 0.75), factor: float = 0.1) -> np.ndarray:
    ms = np.sort([_steps_of(m, n) for m in milestones])
    k = np.searchsorted(ms, np.arange(n), side="right")
    return factor ** k.astype(np.float64)


@_register("exponential", "m(s) = final^(s/n)", "exponential decay to `final`",
           Param("final", 0.01, "float", 1e-300, 1.0, help="multiplier reached at s = n"),
           aliases=("exp",))
def exponential(n: int, final: float = 0.01) -> np.ndarray:
    return final ** _progress(n)


@_register("poly", "m(s) = final + (1 − final)·(1 − s/n)^power", "polynomial decay",
           Param("power", 2.0, "float", 0.0, None, help="exponent p"), _FINAL,
           aliases=("polynomial",))
def poly(n: int, power: float = 2.0, final: float = 0.0) -> np.ndarray:
    return final + (1.0 - final) * (1.0 - _progress(n)) ** power


@_register(
    "rsqrt",
    "m(s) = min((s+1)/W, √(W/(s+1)))  (Vaswani et al. 2017; peak at s+1 = W)",
    "inverse square root with linear warm-up",
    Param("warmup", 0.0, "duration", 0.0, None, help="warm-up W (0: pure 1/√t)"),
    aliases=("inverse_sqrt", "invsqrt"),
)
def rsqrt(n: int, warmup: float = 0.0) -> np.ndarray:
    t = np.arange(1, n + 1, dtype=np.float64)
    w = max(_steps_of(warmup, n), 1)
    return np.minimum(t / w, np.sqrt(w / t))


@_register("inverse", "m(s) = 1/(1 + s/τ)", "1/t decay", Param("tau", 1.0, "float", 1e-12, None,
           help="time constant τ in steps"), aliases=("1/t", "invtime"))
def inverse(n: int, tau: float = 1.0) -> np.ndarray:
    return 1.0 / (1.0 + np.arange(n) / tau)


@_register(
    "onecycle",
    "cosine from 1/div up to 1 over the first pct·n steps, then cosine down to "
    "1/(div·final_div) (PyTorch OneCycleLR, anneal='cos')",
    "one-cycle policy",
    Param("pct", 0.3, "float", 0.0, 1.0, help="fraction of steps rising"),
    Param("div", 25.0, "float", 1.0, None, help="peak / initial"),
    Param("final_div", 1e4, "float", 1.0, None, help="initial / final"),
)
def onecycle(n: int, pct: float = 0.3, div: float = 25.0, final_div: float = 1e4) -> np.ndarray:
    up = int(round(pct * n))
    lo, end = 1.0 / div, 1.0 / (div * final_div)
    m = np.empty(n)
    x = np.arange(up) / max(up, 1)
    m[:up] = lo + (1 - lo) * 0.5 * (1 - np.cos(np.pi * x))
    down = n - up
    x = np.arange(down) / max(down, 1)
    m[up:] = end + (1 - end) * 0.5 * (1 + np.cos(np.pi * x))
    return m


@_register(
    "restarts",
    "cycle i of length n_i = n₀·mult^i: final + (1 − final)·½(1 + cos(π s_i/n_i)) (SGDR)",
    "cosine with warm restarts",
    Param("cycles", 4, "int", 1, None, help="number of cycles"),
    Param("mult", 1.0, "float", 1.0, None, help="cycle length multiplier"),
    _FINAL,
    aliases=("sgdr", "cosine_restarts"),
)
def restarts(n: int, cycles: int = 4, mult: float = 1.0, final: float = 0.0) -> np.ndarray:
    lengths = mult ** np.arange(cycles)
    edges = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum() * n
    s = np.arange(n)
    i = np.minimum(np.searchsorted(edges, s, side="right") - 1, cycles - 1)
    x = (s - edges[i]) / (edges[i + 1] - edges[i])
    return final + (1.0 - final) * 0.5 * (1.0 + np.cos(np.pi * x))


@_register(
    "piecewise",
    "m(s) = values[k], k = number of bounds ≤ s",
    "piecewise constant",
    Param("values", [1.0, 0.1], "list", 0.0, None, help="multipliers, one per piece"),
    Param("bounds", [0.5], "list", 0.0, None, help="starts of pieces 2…"),
)
def piecewise(n: int, values: list[float] = (1.0, 0.1), bounds: list[float] = (0.5,)
              ) -> np.ndarray:
    if len(values) != len(bounds) + 1:
        raise SpecError(f"in 'piecewise': {len(values)} values need {len(values) - 1} bounds, "
                        f"got {len(bounds)}")
    b = np.sort([_steps_of(x, n) for x in bounds])
    return np.asarray(values, dtype=np.float64)[np.searchsorted(b, np.arange(n), side="right")]


@_register(
    "csv",
    "m = column / max(column), resampled linearly in s/n when its length is not n",
    "a user's learning rates from a CSV column",
    Param("path", "", "path", help="CSV file with a header row"),
    Param("column", "lr", "str", help="column name"),
)
def csv(n: int, path: str = "", column: str = "lr") -> np.ndarray:
    return _resample(_read_csv_column(path, column), n, f"csv({path})")


@_register(
    "warmup",
    "m(s) = start + (1 − start)·r(s/W) for s < W, r(x) = x (linear) or ½(1 − cos πx) "
    "(cosine); the base schedule follows on steps W … n−1",
    "warm-up prefix of any schedule",
    Param("steps", 0.0, "duration", 0.0, None, help="warm-up length W"),
    Param("start", 0.0, "float", 0.0, 1.0, help="multiplier at s = 0"),
    Param("shape", "linear", "choice", choices=("linear", "cosine"), help="ramp shape"),
    modifier=True,
)
def warmup(n: int, base: Callable[[int], np.ndarray], steps: float = 0.0, start: float = 0.0,
           shape: str = "linear") -> np.ndarray:
    w = min(_steps_of(steps, n), n)
    x = np.arange(w) / max(w, 1)
    ramp = x if shape == "linear" else 0.5 * (1.0 - np.cos(np.pi * x))
    return np.concatenate([start + (1.0 - start) * ramp, base(n - w)])


# ---------------------------------------------------------------------------- parsing
_TOKEN = re.compile(r"\s*([A-Za-z_][\w/]*|1/t)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class Term:
    name: str
    kwargs: dict[str, Any]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets and parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        return [v.strip() for v in raw[1:-1].split(",") if v.strip()]
    return raw


def _parse_term(text: str) -> Term:
    m = _TOKEN.match(text)
    if not m or text.count("(") != text.count(")"):
        raise SpecError(f"cannot read schedule term {text.strip()!r}: expected NAME or "
                        "NAME(key=value,...)")
    name = _ALIASES.get(m.group(1), m.group(1))
    if name not in REGISTRY:
        raise SpecError(f"unknown schedule {m.group(1)!r}; known: {', '.join(sorted(REGISTRY))}")
    d = REGISTRY[name]
    kwargs: dict[str, Any] = {}
    body = m.group(2)
    if body is not None and body.strip():
        for i, arg in enumerate(_split_top(body, ",")):
            if not arg.strip():
                raise SpecError(f"empty argument in {text.strip()!r}")
            key, eq, val = arg.partition("=")
            if not eq:
                if i != 0 or not d.params:
                    raise SpecError(f"in {text.strip()!r}: only the first argument may be "
                                    f"positional, got {arg.strip()!r}")
                key, val = d.params[0].name, arg
            key = key.strip()
            param = next((p for p in d.params if p.name == key), None)
            if param is None:
                allowed = ", ".join(p.name for p in d.params) or "none"
                raise SpecError(f"unknown parameter {key!r} for {name!r}; allowed: {allowed}")
            if key in kwargs:
                raise SpecError(f"parameter {key!r} given twice in {text.strip()!r}")
            kwargs[key] = param.convert(_value(val), name)
    return Term(name, kwargs)


def parse(spec: str) -> list[Term]:
    """Parse a spec string into terms (base first), validating every parameter.

    >>> [t.name for t in parse("wsd(cooldown=0.2,shape=sqrt)+warmup(300)")]
    ['wsd', 'warmup']
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty schedule spec {spec!r}; try e.g. 'cosine' or 'wsd(cooldown=0.2)'")
    terms = [_parse_term(t) for t in _split_top(spec, "+")]
    if REGISTRY[terms[0].name].modifier:
        raise SpecError(f"{spec!r} starts with the modifier {terms[0].name!r}; put a base "
                        "schedule first, e.g. 'cosine+warmup(100)'")
    for t in terms[1:]:
        if not REGISTRY[t.name].modifier:
            raise SpecError(f"{spec!r}: {t.name!r} is a base schedule and can only come first; "
                            "modifiers: " + ", ".join(n for n, d in REGISTRY.items() if d.modifier))
    return terms


# ---------------------------------------------------------------------------- evaluation
def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return int(steps)


def shape(spec: str | ArrayLike, steps: int) -> np.ndarray:
    """Multipliers (max 1) of a schedule over ``steps`` steps.

    An array is resampled linearly onto ``steps`` points when its length differs, and
    scaled to max 1.
    """
    n = _check_steps(steps)
    if not isinstance(spec, str):
        return _resample(_as_lrs(spec, "schedule array"), n, "schedule array")
    terms = parse(spec)
    base_def = REGISTRY[terms[0].name]

    def base(k: int) -> np.ndarray:
        return base_def.fn(k, **terms[0].kwargs) if k > 0 else np.empty(0)

    fn = base
    for t in terms[1:]:
        fn = _wrap_modifier(REGISTRY[t.name].fn, fn, t.kwargs)
    m = fn(n)
    if len(m) and m.max() > 0:
        m = m / m.max()
    return m


def _wrap_modifier(mod, inner, kwargs):
    return lambda k: mod(k, inner, **kwargs)


def schedule(spec: str | ArrayLike, steps: int, peak: float = 1.0) -> np.ndarray:
    """Per-step learning rates ``peak · shape`` of a run of ``steps`` updates.

    Element ``s`` (0-based) is the learning rate of update ``s + 1``.

    >>> schedule("wsd(cooldown=0.5)", 4, peak=2.0)
    array([2., 2., 2., 1.])
    """
    if not (isinstance(peak, (int, float, np.floating)) and math.isfinite(peak) and peak > 0):
        raise ValueError(f"peak must be a finite positive number, got {peak!r}")
    return float(peak) * shape(spec, steps)


def lr_lambda(spec: str | ArrayLike, steps: int) -> Callable[[int], float]:
    """Multiplier function for ``torch.optim.lr_scheduler.LambdaLR`` (base LR = peak).

    Past the last step the last multiplier is kept.
    """
    m = shape(spec, steps)
    last = len(m) - 1
    return lambda s: float(m[min(int(s), last)])


def lambda_lr(optimizer: Any, spec: str | ArrayLike, steps: int) -> Any:
    """A ``LambdaLR`` whose LR after ``s`` calls of ``step()`` is ``schedule(...)[s]``.

    The optimizer's learning rate(s) must be set to the peak.
    """
    from torch.optim.lr_scheduler import LambdaLR  # torch is an optional extra

    return LambdaLR(optimizer, lr_lambda(spec, steps))


# ---------------------------------------------------------------------------- arrays
def _as_lrs(values: ArrayLike, what: str) -> np.ndarray:
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


def _resample(a: np.ndarray, n: int, what: str) -> np.ndarray:
    a = _as_lrs(a, what)
    if a.size != n:
        a = np.interp(np.arange(n) / n, np.arange(a.size) / a.size, a)
    return a / a.max()


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
