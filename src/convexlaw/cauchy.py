"""Causal Cauchy-kernel sums S_i = Σ_{j ≤ i−2} w_j / (P_i − P_j) for every i, fast.

``P`` is the running sum of non-negative step sizes η, so the points are sorted. The sums
are the only part of the last-iterate bound (``convexlaw.bound``) that is not a prefix sum;
computed one by one they cost O(T²). Here a one-dimensional fast multipole method (the tree
in ``convexlaw.multipole``) computes all of them in O(T·(p + L)) at relative accuracy ~1e-12:

* leaves of L = 16 steps, kept in column layout (one column per leaf) so that every
  operation runs along long contiguous rows; a leaf is summed directly with itself and
  with the leaf before it, everything farther through expansions of p = 22 terms;
* inside and between neighbouring leaves every gap P_i − P_j is a sum of non-negative
  partial sums of η (from a split point forwards and backwards), never a difference of
  running totals, so a gap keeps full relative precision even when it is 10⁻¹² of P_i;
* work is done in blocks of leaves that stay in cache, on up to ``WORKERS`` threads
  (blocks write disjoint results: the output does not depend on the number of threads);
* above 4·``SEGMENT`` steps the sums are taken segment by segment, so the working memory
  is that of two segments whatever T (``_segmented``).

``causal_sum_at`` is the one-target sum by a single reversed running sum.

>>> import numpy as np
>>> eta = np.array([1.0, 2.0, 1.0, 1.0])
>>> causal_sums(eta, eta**2).tolist()  # S_3 = 1/3, S_4 = 1/4 + 4/2
[0.0, 0.0, 0.3333333333333333, 2.25]
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from convexlaw.multipole import Tree, downward, upward

__all__ = ["causal_sum_at", "causal_sums"]

LEAF = 16  # steps per leaf (a power of 2): a leaf and its predecessor are summed directly
ORDER = 22  # expansion terms
RHO = 0.35  # separation: r_S/(d − r_T) and r_T/(d − r_S) at most ρ (truncation ≲ ρ^p)
LEAF_BLOCK = 4096  # leaves per block of leaf-level work (arrays of L × 4096 stay in cache)
ONE_STEP_BLOCK = 1 << 15  # steps per block of the one-step sum
SEGMENT = 1 << 22  # above 4 segments, steps per segment (bounded working memory)
WORKERS = min(2, len(os.sched_getaffinity(0)))  # threads for the leaf-level passes
_TINY = 1e-300


def causal_sum_at(eta: np.ndarray, w: np.ndarray | None, i: int) -> float:
    """S_i for one 0-based target i (w None: w = η²), by one reversed running sum.

    The gaps P_i − P_j are suffix sums of η (no difference of large totals), computed in
    blocks that stay in cache, the running sum carried exactly from block to block; the
    terms are added by numpy's pairwise summation, not BLAS, so the result does not
    depend on the number of threads.
    """
    return suffix_sum(eta, w, i)[0] if i >= 2 and eta[i] != 0 else 0.0


def suffix_sum(eta: np.ndarray, w: np.ndarray | None, i: int) -> tuple[float, float]:
    """(S_i, P_i − P_0) for a 0-based target i ≥ 1 with η_i > 0 (see ``causal_sum_at``)."""
    src = eta if w is None else w
    if i <= ONE_STEP_BLOCK // 8:  # short: one reversed running sum, fewest numpy calls
        g = np.cumsum(eta[i:0:-1])  # g[m] = P_i − P_j, j = i − 1 − m
        gap = float(g[-1])
        if i < 2:
            return 0.0, gap
        s = src[i - 2 :: -1]
        ratio = np.divide(s, g[1:], out=g[1:])
        if w is None:  # Σ η_j·(η_j/(P_i − P_j)): ddot is one BLAS thread below 10⁴ terms
            return float(ratio.dot(s)), gap
        return float(ratio.sum()), gap
    # long: blocks of sources j ∈ [a, b) from the right, each gap_j = Σ_{j<k≤b} η_k + gap_b
    # by one running sum backwards over a forward copy (contiguous operands stay in cache)
    buf = np.empty(ONE_STEP_BLOCK)
    carry, total = 0.0, 0.0
    for b in range(i, 0, -ONE_STEP_BLOCK):
        a = max(b - ONE_STEP_BLOCK, 0)
        g = buf[: b - a]
        np.copyto(g, eta[a + 1 : b + 1])
        g[-1] += carry
        np.cumsum(g[::-1], out=g[::-1])  # g[j − a] = P_i − P_j
        carry = float(g[0])
        top = min(b, i - 1) - a  # j = i − 1 is not a source
        if top <= 0:
            continue
        ratio = np.divide(src[a : a + top], g[:top], out=g[:top])
        total += float(np.einsum("i,i->", ratio, eta[a : a + top]) if w is None
                       else ratio.sum())
    return total, carry


def causal_sums(eta: np.ndarray, w: np.ndarray | None = None, leaf: int = LEAF,
                order: int = ORDER, rho: float = RHO, segment: int = SEGMENT) -> np.ndarray:
    """S_i = Σ_{j ≤ i−2} w_j/(P_i − P_j) for every 0-based i (P = cumsum(eta), w ≥ 0;
    w None: w = η²).

    Up to 4·``segment`` steps in one tree (working memory ≈ 40 bytes a step); longer
    sequences in segments of ``segment`` steps (a power-of-2 multiple of ``leaf``), so
    that the working memory stays that of two segments whatever T (``_segmented``).
    Targets with η_i = 0 get meaningless values (the bound is +∞ there; callers mask them).
    """
    with _one_blas_thread():
        if eta.size <= 4 * segment:
            return _fmm(eta, w, leaf, order, rho)
        return _segmented(eta, w, leaf, order, rho, segment)


_BLAS: list = []


def _one_blas_thread():
    """One BLAS thread while the tree's small matrix products run (BLAS threads would
    fight the leaf-pass threads and gain nothing on 22-row products); a no-op without
    threadpoolctl. Products give the same bits with any number of threads (tested)."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:
            _BLAS.append(None)
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


