"""The size law with η_ref independent of N (β1 = β2): does the paper's transfer, built in,
carry η* across sizes better than the free exponents?

    python bench/eta_transfer.py [--db /work/data/protocol2d-gpt.db] [--sizes 8,16,32,128]

``SizeLaw`` scales the bound's two terms as q1²·n^(2β1) and q2²·n^(2β2), so that
η_ref ∝ N^(β1−β2) and C ∝ N^(β1+β2). The paper claims, for Muon-NSGD, that η_ref does
not depend on N: β1 = β2. This experiment fits that constrained form (β2 tied to β1, one
parameter fewer) in place of the free one, for the same size plans as ``bench/protocol2d.py``
(widths but the largest, every T′ ≤ T → the largest width at T), and prints the target
regret and L* error of both, beside the paper's rule. The constraint is applied for the
duration of the run by a context manager on ``SizeLaw``; the library is unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eta_regret import load, optimum, regret  # noqa: E402


@contextlib.contextmanager
def tied_betas() -> Iterator[None]:
    """SizeLaw with beta2 ≡ beta1 (η_ref independent of N) while the block runs."""
    from convexlaw.laws.horizon import SizeLaw

    params, units, fixed = SizeLaw._params, SizeLaw._units, SizeLaw._fixed

    def _params(self, data, idx):
        return [p for p in params(self, data, idx) if p.name != "beta2"]

    def _units(self, v, data, idx):
        return units(self, {**v, "beta2": v.get("beta1", 0.0)}, data, idx)

    def _fixed(self):
        return {k: x for k, x in fixed(self).items() if k != "beta2"}

    SizeLaw._params, SizeLaw._units, SizeLaw._fixed = _params, _units, _fixed
    try:
        yield
    finally:
        SizeLaw._params, SizeLaw._units, SizeLaw._fixed = params, units, fixed


def main() -> None:
    from convexlaw.plan import make_plan

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/work/data/protocol2d-gpt.db"))
    ap.add_argument("--sizes", default="8,16,32,128")
    ap.add_argument("--kind", default="val")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = load(args.db, sizes)
    big = max(sizes)
    N = {r.tags["size"]: float(r.N) for r in runs}
    cells: dict = {}
    for r in runs:
        cells.setdefault((r.tags["size"], r.T), []).append(r)

    print(f"| T | free β: η* ratio, regret, L* error | tied β1 = β2: η* ratio, regret, L* "
          f"error | rule (width {min(sizes)}'s best η at T): regret |")
    print("|---|---|---|---|")
    tot: dict[str, list] = {"free": [], "tied": [], "rule": [], "free_L": [], "tied_L": []}
    for T in sorted({r.T for r in runs}):
        pil = [r for r in runs if r.tags["size"] in sizes[:-1] and r.T <= T]
        if len({r.T for r in pil}) < 2 or (big, T) not in cells:
            continue
        e_m, L_m = optimum(cells[(big, T)])
        out = []
        for name, ctx in (("free", contextlib.nullcontext()), ("tied", tied_betas())):
            with ctx, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = make_plan(pil, T, size=N[big], kind=args.kind, n_boot=20, window=1.2,
                              curve_model=None)  # as bench/protocol2d.py's size plans
            rg = regret(cells[(big, T)], p.eta_star)
            tot[name].append(rg)
            tot[name + "_L"].append(abs(p.loss_star / L_m - 1))
            out.append(f"×{p.eta_star / e_m:.3f}, {100 * rg:+.2f} %, "
                       f"{100 * (p.loss_star / L_m - 1):+.2f} %")
        rule = regret(cells[(big, T)], optimum(cells[(min(sizes), T)])[0])
        tot["rule"].append(rule)
        print(f"| {T} | {out[0]} | {out[1]} | {100 * rule:+.2f} % |")
    print()
    for k in ("free", "tied", "rule"):
        v = tot[k]
        line = f"{k}: target regret mean {100 * np.mean(v):+.2f} %, worst {100 * max(v):+.2f} %"
        if k + "_L" in tot:
            line += f"; mean |L* error| {100 * np.mean(tot[k + '_L']):.2f} %"
        print(line)


if __name__ == "__main__":
    main()
