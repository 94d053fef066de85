"""Would choosing η* by held-out *regret* beat choosing it by held-out |ln η ratio|?

    python bench/eta_regret.py [--db /work/data/protocol2d-gpt.db] [--sizes 8,16,32,128]

On the 2-D protocol's store (``bench/protocol2d.py``), for each target horizon T, a size
plan from the smaller widths (T′ ≤ T) for the largest. ``convexlaw.plan`` picks η* from the
forecaster whose η* held out best on the size split — the smallest mean |ln(η*_pred/η*_meas)|
over the held-out size's horizons. Where the loss is flat in η near its optimum (Muon-NSGD
here), the measured η* is noisy and that ratio says little about what a wrong peak costs.
The alternative scored here: each forecaster's mean held-out *regret* (the held-out cell's
loss at its predicted peak, by a parabola in log η through the three nearest runs, above
the cell's best), the fewest parameters among those within 0.1 % of the lowest. Printed:
the target regret of the η* each rule picks, beside the chosen-by-ratio one. A bench
experiment; the library is unchanged.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol2d import final, parabola  # noqa: E402

TIE = 0.001


def load(db: Path, sizes: list[int]) -> list:
    """The store's protocol runs of these widths (one evaluation, after the last step)."""
    from convexlaw.runs import RunStore

    store = RunStore(db)
    return [r for r in (store.get(i) for i in store.ids()) if r.tags.get("size") in sizes
            and int(r.tags.get("eval_every", r.T)) == r.T]


def optimum(runs: list) -> tuple[float, float]:
    """(η*, L*) measured over one cell's runs (``measured_optimum``)."""
    from convexlaw.plan import measured_optimum

    rr = sorted(runs, key=lambda r: r.peak_lr)
    return measured_optimum([r.peak_lr for r in rr], [final(r) for r in rr])[:2]


def regret(runs: list, eta: float) -> float:
    """One cell's loss at peak ``eta`` (parabola in log η through its runs) over its best."""
    rr = sorted(runs, key=lambda r: r.peak_lr)
    return parabola(np.log([r.peak_lr for r in rr]), np.array([final(r) for r in rr]),
                    math.log(eta)) / optimum(runs)[1] - 1


def main() -> None:
    from convexlaw.plan import make_plan

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/work/data/protocol2d-gpt.db"))
    ap.add_argument("--sizes", default="8,16,32,128")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = load(args.db, sizes)
    big, held = max(sizes), sorted(sizes)[-2]
    N = {r.tags["size"]: float(r.N) for r in runs}
    cells = {}
    for r in runs:
        cells.setdefault((r.tags["size"], r.T), []).append(r)
    print("| T | by ratio: forecaster, target regret | by held-out regret: forecaster, "
          "target regret | held-out regret of each (mean over width "
          f"{held}'s horizons) |")
    print("|---|---|---|---|")
    tot = {"ratio": [], "regret": []}
    for T in sorted({r.T for r in runs}):
        pil = [r for r in runs if r.tags["size"] in sizes[:-1] and r.T <= T]
        if len({r.T for r in pil}) < 2 or (big, T) not in cells:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = make_plan(pil, T, size=N[big], kind="val", n_boot=20, window=1.2,
                          curve_model=None)  # as bench/protocol2d.py's size plans
        rows = []
        for c in p.candidates:
            opt = c.get("optimum")
            if not opt or c.get("flags") or not c.get("eta_star"):
                continue
            hr = []
            for cell in opt["cells"]:
                rr = cells[(held, cell["T"])]
                hr.append(regret(rr, cell["eta_ratio"] * optimum(rr)[0]))
            rows.append((c, float(np.mean(hr))))
        if not rows:
            continue
        lo = min(h for _, h in rows)
        pick = min((x for x in rows if x[1] <= lo + TIE), key=lambda x: (x[0]["k"], x[1]))
        r_ratio = regret(cells[(big, T)], p.eta_star)
        r_reg = regret(cells[(big, T)], pick[0]["eta_star"])
        tot["ratio"].append(r_ratio)
        tot["regret"].append(r_reg)
        each = ", ".join(f"{c['forecaster'].removeprefix('law ')} {100 * h:+.2f} %"
                         for c, h in rows)
        print(f"| {T} | {p.source.removeprefix('law ')}, {100 * r_ratio:+.2f} % | "
              f"{pick[0]['forecaster'].removeprefix('law ')}, {100 * r_reg:+.2f} % | "
              f"{each} |")
    for k, v in tot.items():
        print(f"\nby {k}: mean target regret {100 * np.mean(v):+.2f} %, worst "
              f"{100 * max(v):+.2f} %")


if __name__ == "__main__":
    main()
