"""Benchmark: Ω_t at every step, fast path (1-D FMM) against the per-step direct formula.

    python bench/bound.py [--sizes 1e4,1e5,1e6,1e7] [--schedule SPEC] [--json OUT]

For each T: wall time (best of a few runs) and peak memory (tracemalloc) of ``bound`` at
every step; the direct formula (O(t) per step, what peer code does, here vectorised per
step) on every step where that finishes in reasonable time (T ≤ 2·10⁴), otherwise on a
sample of steps with its full time extrapolated (marked ~); the maximum relative error of
the fast path against the direct formula on the steps both computed.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np

from convexlaw import bound, bound_direct, schedule


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run(T: int, spec: str, rng: np.random.Generator) -> dict:
    lrs = schedule(spec, T, peak=1e-3)
    fast_time, fast = timed(lambda: bound(lrs), 3 if T <= 10**6 else 1)
    mem = peak_memory(lambda: bound(lrs))
    full = T <= 20_000
    steps = np.arange(1, T + 1) if full else np.unique(np.r_[rng.integers(1, T + 1, 200), T])
    t0 = time.perf_counter()
    direct = bound_direct(lrs, at=steps)
    direct_time = time.perf_counter() - t0
    if not full:  # cost of step t is ∝ t: scale by Σt / Σ(sampled t)
        direct_time *= (T * (T + 1) / 2) / steps.sum()
    ok = np.isfinite(direct)
    err = float(np.max(np.abs(fast[steps - 1][ok] - direct[ok]) / direct[ok]))
    return {"T": T, "fast_s": fast_time, "fast_peak_MiB": mem, "direct_s": direct_time,
            "direct_measured": full, "speedup": direct_time / fast_time, "max_rel_err": err,
            "checked_steps": int(ok.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e4,1e5,1e6,1e7")
    ap.add_argument("--schedule", default="cosine+warmup(0.01)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    print(f"schedule: {args.schedule}\n")
    print("| T | fast, every step | peak memory | direct formula | speed-up | max rel. error |")
    print("|---|---|---|---|---|---|")
    for T in (int(float(s)) for s in args.sizes.split(",")):
        r = run(T, args.schedule, rng)
        rows.append(r)
        mark = "" if r["direct_measured"] else "~"
        print(f"| {T:.0e} | {r['fast_s']:.3f} s | {r['fast_peak_MiB']:.0f} MiB | "
              f"{mark}{r['direct_s']:.3g} s | {mark}{r['speedup']:.3g}× | "
              f"{r['max_rel_err']:.1e} ({r['checked_steps']} steps) |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"schedule": args.schedule, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
