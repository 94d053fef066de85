"""Exact learning-rate schedules of published runs, rebuilt from their definitions.

Each builder returns ``f`` of length T+1 with ``f[k]`` = the learning rate the optimizer
holds after ``k`` updates, i.e. the LR of update ``k+1``; a run's ``lrs`` is ``f[:T]`` and
``f[T]`` (the value logged after the last update) only serves the check against a logged
LR column. Both published sources log the LR this way ("next-update" convention):
for the 124M W&B runs the rebuilt schedule matches the logged ``train_lr`` to 2e-16 under
this convention and not under the other (off by one step: ~1e-4 relative), and the
stable runs log exactly 0 after their last update.

Where the spec grammar of :mod:`convexlaw.schedules` can express a schedule exactly we
also return that spec; :func:`spec_error` measures how far a spec is from the exact array.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")

__all__ = ["Preset", "epfml_preset", "max_rel_err", "mpl25m_preset", "spec_error"]


@dataclass
class Preset:
    """A rebuilt schedule: ``f`` (T+1 values), its best spec, and a description."""

    T: int
    peak: float
    warmup: int
    f: np.ndarray
    spec: str | None
    description: str
    tags: dict = field(default_factory=dict)

    @property
    def lrs(self) -> np.ndarray:
        return self.f[: self.T]


def spec_error(spec: str | None, lrs: np.ndarray, peak: float) -> float | None:
    """Max relative deviation of ``schedule(spec, T, peak)`` from ``lrs`` (None: no spec or
    the grammar cannot evaluate it)."""
    if not spec:
        return None
    try:
        from convexlaw.schedules import schedule
        other = schedule(spec, len(lrs), peak)
    except Exception:  # the grammar is still growing: a spec it rejects is simply inexact
        return None
    return max_rel_err(other, lrs)


def max_rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """max |a−b| / max(|a|, |b|) over elements (0 where both are 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    den = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, np.abs(a - b) / np.where(den > 0, den, 1.0), 0.0)
    return float(r.max()) if r.size else 0.0


# ---------------------------------------------------------------- Multi-Power-Law 25M runs
_MPL_PEAK, _MPL_FINAL, _MPL_WARMUP = 3e-4, 3e-5, 2160
_MPL_NAMES = re.compile(r"^(?:(cosine|constant)_(\d+)|(wsd|wsdld)_(\d+)_(\d+)|wsdcon_(\d+))$")


def mpl25m_preset(stem: str) -> Preset | None:
    """Schedule of a Multi-Power-Law 25M run from its file stem (None if not one of them).

    All: linear warm-up f(k) = peak·k/2160 for k < 2160, peak 3e-4, end 3e-5; then
    ``cosine_T``: cosine to 3e-5 at T; ``constant_T``: constant; ``wsd_A_T``: constant to A,
    then geometric decay to 3e-5 at T; ``wsdld_A_T``: linear decay from A to 3e-5 at T;
    ``wsdcon_X``: 3e-4 until step 8000, then X·1e-5 until T = 16000.
    """
    m = _MPL_NAMES.match(stem)
    if not m:
        return None
    P, F, W = _MPL_PEAK, _MPL_FINAL, _MPL_WARMUP
    if m.group(1):
        kind, T = m.group(1), int(m.group(2))
        A = T  # no cool-down: the stable phase runs to the end
    elif m.group(3):
        kind, A, T = m.group(3), int(m.group(4)), int(m.group(5))
        if not W < A < T:
            return None
    else:
        kind, T, A, X = "wsdcon", 16000, 8000, int(m.group(6))
    if T <= W:
        return None
    k = np.arange(T + 1, dtype=np.float64)
    f = np.full(T + 1, P)
    f[:W] = P * k[:W] / W
    if kind == "cosine":
        f[W:] = F + (P - F) * 0.5 * (1 + np.cos(np.pi * (k[W:] - W) / (T - W)))
        spec, desc = "cosine(final=0.1)+warmup(2160)", f"cosine {P:g} -> {F:g} over {T} steps"
    elif kind == "constant":
        spec, desc = "constant+warmup(2160)", f"constant {P:g}"
    elif kind == "wsd":
        f[A:] = P * (F / P) ** ((k[A:] - A) / (T - A))
        spec = f"wsd(cooldown={T - A},shape=geometric,final=0.1)+warmup(2160)"
        desc = f"constant {P:g} to step {A}, geometric decay to {F:g} at {T}"
    elif kind == "wsdld":
        f[A:] = P - (P - F) * (k[A:] - A) / (T - A)
        spec = f"wsd(cooldown={T - A},shape=linear,final=0.1)+warmup(2160)"
        desc = f"constant {P:g} to step {A}, linear decay to {F:g} at {T}"
    else:
        low = X * 1e-5
        f[A:] = low
        spec = f"piecewise(values=[1,{low / P:.12g}],bounds=[{A - W}])+warmup(2160)"
        desc = f"{P:g} until step {A}, then {low:g} until {T}"
    desc = f"MPL 25M preset: linear warm-up 0 -> {P:g} over {W} steps, then {desc}"
    return Preset(T=T, peak=P, warmup=W, f=f, spec=spec, description=desc)


# ---------------------------------------------------------------- epfml W&B runs (124M)
def _onecycle(T: int, peak: float, warmup: int, final_lr: float, div: float = 100.0
              ) -> np.ndarray:
    """PyTorch OneCycleLR (anneal 'cos', two phases) evaluated at k = 0..T.

    Phase 1 rises along a cosine from peak/div to peak over k ∈ [0, e1], e1 = W − 1
    (PyTorch: pct_start·total − 1 with pct_start = W/T); phase 2 falls along a cosine from
    peak to ``final_lr`` over [e1, T − 1]; k = T lies just past the end (as logged).
    """
    init = peak / div
    e1 = float(warmup / T * T) - 1.0
    e2 = float(T - 1)
    k = np.arange(T + 1, dtype=np.float64)
    rise = k <= e1
    pct = np.where(rise, k / e1, (k - e1) / (e2 - e1))
    hi = np.where(rise, peak, final_lr)
    lo = np.where(rise, init, peak)
    return hi + (lo - hi) / 2.0 * (np.cos(np.pi * pct) + 1.0)


