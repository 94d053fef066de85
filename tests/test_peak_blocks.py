"""The one-step bound of a shape given as blocks from its end (what the exam sums), against
``peak_split`` of the whole shape, and the chunks the exam's schedules come in."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexlaw.bound import peak_split, peak_split_blocks
from convexlaw.exam import exam
from convexlaw.schedules import Shaper, chunks, shape


def _blocks(s: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    """s cut at ``cuts``, the last block first."""
    edges = [0, *sorted(set(c for c in cuts if 0 < c < s.size)), s.size]
    return [s[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)][::-1]


def _whole(s: np.ndarray, D: float = 1.0, G: float = 1.0) -> tuple[float, float, int]:
    last = int(np.flatnonzero(s)[-1]) + 1
    return peak_split(s, D=D, G=G, at=last)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60),
       st.lists(st.integers(0, 60), max_size=12), st.integers(0, 5))
def test_any_blocks_give_peak_split(values, cuts, zeros):
    s = np.array(values + [0.0] * zeros)
    if not s.any():
        return
    A, B, t = peak_split_blocks(_blocks(s, cuts), s.size, D=1.5, G=0.5)
    A0, B0, t0 = _whole(s, D=1.5, G=0.5)
    assert t == t0
    assert A == pytest.approx(A0, rel=1e-13) and B == pytest.approx(B0, rel=1e-13)


@pytest.mark.parametrize("s,cuts", [
    ([0.5], []),  # one step: A = 1/(2η), B = η/2
    ([0.5, 0.0, 0.0], [1, 2]),  # the only positive step alone in its block
    ([1.0, 0.8, 0.6, 0.0, 0.0, 0.0], [1, 2, 3, 4, 5]),  # one-element blocks throughout
    ([1.0, 0.8, 0.6, 0.4, 0.0, 0.0], [4]),  # zeros a whole block of their own
    ([1.0, 0.8, 0.6, 0.4, 0.0, 0.0], [3]),  # s_{t−1} in the next block
    ([1.0, 0.8, 0.6, 0.4, 0.2, 0.0], [5]),  # the zero alone, t at the end of a block
    ([0.0, 0.0, 1.0, 1.0], [1, 3]),  # leading zeros change nothing
    ([0.3, 0.0, 0.7, 0.0, 0.2], [2, 4]),  # zeros inside: sources with η = 0
])
def test_edge_blocks(s, cuts):
    s = np.array(s)
    got, want = peak_split_blocks(_blocks(s, cuts), s.size), _whole(s)
    assert got[2] == want[2]
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-15)


def test_one_step_closed_form_and_bad_blocks():
    assert peak_split_blocks([np.array([0.0, 0.0]), np.array([0.5, 0.0])], 4) == (1.0, 0.25, 1)
    with pytest.raises(ValueError, match="all learning rates are zero"):
        peak_split_blocks([np.zeros(3), np.zeros(2)], 5)
    with pytest.raises(ValueError, match="the blocks cover 4 steps, expected 5"):
        peak_split_blocks([np.ones(2), np.ones(2)], 5)


def test_long_blocks_reuse_their_buffer():
    # blocks longer and shorter than the first buffer (2^15), zeros across a block edge
    rng = np.random.default_rng(3)
    s = rng.random(200_000) ** 3
    s[-40_000:] = 0.0
    got = peak_split_blocks(_blocks(s, [10, 70_000, 160_001, 160_100, 199_999]), s.size)
    want = _whole(s)
    assert got[2] == want[2] == 160_000
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-13)


@pytest.mark.parametrize("spec", ["cosine+warmup(0.05)", "wsd(cooldown=0.2,shape=sqrt)",
                                  "exponential(final=0.01)", "restarts(cycles=4)"])
@pytest.mark.parametrize("n", [1, 3, chunks.BLOCK + 1, chunks.THREADED + 12_345])
def test_reversed_chunks_are_the_schedule(spec, n):
    parts = [p.copy() for p in Shaper(spec).reversed_chunks(n)]  # buffers are reused
    assert all(0 < p.size <= chunks.BLOCK for p in parts)
    whole = np.concatenate(parts[::-1])
    top = whole.max()
    np.testing.assert_array_equal(whole / top if top != 1.0 else whole, shape(spec, n))


def test_a_consumer_that_stops_early_leaves_the_pool_free():
    it = Shaper("cosine").reversed_chunks(4 * chunks.THREADED)
    next(it)
    it.close()
    assert chunks._pool().submit(lambda: 7).result(timeout=10) == 7


@pytest.mark.parametrize("spec", ["cosine+warmup(0.05)", "piecewise(values=[1,0],bounds=[0.9])",
                                  "step(milestones=[0.5,0.75],factor=0.1)", "onecycle"])
def test_exam_agrees_with_whole_schedules(spec):
    T = [100, 3_162, 316_228]
    r = exam(spec, horizons=T)
    for n, b, p in zip(T, r.scaled_bound, r.scaled_peak, strict=True):
        A, B, _ = _whole(shape(spec, n))
        assert b == pytest.approx(2 * np.sqrt(A * B * n), rel=1e-13)
        assert p == pytest.approx(np.sqrt(A / B * n), rel=1e-13)


def test_threads_do_not_change_a_bit(monkeypatch):
    specs = ["cosine+warmup(0.05)", "wsd(cooldown=0.2,shape=sqrt)"]
    T = [1_000, 300_000, 1_000_003]
    runs = []
    for shape_workers, workers in [(1, 1), (2, 1), (2, 3)]:
        monkeypatch.setattr(chunks, "WORKERS", shape_workers)
        runs.append([np.r_[r.scaled_bound, r.scaled_peak]
                     for r in (exam(s, horizons=T, workers=workers) for s in specs)])
    assert all(np.array_equal(a, b) for run in runs[1:] for a, b in zip(runs[0], run, strict=True))
