"""The pilots a plan uses: the store's finished runs, a row per pilot, and the screening
that leaves out what no law describes (``convexlaw.laws.screen``) or what the user's
``window`` excludes, each run with its reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from convexlaw.forecasters import run_peak
from convexlaw.laws import LawData
from convexlaw.laws.screen import edge_trim, screen_runs
from convexlaw.plan.result import PlanError

__all__ = ["pilot_runs"]


def pilot_runs(store: Any, kind: str | None = None) -> list[Any]:
    """Every finished or diverged run of a ``RunStore`` with its curves loaded."""
    runs = store.list(curves=True)
    return [r for r in runs if r.status in ("finished", "diverged")]


def _final(run: Any, kind: str | None) -> float:
    steps, vals = run.finite_curve(kind) if hasattr(run, "finite_curve") else run.curve(kind)
    return float(vals[-1]) if len(vals) else math.inf


def _rows(runs: Sequence[Any], kind: str | None) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        fin = _final(r, kind) if r.status == "finished" else math.inf
        out.append({"id": r.id, "name": r.name, "T": int(r.T), "peak": run_peak(r),
                    "N": None if r.N is None else float(r.N), "schedule": r.schedule,
                    "status": r.status, "final_loss": fin if math.isfinite(fin) else None,
                    "used": False})
    return out


def _window(runs: Sequence[Any], window: float, kind: str | None, sized: bool
            ) -> tuple[list[Any], list[dict[str, Any]]]:
    """The user's window: keep runs within ``window`` × the best final loss of their cell."""
    cells: dict[tuple, list[tuple[Any, float]]] = {}
    for r in runs:
        cells.setdefault((int(r.T), float(r.N) if sized else None), []).append(
            (r, _final(r, kind)))
    kept, out = [], []
    for members in cells.values():
        best = min(f for _, f in members)
        for r, f in members:
            if f <= window * best:
                kept.append(r)
            else:
                out.append({"name": r.name, "id": r.id, "T": int(r.T), "peak": run_peak(r),
                            "N": r.N, "reason": f"final loss > {window:g}× the best at its "
                                                "horizon (--window)"})
    return kept, out


def _select(runs: Sequence[Any], size: float | None, window: float | None,
            kind: str | None) -> tuple[list[Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pilots kept, a row per pilot, what was left out and why)."""
    if not runs:
        raise PlanError("no pilot runs: the store is empty (run a pilot sweep first, e.g. "
                        "`convexlaw sweep pilots.toml --db DB`)")
    rows = _rows(runs, kind)
    Ns = sorted({float(r.N) for r in runs if getattr(r, "N", None)})
    sized = len(Ns) > 1
    if sized and size is None:
        raise PlanError(f"the pilots span {len(Ns)} model sizes (N = "
                        f"{', '.join(f'{n:.4g}' for n in Ns)}): give the target --size")
    kept, left = screen_runs(runs, kind)
    if not kept:
        raise PlanError(f"none of the {len(runs)} pilot runs is usable: "
                        + "; ".join(f"{d['name']}: {d['reason']}" for d in left[:4]))
    if window is not None:
        kept, more = _window(kept, window, kind, sized)
    else:
        data = LawData.from_runs(kept, points="final", kind=kind)
        idx, notes = edge_trim(data)
        gone = {data.groups[g] for g in set(range(len(kept))) - set(data.group[idx])}
        more = [n | {"id": next(r.id for r in kept if r.name == n["name"]), "T": int(n["T"])}
                for n in notes]
        kept = [r for r in kept if r.name not in gone]
    left += more
    used = {r.id for r in kept}
    for row in rows:
        row["used"] = row["id"] in used
    return kept, rows, left
