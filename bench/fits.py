"""Benchmark: the fitting engine's speed goals (issue 13), best of a few repetitions.

    python bench/fits.py [--repeat 3] [--demo DIR] [--compare /path/to/src] [--json OUT]
                         [--write-table]

Times, each in a fresh Python process (so imports and caches are cold, as for a user):

1. ``convexlaw laws fit examples/124m-constant-36.csv`` with the default bootstrap (200
   refits per variant, six variants): the CLI command, wall time (goal ≤ 3 s). The table
   is the published 124M constant-LR runs at nine horizons × four peaks (36 rows),
   written by ``--write-table``.
2. ``convexlaw plan --db PILOTS --steps 4000`` on the demo's 20 pilot runs (T = 50 … 400,
   five peaks each; goal ≤ 5 s): by default those of ``tests/data/demo-pilots.jsonl`` (the
   pilots of a ``convexlaw demo`` run, validation curves), or with ``--demo DIR`` the
   pilots in the run store of ``convexlaw demo --out DIR``; copied into a temporary store.
3. A cold ``convex-ed-gt`` fit on the Multi-Power-Law protocol (fit cosine_24000,
   constant_24000 and wsdcon_9 of ../shared/data/mpl-25m; goal ≤ 1.5 s): the time of
   ``fit`` alone, in a fresh process.

The machine may be shared: every row also gives the time as a multiple of one
``np.cumsum`` over 10⁷ float64 measured in the same run (the yardstick), and with
``--compare SRC`` the same commands run, interleaved, on another checkout's ``src`` (e.g.
main before this change), so the ratio is meaningful under load. Final numbers belong to a
quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TABLE = ROOT / "examples" / "124m-constant-36.csv"
PILOTS = ROOT / "tests" / "data" / "demo-pilots.jsonl"
HORIZONS = (2000, 3000, 4000, 6000, 8000, 12000, 16000, 25000, 49800)
GOALS = {"laws fit": 3.0, "plan": 5.0, "convex-ed-gt fit": 1.5}

COLD_FIT = """
import glob, sys, time, warnings
warnings.simplefilter("ignore")
from convexlaw.protocols import cross_schedule, make_model
from convexlaw.runs import load_runs
split = cross_schedule(load_runs(sorted(glob.glob(sys.argv[1] + "/*.csv"))))
t0 = time.perf_counter()
make_model("convex-ed-gt").fit(split.fit)
print(time.perf_counter() - t0)
"""


def yardstick() -> float:
    """Seconds of one np.cumsum over 10⁷ float64 (best of 5)."""
    x = np.random.default_rng(0).random(10_000_000)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        np.cumsum(x)
        best = min(best, time.perf_counter() - t0)
    return best


def run(cmd: list[str], src: Path, timed_inside: bool = False) -> float:
    """Wall seconds of a command (or the number it prints) with PYTHONPATH=src."""
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1]) if timed_inside else dt


def pilot_store(demo: Path | None, tmp: Path) -> Path:
    """The demo's pilot runs (T ≤ 400) copied into a fresh store."""
    from convexlaw.runs import RunStore, load_runs

    if demo is None:
        runs = load_runs([str(PILOTS)])
    else:
        db = demo / "runs.db"
        if not db.exists():
            raise SystemExit(f"{db} not found: run `convexlaw demo --out {demo}` first")
        runs = [r for r in RunStore(db).list(curves=True) if r.T <= 400]
    if not runs:
        raise SystemExit("no pilot runs (T ≤ 400) found")
    out = RunStore(tmp / "pilots.db")
    for r in runs:
        out.put(r)
    return tmp / "pilots.db"


def write_table() -> None:
    """examples/124m-constant-36.csv from the published constant-LR runs."""
    import glob

    from convexlaw.runs import load_runs

    runs = load_runs(sorted(glob.glob(str(DATA / "lr-scheduling-124m" / "stable*.json"))))
    lines = ["# source: /work/shared/data/lr-scheduling-124m (Schaipp et al. 2025), val loss;",
             "# constant-LR runs at nine horizons (36 rows, the timing table of bench/fits.py): "
             "the loss at step T",
             "# is the final loss of a constant-LR run of length T",
             "# written by: python bench/fits.py --write-table", "N,T,peak_lr,loss"]
    for r in runs:
        s, v = r.curve("val")
        lines += [f"123587328,{h:g},{r.peak_lr:g},{float(v[s == h][0]):.5f}" for h in HORIZONS]
    TABLE.write_text("\n".join(lines) + "\n")
    print(f"wrote {TABLE}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (best is reported)")
    ap.add_argument("--demo", type=Path, help="output folder of `convexlaw demo` whose "
                    "runs.db has the pilots (default: tests/data/demo-pilots.jsonl)")
    ap.add_argument("--compare", type=Path, help="another checkout's src/ to time as well")
    ap.add_argument("--json", type=Path, help="write the numbers as JSON")
    ap.add_argument("--write-table", action="store_true", help="(re)write the 36-row table")
    args = ap.parse_args()
    if args.write_table:
        write_table()
        return
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        db = pilot_store(args.demo, tmp)
        tasks = {
            "laws fit": ([py, "-m", "convexlaw", "laws", "fit", str(TABLE), "--out",
                          str(tmp / "law.json")], False),
            "plan": ([py, "-m", "convexlaw", "plan", "--db", str(db), "--steps", "4000",
                      "--json"], False),
            "convex-ed-gt fit": ([py, "-c", COLD_FIT, str(DATA / "mpl-25m")], True),
        }
        srcs = {"this": ROOT / "src"} | ({"compare": args.compare} if args.compare else {})
        times: dict[str, dict[str, list[float]]] = {s: {t: [] for t in tasks} for s in srcs}
        ref = []
        for _ in range(args.repeat):  # interleaved, so load changes hit every column alike
            ref.append(yardstick())
            for name, (cmd, inside) in tasks.items():
                for s, src in srcs.items():
                    times[s][name].append(run(cmd, src, inside))
    cum = min(ref)
    print(f"yardstick: one np.cumsum over 1e7 float64 = {1e3 * cum:.1f} ms (best of "
          f"{5 * args.repeat}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores\n")
    head = "| task | goal | best | median | best / cumsum |"
    if args.compare:
        head += " compare: best | speed-up |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    out = {"yardstick_s": cum, "repeat": args.repeat, "tasks": {}}
    for name in tasks:
        t = times["this"][name]
        row = (f"| {name} | ≤ {GOALS[name]:g} s | {min(t):.2f} s | {statistics.median(t):.2f} s "
               f"| {min(t) / cum:,.0f}× |")
        rec = {"goal_s": GOALS[name], "best_s": min(t), "times_s": t}
        if args.compare:
            c = times["compare"][name]
            row += f" {min(c):.2f} s | {min(c) / min(t):.1f}× |"
            rec.update(compare_best_s=min(c), compare_times_s=c)
        print(row)
        out["tasks"][name] = rec
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
