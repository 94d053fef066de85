"""How robust is the demo's verdict? The demo with other seed sets, side by side.

    python bench/demo_seeds.py [--seeds 0,1,2 --seeds 3,4,5 ...] [--out bench/work/demo-seeds]
                               [--json bench/results/demo-seeds.json]
                               [--md bench/results/demo-seeds.md]

Each seed set runs ``convexlaw demo`` unchanged but for ``DemoConfig.seeds`` (every pilot
and every target run at those seeds; losses are seed means), in its own store under
``--out/seeds-A-B-C`` (a re-run trains only what a store lacks, then plans again with this
checkout's code). Per set: the plan's η* and L* against the measured optimum of the target
sweep, the regret of the planned run, the power-law peer and the literal √T rule on the
same pilots, the forecasters behind η* and L*, and the seed-bootstrap spread of the
measured η* at the target (σ of ln η*, 300 resamples of the seeds at each peak): the
yardstick's own noise.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def eta_noise(store_path: Path, T: int, n: int = 300) -> float:
    """σ of ln η*_measured at horizon T over seed resamples (within each peak)."""
    from convexlaw.laws.peers import measured_optimum
    from convexlaw.runs import RunStore

    runs = [r for r in RunStore(store_path).list(curves=True) if int(r.T) == T]
    P = np.array([float(r.peak_lr) for r in runs])
    L = np.array([float(r.curve("val")[1][-1]) if "val" in r.curves else np.inf
                  for r in runs])
    L[~np.isfinite(L)] = np.inf
    rng = np.random.default_rng(0)
    groups = [np.flatnonzero(P == p) for p in np.unique(P)]
    logs = []
    for _ in range(n):
        idx = np.concatenate([rng.choice(g, size=g.size) for g in groups])
        logs.append(math.log(measured_optimum(P[idx], L[idx])[0]))
    return float(np.std(logs))


def one(seeds: tuple[int, ...], out: Path) -> dict:
    from convexlaw.demo import DEFAULT, run_demo

    folder = out / ("seeds-" + "-".join(map(str, seeds)))
    t0 = time.perf_counter()
    s = run_demo(folder, replace(DEFAULT, seeds=seeds))
    wall = time.perf_counter() - t0
    p, m = s["plan"], s["measured"]
    peers = {}
    for key in ("power_law", "literal_rule"):
        q = p["peers"].get(key, {})
        if "eta_star" in q:
            peers[key] = {"eta_ratio": q["eta_star"] / m["eta_star"],
                          "loss_error": (None if q.get("loss_star") is None
                                         else q["loss_star"] / m["planned_loss"] - 1)}
    hz = {r["forecaster"]: r for r in p["candidates"]}.get("curve convex-ed-gt-hz", {})
    held = (hz.get("optimum") or {}).get("eta_ratio")
    return {"seeds": list(seeds), "eta_ratio": s["eta_ratio"],
            "hz_eta_ratio": hz["eta_star"] / m["eta_star"] if hz.get("eta_star") else None,
            "hz_holdout_eta_ratio": held,
            "loss_error": s["loss_rel_error"], "verdict": s["verdict"],
            "eta_plan": p["eta_star"], "loss_plan": p["loss_star"],
            "eta_measured": m["eta_star"], "planned_loss": m["planned_loss"],
            "best_loss": m["best_loss"], "regret": m["planned_loss"] / m["best_loss"] - 1,
            "eta_source": p["source"], "loss_source": p.get("loss_pool") or [p["loss_source"]],
            "eta_noise_target": eta_noise(folder / "runs.db", int(s["target_steps"])),
            "optimum_per_horizon": m["optimum_per_horizon"], "peers": peers,
            "wall_seconds": wall, "store": str(folder / "runs.db")}


def markdown(rows: list[dict], command: str) -> str:
    out = ["# The demo's verdict over seed sets", "", f"`{command}`", "",
           "| seeds | plan η / η* | plan L* error | regret | η* measured (σ ln, seeds) "
           "| power-law peer η / η*, L* | literal √T rule η / η*, L* | η* from | L* from "
           "| verdict | convex-ed-gt-hz η / η* (at the held-out horizon) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]

    def peer(r: dict, key: str) -> str:
        q = r["peers"].get(key)
        if not q:
            return "—"
        loss = "—" if q["loss_error"] is None else f"{100 * q['loss_error']:+.2f} %"
        return f"×{q['eta_ratio']:.3f}, {loss}"

    for r in rows:
        out.append(f"| {','.join(map(str, r['seeds']))} | ×{r['eta_ratio']:.3f} | "
                   f"{100 * r['loss_error']:+.2f} % | {100 * r['regret']:+.2f} % | "
                   f"{r['eta_measured']:.5f} ({r['eta_noise_target']:.3f}) | "
                   f"{peer(r, 'power_law')} | {peer(r, 'literal_rule')} | {r['eta_source']} | "
                   f"{' + '.join(r['loss_source'])} | {r['verdict']} | "
                   + ("—" if r["hz_eta_ratio"] is None else f"×{r['hz_eta_ratio']:.3f}")
                   + ("" if r["hz_holdout_eta_ratio"] is None
                      else f" (×{r['hz_holdout_eta_ratio']:.3f})") + " |")
    out += ["", "Measured optimum per horizon (η*):", ""]
    for r in rows:
        out.append(f"- seeds {','.join(map(str, r['seeds']))}: " + ", ".join(
            f"T = {x['T']}: {x['eta_star']:.4g}" for x in r["optimum_per_horizon"]))
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", action="append", default=None,
                    help="a seed set, e.g. 3,4,5 (repeat the option for more sets)")
    ap.add_argument("--out", type=Path, default=HERE / "work" / "demo-seeds")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()
    sets = [tuple(int(x) for x in s.split(",")) for s in (args.seeds or ["0,1,2"])]
    if any(len(s) < 2 for s in sets):
        ap.error("each seed set needs at least two seeds (the demo scores seed means)")
    rows = [one(s, args.out) for s in sets]
    command = "python bench/demo_seeds.py " + " ".join(f"--seeds {','.join(map(str, s))}"
                                                       for s in sets)
    text = markdown(rows, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"command": command, "rows": rows}, indent=1))
    if args.md:
        args.md.write_text(text)


if __name__ == "__main__":
    main()
