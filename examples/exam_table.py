"""The qualifying exam over every built-in family, and the paper's closed forms beside it.

    python examples/exam_table.py --out figures/

writes ``exam.png`` (√T·Ω*_T against T), ``exam.md`` (verdict per family) and
``closed-forms.md`` (Bu, Xu & Mao, Table 1, against the exam's measured constants).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import convexlaw
from convexlaw.exam import BUILTIN_FAMILIES, exam_all
from convexlaw.plot import plot_exam


def wsd_c(stable: float) -> float:
    """The paper's WSD constant: η* = D/(G√(cT)), c = (1+f)(1 + ½ln((1+f)/(1−f)))."""
    return (1 + stable) * (1 + 0.5 * math.log((1 + stable) / (1 - stable)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("."))
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    results = exam_all(list(BUILTIN_FAMILIES))
    plot_exam(results, out / "exam.png")
    rows = ["| schedule family | verdict | √T·Ω*_T at T = 10⁷ | c | growth |",
            "|---|---|---|---|---|"]
    for r in results:
        c = f"{r.c:.4g}" if r.c is not None else "—"
        rows.append(f"| `{r.spec}` | {r.verdict} | {r.scaled_bound[-1]:.4f} | {c} | "
                    f"{r.growth} |")
    (out / "exam.md").write_text("\n".join(rows) + "\n")

    by = {r.spec: r for r in results}
    T = 10**6
    const = convexlaw.exam("constant", horizons=[10**4, 10**5, T])
    rsqrt = convexlaw.exam("rsqrt", horizons=[10**4, 10**5, T])
    closed = [
        ("constant", "DG·√(ln T / T)", math.sqrt(math.log(T)),
         float(const.scaled_bound[-1]), "√T·Ω*_T at T = 10⁶"),
        ("1/√t (`rsqrt`)", "DG·√(ln T / (4T))", math.sqrt(math.log(T) / 4),
         float(rsqrt.scaled_bound[-1]), "√T·Ω*_T at T = 10⁶"),
        ("linear to 0", "2DG/√T", 2.0, by["linear"].limit, "lim √T·Ω*_T"),
        ("cosine to 0", "η* = D/(G√(1.061·T))", 1.061, by["cosine"].c, "c"),
        ("WSD, 20 % linear cool-down", "η* = D/(G√(c·T)), c = (1+f)(1+½ln((1+f)/(1−f)))",
         wsd_c(0.8), by["wsd(cooldown=0.2)"].c, "c"),
    ]
    rows = ["| schedule | paper (Table 1) | paper's value | exam | quantity |",
            "|---|---|---|---|---|"]
    for name, form, paper, ours, what in closed:
        rows.append(f"| {name} | {form} | {paper:.4f} | {ours:.4f} | {what} |")
    (out / "closed-forms.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
