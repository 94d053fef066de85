"""Causal Cauchy-kernel sums S_i = Σ_{j ≤ i−2} w_j / (P_i − P_j) for every i, fast.

``P`` is the running sum of non-negative step sizes η, so the points are sorted. The sums
are the only part of the last-iterate bound (``convexlaw.bound``) that is not a prefix sum;
computed one by one they cost O(T²). Here a one-dimensional fast multipole method computes
all of them in O(T·p²/L + T·L) at relative accuracy ~1e-12:

* one binary tree over step indices serves sources and targets; a node's interval is the
  range of P over its steps, so separation is judged in P, not in steps (a schedule whose
  learning rate shrinks by orders of magnitude stays accurate);
* a source node and a later target node interact through a multipole-to-local expansion
  when (r_S + r_T) ≤ θ·(c_T − c_S) and they are at least one step apart; otherwise they
  split, down to leaves of L steps that are summed directly;
* differences of P are taken in double-double arithmetic (the rounding error of each running
  sum is recovered exactly by TwoSum), so P_i − P_j keeps full relative precision even when
  it is 10⁻¹² of P_i.

>>> import numpy as np
>>> eta = np.array([1.0, 2.0, 1.0, 1.0])
>>> causal_sums(eta, eta**2).tolist()  # S_3 = 1/3, S_4 = 1/4 + 4/2
[0.0, 0.0, 0.3333333333333333, 2.25]
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["causal_sum_at", "causal_sums"]

LEAF = 16  # steps per leaf: pairs of leaves closer than θ allows are summed directly
THETA = 0.5  # well separated: (r_S + r_T) ≤ θ·(c_T − c_S)
ORDER = 34  # expansion terms; truncation ≤ θ^p·(1+θ)/(1−θ) ≈ 2e-10, typically far less
_TINY = 1e-300


def causal_sum_at(eta: np.ndarray, w: np.ndarray, i: int) -> float:
    """S_i for one 0-based target i by one reversed cumulative sum and a dot product."""
    if i < 2 or eta[i] == 0:
        return 0.0
    gaps = np.cumsum(eta[i:0:-1])[::-1]  # gaps[j] = P_i − P_j for j = 0..i−1
    return float(np.dot(w[: i - 1], 1.0 / gaps[: i - 1]))


class _Prefix:
    """Running sums P with their exact rounding errors: P_i − P_j to full precision."""

    def __init__(self, eta: np.ndarray):
        hi = np.cumsum(eta)
        prev = np.concatenate([[0.0], hi[:-1]])
        b = hi - prev  # TwoSum(prev, eta) = hi + err, exactly
        err = (prev - (hi - b)) + (eta - b)
        self.hi, self.lo = hi, np.cumsum(err)

    def diff(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (self.hi[i] - self.hi[j]) + (self.lo[i] - self.lo[j])


@lru_cache(maxsize=4)
def _binomials(p: int) -> np.ndarray:
    """Pascal's triangle C[n, m] for n, m < 2p (exact in float64 up to n = 56)."""
    C = np.zeros((2 * p, 2 * p))
    C[:, 0] = 1.0
    for n in range(1, 2 * p):
        C[n, 1:] = C[n - 1, 1:] + C[n - 1, :-1]
    return C


