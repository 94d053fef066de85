"""The schedules a design searches: family members as spec strings, and a free spline.

A *family member* is a point x of a small box of family parameters, turned into a spec
string that ``convexlaw.schedule`` (and so ``lambda_lr`` and the training harness) reads:

    cosine, linear   x = (final, w)            "cosine(final=F)+warmup(W)"
    wsd (per shape)  x = (cooldown, final, w)  "wsd(cooldown=C,shape=S,final=F)+warmup(W)"

with w the warm-up as a fraction of T (W = round(w·T) steps, at least the caller's
minimum). Values are rounded when the spec is written, and the shape is always rebuilt
from the written spec, so what is predicted is exactly what a user runs.

The *free* schedule is a linear warm-up of W steps followed by a cubic B-spline
m(x) = Σ_k u_k B_k(x), x = s/n over the n = T − W remaining steps, with coefficients
1 = u_0 ≥ u_1 ≥ … ≥ u_{K−1} ≥ 0. A B-spline lies in the convex hull of its coefficients
and is monotone when they are, so every such u gives a smooth, non-increasing,
non-negative schedule with peak 1 at the end of the warm-up. Knots crowd towards the end
of the run (x_i = 1 − (1 − i/M)^1.5), where the cool-down lives. The design variables are
the decrements d_k = u_{k−1} − u_k ≥ 0 with Σ d_k ≤ 1 (final value u_{K−1} = 1 − Σ d).

>>> sp = Spline(1000, warmup=100, knots=12)
>>> m = sp.shape(sp.coefficients_of(1.0 - np.arange(900) / 900))
>>> float(m.max()), bool(np.all(np.diff(m[100:]) <= 1e-12))
(1.0, True)
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline

from convexlaw.schedules import shape as spec_shape

__all__ = ["COOLDOWN_SHAPES", "FAMILIES", "Member", "Spline", "member", "member_bounds"]

FAMILIES = ("wsd", "cosine", "linear", "free")
COOLDOWN_SHAPES = ("linear", "cosine", "sqrt", "square", "geometric")
MAX_WARMUP = 0.25  # of the run: longer warm-ups are not searched


def _num(v: float, digits: int = 4) -> str:
    return f"{float(f'{v:.{digits}g}'):g}"


class Member:
    """A family member: its family, parameters, spec string and per-step shape."""

    def __init__(self, family: str, x: np.ndarray, steps: int, min_warmup: int,
                 cooldown_shape: str | None = None) -> None:
        self.family, self.cooldown_shape = family, cooldown_shape
        self.x = np.asarray(x, dtype=np.float64)
        self.warmup = max(int(min_warmup), int(round(self.x[-1] * steps)))
        tail = f"+warmup({self.warmup})" if self.warmup > 0 else ""
        if family in ("cosine", "linear"):
            final = self.x[0]
            self.params = {"final": float(_num(final))}
            self.spec = f"{family}(final={_num(final)}){tail}" if final > 0 else family + tail
        else:  # wsd: the cool-down as a fraction of the steps after the warm-up
            cool, final = self.x[0], self.x[1]
            n = steps - self.warmup
            c = _num(cool) if cool < 0.9995 else str(n)  # durations ≥ 1 are step counts
            args = [f"cooldown={c}", f"shape={cooldown_shape}"]
            if final > 0 or cooldown_shape == "geometric":
                args.append(f"final={_num(final)}")
            self.params = {"cooldown": float(c) if cool < 0.9995 else 1.0,
                           "shape": cooldown_shape, "final": float(_num(final))}
            self.spec = f"wsd({','.join(args)}){tail}"
        self.params["warmup"] = self.warmup
        self.shape = spec_shape(self.spec, steps)

    @property
    def label(self) -> str:
        return self.family if self.cooldown_shape is None else f"wsd/{self.cooldown_shape}"


def member_bounds(family: str, steps: int, min_warmup: int, cooldown_shape: str | None = None
                  ) -> list[tuple[float, float]]:
    """Box of the continuous family parameters x (last entry: warm-up fraction)."""
    w_lo = min_warmup / steps
    w = (w_lo, max(w_lo, MAX_WARMUP))
    final = (1e-3, 1.0) if cooldown_shape == "geometric" else (0.0, 0.999)
    if family in ("cosine", "linear"):
        return [final, w]
    return [(0.01, 1.0), final, w]


def member(family: str, x: np.ndarray, steps: int, min_warmup: int,
           cooldown_shape: str | None = None) -> Member:
    """The member at x (clipped into its box)."""
    box = member_bounds(family, steps, min_warmup, cooldown_shape)
    x = np.clip(np.asarray(x, dtype=np.float64), [b[0] for b in box], [b[1] for b in box])
    return Member(family, x, steps, min_warmup, cooldown_shape)


class Spline:
    """Monotone cubic B-spline schedules after a linear warm-up (module doc)."""

    def __init__(self, steps: int, warmup: int = 0, knots: int = 24, degree: int = 3) -> None:
        if knots < degree + 1:
            raise ValueError(f"knots must be ≥ {degree + 1}, got {knots}")
        self.steps, self.warmup, self.degree = int(steps), int(warmup), degree
        n = self.steps - self.warmup
        if n < knots:
            raise ValueError(f"{n} steps after the warm-up cannot carry {knots} spline "
                             "coefficients")
        M = knots - degree
        inner = 1.0 - (1.0 - np.arange(1, M) / M) ** 1.5
        self.knots = np.concatenate([np.zeros(degree + 1), inner, np.ones(degree + 1)])
        x = np.arange(n) / n
        self.basis = BSpline.design_matrix(x, self.knots, degree).tocsr()
        self.K = knots
        w = self.warmup
        self.ramp = np.arange(w) / max(w, 1)

    def greville(self) -> np.ndarray:
        """Abscissae where coefficients ≈ values (exact for linear functions)."""
        k = self.degree
        return np.array([self.knots[i + 1:i + k + 1].mean() for i in range(self.K)])

    def coefficients(self, d: np.ndarray) -> np.ndarray:
        """u from decrements d (u_0 = 1)."""
        return 1.0 - np.concatenate([[0.0], np.cumsum(d)])

    def shape(self, d: np.ndarray) -> np.ndarray:
        """The per-step schedule (max 1) for decrements d."""
        base = self.basis @ self.coefficients(d)
        return np.concatenate([self.ramp, np.maximum(base, 0.0)])

    def pullback(self, grad_m: np.ndarray) -> np.ndarray:
        """∂F/∂d from ∂F/∂m (u = 1 − cumsum(d) is linear in d)."""
        gu = self.basis.T @ grad_m[self.warmup:]
        return -np.cumsum(gu[::-1])[::-1][1:]

    def coefficients_of(self, base: np.ndarray) -> np.ndarray:
        """Decrements d of a monotone spline close to a given post-warm-up shape.

        Coefficients are the shape at the Greville abscissae, made non-increasing with
        u_0 = 1 (exact for a linear decay).
        """
        n = base.size
        # the shape is sampled at x = s/n, s < n: extend it linearly to x = 1
        end = max(2.0 * base[-1] - base[-2], 0.0) if n > 1 else base[-1]
        u = np.interp(self.greville(), np.arange(n + 1) / n, np.append(base, end))
        u = np.minimum.accumulate(np.clip(u / max(u[0], 1e-300), 0.0, 1.0))
        u[0] = 1.0
        return -np.diff(u)
