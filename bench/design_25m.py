"""The 25M Multi-Power-Law curves of ../shared/data: what a fitted model designs there.

    python bench/design.py mpl25m

convex-ed-gt and a refitted Multi-Power Law, each fitted on the MPL protocol's three runs
(cosine_24000, constant_24000, wsdcon_9), design the WSD family and a free spline at
T = 24000 and 72000 at the published peak 3e-4 and warm-up 2160, beside the published
cosine and WSD runs (bench/results/design-25m.{json,md} and figures).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DATA = Path("/work/shared/data")


MPL_BASELINES = {  # the published runs' schedules at T = 24000 (peak 3e-4, warm-up 2160)
    "cosine_24000": "cosine(final=0.1)+warmup(2160)",
    "wsd_20000_24000": "wsd(cooldown=4000,shape=geometric,final=0.1)+warmup(2160)",
    "wsdld_20000_24000": "wsd(cooldown=4000,shape=linear,final=0.1)+warmup(2160)",
}


def mpl25m(work: Path) -> dict:
    """What convex-ed-gt (fitted on the MPL protocol's three runs) designs at T = 24000 and
    72000, beside the measured cosine and WSD runs and a refitted Multi-Power Law's design."""
    from convexlaw.design import design_schedule
    from convexlaw.design.plot import plot_design
    from convexlaw.protocols import MPL_FIT, make_model
    from convexlaw.runs import load_runs

    runs = {r.name: r for r in load_runs(sorted((DATA / "mpl-25m").glob("*.csv")))}
    fit_runs = [runs[n] for n in MPL_FIT]
    out: dict = {"fit_runs": list(MPL_FIT), "models": {}}
    for name in ("convex-ed-gt", "mpl"):
        t0 = time.perf_counter()
        model = make_model(name).fit(fit_runs)
        (work / f"fit-25m-{name}.json").write_text(json.dumps(model.to_dict(), indent=1))
        rec: dict = {"params": model.params_, "fit_seconds": time.perf_counter() - t0,
                     "measured_vs_predicted": [], "designs": []}
        for rname in ("cosine_24000", "wsd_20000_24000", "wsdld_20000_24000",
                      "cosine_72000", "constant_72000"):
            r = runs[rname]
            obs = float(r.curve()[1][-1])
            pred = float(model.predict(r, [r.T])[0])
            rec["measured_vs_predicted"].append(
                {"run": rname, "T": r.T, "fitted": rname in MPL_FIT, "measured": obs,
                 "predicted": pred, "error": pred / obs - 1})
        for T in (24000, 72000):
            base = [MPL_BASELINES["cosine_24000"], MPL_BASELINES["wsd_20000_24000"]]
            if T != 24000:  # the same shapes stretched: WSD's 4000-step decay = 1/6 of 24000
                base = [base[0], "wsd(cooldown=0.1832,shape=geometric,final=0.1)+warmup(2160)"]
            for family in ("wsd", "free"):
                t0 = time.perf_counter()
                d = design_schedule(model, T, family=family, peak=3e-4, warmup=2160,
                                    baselines=base, knots=24)
                secs = time.perf_counter() - t0
                fig = RESULTS / f"design-25m-{name}-{family}-T{T}.png"
                plot_design(d, fig, title=f"25M curves, {name} fitted on {', '.join(MPL_FIT)}:"
                            f" {family} design at T = {T}, peak 3e-4")
                item = d.to_dict()
                item.pop("curves")
                item["seconds"] = secs
                item["figure"] = str(fig.relative_to(ROOT.parent))
                rec["designs"].append(item)
                print(f"[25m {name} T={T} {family}] {d.designed.spec or 'free'}: "
                      f"{d.designed.loss:.5f}; " + ", ".join(
                          f"{b.spec}@{b.peak:.3g} {b.loss:.5f}" for b in d.baselines),
                      file=sys.stderr)
        out["models"][name] = rec
    return out


def jsonable(obj):
    from convexlaw.jsonable import plain

    return plain(obj, finite=True)


def _short(spec: str | None) -> str:
    return (spec or "free spline").replace("+warmup(2160)", "")


def markdown_25m(res: dict) -> str:
    lines = ["## The 25M curves (Multi-Power-Law runs, ../shared/data/mpl-25m)", "",
             f"Fitted on {', '.join(res['fit_runs'])}; every schedule warms up over 2160 "
             "steps and peaks at 3e-4 (fixed, as in the published runs).", ""]
    for name, rec in res["models"].items():
        lines += [f"### {name}", "", "Published runs, final logged loss:", "",
                  "| run | fitted on it | measured | predicted | error |", "|---|---|---|---|---|"]
        for r in rec["measured_vs_predicted"]:
            lines.append(f"| {r['run']} | {'yes' if r['fitted'] else 'no'} | "
                         f"{r['measured']:.4f} | {r['predicted']:.4f} | "
                         f"{100 * r['error']:+.2f} % |")
        lines += ["", "Designs (peak 3e-4 fixed; gain = baseline − design, predicted):", "",
                  "| T | family | designed | predicted | cosine | gain | WSD (geometric) | gain "
                  "| s |", "|---|---|---|---|---|---|---|---|---|"]
        for d in rec["designs"]:
            fixed = [b for b in d["baselines"] if b["peak_mode"] == "fixed"]
            cos, wsd = fixed[0], fixed[1]
            des = d["designed"]
            lines.append(f"| {d['steps']} | {d['family']} | `{_short(des['spec'])}` | "
                         f"{des['loss']:.4f} | {cos['loss']:.4f} | "
                         f"{cos['loss'] - des['loss']:+.4f} | {wsd['loss']:.4f} | "
                         f"{wsd['loss'] - des['loss']:+.4f} | {d['seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def main_25m(work: Path) -> None:
    res = mpl25m(work)
    (RESULTS / "design-25m.json").write_text(json.dumps(jsonable(res), indent=1))
    md = markdown_25m(res)
    (RESULTS / "design-25m.md").write_text(md)
    print(md)