def _summary(eta, w, L: int, p: int):
    """Per-leaf totals, first steps, liveness and multipole moments (a pass over η)."""
    nleaf = -(-eta.size // L)
    total, first = np.empty(nleaf), np.empty(nleaf)
    src, tgt = np.empty(nleaf, bool), np.empty(nleaf, bool)
    moments = np.empty((p, nleaf))

    def block(k0: int) -> None:
        k1 = min(k0 + LEAF_BLOCK, nleaf)
        b = _Leaves(eta, w, k0, k1, L, with_previous=False)
        total[k0:k1], first[k0:k1] = b.total, b.E[0]
        src[k0:k1], tgt[k0:k1] = b.W.any(axis=0), b.E.any(axis=0)
        b.moments(p, moments[:, k0:k1])

    _each(block, range(0, nleaf, LEAF_BLOCK))
    return Tree(total, first, src, tgt), moments


def _each(fn, items) -> None:
    """fn on every item, on up to WORKERS threads (numpy releases the GIL in its loops);
    the items write disjoint parts of the result, so threads do not change a bit."""
    items = list(items)
    if WORKERS <= 1 or len(items) < 2:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        for _ in pool.map(fn, items):
            pass


def _fmm(eta, w, L: int, p: int, rho: float, far: np.ndarray | None = None,
         from_leaf: int = 0) -> np.ndarray:
    """The sums for steps from leaf ``from_leaf`` on, by one tree over all of ``eta``;
    ``far``: local expansion of sources before ``eta`` on the root's second child."""
    n = eta.size
    if n < 3:
        return np.zeros(n)
    tree, moments = _summary(eta, w, L, p)
    local, far_s, far_t = downward(tree, upward(tree, moments, p), p, rho,
                                   None if far is None else (1, 1, far))
    del moments
    nleaf = tree.levels[-1].size
    out = np.empty(n - from_leaf * L)
    cut = np.searchsorted(far_t, np.arange(from_leaf, nleaf + LEAF_BLOCK, LEAF_BLOCK))

    def block(i: int) -> None:
        k0 = from_leaf + i * LEAF_BLOCK
        k1 = min(k0 + LEAF_BLOCK, nleaf)
        b = _Leaves(eta, w, k0, k1, L, with_previous=True)
        vals = b.evaluate(local[:, k0:k1])
        with np.errstate(divide="ignore", invalid="ignore"):
            b.near(vals)
            pairs = slice(cut[i], cut[i + 1])
            if far_t[pairs].size:
                b.far_near(vals, eta, w, tree, far_s[pairs], far_t[pairs], k0)
        full = min(k1, n // L) - k0  # leaves without padding
        o = (k0 - from_leaf) * L
        np.copyto(out[o : o + full * L].reshape(full, L), vals[:, :full].T)
        if full < k1 - k0:
            out[o + full * L :] = vals[: n - (k0 + full) * L, full]

    _each(block, range(-(-(nleaf - from_leaf) // LEAF_BLOCK)))
    return out


def _segmented(eta, w, L: int, p: int, rho: float, C: int) -> np.ndarray:
    """The sums in segments of C steps, working memory O(C) instead of O(T).

    A coarse tree over the segments (their moments from one pass) gives each segment the
    far field of every earlier segment it is separated from. Segment k itself is summed
    by a tree over segments k−1 and k (its nearest sources; the far field enters on the
    node of segment k), and the rare earlier segment that is not separated from it by a
    tree over the two with one step in between standing for the steps between them.
    """
    n = eta.size
    nseg = -(-n // C)
    roots = [_segment_root(eta[k * C : (k + 1) * C], None if w is None else
                           w[k * C : (k + 1) * C], L, p) for k in range(nseg)]
    coarse = Tree(*(np.array([r[i] for r in roots]) for i in range(4)))
    moments = np.stack([r[4] for r in roots], axis=1)
    far, near_s, near_t = downward(coarse, upward(coarse, moments, p), p, rho)
    out = np.empty(n)
    for k in range(nseg):
        lo, a, b = max(k - 1, 0) * C, k * C, min((k + 1) * C, n)
        ww = None if w is None else w[lo:b]
        out[a:b] = _fmm(eta[lo:b], ww, L, p, rho, far[:, k] if k else None,
                        (a - lo) // L)
    gaps = coarse.between(coarse.depth, near_s, near_t)
    for j, k, gap in zip(near_s.tolist(), near_t.tolist(), gaps.tolist(), strict=True):
        src, a, b = slice(j * C, (j + 1) * C), k * C, min((k + 1) * C, n)
        ej = eta[src]
        e = np.concatenate([ej, [gap], eta[a:b]])
        ws = np.concatenate([ej * ej if w is None else w[src], np.zeros(1 + b - a)])
        out[a:b] += _fmm(e, ws, L, p, rho)[ej.size + 1 :]
    return out


def _segment_root(eta, w, L: int, p: int):
    """Total, first step, liveness and moments of one segment as a node of the coarse tree."""
    tree, moments = _summary(eta, w, L, p)
    root = tree.levels[0]
    M = upward(tree, moments, p)[0][:, 0]
    return root.total[0], root.first[0], root.src[0], root.tgt[0], M


def _load(x: np.ndarray, k0: int, k1: int, L: int) -> np.ndarray:
    """Steps of leaves k0 … k1−1 as an (L, k1 − k0) array (column = leaf), zero-padded."""
    out = np.empty((L, k1 - k0))
    if k0 < 0:  # a leaf before the first: no steps
        out[:, :-k0] = 0.0
        np.copyto(out[:, -k0:], _load(x, 0, k1, L))
        return out
    a, b = k0 * L, min(k1 * L, x.size)
    full = (b - a) // L
    np.copyto(out[:, :full], x[a : a + full * L].reshape(full, L).T)
    if full < k1 - k0:
        out[:, full:] = 0.0
        out[: b - a - full * L, full] = x[a + full * L : b]
    return out


class _Leaves:
    """A block of leaves in column layout, with the sums inside each leaf.

    F[a] = Σ_{1 ≤ c ≤ a} η_c (from the leaf's first step, exclusive) and the backward
    sums B[b] = Σ_{b < c < L} η_c are sums of non-negative terms: every gap P_i − P_j
    inside a leaf or between neighbouring leaves is a sum of such sums, never a
    difference. With ``with_previous`` column 0 is the leaf before the block.
    """

    def __init__(self, eta, w, k0: int, k1: int, L: int, with_previous: bool):
        self.L, self.off = L, int(with_previous)
        a = k0 - self.off
        self.E = E = _load(eta, a, k1, L)
        self.W = E * E if w is None else _load(w, a, k1, L)
        self.F = F = np.empty_like(E)
        F[0] = 0.0
        for r in range(1, L):
            np.add(F[r - 1], E[r], out=F[r])
        self.total = F[L - 1] + E[0] if not self.off else (F[L - 1] + E[0])[1:]

    def positions(self) -> np.ndarray:
        """Offsets from the leaf's centre over its radius, in [−1, 1]."""
        span = self.F[self.L - 1]
        return self.F * (2.0 / np.maximum(span, _TINY)) - 1.0

    def moments(self, p: int, out: np.ndarray) -> None:
        """out[n] = Σ_j w_j V_j^n over each leaf (the leaf's multipole moments)."""
        V = self.positions()
        np.sum(self.W, axis=0, out=out[0])
        cur = self.W * V
        np.sum(cur, axis=0, out=out[1])
        for m in range(2, p):
            cur *= V
            np.sum(cur, axis=0, out=out[m])

    def evaluate(self, coef: np.ndarray) -> np.ndarray:
        """The leaves' local expansions at their steps (Horner)."""
        V = self.positions()[:, self.off :]
        p = coef.shape[0]
        vals = V * coef[p - 1]
        vals += coef[p - 2]
        for m in range(p - 3, -1, -1):
            vals *= V
            vals += coef[m]
        return vals

    def near(self, vals: np.ndarray) -> None:
        """Add the direct sums within each leaf and from the leaf before (j ≤ i − 2)."""
        L, E, W, F = self.L, self.E, self.W, self.F
        o = self.off
        fwd = F[:, o:] + E[0, o:]  # Σ_{0 ≤ c ≤ a} η_c: P_i − P(end of previous leaf)
        if o:  # sources in the previous leaf: P_i − P_j = fwd_i + back_j
            back = self._backward(E[:, :-1])
            g = np.empty_like(fwd)
            for b in range(L):
                np.add(fwd, back[b], out=g)
                np.divide(W[b, :-1], g, out=g)
                if b == L - 1:
                    g[0] = 0.0  # j = i − 1 is not a source
                vals += g
        # inside the leaf: halves of halves, sources in the first half of each block
        Et, Wt = E[:, o:], W[:, o:]
        k = Et.shape[1]
        h = L // 2
        while h >= 2:
            nb = L // (2 * h)
            Eb = Et.reshape(nb, 2 * h, k)
            x = np.empty((nb, h, k))
            x[:, 0] = Eb[:, h]
            for a in range(1, h):
                np.add(x[:, a - 1], Eb[:, h + a], out=x[:, a])
            y = np.empty((nb, h, k))
            y[:, h - 1] = 0.0
            for b in range(h - 2, -1, -1):
                np.add(y[:, b + 1], Eb[:, b + 1], out=y[:, b])
            Wb = Wt.reshape(nb, 2 * h, k)
            acc = vals.reshape(nb, 2 * h, k)[:, h:]
            g = np.empty_like(x)
            for b in range(h):
                np.add(x, y[:, b : b + 1], out=g)
                np.divide(Wb[:, b : b + 1], g, out=g)
                if b == h - 1:
                    g[:, 0] = 0.0
                acc += g
            h //= 2

    def _backward(self, E: np.ndarray) -> np.ndarray:
        """B[b] = Σ_{b < c < L} E[c] per column."""
        B = np.empty_like(E)
        B[self.L - 1] = 0.0
        for b in range(self.L - 2, -1, -1):
            np.add(B[b + 1], E[b + 1], out=B[b])
        return B

    def far_near(self, vals, eta, w, tree: Tree, s: np.ndarray, t: np.ndarray,
                 k0: int) -> None:
        """Add direct sums for leaf pairs (s, t), t ≥ s + 2, that did not separate (t sorted;
        the block starts at leaf k0)."""
        L = self.L
        cols = t - k0
        Es = np.stack([_load(eta, int(j), int(j) + 1, L)[:, 0] for j in s], axis=1)
        Ws = Es * Es if w is None else np.stack(
            [_load(w, int(j), int(j) + 1, L)[:, 0] for j in s], axis=1)
        back = self._backward(Es)
        o = self.off
        fwd = (self.F[:, o:] + self.E[0, o:])[:, cols]
        gap = fwd[:, None, :] + (tree.between(tree.depth, s, t) + back)[None, :, :]
        contrib = (Ws[None, :, :] / gap).sum(axis=1)
        starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
        vals[:, cols[starts]] += np.add.reduceat(contrib, starts, axis=1)
