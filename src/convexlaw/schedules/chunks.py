"""A shape over the steps 0 … n−1 of a run: in chunks that stay in cache, on threads.

Every built-in shape is an elementwise function of the step (``shapes``), so the steps
can be cut into chunks anywhere and the chunks computed in any order, on any thread: each
value comes from the same operations on the same numbers, and the array is the same to
the bit whatever the chunking or the number of threads (tested against whole-array
evaluation). Chunks of 2¹⁴ steps keep every temporary of a formula in the L2 cache; the
same formula over a whole array of 10⁷ steps writes a fresh 80 MB temporary per
operation, whose page faults cost as much as the arithmetic. Long runs are split in
stripes, one per thread: numpy releases the GIL inside each operation.

``reversed_chunks`` hands blocks of chunks out one by one, the last first, for a consumer that
needs them in that order and never the whole array (the one-step bound of the exam).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np

__all__ = ["evaluate", "is_step_run", "reversed_chunks"]

# steps per chunk: float64 temporaries of 128 KiB. At 256 KiB glibc's malloc gave freed
# temporaries back to the OS and faulted them in again (measured: ~5 page faults per
# 1000 steps of ``linear``, 3-6x the time of its arithmetic; at 2^14 none to speak of)
CHUNK = 1 << 14
THREADED = 1 << 18  # from this many steps, one stripe per thread
BLOCK = 4 * CHUNK  # steps per block of reversed_chunks (fewer hand-offs, Python calls)
AHEAD = 2  # blocks the pool makes ahead of the consumer
WORKERS = min(2, len(os.sched_getaffinity(0)))

_POOL: list[ThreadPoolExecutor] = []
# steps 0 … CHUNK−1: a chunk's steps are this plus its first step, one SIMD add (exact:
# integers below 2⁵³), where np.arange fills element by element at ~10× the cost
_BASE = np.arange(CHUNK, dtype=np.float64)
_BASE.setflags(write=False)
_LOCAL = threading.local()  # each thread's buffer of the steps it hands to a shape


def _steps(c: int, d: int) -> np.ndarray:
    """The steps c … d−1, written into this thread's reusable buffer (``is_step_run``)."""
    buf = getattr(_LOCAL, "steps", None)
    if buf is None or buf.size < d - c:
        buf = _LOCAL.steps = np.empty(max(CHUNK, d - c))
    out = buf[: d - c]
    np.add(_BASE[: d - c], c, out=out)
    return out


def is_step_run(s: np.ndarray) -> bool:
    """True when ``s`` is a contiguous piece of the steps this thread is evaluating a shape
    at — consecutive integers, known in O(1) (a shape's check of its input would otherwise
    cost a pass, half of what a table cosine costs). False says nothing either way."""
    return (s.base is not None and s.base is getattr(_LOCAL, "steps", None)
            and s.ndim == 1 and s.strides[0] == s.itemsize)


def _pool() -> ThreadPoolExecutor:
    # the stripes' own pool: callers may be threads of another pool (the exam's), and a
    # stripe never waits on a stripe, so this cannot deadlock
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=WORKERS - 1,
                                        thread_name_prefix="convexlaw-shape"))
    return _POOL[0]


def evaluate(fn: Callable[[np.ndarray], np.ndarray], n: int,
             workers: int | None = None) -> np.ndarray:
    """``fn(steps)`` over steps 0 … n−1 (float64), divided by its maximum unless that is
    0 or already 1.

    ``fn`` maps a sorted array of steps to the multipliers there, elementwise.
    ``workers``: threads for long runs (default ``WORKERS``); the result is the same.

    >>> evaluate(lambda s: 1.0 - s / 4, 4).tolist()
    [1.0, 0.75, 0.5, 0.25]
    """
    m = np.empty(n)
    k = WORKERS if workers is None else max(1, int(workers))
    if n < THREADED or k == 1:
        top = _fill(fn, m, 0, n)
    elif k == WORKERS:
        top = _striped(fn, m, k, _pool())
    else:
        with ThreadPoolExecutor(k - 1) as pool:
            top = _striped(fn, m, k, pool)
    if top > 0 and top != 1.0:  # dividing by 1 changes nothing: skip the pass
        m /= top
    return m


def _striped(fn: Callable[[np.ndarray], np.ndarray], m: np.ndarray, k: int,
             pool: ThreadPoolExecutor) -> float:
    """``_fill`` over k stripes of whole chunks, the first on the calling thread."""
    n = m.size
    cut = [min(-(-n * j // (k * CHUNK)) * CHUNK, n) for j in range(k + 1)]
    rest = [pool.submit(_fill, fn, m, a, b) for a, b in zip(cut[1:-1], cut[2:], strict=True)]
    first = _fill(fn, m, cut[0], cut[1])
    return float(np.max([first] + [f.result() for f in rest]))


def _fill(fn: Callable[[np.ndarray], np.ndarray], m: np.ndarray, a: int, b: int,
          shift: int = 0, top: bool = True) -> float:
    """m[a − shift : b − shift] = fn(steps a … b−1), chunk by chunk; returns the largest
    value (``top=False``: 0, the pass skipped)."""
    tops = [0.0]
    for c in range(a, b, CHUNK):
        d = min(c + CHUNK, b)
        v = m[c - shift : d - shift]
        v[:] = fn(_steps(c, d))  # the steps' buffer is rewritten for the next chunk
        if top:
            tops.append(v.max())
    return float(np.max(tops))  # NaN, if any, propagates (as m.max() would)


def reversed_chunks(fn: Callable[[np.ndarray], np.ndarray], n: int) -> Iterator[np.ndarray]:
    """``fn`` over the steps 0 … n−1 in blocks of up to ``BLOCK`` steps, the last block
    first (each in step order), the values not divided by their maximum.

    Each block is valid until the next one is asked for: the blocks are written into a few
    buffers, reused (a fresh block of this size would cost its page faults, as much as the
    arithmetic). For long runs the pool fills the next blocks while the caller uses the
    current one; a block the pool has not started yet the caller fills itself (it cancels
    the task), so no thread ever waits for work that nobody is doing.

    >>> [c.tolist() for c in reversed_chunks(lambda s: s, 3)]
    [[0.0, 1.0, 2.0]]
    """
    bounds = [(max(b - BLOCK, 0), b) for b in range(n, 0, -BLOCK)]
    if n < THREADED or WORKERS == 1:
        buf = np.empty(min(n, BLOCK))
        for a, b in bounds:
            _fill(fn, buf, a, b, a, top=False)  # the values are not divided: no maximum
            yield buf[: b - a]
        return
    # blocks i+1 … i+AHEAD+1 are pending or in use at once: AHEAD + 1 buffers suffice
    ring = [np.empty(BLOCK) for _ in range(AHEAD + 2)]

    def make(i: int) -> np.ndarray:
        a, b = bounds[i]
        _fill(fn, ring[i % len(ring)], a, b, a, top=False)
        return ring[i % len(ring)][: b - a]

    pool = _pool()
    pending: deque[Future[np.ndarray]] = deque()
    try:
        for i in range(len(bounds)):
            while len(pending) <= AHEAD and i + len(pending) < len(bounds):
                j = i + len(pending)
                pending.append(pool.submit(make, j))
            task = pending.popleft()
            yield make(i) if task.cancel() else task.result()
    finally:  # a consumer that stops early leaves no work behind
        for task in pending:
            task.cancel()
        wait(pending)  # nor a task still writing into a buffer (its error is moot)
