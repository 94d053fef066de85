"""Let measurements choose between the law variants, and keep every fit in one JSON file.

``compare_variants`` fits each variant on all points (in-sample error, AICc on log
residuals) and, where the data allow, on every horizon but the longest, scoring the
held-out longest horizon: extrapolation in T is what the laws are for, so the held-out
error decides (the simplest variant within 5 % of the best); AICc decides (within 2 of the
best) only when no hold-out is possible. A variant is *flagged* — and not chosen while an
unflagged one exists — when a parameter sits at a bound (c = 0 excepted: that is the
literal law, fitted on its own), when it has no interior optimum, or when its optimal peak
rises with the horizon (κ > 0). Every variant's numbers are reported, the chosen one
marked, and a flagged choice says so in ``notes``.

``fit_table``/``fit_runs`` first leave out what no law describes (diverged rows, and the
edge-of-stability peaks of ``convexlaw.laws.screen.edge_trim``) and report each.

>>> import numpy as np
>>> T = np.repeat([1e3, 4e3, 16e3], 4); eta = np.tile([3e-4, 1e-3, 3e-3, 1e-2], 3)
>>> d = LawData.from_arrays(T=T, loss=2.0 + 4.0 / (T * eta) + 25.0 * eta, peak=eta)
>>> rows, chosen = compare_variants(d, variants=("literal", "distance"), n_boot=0)
>>> chosen, rows[0]["selected_by"]
('literal', 'holdout')
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convexlaw.laws.base import VARIANTS, Law, variant_flags
from convexlaw.laws.data import LawData
from convexlaw.laws.horizon import HorizonLaw, SizeLaw
from convexlaw.laws.optimum import OptimumLaw
from convexlaw.laws.table import read_table
from convexlaw.metrics import curve_metrics

__all__ = ["bound_flags", "compare_variants", "fit_runs", "fit_table", "law_flags", "law_for",
           "load_laws", "save_laws", "screen_data"]


def law_for(data: LawData, variant: str = "literal", **kw: Any) -> Law:
    """The law class the data call for: tuned rows → OptimumLaw; several sizes →
    SizeLaw; else HorizonLaw."""
    if data.peak is None:
        return OptimumLaw(variant=variant, **kw)
    if data.N is not None and np.unique(data.N).size > 1:
        return SizeLaw(variant=variant, **kw)
    return HorizonLaw(variant=variant, **kw)


def _holdout_split(data: LawData) -> tuple[np.ndarray, np.ndarray] | None:
    h = data.horizon
    longest = h.max()
    train = np.flatnonzero(h < longest)
    test = np.flatnonzero(h == longest)
    if train.size == 0:
        return None
    return train, test


def compare_variants(data: LawData, variants: Sequence[str] = VARIANTS, n_boot: int = 200,
                     random_state: int = 0, **kw: Any
                     ) -> tuple[list[dict[str, Any]], str]:
    """Fit every variant; return one row of numbers per variant and the chosen variant.

    A row: variant, k (free parameters), n, in-sample PredE/WorstE/RMSE, AICc, and on the
    held-out longest horizon (fitted on the shorter ones) holdout_PredE/holdout_WorstE
    (None where the shorter horizons cannot determine the variant's parameters).
    """
    if data.peak is None:
        variants = [v for v in variants if v in ("literal", "distance")] or ["literal"]
    rows = []
    split = _holdout_split(data)
    for v in variants:
        law = law_for(data, v, n_boot=n_boot, random_state=random_state, **kw).fit(data)
        m = law.metrics_
        row: dict[str, Any] = {
            "variant": v, "kind": law.kind, "k": int(m["k"]), "n": int(m["n"]),
            "PredE": m["PredE"], "WorstE": m["WorstE"], "RMSE": m["RMSE"], "AICc": m["AICc"],
            "holdout_PredE": None, "holdout_WorstE": None, "holdout": None,
            "flags": law_flags(law), "law": law,
        }
        if split is not None:
            train, test = split
            one_T = np.unique(data.horizon[train]).size < 2
            try:
                if one_T and data.mode == "table" and "gradient" in variant_flags(v):
                    # a single pilot horizon says nothing about G_t ∝ t^a
                    raise ValueError("gradient exponent not identified")
                sub = law_for(data, v, n_boot=0, **kw).fit(data, train)
                pred = sub._predict(sub.params_, data, test)
                hm = curve_metrics(data.loss[test], pred)
                row.update(holdout_PredE=hm["PredE"], holdout_WorstE=hm["WorstE"],
                           holdout=f"fit T < {data.horizon.max():.6g}, "
                                   f"predict T = {data.horizon.max():.6g}")
            except ValueError:
                pass  # too few points below the longest horizon for this variant
        rows.append(row)
    # among variants about as good as the best, the simplest wins (ties are common when a
    # freed exponent fits at its literal value); flagged variants only if nothing else is
    pool = [r for r in rows if not r["flags"]] or rows
    if all(r["holdout_PredE"] is not None for r in pool):
        best = min(r["holdout_PredE"] for r in pool)
        near = [r for r in pool if r["holdout_PredE"] <= 1.05 * best + 1e-5]
        pick = min(near, key=lambda r: (r["k"], r["holdout_PredE"]))
        how = "holdout"
        passed = [r for r in rows if r["flags"] and r["holdout_PredE"] is not None
                  and r["holdout_PredE"] < pick["holdout_PredE"]]
    else:
        aicc = [r["AICc"] if math.isfinite(r["AICc"]) else math.inf for r in pool]
        near = [r for r, a in zip(pool, aicc, strict=True) if a <= min(aicc) + 2.0]
        pick = min(near, key=lambda r: (r["k"], r["AICc"]))
        how = "AICc"
        passed = [r for r in rows if r["flags"] and r["AICc"] < pick["AICc"]]
    chosen = pick["variant"]
    for r in rows:
        r["chosen"] = r["variant"] == chosen
        r["selected_by"] = how
        r["notes"] = []
    for r in passed:
        pick["notes"].append(f"variant {r['variant']} scored better but is not chosen: "
                             + "; ".join(r["flags"]))
    if pick["flags"]:
        pick["notes"].append(f"every variant is flagged; the chosen {chosen}: "
                             + "; ".join(pick["flags"]))
    return rows, chosen


# the size law's L∞(N) = E + A·n^(−α): the same form in every variant, so a bound hit there
# says the pilots do not pin L∞'s size dependence (kept in the law's warnings), not that
# this variant is worse than another; as a flag it would pass variants over at random
_SHARED = frozenset({"E", "A", "alpha"})


def bound_flags(law: Law) -> list[str]:
    """The parameters of a fitted law that sit at a bound (c at 0 excepted: that is the
    literal law, which is fitted on its own; and a size law's L∞(N) parameters E, A, α,
    shared by every variant — the law's ``warnings_`` still name them)."""
    out = []
    for name in law.at_bound_:
        if name == "c" and law.params_[name] <= 1e-6:
            continue
        if law.sized and name in _SHARED:
            continue
        lo, hi = law.bounds_[name]
        out.append(f"{name} = {law.params_[name]:.4g} at its bound [{lo:.4g}, {hi:.4g}]")
    return out


def law_flags(law: Law) -> list[str]:
    """What forbids choosing a fitted law silently: a parameter at its bound (c at 0, the
    literal law, excepted), no interior optimum, κ > 0 (η* rising with the horizon)."""
    out = bound_flags(law)
    if not isinstance(law, HorizonLaw | SizeLaw):  # OptimumLaw: no κ
        return out
    try:
        k = law.kappa(N=law.N_ref_ if law.sized else None)
    except (ValueError, ZeroDivisionError):
        return out  # shape mode without a common schedule: no κ to read
    if not math.isfinite(k):
        out.append("no interior optimum (the loss keeps falling with the peak LR)")
    elif k > 0:
        out.append(f"η* rises with the horizon (κ = {k:+.3f})")
    return out


def screen_data(data: LawData) -> LawData:
    """``data`` without its edge-of-stability peaks (``edge_trim``), each left-out point
    recorded in ``left_out`` with its reason."""
    from convexlaw.laws.screen import edge_trim

    if data.peak is None:
        return data
    idx, notes = edge_trim(data)
    return data if idx.size == data.n else data.subset(idx, notes)


def fit_table(path: str | Path, variant: str = "auto", n_boot: int = 200,
              random_state: int = 0, screen: bool = True) -> dict[str, Any]:
    """Read a table, fit (all variants if ``variant == 'auto'``), return the JSON record
    that ``save_laws`` writes. ``screen``: leave out edge-of-stability peaks."""
    data = read_table(path)
    variants = VARIANTS if variant == "auto" else (variant,)
    if variant != "auto":
        variant_flags(variant)  # a clear error for an unknown variant
    if screen:
        data = screen_data(data)
    rows, chosen = compare_variants(data, variants, n_boot=n_boot, random_state=random_state)
    return _record(rows, chosen, str(path), data.left_out)


def fit_runs(runs: Sequence[Any], variant: str = "auto", points: str = "curve",
             burn_in: float = 0.2, n_boot: int = 200, random_state: int = 0,
             screen: bool = True) -> dict[str, Any]:
    """Fit the laws to runs (schedule-aware: pilots of any shape share the coefficients);
    the same record as ``fit_table``. ``points``/``burn_in`` as in ``LawData.from_runs``;
    diverged runs are left out and reported."""
    data = LawData.from_runs(runs, points=points, burn_in=burn_in, diverged="skip")
    variants = VARIANTS if variant == "auto" else (variant,)
    if variant != "auto":
        variant_flags(variant)
    if screen:
        data = screen_data(data)
    rows, chosen = compare_variants(data, variants, n_boot=n_boot, random_state=random_state)
    names = [getattr(r, "name", str(i)) for i, r in enumerate(runs)]
    return _record(rows, chosen, f"{len(names)} runs: " + ", ".join(names[:5])
                   + (" …" if len(names) > 5 else ""), data.left_out)


def _record(rows: list[dict[str, Any]], chosen: str, source: str,
            left_out: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"format": 1, "source": source, "chosen": chosen,
            "comparison": [{k: v for k, v in r.items() if k != "law"} for r in rows],
            "left_out": list(left_out),
            "laws": {r["variant"]: r["law"].to_dict() for r in rows}}


def save_laws(record: dict[str, Any], path: str | Path) -> None:
    """Write a ``fit_table`` record as JSON (NaN written as null)."""
    Path(path).write_text(json.dumps(_clean(record), indent=1) + "\n")


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def load_laws(path: str | Path) -> tuple[dict[str, Law], str, dict[str, Any]]:
    """Read a law file: ({variant: law}, chosen variant, the raw record)."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    try:
        rec = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not JSON ({err.msg} at line {err.lineno})") from None
    if isinstance(rec, dict) and "kind" in rec:  # a single law's to_dict
        law = Law.from_dict(rec)
        return {law.variant: law}, law.variant, {"chosen": law.variant, "laws": {}}
    if not isinstance(rec, dict) or "laws" not in rec or "chosen" not in rec:
        raise ValueError(f"{p}: not a convexlaw law file (expected keys 'laws' and "
                         "'chosen', as written by `convexlaw laws fit`)")
    try:
        laws = {v: Law.from_dict(d) for v, d in rec["laws"].items()}
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from None
    if rec["chosen"] not in laws:
        raise ValueError(f"{p}: chosen variant {rec['chosen']!r} has no law in the file")
    return laws, rec["chosen"], rec
