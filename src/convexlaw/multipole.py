"""The tree part of the one-dimensional fast multipole method behind ``convexlaw.cauchy``.

A binary tree over leaves of L consecutive steps; a node is a run of leaves, its interval
the range of P = Σ η over its steps. Every quantity that locates a node is a sum of
non-negative terms (its total, its first step, the total of the leaves between two nodes),
so centres, radii and distances never come from differences of large prefix sums.

Expansions of degree p in the normalised offset u ∈ [−1, 1] from a node's centre:

* moments  M_n = Σ_j w_j u_j^n of a source node (multipole);
* locals   Σ_m L_m u^m, the far field of the sources interacting with a target node;
* a pair of nodes interacts through L_m = (−β)^m/d · Σ_n C(n+m, n) α^n M_n
  (α = r_S/d, β = r_T/d, d the distance of the centres) when both
  r_S/(d − r_T) and r_T/(d − r_S) are at most ρ: the truncation error is then below
  ~ρ^p relative (ρ = 0.35, p = 22: ≤ 3e-10, measured ≤ 5e-12 on random schedules);
* re-centring between a parent and a child is the binomial shift, done as one fixed
  Pascal-matrix product between two diagonal scalings, D(τ)·Pascal·D(τ)⁻¹, with the
  term-by-term form Σ_k τ^k C(n, k) a_{n−k} where τ is too small to divide by.

Every product over many nodes runs in column blocks (``BLOCK``) through reused buffers, so
temporaries stay in cache and memory stays O(T·p/L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Tree", "dd_cumsum", "downward", "upward"]

BLOCK = 4096  # columns (nodes or pairs) per block of expansion arithmetic
_TINY = 1e-300
_SMALL_TAU = 1e-12  # below this |τ| the shift is summed term by term (no division by τ)


def dd_cumsum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums as hi + lo, lo the exact rounding errors of hi (TwoSum), so that
    (hi_i − hi_j) + (lo_i − lo_j) keeps full relative precision."""
    hi = np.cumsum(x)
    prev = np.empty_like(hi)
    prev[0] = 0.0
    prev[1:] = hi[:-1]
    b = hi - prev
    err = (prev - (hi - b)) + (x - b)
    return hi, np.cumsum(err)


@lru_cache(maxsize=8)
def _binomials(p: int) -> np.ndarray:
    """Pascal's triangle C[n, m] for n, m < 2p (exact in float64 up to n = 56)."""
    C = np.zeros((2 * p, 2 * p))
    C[:, 0] = 1.0
    for n in range(1, 2 * p):
        C[n, 1:] = C[n - 1, 1:] + C[n - 1, :-1]
    return C


