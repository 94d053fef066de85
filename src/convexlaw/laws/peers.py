"""The empirical peers our laws must beat, fitted on the same pilots' per-cell optima.

A *cell* is one (horizon T, model size N) of a sweep; its measured optimum (η*, L*) is the
vertex of a parabola in log η through the best peak and its two neighbours
(``measured_optimum``; at an edge of the grid: the best peak itself, not bracketed).

- ``PowerLawPeer`` (the field's default, as in DeepSeek LLM and Step Law):
  log η* = a + b·log T (+ d·log N) by least squares, and the Chinchilla form
  L* = E + B·T^(−β) (+ A·N^(−α)) by a Huber fit on log loss (δ = 1e-3) from a grid of
  starts (Besiroglu et al. 2024).
- ``LiteralRule`` (the paper as written): η*(T) = η_ref/√T with η_ref the geometric mean of
  η*·√T over the cells (reused unchanged across sizes, as the paper does), and
  L*(T) = E + C/√T (+ A·N^(−α)): the power-law form with both exponents fixed at the
  literal bound's −1/2.

Both predict optima only (no loss at an arbitrary peak). ``fit`` raises ``ValueError``
naming what is missing when the cells cannot determine a peer (e.g. one horizon).

>>> T = np.array([1e3, 1e3, 1e3, 4e3, 4e3, 4e3, 16e3, 16e3, 16e3])
>>> eta = np.array([0.1, 0.3, 0.9, 0.05, 0.15, 0.45, 0.025, 0.075, 0.225])
>>> loss = 2.0 + 1 / (T * eta) + 0.01 * eta      # the literal law: η* = 10/√T
>>> cells = cell_optima(T, eta, loss)
>>> [c["bracketed"] for c in cells]
[True, True, True]
>>> rule = LiteralRule().fit(cells)
>>> round(rule.forecast(64e3)["eta_star"] / rule.forecast(16e3)["eta_star"], 6)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

__all__ = ["LiteralRule", "PowerLawPeer", "cell_optima", "measured_optimum"]

_DELTA = 1e-3


def measured_optimum(peaks: Sequence[float], losses: Sequence[float]
                     ) -> tuple[float, float, bool]:
    """(η*, L*, bracketed): a parabola in log η through the best peak and its neighbours.

    Not bracketed (the best peak is at an end of the grid): the best peak itself. A
    diverged neighbour (loss inf/nan) brackets the optimum from above. Repeated peaks
    (seeds) count once, at their mean finite loss — +inf when most of them diverged (a
    parabola through two runs at one peak would be degenerate).

    >>> e, L, ok = measured_optimum([0.01, 0.02, 0.04], [1.2, 1.0, 1.2])
    >>> round(e, 6), round(L, 6), ok
    (0.02, 1.0, True)
    >>> measured_optimum([0.01, 0.01, 0.02, 0.02, 0.04], [1.1, 1.3, 0.9, 1.1, 1.2])[0]
    0.02
    """
    p = np.asarray(peaks, dtype=np.float64).ravel()
    L = np.asarray(losses, dtype=np.float64).ravel()
    if p.size != L.size:
        raise ValueError(f"peaks and losses must have one value each: got {p.size} and "
                         f"{L.size}")
    p, inv = np.unique(p, return_inverse=True)  # sorted, one row per peak
    fin = np.isfinite(L)
    n_fin = np.bincount(inv, weights=fin, minlength=p.size)
    total = np.bincount(inv, weights=np.where(fin, L, 0.0), minlength=p.size)
    n_all = np.bincount(inv, minlength=p.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        L = np.where(2 * n_fin > n_all - 1e-9, total / n_fin, np.inf)  # mostly diverged: +inf
    if p.size == 0 or not np.isfinite(L).any():
        raise ValueError("no finite loss to locate an optimum")
    i = int(np.argmin(L))
    if i == 0 or i == p.size - 1:
        return float(p[i]), float(L[i]), False
    if not (np.isfinite(L[i - 1]) and np.isfinite(L[i + 1])):
        return float(p[i]), float(L[i]), True  # a diverged neighbour brackets it
    x = np.log(p[i - 1:i + 2])
    a, b, c = np.polyfit(x, L[i - 1:i + 2], 2)
    if a <= 0:
        return float(p[i]), float(L[i]), True
    xs = float(np.clip(-b / (2 * a), x[0], x[-1]))
    return float(round(math.exp(xs), 12)), float(np.polyval([a, b, c], xs)), True


def cell_optima(T: ArrayLike, peak: ArrayLike, loss: ArrayLike, N: ArrayLike | None = None
                ) -> list[dict[str, Any]]:
    """One row per (T, N) cell: its peaks and losses (inf = diverged) and the optimum.

    Keys: T, N (None without sizes), peaks, losses, eta_star, loss_star, bracketed,
    n_finite.
    """
    T = np.asarray(T, dtype=np.float64).ravel()
    P = np.asarray(peak, dtype=np.float64).ravel()
    L = np.asarray(loss, dtype=np.float64).ravel()
    NN = None if N is None else np.asarray(N, dtype=np.float64).ravel()
    if not T.size == P.size == L.size or (NN is not None and NN.size != T.size):
        raise ValueError(f"T, peak, loss (and N) must have one value per row: got "
                         f"{T.size}, {P.size}, {L.size}")
    keys = np.column_stack([T, NN if NN is not None else np.zeros(T.size)])
    out = []
    for t, n in np.unique(keys, axis=0):
        sel = (T == t) & ((NN == n) if NN is not None else True)
        if not np.isfinite(L[sel]).any():
            continue  # every run of the cell diverged: no optimum to read
        e, ls, ok = measured_optimum(P[sel], L[sel])
        out.append({"T": float(t), "N": None if NN is None else float(n),
                    "peaks": P[sel].tolist(), "losses": L[sel].tolist(), "eta_star": e,
                    "loss_star": ls, "bracketed": ok,
                    "n_finite": int(np.isfinite(L[sel]).sum())})
    return out


def _huber_log(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = np.isfinite(pred) & (pred > 0)
    r = np.full(y.shape, 1e3)
    r[ok] = np.log(pred[ok]) - np.log(y[ok])
    return r


class _Peer:
    """Shared parts: which cells, how the loss form is fitted, forecasts, reach."""

    name = ""
    eta_T: float | None = None  # fixed exponent of T in η* (None: fitted)
    eta_N: float | None = None
    beta: float | None = None  # fixed exponent of T in L* − E (None: fitted)

    def fit(self, cells: Sequence[dict[str, Any]]) -> _Peer:
        """Fit on the cell optima (``cell_optima``); returns self."""
        if not cells:
            raise ValueError(f"{self.name}: no cell with a finite loss")
        T = np.array([c["T"] for c in cells])
        sized = cells[0]["N"] is not None and len({c["N"] for c in cells}) > 1
        N = np.array([c["N"] for c in cells], dtype=np.float64) if sized else None
        e = np.log([c["eta_star"] for c in cells])
        L = np.array([c["loss_star"] for c in cells])
        self.sized_ = sized
        self.cells_ = [dict(c) for c in cells]
        self.unbracketed_ = [c for c in cells if not c["bracketed"]]
        self.T_range_ = (float(T.min()), float(T.max()))
        self.N_range_ = None if N is None else (float(N.min()), float(N.max()))
        self.eta_ = self._fit_eta(T, N, e)
        self.loss_ = self._fit_loss(T, N, L)
        return self

    # --------------------------------------------------------------- η*: log-linear
    def _fit_eta(self, T: np.ndarray, N: np.ndarray | None, e: np.ndarray
                 ) -> dict[str, float]:
        cols, names, fixed = [np.ones(T.size)], ["log_a"], np.zeros(T.size)
        for name, x, exp in (("b_T", np.log(T), self.eta_T),
                             ("b_N", None if N is None else np.log(N), self.eta_N)):
            if x is None:
                continue
            if exp is None:
                if np.unique(x).size < 2:
                    raise ValueError(f"{self.name}: the optimal-LR power law in "
                                     f"{name[-1]} needs cells at two or more values of "
                                     f"{name[-1]}; the pilots have one")
                cols.append(x)
                names.append(name)
            else:
                fixed = fixed + exp * x
        M = np.column_stack(cols)
        coef, *_ = np.linalg.lstsq(M, e - fixed, rcond=None)
        out = dict(zip(names, map(float, coef), strict=True))
        out.setdefault("b_T", float(self.eta_T or 0.0))
        out.setdefault("b_N", float(self.eta_N or 0.0))
        return out

    # --------------------------------------------------------------- L*: Chinchilla form
    def _fit_loss(self, T: np.ndarray, N: np.ndarray | None, L: np.ndarray
                  ) -> dict[str, float] | None:
        """E + B·(T/T_ref)^(−β) (+ A·(N/N_ref)^(−α)) by Huber on log loss; None if the
        cells are too few (the reason kept in ``loss_note_``)."""
        self.T_ref_ = float(np.exp(np.mean(np.log(T))))
        self.N_ref_ = None if N is None else float(np.exp(np.mean(np.log(N))))
        k = 2 + (self.beta is None) + (2 if N is not None else 0)
        nT = np.unique(T).size
        self.loss_note_: str | None = None
        if L.size <= k - 1 or nT < 2:
            self.loss_note_ = (f"{self.name}: the loss law needs more cells than its {k} "
                               f"parameters and two or more horizons; the pilots have "
                               f"{L.size} cell(s) at {nT} horizon(s)")
            return None
        self.loss_note_ = None
        tau = T / self.T_ref_
        n = None if N is None else N / self.N_ref_

        def unpack(z: np.ndarray) -> dict[str, float]:
            v = {"E": float(z[0]), "B": float(math.exp(z[1]))}
            i = 2
            v["beta"] = float(z[i]) if self.beta is None else float(self.beta)
            i += self.beta is None
            if n is not None:
                v["A"], v["alpha"] = float(math.exp(z[i])), float(z[i + 1])
            return v

        def pred(v: dict[str, float], tau_: np.ndarray, n_: np.ndarray | None) -> np.ndarray:
            out = v["E"] + v["B"] * tau_ ** (-v["beta"])
            if n_ is not None:
                out = out + v["A"] * n_ ** (-v["alpha"])
            return out

        lo = [0.0, math.log(1e-8)] + ([0.0] if self.beta is None else []) + \
            ([math.log(1e-8), 0.0] if n is not None else [])
        hi = [float(L.min()), math.log(1e3 * L.max())] + \
            ([3.0] if self.beta is None else []) + ([math.log(1e3 * L.max()), 3.0]
                                                     if n is not None else [])
        best = None
        spread = max(float(L.max() - L.min()), 1e-6)
        for E0 in (0.5, 0.9, 0.99):
            for b0 in ((0.1, 0.3, 0.6) if self.beta is None else (None,)):
                z0 = [E0 * L.min(), math.log(spread)] + ([b0] if b0 is not None else [])
                if n is not None:
                    z0 += [math.log(spread), 0.3]
                z0 = np.clip(z0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
                try:
                    res = least_squares(lambda z: _huber_log(pred(unpack(z), tau, n), L), z0,
                                        bounds=(lo, hi), loss="huber", f_scale=_DELTA,
                                        x_scale="jac")
                except ValueError:
                    continue
                if best is None or res.cost < best.cost:
                    best = res
        if best is None:
            self.loss_note_ = f"{self.name}: every start of the loss fit failed"
            return None
        self._pred = pred
        return unpack(best.x)

    # --------------------------------------------------------------- prediction
    def forecast(self, T: float, N: float | None = None) -> dict[str, Any]:
        """η*(T, N) and L*(T, N) (None where the peer has no loss law), with reach notes."""
        if not hasattr(self, "eta_"):
            raise RuntimeError(f"{self.name} is not fitted: call fit(cells) first")
        if self.sized_ and N is None:
            raise ValueError(f"{self.name} spans several model sizes: give N")
        v = self.eta_
        log_eta = v["log_a"] + v["b_T"] * math.log(T)
        if self.sized_ and N is not None:  # (sized without N was refused above)
            log_eta += v["b_N"] * math.log(N)
        loss = None
        if self.loss_ is not None:
            n = np.array([N / self.N_ref_]) if self.sized_ and N is not None and \
                self.N_ref_ is not None else None
            loss = float(self._pred(self.loss_, np.array([T / self.T_ref_]), n)[0])
        notes = []
        if self.unbracketed_:
            notes.append(f"{self.name}: {len(self.unbracketed_)} of {len(self.cells_)} cell "
                         "optima sit at the edge of their peak grid (not bracketed)")
        if self.loss_ is None and self.loss_note_:
            notes.append(self.loss_note_)
        return {"eta_star": float(math.exp(log_eta)), "loss_star": loss, "params":
                {"eta": dict(v), "loss": None if self.loss_ is None else dict(self.loss_)},
                "notes": notes}


class PowerLawPeer(_Peer):
    """log η* linear in log T (and log N); L* = E + B·T^(−β) (+ A·N^(−α))."""

    name = "power-law peer"


class LiteralRule(_Peer):
    """The paper's rule as written: η* = η_ref/√T (η_ref shared by every size) and
    L* = E + C/√T (+ A·N^(−α))."""

    name = "literal √T rule"
    eta_T = -0.5
    eta_N = 0.0
    beta = 0.5
