"""Benchmark: Ω_t at every step and at one step, and the qualifying exam, in units of one
``np.cumsum`` over T float64 measured in the same process.

    python bench/bound.py [--sizes 1e3,1e4,1e5,1e6,1e7,1e8] [--schedule SPEC]
                          [--json bench/results/bound.json] [--md bench/results/bound.md]

Each T runs in a fresh process (so that its peak memory is its own): the cumsum
reference (best of several, before and after), ``bound(lrs)`` at every step and
``bound(lrs, at=[T])`` (best of several, wall clock), the peak of traced allocations
(tracemalloc) of one every-step call and the process's peak RSS, and the defining formula
(``bound_direct``, O(t) per step as peer code evaluates it, vectorised per step; after the
peak RSS is read) on every
step up to T = 2·10⁴, else on sampled steps with its full time extrapolated (marked ~);
the error is the largest relative difference from the direct formula on the steps both
computed. Then ``exam_all()`` in-process and ``convexlaw exam --json`` as a command, beside
one cumsum over 10⁷. Ratios are of wall-clock times, and of CPU times (all threads; a
fairer guide on a loaded machine). Publish numbers measured on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def best(fn, repeat: int, min_time: float = 0.0) -> tuple[float, float]:
    """Best wall and best CPU time of ``fn`` over ``repeat`` runs (each run looped to
    ≥ min_time); CPU time counts every thread of the process."""
    loops, t = 1, 0.0
    while min_time:  # calibrate: loops such that one run lasts ≥ min_time
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time:
            break
        loops *= 2
    wall = cpu = np.inf
    for _ in range(max(repeat, 1)):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(loops):
            fn()
        wall = min(wall, (time.perf_counter() - t0) / loops)
        cpu = min(cpu, (time.process_time() - c0) / loops)
    return wall, cpu


def child(T: int, spec: str) -> dict:
    """All figures for one T (run in its own process)."""
    from convexlaw import bound, bound_direct, schedule

    rng = np.random.default_rng(0)
    lrs = schedule(spec, T, peak=1e-3)
    x = rng.random(T)
    reps = 7 if T <= 10**6 else 3 if T <= 10**7 else 1
    small = 0.05 if T <= 10**6 else 0.0
    cumsum, cumsum_cpu = best(lambda: np.cumsum(x), reps, small)
    one, one_cpu = best(lambda: bound(lrs, at=[T]), reps, small)
    if T < 10**8:
        every, every_cpu = best(lambda: bound(lrs), reps, small)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fast = bound(lrs)
    traced_time, traced_cpu = time.perf_counter() - t0, time.process_time() - c0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if T >= 10**8:  # one run, the traced one
        every, every_cpu = traced_time, traced_cpu
    rss_fast = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the direct check
    c2 = best(lambda: np.cumsum(x), reps, small)
    cumsum, cumsum_cpu = min(cumsum, c2[0]), min(cumsum_cpu, c2[1])
    full = T <= 20_000
    n_sample = 200 if T <= 10**6 else 30 if T <= 10**7 else 6
    steps = (np.arange(1, T + 1) if full
             else np.unique(np.r_[rng.integers(1, T + 1, n_sample - 1), T]))
    t0 = time.perf_counter()
    direct = bound_direct(lrs, at=steps)
    direct_time = time.perf_counter() - t0
    if not full:  # the cost of step t is ∝ t: scale by Σt / Σ(sampled t)
        direct_time *= (T * (T + 1) / 2) / steps.sum()
    ok = np.isfinite(direct)
    err = float(np.max(np.abs(fast[steps - 1][ok] - direct[ok]) / direct[ok]))
    err_one = float(abs(bound(lrs, at=[T])[0] - direct[-1]) / direct[-1])
    return {"T": T, "cumsum_s": cumsum, "every_step_s": every, "one_step_s": one,
            "direct_s": direct_time, "direct_measured": full,
            "every_step_x": every / cumsum, "one_step_x": one / cumsum,
            "every_step_cpu_x": every_cpu / cumsum_cpu, "one_step_cpu_x": one_cpu / cumsum_cpu,
            "direct_x": direct_time / cumsum, "speedup": direct_time / every,
            "traced_peak_MiB": traced / 2**20,
            "peak_rss_MiB": rss_fast / 1024,
            "rss_before_MiB": rss_before / 1024, "input_MiB": lrs.nbytes / 2**20,
            "max_rel_err": err, "one_step_rel_err": err_one, "checked_steps": int(ok.sum())}


def exam_child() -> dict:
    from convexlaw.exam import exam_all

    x = np.random.default_rng(0).random(10**7)
    cumsum, cumsum_cpu = best(lambda: np.cumsum(x), 3)
    def cpu_now() -> float:  # this process and its finished children (the exam's workers)
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + ch.ru_utime + ch.ru_stime

    t0, c0 = time.perf_counter(), cpu_now()
    results = exam_all()
    wall, cpu = time.perf_counter() - t0, cpu_now() - c0
    c2 = best(lambda: np.cumsum(x), 3)
    cumsum, cumsum_cpu = min(cumsum, c2[0]), min(cumsum_cpu, c2[1])
    return {"families": len(results), "wall_s": wall, "cpu_s": cpu, "cumsum_1e7_s": cumsum,
            "wall_x": wall / cumsum, "cpu_x": cpu / cumsum_cpu,
            "workers": min(4, len(os.sched_getaffinity(0)))}


def run_child(args: list[str], timeout: float) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_exam() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "convexlaw", "exam", "--json"], check=True,
                   capture_output=True, timeout=300)
    return time.perf_counter() - t0


def fmt_x(v: float) -> str:
    return f"{v:,.0f}×" if v >= 100 else f"{v:.3g}×"


def table(rows: list[dict], exam: dict | None, cli_s: float | None) -> str:
    lines = ["| T | one cumsum | every step | ×cumsum | (CPU) | one step (`at=[T]`) | ×cumsum | "
             "(CPU) | direct formula, every step | ×cumsum | speed-up | traced peak | "
             "peak RSS | max rel. error |", "|---" * 14 + "|"]
    for r in rows:
        m = "" if r["direct_measured"] else "~"
        lines.append(
            f"| {r['T']:.0e} | {r['cumsum_s'] * 1e3:.3g} ms | {r['every_step_s']:.3g} s | "
            f"{r['every_step_x']:.1f}× | {r['every_step_cpu_x']:.1f}× | "
            f"{r['one_step_s'] * 1e3:.3g} ms | {r['one_step_x']:.2f}× | "
            f"{r['one_step_cpu_x']:.2f}× | {m}{r['direct_s']:.3g} s | {m}{fmt_x(r['direct_x'])} | "
            f"{m}{fmt_x(r['speedup'])} | {r['traced_peak_MiB']:.0f} MiB | "
            f"{r['peak_rss_MiB']:.0f} MiB | {r['max_rel_err']:.1e} "
            f"({r['checked_steps']:,} steps) |")
    if exam:
        lines += ["", f"`exam_all()` ({exam['families']} families, T = 10² … 10⁷, "
                  f"{exam['workers']} worker processes): {exam['wall_s']:.2f} s wall, "
                  f"{exam['cpu_s']:.2f} s CPU = {exam['wall_x']:.0f}× (CPU: "
                  f"{exam['cpu_x']:.0f}×) one cumsum over 10⁷ ({exam['cumsum_1e7_s'] * 1e3:.1f} ms)"
                  + (f"; `convexlaw exam --json` as a command: {cli_s:.2f} s." if cli_s
                     else ".")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7,1e8")
    ap.add_argument("--schedule", default="cosine+warmup(0.01)")
    ap.add_argument("--json", default=str(HERE / "results" / "bound.json"))
    ap.add_argument("--md", default=str(HERE / "results" / "bound.md"))
    ap.add_argument("--no-exam", action="store_true")
    ap.add_argument("--child", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--exam-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child), args.schedule)))
        return
    if args.exam_child:
        print(json.dumps(exam_child()))
        return
    load0 = os.getloadavg()
    rows = []
    print(f"schedule: {args.schedule}; load average {load0[0]:.2f}\n", flush=True)
    failed = []
    for T in (int(float(s)) for s in args.sizes.split(",")):
        try:
            rows.append(run_child(["--child", str(T), "--schedule", args.schedule], 1800))
        except (subprocess.SubprocessError, ValueError) as err:  # record it, go on
            failed.append({"T": T, "error": str(err).splitlines()[0]})
            print(f"T = {T:.0e}: {failed[-1]['error']}", flush=True)
            continue
        print(table(rows[-1:], None, None).splitlines()[-1], flush=True)
    exam = cli_s = None
    if not args.no_exam:
        exam = run_child(["--exam-child"], 600)
        cli_s = min(cli_exam(), cli_exam())
    md = table(rows, exam, cli_s)
    load1 = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    head = (f"Schedule `{args.schedule}` at peak 1e-3; {cpu}, {os.cpu_count()} cores, "
            f"numpy {np.__version__}; load average "
            f"{load0[0]:.2f} → {load1[0]:.2f}. Wall-clock times; ×cumsum = the time over one "
            "`np.cumsum` of T float64 in the same process.\n\n")
    print("\n" + md)
    Path(args.md).write_text(head + md + "\n")
    Path(args.json).write_text(json.dumps(
        {"schedule": args.schedule, "load_average": [load0[0], load1[0]],
         "numpy": np.__version__, "cores": os.cpu_count(), "rows": rows, "failed": failed,
         "exam": exam,
         "cli_exam_s": cli_s}, indent=2) + "\n")


if __name__ == "__main__":
    main()
