"""How good is the callbacks' online forecast? Published LLM curves, cut part-way.

    python bench/forecast.py [--models convex-ed,convex-ed-gt] [--out bench/results/forecast.json]

For each published run (mpl-25m: the nine 25M schedules, training loss; 124M: the
cos-zero and cos-10 runs, validation loss), the forecast the callbacks make
(``convexlaw.integrations.forecast_final``: fit after a 10 % burn-in, at most 200 binned
points, predict the loss after the last planned update) is made from the first 30, 50, 70
and 90 % of the run, as a callback would during training, and compared with the run's
final logged loss. Prints the mean and worst |relative error| per model and cut, and the
seconds per forecast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from convexlaw.integrations.forecast import Forecast, Planner, forecast_final
from convexlaw.runs import Run, load_runs

DATA = Path("/work/shared/data")
CUTS = (0.3, 0.5, 0.7, 0.9)


def runs() -> list[tuple[Run, str]]:
    out = [(r, "train") for r in load_runs(sorted((DATA / "mpl-25m").glob("*.csv")))]
    files = sorted((DATA / "lr-scheduling-124m").glob("cos-*.json"))
    return out + [(r, "val") for r in load_runs(files)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="convex-ed,convex-ed-gt")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for run, kind in runs():
        steps, values = run.curve(kind)
        for cut in CUTS:
            done = int(cut * run.T)
            keep = steps <= done
            part = Run(run.name, lrs=run.lrs[:done], curves={kind: (steps[keep], values[keep])})
            for model in args.models.split(","):
                t0 = time.perf_counter()
                fc = forecast_final(part, Planner(run.lrs, run.T), Forecast(model=model,
                                                                            kind=kind), run.T)
                row = {"run": run.name[:40], "kind": kind, "cut": cut, "model": model,
                       "seconds": round(time.perf_counter() - t0, 2), "final": float(values[-1])}
                if "final_loss" in fc:
                    row.update(forecast=fc["final_loss"], identified=fc["identified"],
                               rel_error=fc["final_loss"] / values[-1] - 1)
                else:
                    row["error"] = fc["error"]
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    print("| data | model | " + " | ".join(f"{int(c * 100)} % in" for c in CUTS)
          + " | s / forecast |")
    print("|---|---|" + "---|" * (len(CUTS) + 1))
    for data in ("mpl-25m (9 runs, train)", "124M (10 runs, val)"):
        pick = [r for r in rows if (r["kind"] == "train") == data.startswith("mpl")]
        for model in args.models.split(","):
            cells = []
            for cut in CUTS:
                errs = np.array([abs(r["rel_error"]) for r in pick
                                 if r["model"] == model and r["cut"] == cut and "rel_error" in r])
                fails = sum(1 for r in pick if r["model"] == model and r["cut"] == cut
                            and "error" in r)
                cells.append(f"{100 * errs.mean():.2f} / {100 * errs.max():.2f} %"
                             + (f" ({fails} failed)" if fails else ""))
            secs = np.median([r["seconds"] for r in pick if r["model"] == model])
            print(f"| {data} | {model} | " + " | ".join(cells) + f" | {secs:.2f} |")
    print("(mean / worst |relative error| of the forecast final loss)")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