_WSD_SHAPES = {"linear": "linear", "cosine": "cosine", "sqrt": "sqrt", "square": "square",
               "exp": "geometric"}


def _wsd(T: int, peak: float, warmup: int, frac_decay: float, final: float, decay: str,
         div: float = 100.0) -> np.ndarray:
    """epfml WSD: linear warm-up from peak/div, hold, decay over int(frac·T) steps."""
    anneal = int(frac_decay * T)
    hold = T - anneal
    k = np.arange(T + 1, dtype=np.float64)
    m = np.ones(T + 1)
    w = k < warmup
    m[w] = k[w] / warmup + (1 - k[w] / warmup) / div
    d = (k >= hold) & (k < T) & ~w
    if anneal > 0 and d.any():
        x = (k[d] - hold) / anneal
        cos = final + (1 - final) * 0.5 * (1 + np.cos(np.pi * x))
        lin = final + (1 - final) * (1 - x)
        m[d] = {"linear": lin, "cosine": cos, "mirror_cosine": 2 * lin - cos,
                "square": final + (1 - final) * (1 - x**2),
                "sqrt": final + (1 - final) * (1 - np.sqrt(x)),
                "exp": final**x}[decay]
    m[T] = final
    return peak * m


def epfml_preset(config: dict, where: str) -> Preset:
    """Schedule of an epfml/schedules-and-scaling run from its W&B ``config``.

    ``scheduler == "cos"``: OneCycle cosine from peak/100 up to the peak over the
    ``warmup_steps``, then cosine down to ``cos_final_lr`` (an absolute LR; −1 means 10 %
    of the peak, as the cos-10 runs show). ``"wsd"``: linear warm-up from peak/100, constant,
    then a ``decay_type`` cool-down over ``int(wsd_fract_decay·T)`` steps to
    ``wsd_final_lr_scale``·peak.
    """
    def need(key: str, kind: type[_T]) -> _T:
        if key not in config:
            raise ValueError(f"{where}: config has no {key!r}; expected a W&B export of an "
                             "epfml/schedules-and-scaling run")
        v = config[key]
        if kind is int and isinstance(v, float) and v.is_integer():
            v = int(v)
        if kind is float and isinstance(v, int):
            v = float(v)
        if not isinstance(v, kind) or isinstance(v, bool):
            raise ValueError(f"{where}: config[{key!r}] is {v!r}; expected {kind.__name__}")
        return v

    T = int(need("iterations", int))
    W = int(need("warmup_steps", int))
    peak = float(need("lr", float))
    sched = need("scheduler", str)
    if T < 1 or not 0 <= W < T:
        raise ValueError(f"{where}: iterations = {T}, warmup_steps = {W}; expected "
                         "0 <= warmup_steps < iterations")
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"{where}: config['lr'] = {peak!r}; expected a peak LR > 0")
    if sched == "cos":
        final_lr = float(config.get("cos_final_lr", -1))
        if final_lr == -1:
            final_lr = 0.1 * peak
        if not 0 <= final_lr <= peak:
            raise ValueError(f"{where}: cos_final_lr = {final_lr!r}; expected -1 or an LR in "
                             f"[0, peak = {peak:g}]")
        if W < 2:
            raise ValueError(f"{where}: OneCycle needs warmup_steps >= 2, got {W}")
        f = _onecycle(T, peak, W, final_lr)
        fr = final_lr / peak
        spec = f"cosine(final={fr:.6g})+warmup({W},start=0.01,shape=cosine)"
        desc = (f"OneCycle cosine: {peak / 100:g} -> {peak:g} over {W} steps, then cosine to "
                f"{final_lr:g} at {T}")
    elif sched == "wsd":
        frac = float(config.get("wsd_fract_decay", 0.1))
        final = float(config.get("wsd_final_lr_scale", 0.0))
        decay = str(config.get("decay_type", "linear"))
        shapes = ("linear", "cosine", "mirror_cosine", "square", "sqrt", "exp")
        if decay not in shapes:
            raise ValueError(f"{where}: decay_type {decay!r}; expected one of {', '.join(shapes)}")
        if not (0 <= frac < 1 and 0 <= final <= 1):
            raise ValueError(f"{where}: wsd_fract_decay = {frac!r}, wsd_final_lr_scale = "
                             f"{final!r}; expected fractions in [0, 1)")
        f = _wsd(T, peak, W, frac, final, decay)
        anneal = int(frac * T)
        if anneal == 0:
            spec = f"constant+warmup({W},start=0.01)"
            desc = f"linear warm-up {peak / 100:g} -> {peak:g} over {W} steps, then constant"
        else:
            shape = _WSD_SHAPES.get(decay, "cosine")
            spec = f"wsd(cooldown={anneal},shape={shape},final={final:g})+warmup({W},start=0.01)"
            desc = (f"WSD: linear warm-up from {peak / 100:g} over {W} steps, constant, "
                    f"{decay} cool-down over the last {anneal} steps to {final:g}x")
    else:
        raise ValueError(f"{where}: scheduler {sched!r} is not supported; expected 'cos' or "
                         "'wsd' (give the schedule explicitly for other runs)")
    return Preset(T=T, peak=peak, warmup=W, f=f, spec=spec, description=desc)