def _taylor_shift(coef: np.ndarray, sigma: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Local expansion re-centred on a child: out[m] = Σ_n coef[n]·C(n, m)·σ^m·τ^(n−m).

    ``coef`` is (p, K): the polynomial Σ_n c_n z^n becomes one in U with z = σU + τ
    (Horner's Taylor shift by τ, then scaling by σ^m).
    """
    c = coef.copy()
    p = c.shape[0]
    for i in range(p - 1):
        for j in range(p - 2, i - 1, -1):
            c[j] += tau * c[j + 1]
    scale = np.ones_like(sigma)
    for m in range(1, p):
        scale = scale * sigma
        c[m] *= scale
    return c


def _moment_shift(mom: np.ndarray, sigma: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Moments of σV + τ from moments of V: out[n] = Σ_m C(n, m)·τ^(n−m)·σ^m·mom[m].

    The transpose of ``_taylor_shift``; ``mom`` is (p, K).
    """
    c = mom.copy()
    p = c.shape[0]
    scale = np.ones_like(sigma)
    for m in range(1, p):
        scale = scale * sigma
        c[m] *= scale
    for i in range(p - 2, -1, -1):
        for j in range(i, p - 1):
            c[j + 1] += tau * c[j]
    return c


def _scatter_add(out: np.ndarray, idx: np.ndarray, vals: np.ndarray) -> None:
    """out[idx[k]] += vals[k] for rows of a 2-D ``out``, repeated indices adding up."""
    from scipy.sparse import csr_matrix

    k = idx.size
    gather = csr_matrix((np.ones(k), (idx, np.arange(k))), shape=(out.shape[0], k))
    out += gather @ vals


def _powers(x: np.ndarray, p: int) -> np.ndarray:
    """(K, p) array of x^0 … x^(p−1)."""
    out = np.empty((x.size, p))
    out[:, 0] = 1.0
    np.cumprod(np.broadcast_to(x[:, None], (x.size, p - 1)), axis=1, out=out[:, 1:])
    return out


def causal_sums(eta: np.ndarray, w: np.ndarray, leaf: int = LEAF, order: int = ORDER,
                theta: float = THETA) -> np.ndarray:
    """S_i = Σ_{j ≤ i−2} w_j/(P_i − P_j) for every 0-based i (P = cumsum(eta), w ≥ 0).

    Targets with η_i = 0 get meaningless values (the bound is +∞ there; callers mask them).
    """
    n = eta.size
    p, L = order, leaf
    levels = max(0, math.ceil(math.log2(max(n / L, 1))))
    nleaf = 2**levels
    size = nleaf * L
    eta_p = np.zeros(size)
    eta_p[:n] = eta
    w_p = np.zeros(size)
    w_p[:n] = w
    P = _Prefix(eta_p)

    # per level: first and last step of each node, half-width, liveness
    first, last, rho, src_alive, tgt_alive = [], [], [], [], []
    for lev in range(levels + 1):
        width = size >> lev
        a = np.arange(0, size, width)
        first.append(a)
        last.append(a + width - 1)
        rho.append(np.maximum(P.diff(a + width - 1, a) / 2, _TINY))
        src_alive.append(w_p.reshape(-1, width).any(axis=1))
        tgt_alive.append(eta_p.reshape(-1, width).any(axis=1))

    def offset(lev: int, node: np.ndarray, other_lev: int, other: np.ndarray) -> np.ndarray:
        """c(node) − c(other), centres being midpoints of the nodes' P ranges."""
        return (P.diff(first[lev][node], first[other_lev][other])
                + P.diff(last[lev][node], last[other_lev][other])) / 2

    # multipole moments of the leaves, then upward
    leaf_id = np.arange(size) // L
    V = (P.diff(np.arange(size), first[levels][leaf_id])
         - P.diff(last[levels][leaf_id], first[levels][leaf_id]) / 2) / rho[levels][leaf_id]
    M: list[np.ndarray] = [np.empty(0)] * (levels + 1)
    mom = np.empty((p, nleaf))
    powv = w_p.copy()
    for m in range(p):
        mom[m] = powv.reshape(nleaf, L).sum(axis=1)
        powv *= V
    M[levels] = mom
    for lev in range(levels - 1, -1, -1):
        child = np.arange(2 ** (lev + 1))
        par = child // 2
        sig = rho[lev + 1] / rho[lev][par]
        tau = offset(lev + 1, child, lev, par) / rho[lev][par]
        shifted = _moment_shift(M[lev + 1], sig, tau)
        M[lev] = shifted[:, 0::2] + shifted[:, 1::2]

    # interactions, level by level; unseparated pairs descend to the children
    e = np.arange(p)
    Cab = _binomials(p)[np.add.outer(e, e), e[:, None]]  # Cab[a, b] = C(a+b, a)
    local = [np.zeros((2**lev, p)) for lev in range(levels + 1)]
    near_s, near_t = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    cs = ct = np.empty(0, np.int64)
    for lev in range(1, levels + 1):
        k = np.arange(2 ** (lev - 1))
        s = np.concatenate([2 * k, 2 * cs, 2 * cs, 2 * cs + 1, 2 * cs + 1])
        t = np.concatenate([2 * k + 1, 2 * ct, 2 * ct + 1, 2 * ct, 2 * ct + 1])
        Mt = M[lev].T.copy()  # rows gather faster than columns
        keep = src_alive[lev][s] & tgt_alive[lev][t]
        s, t = s[keep], t[keep]
        d = offset(lev, t, lev, s)
        ok = (t - s >= 2) & (d > 0) & (rho[lev][s] + rho[lev][t] <= theta * d)
        if ok.any():
            sa, ta, da = s[ok], t[ok], d[ok]
            alpha = _powers(rho[lev][sa] / da, p)
            beta = _powers(-rho[lev][ta] / da, p)
            contrib = ((Mt[sa] * alpha) @ Cab) * (beta / da[:, None])
            _scatter_add(local[lev], ta, contrib)
        cs, ct = s[~ok], t[~ok]
        if lev == levels:
            near_s, near_t = [cs], [ct]

    for lev in range(1, levels):
        child = np.arange(2 ** (lev + 1))
        par = child // 2
        sig = rho[lev + 1] / rho[lev][par]
        tau = offset(lev + 1, child, lev, par) / rho[lev][par]
        local[lev + 1] += _taylor_shift(local[lev][par].T, sig, tau).T

    # evaluate the leaves' local expansions at their targets (Horner)
    U = V.reshape(nleaf, L)  # targets and sources share positions
    coef = local[levels]
    out = np.repeat(coef[:, p - 1 : p], L, axis=1)
    for m in range(p - 2, -1, -1):
        out = out * U + coef[:, m : m + 1]
    out = out.ravel()
    out += _near_field(w_p, P, near_s[0], near_t[0], L)
    return out[:n]


def _near_field(w: np.ndarray, P: _Prefix, s: np.ndarray, t: np.ndarray, L: int,
                chunk: int = 8192) -> np.ndarray:
    """Direct sums, j ≤ i − 2: each leaf with itself and the leaf pairs (s < t) listed."""
    nleaf = w.size // L
    out = np.zeros((nleaf, L))
    W, Ph, Pl = w.reshape(nleaf, L), P.hi.reshape(nleaf, L), P.lo.reshape(nleaf, L)
    ii, jj = np.indices((L, L))
    source = (jj <= ii - 2).astype(np.float64)

    def sums(tt: np.ndarray, ss: np.ndarray) -> np.ndarray:
        dist = (Ph[tt][:, :, None] - Ph[ss][:, None, :]) + (Pl[tt][:, :, None] - Pl[ss][:, None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = W[ss][:, None, :] / dist
        return terms

    for a in range(0, nleaf, chunk):
        leaves = np.arange(a, min(a + chunk, nleaf))
        terms = sums(leaves, leaves)
        with np.errstate(invalid="ignore"):  # dead targets: inf·0, cleared below
            terms *= source
        terms[~np.isfinite(terms)] = 0.0
        out[leaves] += terms.sum(axis=2)
    for a in range(0, s.size, chunk):
        ss, tt = s[a : a + chunk], t[a : a + chunk]
        terms = sums(tt, ss)
        terms[tt - ss == 1, 0, L - 1] = 0.0  # adjacent leaves: j = i − 1 is not a source
        terms[~np.isfinite(terms)] = 0.0
        _scatter_add(out, tt, terms.sum(axis=2))
    return out.ravel()
