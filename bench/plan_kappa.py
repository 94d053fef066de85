"""The plan's η on the pilot sets of the -hz study, with and without ``convex-ed-gt-hz``
among its curve models, and the plausible-κ guard (``convexlaw.choice.KAPPA_RANGE``).

    python bench/plan_kappa.py [--db STORE] [--demo-db DEMO] [--curve-models default,...]

Pilot sets (pilots only; the targets' η* only score the forecasts, never choose one):

- ``p20``: the demo's 20 pilots of ``tests/data/demo-pilots.jsonl`` (what ``bench/fits.py``
  times; no measured target here);
- ``demo``: the pilots of ``convexlaw demo`` in ``DEMO`` (T = 50 … 800, 6 peaks, 3 seeds,
  window 1.2 as the demo plans), η* of its T = 4000 runs as ``bench/alt_bend.py`` reads it;
- ``mlp``, ``gpt``: the pilots of ``bench/alternatives.py`` in ``STORE``, η* of its target
  grid;
- ``mlp-50-200-400``: the bend study's MLP pilots at T = 50 (4 peaks), 200, 400 (where the
  plan took η* from a forecaster with κ = −0.10 before the guard).

Prints, per set and curve-model list: η, η/η*, the forecaster behind η*, its local κ (T →
2T at the target) and κ over the extrapolation (longest pilot → target), the
forecasters passed over for an implausible κ, and the plan's CPU seconds
(``time.process_time``, one cold plan per process state: the first set pays the caches).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import alt_bend as ab  # noqa: E402
import alternatives as alt  # noqa: E402

TARGET_T = 4000


def pilot_sets(db: str, demo_db: str) -> dict[str, tuple[list, float | None, float | None]]:
    """name → (pilots, window, the target's measured η* or None)."""
    from convexlaw.runs import RunStore, load_runs

    out: dict[str, tuple[list, float | None, float | None]] = {}
    out["p20"] = (load_runs([str(ROOT.parent / "tests" / "data" / "demo-pilots.jsonl")]),
                  None, None)
    pil, eta, _ = ab.demo_pilots(demo_db)
    out["demo"] = (pil, 1.2, eta)
    st = RunStore(db)
    for name in ("mlp", "gpt"):
        out[name] = (ab.bench_pilots(st, name), None, ab.target_eta(st, name)[0])
    tb = alt.TESTBEDS["mlp"]
    spec = ab.DESIGNS["50 (4 peaks), 200, 400"]
    cfgs = [tb.pilot(T, p) for T, peaks in spec.items() for p in peaks]
    out["mlp-50-200-400"] = (alt.fetch(st, cfgs), None, out["mlp"][2])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=str(ROOT / "work" / "alt.db"),
                    help="the store of bench/alternatives.py (pilots and target grids)")
    ap.add_argument("--demo-db", default="/work/data/tmp/demo-run1/runs.db")
    ap.add_argument("--curve-models", action="append", default=None,
                    help="comma-separated curve models, 'default' for the plan's (repeatable)")
    args = ap.parse_args()
    from convexlaw.plan import CURVE_MODELS, make_plan

    lists = [CURVE_MODELS if c == "default" else tuple(c.split(","))
             for c in (args.curve_models or ["default", "convex-ed-peak,convex-ed-gt-gpeak"])]
    for name, (runs, window, eta) in pilot_sets(args.db, args.demo_db).items():
        for cm in lists:
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = make_plan(runs, TARGET_T, schedule="cosine", kind="val", n_boot=0,
                              window=window, curve_models=cm)
            cpu = time.process_time() - c0
            ratio = "" if eta is None else f" ×{p.eta_star / eta:.3f}"
            span = "n/a" if p.kappa_span is None else f"{p.kappa_span:+.3f}"
            print(f"{name:15s} [{', '.join(m.replace('convex-ed-', '') for m in cm)}] "
                  f"η = {p.eta_star:.5g}{ratio} from {p.source} (κ {p.kappa:+.3f} local, "
                  f"{span} over the extrapolation); L* from {p.loss_source}; "
                  f"{cpu:.2f} CPU s", flush=True)
            for w in p.warnings:
                if "not used for η*" in w or "every candidate is" in w:
                    print(f"    {w}")


if __name__ == "__main__":
    main()
