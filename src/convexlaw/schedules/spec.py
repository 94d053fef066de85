"""The schedule registry and the parser of the spec-string grammar.

The grammar is written out in the docstring of ``convexlaw.schedules``. Every parameter
is validated when a spec is parsed; errors name the bad token and the
allowed values or range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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




def register(name: str, formula: str, summary: str, *params: Param, modifier: bool = False,
             aliases: tuple[str, ...] = ()):
    """Decorator: add a shape function ``fn(n, **params)`` to the registry."""

    def wrap(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        REGISTRY[name] = ScheduleDef(name, fn, params, formula, summary, modifier, aliases)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return wrap


_TOKEN = re.compile(r"\s*([A-Za-z_][\w/]*|1/t)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class Term:
    name: str
    kwargs: dict[str, Any]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets and parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
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
