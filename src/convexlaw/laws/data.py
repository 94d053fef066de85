"""Points a law is fitted to: (loss, T, peak LR, N) with the bound's shape constants.

For η_t = η·s_t (shape s, max 1) the bound splits as Ω_t = D²·X_t(s)/η + G²·Y_t(s)·η
(DESIGN §1, peak-LR split), X and Y taken at peak 1. A point therefore carries

- ``x`` = X_t(s) = 1/(2 Σ_{u≤t} s_u), the distance constant per unit D²;
- ``y(a)`` = Y_t(s; g) with the gradient profile g_u = (u/t_ref)^a (a = 0: constant G).

Two modes:

- ``"table"``: only T is known (steps or tokens), the shape is the same for every row and
  is absorbed into the coefficients: x = 1/T, y(a) = (T/t_ref)^(2a). The law then reads
  literally L = L∞ + q1²/(T·η) + q2²·η.
- ``"shape"``: runs with their learning-rate sequences; x and y come from
  ``convexlaw.bound_terms``, so runs of different schedule shapes (a cosine pilot, a WSD
  target) share one set of coefficients, and points along a curve can be used too.

>>> d = LawData.from_arrays(T=[1000, 2000], loss=[3.2, 3.1], peak=[1e-3, 1e-3])
>>> d.x.tolist(), d.mode
([0.001, 0.0005], 'table')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import CubicSpline

__all__ = ["A_GRID", "LawData", "shape_constants"]

# gradient-profile exponents at which Y is computed exactly; log Y is smooth (a log-sum of
# exponentials in a), so a cubic spline over this grid is accurate far below fit noise.
A_GRID = np.round(np.linspace(-1.0, 1.0, 21), 10)
_G_REF = 1000.0  # internal reference step of the profile (t/1000)^a; rescaled to t_ref


def _profile(n: int, a: float) -> np.ndarray | None:
    if a == 0:
        return None
    return (np.arange(1, n + 1) / _G_REF) ** a


def shape_constants(shape: np.ndarray, at: np.ndarray,
                    a_grid: Sequence[float] | np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """X_t and log Y_t of a shape at the 1-based steps ``at``.

    Returns ``x`` (len(at),) and ``logy`` (len(a_grid), len(at)) with the profile
    g_u = (u/1000)^a for each a in ``a_grid`` (default: just a = 0).
    """
    from convexlaw.bound import bound_terms

    grid = [0.0] if a_grid is None else list(a_grid)
    x = None
    rows = []
    for a in grid:
        X, Y = bound_terms(shape, _profile(shape.size, a), at=at)
        x = X if x is None else x
        rows.append(np.log(Y))
    assert x is not None
    return x, np.vstack(rows)


def _last_positive(shape: np.ndarray, name: str) -> int:
    pos = np.flatnonzero(shape > 0)
    if pos.size == 0:
        raise ValueError(f"{name}: every learning rate is 0")
    return int(pos[-1]) + 1


@dataclass
class LawData:
    """Points for a law: arrays of equal length n, plus per-run shapes in shape mode.

    ``T`` is the step (or token count) the loss was measured at, ``horizon`` the length of
    the run it came from (equal to T for tables), ``group`` the run index (bootstrap
    resamples runs, not points).
    """

    loss: np.ndarray
    T: np.ndarray
    horizon: np.ndarray
    peak: np.ndarray | None
    N: np.ndarray | None
    group: np.ndarray
    groups: list[str]
    x: np.ndarray
    mode: str
    source: str = ""
    specs: list[str | None] = field(default_factory=list)
    # shape mode: per-run shapes and the steps each point is at (index into `group`)
    shapes: list[np.ndarray] = field(default_factory=list)
    # runs or rows no law can use (diverged, screened out): dicts with T, peak, N, reason
    left_out: list[dict[str, Any]] = field(default_factory=list)
    _logy0: np.ndarray | None = None
    _spline: Any = None

    @property
    def n(self) -> int:
        return int(self.loss.size)

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_arrays(cls, T: ArrayLike, loss: ArrayLike | None = None,
                    peak: ArrayLike | None = None, N: ArrayLike | None = None,
                    group: Sequence[str] | None = None, source: str = "arrays",
                    diverged: str = "error") -> LawData:
        """Table mode: one point per row (each row its own run unless ``group`` says).

        ``diverged="skip"``: rows whose loss is NaN/inf are diverged runs, kept in
        ``left_out`` (they still bound the usable peak) instead of refused.
        """
        if diverged not in ("error", "skip"):
            raise ValueError(f"diverged must be 'error' or 'skip', got {diverged!r}")
        left: list[dict[str, Any]] = []
        if diverged == "skip" and loss is not None:
            L = np.atleast_1d(np.asarray(loss, dtype=np.float64)).ravel()
            bad = ~np.isfinite(L)
            if bad.any():
                cols: list[np.ndarray | None] = [
                    np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()
                    if v is not None else None for v in (T, peak, N)]
                if any(c is not None and c.size != L.size for c in cols):
                    raise ValueError(f"{source}: T, loss, peak_lr and N must have one value "
                                     "per row")
                T0 = cols[0]
                assert T0 is not None  # T is required
                for i in np.flatnonzero(bad).tolist():
                    left.append({"name": str(i) if group is None else str(group[i]),
                                 "T": float(T0[i]),
                                 "peak": None if cols[1] is None else float(cols[1][i]),
                                 "N": None if cols[2] is None else float(cols[2][i]),
                                 "reason": "diverged (non-finite loss)"})
                if bad.all():
                    raise ValueError(f"{source}: every row diverged (no finite loss)")
                T, loss = T0[~bad], L[~bad]
                peak = None if cols[1] is None else cols[1][~bad]
                N = None if cols[2] is None else cols[2][~bad]
                group = None if group is None else [g for g, b in zip(group, bad, strict=True)
                                                    if not b]
        T = _positive(T, "T", source)
        n = T.size
        loss_arr = np.full(n, np.nan) if loss is None else _positive(loss, "loss", source, n)
        peak_arr = None if peak is None else _positive(peak, "peak_lr", source, n)
        N_arr = None if N is None else _positive(N, "N", source, n)
        names = [str(i) for i in range(n)] if group is None else [str(g) for g in group]
        if len(names) != n:
            raise ValueError(f"{source}: group has {len(names)} labels for {n} rows")
        uniq, gidx = np.unique(np.array(names), return_inverse=True)
        return cls(loss=loss_arr, T=T, horizon=T.copy(), peak=peak_arr, N=N_arr,
                   group=gidx.astype(np.int64), groups=[str(u) for u in uniq], x=1.0 / T,
                   mode="table", source=source, left_out=left)

    def subset(self, idx: ArrayLike, left_out: Sequence[dict[str, Any]] = ()) -> LawData:
        """The points ``idx`` (runs and shapes kept), with more ``left_out`` notes."""
        ii = np.asarray(idx, dtype=np.int64)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[ii]

        return LawData(loss=self.loss[ii], T=self.T[ii], horizon=self.horizon[ii],
                       peak=take(self.peak), N=take(self.N), group=self.group[ii],
                       groups=list(self.groups), x=self.x[ii], mode=self.mode,
                       source=self.source, specs=list(self.specs), shapes=list(self.shapes),
                       left_out=[*self.left_out, *left_out], _logy0=take(self._logy0))

    @classmethod
    def from_runs(cls, runs: Sequence[Any], points: str = "final", burn_in: float = 0.1,
                  kind: str | None = None, diverged: str = "error") -> LawData:
        """Shape mode from runs (``convexlaw.runs.Run`` or anything with ``lrs``,
        ``curve(kind)``, ``peak_lr``, ``N``, ``name``, ``schedule``, ``status``).

        ``points="final"``: the last logged loss of each run; ``"curve"``: every logged
        loss after the burn-in (a fraction of the run's length if < 1, else steps).
        ``diverged="skip"`` records diverged runs in ``left_out`` instead of refusing them.
        """
        if points not in ("final", "curve"):
            raise ValueError(f"points must be 'final' or 'curve', got {points!r}")
        if diverged not in ("error", "skip"):
            raise ValueError(f"diverged must be 'error' or 'skip', got {diverged!r}")
        if not runs:
            raise ValueError("no runs given")
        left: list[dict[str, Any]] = []
        if diverged == "skip":
            left = [{"name": str(getattr(r, "name", i)), "T": int(np.asarray(r.lrs).size),
                     "peak": float(r.peak_lr or np.max(r.lrs)),
                     "N": getattr(r, "N", None), "reason": "diverged"}
                    for i, r in enumerate(runs) if getattr(r, "status", "") == "diverged"]
            runs = [r for r in runs if getattr(r, "status", "") != "diverged"]
            if not runs:
                raise ValueError(f"all {len(left)} runs diverged: no loss to fit")
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                             ("loss", "T", "horizon", "peak", "N", "group")}
        shapes, names, specs = [], [], []
        has_N = all(getattr(r, "N", None) is not None for r in runs)
        for gi, run in enumerate(runs):
            name = str(getattr(run, "name", gi))
            if getattr(run, "status", "finished") == "diverged":
                raise ValueError(f"run {name!r} diverged: a loss law cannot use it; "
                                 "leave it out (it still bounds the usable peak LR)")
            lrs = np.asarray(run.lrs, dtype=np.float64)
            if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)):
                raise ValueError(f"run {name!r}: learning rates must be a non-empty finite "
                                 "1-D array")
            if np.any(lrs < 0) or not np.any(lrs > 0):
                raise ValueError(f"run {name!r}: learning rates must be >= 0 and not all 0")
            peak = float(run.peak_lr) if getattr(run, "peak_lr", None) else float(lrs.max())
            shape = lrs / peak
            steps, vals = run.curve(kind) if kind else run.curve()
            steps = np.asarray(steps, dtype=np.int64)
            vals = np.asarray(vals, dtype=np.float64)
            steps, vals = _average_duplicates(steps, vals)
            last = _last_positive(shape, f"run {name!r}")
            keep = (steps >= 1) & (steps <= last) & np.isfinite(vals)
            if points == "curve":
                start = burn_in * lrs.size if burn_in < 1 else burn_in
                keep &= steps >= start
            steps, vals = steps[keep], vals[keep]
            if steps.size == 0:
                raise ValueError(f"run {name!r}: no finite loss logged at a step in "
                                 f"1..{last} (after the burn-in)")
            if np.any(vals <= 0):
                raise ValueError(f"run {name!r}: losses must be > 0 (got {vals.min()!r})")
            if points == "final":
                steps, vals = steps[-1:], vals[-1:]
            cols["loss"].append(vals)
            cols["T"].append(steps.astype(np.float64))
            cols["horizon"].append(np.full(steps.size, float(lrs.size)))
            cols["peak"].append(np.full(steps.size, peak))
            cols["N"].append(np.full(steps.size, float(run.N) if has_N else np.nan))
            cols["group"].append(np.full(steps.size, gi))
            shapes.append(shape)
            names.append(name)
            specs.append(getattr(run, "schedule", None))
        cat = {k: np.concatenate(v) for k, v in cols.items()}
        data = cls(loss=cat["loss"], T=cat["T"], horizon=cat["horizon"], peak=cat["peak"],
                   N=cat["N"] if has_N else None, group=cat["group"].astype(np.int64),
                   groups=names, x=np.empty(0), mode="shape", source="runs", specs=specs,
                   shapes=shapes, left_out=left)
        data._compute_x()
        return data

    @classmethod
    def query(cls, T: ArrayLike, peak: ArrayLike | None = None, N: ArrayLike | None = None,
              mode: str = "table", shape: str | ArrayLike | None = None,
              at: ArrayLike | None = None) -> LawData:
        """Points to predict at (loss unknown). Shape mode needs ``shape``: a schedule
        spec or per-step multipliers; ``at`` defaults to the last step with a positive
        learning rate (T for most schedules)."""
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        n = T.size
        pk = None if peak is None else np.broadcast_to(
            np.asarray(peak, dtype=np.float64), (n,)).copy()
        NN = None if N is None else np.broadcast_to(np.asarray(N, dtype=np.float64), (n,)).copy()
        if mode == "table":
            return cls(loss=np.full(n, np.nan), T=T, horizon=T.copy(), peak=pk, N=NN,
                       group=np.arange(n), groups=[str(i) for i in range(n)], x=1.0 / T,
                       mode="table", source="query")
        if shape is None:
            raise ValueError("this law was fitted on schedule shapes: give the target "
                             "schedule (a spec such as 'cosine' or per-step multipliers)")
        shapes: list[np.ndarray] = []
        steps: list[float] = []
        specs: list[str | None] = []
        at_arr = None if at is None else np.broadcast_to(np.asarray(at), (n,))
        for i, t in enumerate(T):
            if isinstance(shape, str):
                from convexlaw.schedules import schedule

                s = schedule(shape, int(round(t)), 1.0)
                specs.append(shape)
            else:
                s = np.asarray(shape, dtype=np.float64)
                if s.size != int(round(t)):
                    raise ValueError(f"the shape has {s.size} steps but T = {t:g}")
                s = s / s.max()
                specs.append(None)
            last = _last_positive(s, "target schedule")
            step = last if at_arr is None else int(at_arr[i])
            if not 1 <= step <= last:
                raise ValueError(f"at = {step} is outside 1..{last} (the steps with a "
                                 "positive learning rate)")
            shapes.append(s)
            steps.append(float(step))
        data = cls(loss=np.full(n, np.nan), T=np.array(steps), horizon=T.copy(), peak=pk,
                   N=NN, group=np.arange(n), groups=[str(i) for i in range(n)],
                   x=np.empty(0), mode="shape", source="query", specs=specs, shapes=shapes)
        data._compute_x()
        return data

    # ---------------------------------------------------------------- shape constants
    def _at_of(self, gi: int) -> np.ndarray:
        return self.T[self.group == gi].astype(np.int64)

    def _compute_x(self) -> None:
        x = np.empty(self.n)
        y0 = np.empty(self.n)
        for gi, s in enumerate(self.shapes):
            sel = self.group == gi
            if not sel.any():  # a shape whose rows were all left out (screened)
                continue
            xs, ly = shape_constants(s, self.T[sel].astype(np.int64))
            x[sel], y0[sel] = xs, ly[0]
        self.x, self._logy0 = x, y0

    def logy(self, a: float, t_ref: float) -> np.ndarray:
        """log y(a): the gradient constant per unit G² at peak 1, profile (t/t_ref)^a."""
        if self.mode == "table":
            return 2.0 * a * np.log(self.T / t_ref)
        if np.ndim(a) == 0 and a == 0 and self._logy0 is not None:
            return self._logy0 - 0.0
        if self._spline is None:
            grid = np.empty((A_GRID.size, self.n))
            for gi, s in enumerate(self.shapes):
                sel = self.group == gi
                if not sel.any():
                    continue
                grid[:, sel] = shape_constants(s, self.T[sel].astype(np.int64), A_GRID)[1]
            self._spline = CubicSpline(A_GRID, grid, axis=0)
        a_arr = np.asarray(a, dtype=np.float64)
        if not np.all((A_GRID[0] <= a_arr) & (a_arr <= A_GRID[-1])):
            raise ValueError(f"gradient exponent a = {a} outside [{A_GRID[0]}, {A_GRID[-1]}]")
        # a batch of exponents (B, 1) gives (B, n): the spline at each, along the last axis
        spl = self._spline(a_arr[..., 0]) if a_arr.ndim else self._spline(a)
        # (t/1000)^a → (t/t_ref)^a multiplies g² by (1000/t_ref)^(2a)
        return spl - 2.0 * a * math.log(t_ref / _G_REF)

    def common_spec(self) -> str | None:
        """The schedule spec shared by every run, if known."""
        uniq = set(self.specs)
        return uniq.pop() if len(uniq) == 1 else None


def _average_duplicates(steps: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resumed runs log some steps twice: average them, sort by step."""
    uniq, inv = np.unique(steps, return_inverse=True)
    if uniq.size == steps.size:
        order = np.argsort(steps)
        return steps[order], vals[order]
    sums = np.bincount(inv, weights=vals)
    counts = np.bincount(inv)
    return uniq, sums / counts


def _positive(v: ArrayLike, name: str, source: str, n: int | None = None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()
    if n is not None and arr.size != n:
        raise ValueError(f"{source}: {name} has {arr.size} values, expected {n}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{source}: {name}[{i}] = {arr[i]!r}; expected a finite number > 0")
    return arr


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)
