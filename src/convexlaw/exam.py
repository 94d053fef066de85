"""The qualifying exam: does a schedule family reach SGD's optimal O(1/√T) rate?

With η = η_peak·s(t/T) and the peak tuned at every horizon, the bound is
Ω*_T = 2√(A_T B_T) (``bound.peak_split``). A family qualifies when √T·Ω*_T stays bounded as
T → ∞; then η*_peak·√T tends to a constant k, i.e. η*_peak = D/(G√(cT)) with c = 1/k²
(at D = G = 1). Linear decay to zero is the worst-case optimum: √T·Ω*_T → 2DG.

The exam measures √T·Ω*_T at D = G = 1 for T = 10² … 10⁷ (training-free, seconds):
bounded → ``pass`` with the limit, c and k; growing → ``fail`` with the measured growth
(like log T, √(log T) or a power of T).

>>> r = exam("linear", horizons=[10**3, 10**4, 10**5, 10**6])
>>> r.verdict, round(r.limit, 2)
('pass', 2.0)
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convexlaw.bound import peak_split_blocks
from convexlaw.schedules import Shaper, shape

__all__ = ["BUILTIN_FAMILIES", "ExamResult", "exam", "exam_all"]

HORIZONS = np.round(np.logspace(2, 7, 11)).astype(np.int64)  # increasing, distinct

# Schedule families examined by default, with the verdict theory expects.
BUILTIN_FAMILIES: dict[str, str] = {
    "linear": "pass",
    "cosine": "pass",
    "cosine+warmup(0.05)": "pass",
    "wsd(cooldown=0.2)": "pass",
    "wsd(cooldown=0.2,shape=sqrt)": "pass",
    "wsd(cooldown=0.2,shape=cosine)": "pass",
    "poly(power=2)": "pass",
    "poly(power=0.5)": "pass",
    "onecycle": "pass",
    "restarts(cycles=4)": "pass",
    "constant": "fail",
    "cosine(final=0.1)": "fail",
    "linear(final=0.1)": "fail",
    "step(milestones=[0.5,0.75],factor=0.1)": "fail",
    "exponential(final=0.01)": "fail",
    "rsqrt": "fail",
    "inverse": "fail",
}

# Bounded: over the last decade the log-log slope of √T·Ω* is below this. Converging
# families change by < 1e-5 per decade at 10⁷; schedules with a floor grow like √(log T)
# with slopes ≥ 1.5e-3 there.
_FLAT = 5e-4


@dataclass
class ExamResult:
    """Outcome of the exam for one schedule family (constants at D = G = 1)."""

    spec: str
    verdict: str  # "pass" | "fail"
    horizons: np.ndarray
    scaled_bound: np.ndarray  # √T·Ω*_T
    scaled_peak: np.ndarray  # η*_peak·√T
    slope: float  # d log(√T·Ω*) / d log T over the last decade
    growth: str  # "bounded", "log T", "√(log T)" or "T^k"
    limit: float | None = None  # lim √T·Ω*_T (pass)
    k: float | None = None  # lim η*_peak·√T (pass)
    c: float | None = None  # η*_peak = D/(G√(cT)), c = 1/k² (pass)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.verdict == "pass":
            return (f"pass: √T·Ω*_T → {self.limit:.4f}·DG, η*_peak = D/(G√({self.c:.4g}·T)) "
                    f"= {self.k:.4f}·D/(G√T)")
        return (f"fail: √T·Ω*_T grows like {self.growth} "
                f"(×{math.exp(self.slope * math.log(10)):.3f} per decade at T = "
                f"{self.horizons[-1]:.0e}, {self.scaled_bound[-1]:.3f})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "verdict": self.verdict,
            "summary": self.summary(),
            "limit": self.limit,
            "c": self.c,
            "k": self.k,
            "growth": self.growth,
            "slope_per_log_T": self.slope,
            "horizons": self.horizons.tolist(),
            "sqrtT_omega_star": self.scaled_bound.tolist(),
            "sqrtT_peak_star": self.scaled_peak.tolist(),
            "notes": self.notes,
        }


def _growth(T: np.ndarray, v: np.ndarray) -> str:
    """Name the law that best fits √T·Ω* over the last four points: log, √log or power."""
    x, y = np.log(T[-4:]), v[-4:]
    candidates = {
        "log T": (x, y),
        "√(log T)": (x, y**2),
        "T^k": (x, np.log(y)),
    }
    best, best_err = "", np.inf
    for name, (u, z) in candidates.items():
        if not np.all(np.isfinite(z)):
            continue
        coef = np.polyfit(u, z, 1)
        fit = np.polyval(coef, u)
        with np.errstate(over="ignore"):
            pred = {"log T": fit, "√(log T)": np.sqrt(np.maximum(fit, 0)),
                    "T^k": np.exp(fit)}[name]
        err = np.max(np.abs(pred - y) / y)
        if err < best_err:
            best, best_err = name, err
    if best == "T^k":
        k = np.polyfit(x, np.log(y), 1)[0]
        return f"T^{k:.2f}"
    return best


Chunks = Callable[[int], Iterator[np.ndarray]]  # n → the shape in chunks, the last first


def _family(spec: str | ArrayLike) -> Chunks:
    """The family's shape at any horizon as chunks from its end, the spec parsed and
    validated once (an array is resampled whole: one chunk)."""
    if isinstance(spec, str):
        return Shaper(spec).reversed_chunks
    return lambda n: iter([shape(spec, n)])


def _horizon(chunks: Chunks, n: int) -> tuple[float, float, int]:
    """√T·Ω*_T, η*_peak·√T and the step evaluated (the last with a positive LR) at T = n.

    The schedule is made chunk by chunk from its end and each chunk summed into the
    one-step bound at once (``peak_split_blocks``): a schedule of 10⁷ steps is never
    written out, which halves the cost of a horizon."""
    tops: list[float] = []

    def seen(it: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for c in it:
            tops.append(c.max())
            yield c

    A, B, last = peak_split_blocks(seen(chunks(n)), n)
    top = max(tops)
    if top != 1.0:  # shape() divides by the maximum: Ω = A/η + Bη, A ∝ 1/Σs and B ∝ s
        A, B = A * top, B / top
    return 2 * math.sqrt(A * B) * math.sqrt(n), math.sqrt(A / B) * math.sqrt(n), last


def _run(tasks: list[tuple[str | ArrayLike, int]], workers: int | None,
         progress: Callable[[int, int], None] | None = None) -> list:
    """_horizon over the tasks (spec, n), the largest first, on ``workers`` processes.

    Processes, not threads: the schedules are made by many short numpy calls (~5 µs each
    on a chunk in cache), and two threads handing the GIL to each other after every one
    ran slower than one thread (measured: 0.6–0.8× on 2 cores). Forked workers share the
    parsed specs and need no set-up; each computes a task exactly as this process would,
    so the results do not depend on the number of workers. Without ``fork`` (or inside a
    daemonic worker, which cannot have children) the tasks run here, one after the
    other. ``progress(steps done, steps in all)`` is called here after each task."""
    n = workers if workers is not None else min(4, len(os.sched_getaffinity(0)))
    total, done = sum(t[1] for t in tasks), 0
    out: list = [None] * len(tasks)
    pool = _pool(min(n, len(tasks))) if n > 1 and len(tasks) > 1 else None
    if pool is None:
        for i, t in enumerate(tasks):
            out[i] = _task(*t)
            if progress is not None:
                done += t[1]
                progress(done, total)
        return out
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][1])
    with pool:
        running = {pool.submit(_task, *tasks[i]): i for i in order}
        for f in as_completed(running):
            i = running[f]
            out[i] = f.result()
            if progress is not None:
                done += tasks[i][1]
                progress(done, total)
    return out


def _pool(n: int) -> ProcessPoolExecutor | None:
    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return None
    return ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("fork"),
                               initializer=_single_threaded)


def _single_threaded() -> None:
    # a worker is one of n: the schedules' own helper threads would only contend with it
    from convexlaw.schedules import chunks

    chunks.WORKERS = 1


def _task(spec: str | ArrayLike, n: int) -> tuple[float, float, int]:
    return _horizon(_family(spec), n)


def _check_horizons(horizons: ArrayLike | None) -> np.ndarray:
    T = HORIZONS if horizons is None else np.asarray(horizons, dtype=np.int64)
    if T.ndim != 1 or T.size < 3 or np.any(T < 2) or np.any(np.diff(T) <= 0):
        raise ValueError(f"horizons must be >= 3 increasing integers >= 2, got {T!r}")
    return T


def exam(spec: str | ArrayLike, horizons: ArrayLike | None = None,
         workers: int | None = None) -> ExamResult:
    """Run the qualifying exam on one schedule family (a spec string).

    √T·Ω*_T is computed at D = G = 1 for each horizon (default 10² … 10⁷, two per decade),
    on ``workers`` processes (default: up to 4 available cores; the result is the same).
    """
    T = _check_horizons(horizons)
    _family(spec)  # a bad spec fails here, before any work
    return _verdict(spec, T, _run([(spec, int(n)) for n in T], workers))


def _verdict(spec: str | ArrayLike, T: np.ndarray, rows: list) -> ExamResult:
    scaled_bound = np.array([r[0] for r in rows])
    scaled_peak = np.array([r[1] for r in rows])
    notes: list[str] = []
    cut = [(int(n), r[2]) for n, r in zip(T, rows, strict=True) if r[2] < n]
    if cut:
        n, last = cut[0]
        notes.append(f"learning rate is 0 at the end; the bound is evaluated at the last "
                     f"step with a positive learning rate (step {last} of {n})")
    decade = np.log(T[-1] / T[-3]) if T.size >= 3 else np.log(T[-1] / T[0])
    slope = float(np.log(scaled_bound[-1] / scaled_bound[-3]) / decade)
    name = spec if isinstance(spec, str) else "array"
    if slope < _FLAT:
        k = float(scaled_peak[-1])
        return ExamResult(name, "pass", T, scaled_bound, scaled_peak, slope, "bounded",
                          limit=float(scaled_bound[-1]), k=k, c=1.0 / k**2, notes=notes)
    return ExamResult(name, "fail", T, scaled_bound, scaled_peak, slope,
                      _growth(T, scaled_bound), notes=notes)


def exam_all(specs: list[str] | None = None, workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[ExamResult]:
    """The exam for each spec (default: every built-in family), all horizons of all
    families sharing ``workers`` processes (the largest first: fewer idle workers than one
    family after the other). ``progress(steps done, steps in all)`` is called after each
    horizon, on the calling thread. Every spec is parsed before any work starts."""
    names = specs or list(BUILTIN_FAMILIES)
    T = HORIZONS
    for s in names:  # every spec parsed before any work starts
        _family(s)
    rows = _run([(s, int(n)) for s in names for n in T], workers, progress)
    return [_verdict(s, T, rows[i * T.size : (i + 1) * T.size]) for i, s in enumerate(names)]