def _view(flat: np.ndarray, k: int) -> np.ndarray:
    """A contiguous (p, k) array on the front of a flat buffer of p·BLOCK values."""
    return flat[: flat.size // BLOCK * k].reshape(-1, k)


def _powers(x: np.ndarray, p: int, flat: np.ndarray, first: np.ndarray | float = 1.0
            ) -> np.ndarray:
    """Rows first·x^m for m < p, x of shape (K,), in a flat buffer."""
    out = _view(flat, x.size)
    out[0] = first
    for m in range(1, p):
        np.multiply(out[m - 1], x, out=out[m])
    return out


class _Shift:
    """Binomial re-centring of expansions between parents and their children.

    Children are the columns 0 … 2K−1 of a level (column 2k and 2k+1 are the children of
    parent k), with σ = r_child/r_parent and τ = (c_child − c_parent)/r_parent.
    """

    def __init__(self, p: int):
        C = _binomials(p)
        self.p, self.C = p, C
        self.lower = np.tril(C[:p, :p])  # C(n, m), m ≤ n
        self.upper = np.ascontiguousarray(self.lower.T)
        self.buf = [np.empty(p * BLOCK) for _ in range(3)]

    def moments(self, child: np.ndarray, sig: np.ndarray, tau: np.ndarray,
                out: np.ndarray) -> None:
        """out[:, k] = Σ over children 2k, 2k+1 of Σ_{m≤n} C(n,m) σ^m τ^(n−m) a_m."""
        p, (b1, b2, b3) = self.p, self.buf
        for lo in range(0, sig.size, BLOCK):
            hi = min(lo + BLOCK, sig.size)
            s, t = sig[lo:hi], tau[lo:hi]
            if np.abs(t).min() >= _SMALL_TAU:
                scaled = np.multiply(child[:, lo:hi], _powers(s / t, p, b1),
                                     out=_view(b2, hi - lo))
                shifted = np.matmul(self.lower, scaled, out=_view(b3, hi - lo))
                shifted *= _powers(t, p, b1)
            else:
                shifted = self._moments_small(child[:, lo:hi], s, t)
            np.add(shifted[:, 0::2], shifted[:, 1::2], out=out[:, lo // 2 : hi // 2])

    def locals(self, parent: np.ndarray, sig: np.ndarray, tau: np.ndarray,
               out: np.ndarray) -> None:
        """out[:, c] = σ^m Σ_{n≥m} C(n,m) τ^(n−m) L_n of parent c // 2, for children c."""
        p, (b1, b2, b3) = self.p, self.buf
        for lo in range(0, sig.size, BLOCK):
            hi = min(lo + BLOCK, sig.size)
            s, t, c = sig[lo:hi], tau[lo:hi], parent[:, lo // 2 : hi // 2]
            if np.abs(t).min() >= _SMALL_TAU:
                tp = _powers(t, p, b1)
                scaled = _view(b2, hi - lo)
                np.multiply(c, tp[:, 0::2], out=scaled[:, 0::2])
                np.multiply(c, tp[:, 1::2], out=scaled[:, 1::2])
                shifted = np.matmul(self.upper, scaled, out=_view(b3, hi - lo))
                np.multiply(shifted, _powers(s / t, p, b1), out=out[:, lo:hi])
            else:
                out[:, lo:hi] = self._locals_small(np.repeat(c, 2, axis=1), s, t)

    def _moments_small(self, a: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The shift term by term, Σ_k τ^k C(n, k) (σ^m a_m)_{n−k}: no division by τ."""
        p, C = self.p, self.C
        src = a * s ** np.arange(p)[:, None]
        res = src.copy()
        tk = np.ones_like(t)
        for k in range(1, p):
            tk = tk * t
            res[k:] += C[k:p, k, None] * src[: p - k] * tk
        return res

    def _locals_small(self, c: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        p, C = self.p, self.C
        res = c.copy()
        tk = np.ones_like(t)
        m = np.arange(p)
        for k in range(1, p):
            tk = tk * t
            res[: p - k] += C[m[: p - k] + k, k, None] * c[k:] * tk
        return res * s ** np.arange(p)[:, None]


@dataclass
class _Level:
    size: int
    total: np.ndarray  # Σ η over the node
    first: np.ndarray  # η of the node's first step
    radius: np.ndarray  # half the P-extent: (total − first)/2
    src: np.ndarray  # any w > 0
    tgt: np.ndarray  # any η > 0
    leaf_a: np.ndarray  # first leaf
    leaf_b: np.ndarray  # last leaf


def _pairwise(x: np.ndarray, op, n: int) -> np.ndarray:
    """Combine children 2k and 2k+1 (if present) into n parents."""
    out = x[0::2].copy()
    op(out[: x.size // 2], x[1::2], out=out[: x.size // 2])
    return out[:n]


class Tree:
    """Node geometry of every level (0 = root … depth = leaves), from per-leaf sums."""

    def __init__(self, total: np.ndarray, first: np.ndarray, src: np.ndarray, tgt: np.ndarray):
        nleaf = total.size
        self.depth = max(0, math.ceil(math.log2(nleaf))) if nleaf > 1 else 0
        leaves = np.arange(nleaf)
        lev = _Level(nleaf, total, first, np.maximum((total - first) / 2, 0.0), src, tgt,
                     leaves, leaves)
        levels = [lev]
        while lev.size > 1:
            n = (lev.size + 1) // 2
            tot = _pairwise(lev.total, np.add, n)
            fst = lev.first[0::2].copy()
            lev = _Level(n, tot, fst, np.maximum((tot - fst) / 2, 0.0),
                         _pairwise(lev.src, np.logical_or, n),
                         _pairwise(lev.tgt, np.logical_or, n),
                         lev.leaf_a[0::2].copy(), _pairwise(lev.leaf_b, np.maximum, n))
            levels.append(lev)
        self.levels = levels[::-1]
        self.end_hi, self.end_lo = dd_cumsum(total)  # P at the end of each leaf

    def between(self, lev: int, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Σ η over the leaves strictly between node s and a later node t (≥ 0)."""
        L = self.levels[lev]
        i, j = L.leaf_a[t] - 1, L.leaf_b[s]
        return (self.end_hi[i] - self.end_hi[j]) + (self.end_lo[i] - self.end_lo[j])

    def children(self, lev: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Number K of level-``lev`` nodes with two children, and σ, τ of those 2K children
        (a last node with one child has that child's expansion unchanged)."""
        par, ch = self.levels[lev], self.levels[lev + 1]
        k = ch.size // 2
        rp = np.repeat(np.maximum(par.radius[:k], _TINY), 2)
        left = ch.radius[0 : 2 * k : 2]
        sig = ch.radius[: 2 * k] / rp
        tau = np.empty(2 * k)
        tau[0::2] = -ch.total[1 : 2 * k : 2]
        tau[1::2] = 2 * left + ch.first[1 : 2 * k : 2]
        tau /= 2 * rp
        return k, sig, tau


def upward(tree: Tree, leaf_moments: np.ndarray, p: int) -> list[np.ndarray]:
    """Moments of every node, children re-centred on parents level by level."""
    shift = _Shift(p)
    M: list[np.ndarray] = [np.empty(0)] * (tree.depth + 1)
    M[tree.depth] = leaf_moments
    for lev in range(tree.depth - 1, -1, -1):
        k, sig, tau = tree.children(lev)
        child = M[lev + 1]
        out = np.empty((p, tree.levels[lev].size))
        shift.moments(child, sig, tau, out)
        if k < out.shape[1]:  # a last parent with one child has its moments
            out[:, k] = child[:, 2 * k]
        M[lev] = out
    return M


def downward(tree: Tree, M: list[np.ndarray], p: int, rho: float,
             init: tuple[int, int, np.ndarray] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local expansions of the leaves, and the leaf pairs (s, t), t − s ≥ 2, to sum directly.

    ``init`` = (level, node, coefficients): a far field known from outside the tree,
    added to that node's local expansion.

    Level by level from the root, the children of every unseparated pair of the level
    above are candidates; separated ones interact through their expansions, the others
    split again. Adjacent nodes never separate (the last step of one and the first of the
    next are not a source and its target), so every node t has the regular candidates
    t − 2 and, when t is odd, t − 3: they are computed on slices, without index lists.
    Only the children of other unseparated pairs (rare: steep changes of the learning
    rate) go through index lists.
    """
    shift, m2l = _Shift(p), _Interaction(p)
    local = np.zeros((p, 1))
    nonzero = False
    cs = ct = np.empty(0, np.int64)
    for lev in range(1, tree.depth + 1):
        L = tree.levels[lev]
        nxt = np.empty((p, L.size))
        if nonzero:  # the parents' far field, re-centred on the children
            k, sig, tau = tree.children(lev - 1)
            shift.locals(local, sig, tau, nxt)
            if 2 * k < L.size:  # a lone last child has its parent's expansion
                nxt[:, 2 * k] = local[:, k]
        else:
            nxt[:] = 0.0
        local = nxt
        if init is not None and init[0] == lev:
            local[:, init[1]] += init[2]
            nonzero = True
        near_s, near_t = [], []
        for offset, step in ((2, 1), (3, 2)):
            t = np.arange(offset, L.size, step)
            s = t - offset
            gap = L.total[t - 1] if offset == 2 else L.total[t - 1] + L.total[t - 2]
            live, ok, d = _separated(L, s, t, gap, rho)
            if ok.any():
                m2l.slices(M[lev], local, offset, step, ok, L.radius[s], L.radius[t], d)
                nonzero = True
            bad = np.flatnonzero(live & ~ok)
            near_s.append(s[bad])
            near_t.append(t[bad])
        s, t = _children(L.size, cs, ct)
        if s.size:
            live, ok, d = _separated(L, s, t, tree.between(lev, s, t), rho)
            if ok.any():
                q = np.flatnonzero(ok)
                m2l.pairs(M[lev], local, s[q], t[q], L.radius[s[q]], L.radius[t[q]], d[q])
                nonzero = True
            bad = np.flatnonzero(live & ~ok)
            near_s.append(s[bad])
            near_t.append(t[bad])
        cs, ct = np.concatenate(near_s), np.concatenate(near_t)
        M[lev] = np.empty(0)  # no longer needed: free as we go
    order = np.argsort(ct, kind="stable")
    return local, cs[order], ct[order]


def _children(size: int, cs: np.ndarray, ct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The four child pairs of each unseparated non-adjacent pair (cs, ct) of the parents."""
    s = np.concatenate([2 * cs, 2 * cs + 1, 2 * cs, 2 * cs + 1])
    t = np.concatenate([2 * ct, 2 * ct, 2 * ct + 1, 2 * ct + 1])
    keep = t < size
    return s[keep], t[keep]


def _separated(L: _Level, s: np.ndarray, t: np.ndarray, gap: np.ndarray, rho: float):
    """Live pairs, separated live pairs, and the distance of the centres d = gap + r_S +
    first_T + r_T (gap: Σ η strictly between the nodes)."""
    rs, rt = L.radius[s], L.radius[t]
    d = gap + rs + L.first[t] + rt
    live = L.src[s] & L.tgt[t]
    ok = live & (rs <= rho * (d - rt)) & (rt <= rho * (d - rs))
    return live, ok, d


class _Interaction:
    """Multipole-to-local: L_m += (−β)^m/d · Σ_n C(n+m, n) α^n M_n, α = r_S/d, β = r_T/d."""

    def __init__(self, p: int):
        e = np.arange(p)
        self.p = p
        self.cab = np.ascontiguousarray(_binomials(p)[np.add.outer(e, e), e[:, None]])
        self.buf = [np.empty(p * BLOCK) for _ in range(3)]

    def _block(self, src: np.ndarray, rs, rt, d, use) -> np.ndarray:
        k = d.size
        d = np.where(use, d, np.inf)  # unused pairs contribute exactly 0
        A = np.multiply(src, _powers(rs / d, self.p, self.buf[1]), out=_view(self.buf[0], k))
        G = np.matmul(self.cab, A, out=_view(self.buf[2], k))
        G *= _powers(-rt / d, self.p, self.buf[1], first=1.0 / d)
        return G

    def slices(self, M, local, offset: int, step: int, use, rs, rt, d) -> None:
        """Targets t = offset, offset + step, … from sources t − offset (where ``use``)."""
        for lo in range(0, d.size, BLOCK):
            hi = min(lo + BLOCK, d.size)
            t0 = offset + step * lo
            src = M[:, t0 - offset : t0 - offset + step * (hi - lo) : step]
            local[:, t0 : t0 + step * (hi - lo) : step] += self._block(
                src, rs[lo:hi], rt[lo:hi], d[lo:hi], use[lo:hi])

    def pairs(self, M, local, s, t, rs, rt, d) -> None:
        """Listed pairs (s, t), repeated targets adding up."""
        for lo in range(0, d.size, BLOCK):
            sl = slice(lo, lo + BLOCK)
            G = self._block(M[:, s[sl]], rs[sl], rt[sl], d[sl], True)
            np.add.at(local, (slice(None), t[sl]), G)
