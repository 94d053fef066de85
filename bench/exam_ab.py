"""A/B of the qualifying exam between two source trees, in one process, alternating.

    python bench/exam_ab.py --a /path/to/main/src --b src [--repeats 3]

Both trees' ``convexlaw`` are imported into this process (each with its own modules, the
module table swapped before each call), then the exam over every built-in family runs as
main's CLI runs it (``exam(spec)`` per family) and as ``exam_all()``, A and B alternating,
each timed in wall-clock and CPU time (all threads); then each tree's ``convexlaw exam
--json`` as a command (separate processes, alternating). Prints the best and median of each, the
ratios A/B, and the largest relative difference of the results. On a loaded machine trust
the CPU ratios; publish wall-clock numbers measured on a quiet machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def load(path: str) -> dict:
    """The package under ``path``, imported afresh; returns its module table."""
    for k in [k for k in sys.modules if k == "convexlaw" or k.startswith("convexlaw.")]:
        del sys.modules[k]
    sys.path.insert(0, os.path.abspath(path))
    try:
        importlib.import_module("convexlaw.exam")
        importlib.import_module("convexlaw.schedules")
    finally:
        sys.path.pop(0)
    mods = {k: v for k, v in sys.modules.items()
            if k == "convexlaw" or k.startswith("convexlaw.")}
    where = os.path.dirname(mods["convexlaw"].__file__)
    assert where.startswith(os.path.abspath(path)), where
    return mods


def use(mods: dict):
    for k in [k for k in sys.modules if k == "convexlaw" or k.startswith("convexlaw.")]:
        del sys.modules[k]
    sys.modules.update(mods)
    return mods["convexlaw.exam"]


def cli_like(ex) -> list:
    return [ex.exam(s) for s in ex.BUILTIN_FAMILIES]


def all_at_once(ex) -> list:
    return ex.exam_all()


def timed(fn, ex) -> tuple[float, float, list]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(ex)
    return time.perf_counter() - t0, time.process_time() - c0, out


def cli(path: str) -> tuple[float, float, str]:
    """``convexlaw exam --json`` as a command with ``path`` first on PYTHONPATH: wall and
    CPU (user + system of the child) seconds, and its output."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "convexlaw", "exam", "--json"], env=env,
                         check=True, capture_output=True, text=True, timeout=600).stdout
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, out


def values(results: list) -> np.ndarray:
    return np.concatenate([np.r_[r.scaled_bound, r.scaled_peak] for r in results])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="source tree A (the baseline)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    trees = {"A": load(args.a), "B": load(args.b)}
    x = np.random.default_rng(0).random(10**7)
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(5):
        np.cumsum(x)
    cum_wall, cum_cpu = (time.perf_counter() - t0) / 5, (time.process_time() - c0) / 5
    print(f"load average {os.getloadavg()[0]:.2f}; one cumsum over 10⁷: "
          f"{cum_wall * 1e3:.1f} ms wall, {cum_cpu * 1e3:.1f} ms CPU")
    for name, fn in [("exam(spec) per family", cli_like),
                     ("exam_all()", all_at_once)]:
        times: dict[str, list] = {"A": [], "B": []}
        out = {}
        for _ in range(args.repeats):
            for k in ("A", "B"):
                wall, cpu, res = timed(fn, use(trees[k]))
                times[k].append((wall, cpu))
                out[k] = res
        va, vb = values(out["A"]), values(out["B"])
        rel = float(np.max(np.abs(vb - va) / np.abs(va)))
        verdicts = all(ra.verdict == rb.verdict and ra.growth == rb.growth
                       for ra, rb in zip(out["A"], out["B"], strict=True))
        print(f"\n{name}: {len(out['A'])} families, {va.size} values, largest relative "
              f"difference B vs A {rel:.2e}, same verdicts and growth laws: {verdicts}")
        for k in ("A", "B"):
            w = [t[0] for t in times[k]]
            c = [t[1] for t in times[k]]
            print(f"  {k}: wall best {min(w):.2f} s median {statistics.median(w):.2f} s; "
                  f"CPU best {min(c):.2f} s median {statistics.median(c):.2f} s  "
                  f"({min(c) / cum_cpu:.0f}× one cumsum's CPU)")
        ratio_w = [a[0] / b[0] for a, b in zip(times["A"], times["B"], strict=True)]
        ratio_c = [a[1] / b[1] for a, b in zip(times["A"], times["B"], strict=True)]
        print(f"  A/B per repeat: wall {', '.join(f'{r:.2f}' for r in ratio_w)}; "
              f"CPU {', '.join(f'{r:.2f}' for r in ratio_c)}")
    times = {"A": [], "B": []}
    outs = {}
    for _ in range(args.repeats):
        for k, path in (("A", args.a), ("B", args.b)):
            wall, cpu, outs[k] = cli(path)
            times[k].append((wall, cpu))
    va, vb = ([v for r in json.loads(outs[k]) for v in r["sqrtT_omega_star"] + r["sqrtT_peak_star"]]
              for k in ("A", "B"))
    rel = float(np.max(np.abs(np.subtract(vb, va)) / np.abs(va)))
    print(f"\n`convexlaw exam --json` as a command (each tree's own CLI): largest relative "
          f"difference of the printed values B vs A {rel:.2e}")
    for k in ("A", "B"):
        w, c = [t[0] for t in times[k]], [t[1] for t in times[k]]
        print(f"  {k}: wall best {min(w):.2f} s median {statistics.median(w):.2f} s; "
              f"CPU best {min(c):.2f} s median {statistics.median(c):.2f} s")
    print(f"  A/B per repeat: wall "
          f"{', '.join(f'{a[0] / b[0]:.2f}' for a, b in zip(times['A'], times['B'], strict=True))}"
          f"; CPU "
          f"{', '.join(f'{a[1] / b[1]:.2f}' for a, b in zip(times['A'], times['B'], strict=True))}")


if __name__ == "__main__":
    sys.exit(main())
