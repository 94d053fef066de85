"""Which pilots a law may use, and why the others were left out.

Real sweeps hold runs that no loss law describes: runs that diverged, runs that never
learned (a plateau at the starting loss, or no better than predicting the label
frequencies), runs whose loss spiked or rose back at the edge of stability, and — in a
complete sweep — the peaks above the optimum whose final loss blew up without going to
NaN. The laws describe the convex-like regime around the optimum (DESIGN §1), so such
points are left out, each with its reason, and the reasons are printed with every fit.

- ``screen_runs``: the health of each run from its own curve (no fit involved).
- ``edge_trim``: per cell (horizon, size), the largest peak when it lies above the
  cell's best and its final loss lies far above the law fitted without it (out-of-sample
  log residual above ``k`` robust standard deviations, and at least 1 %): the edge of
  stability. The next largest peak is then tested, and so on.

>>> import numpy as np
>>> from convexlaw.laws.data import LawData
>>> T = np.repeat([1e3, 4e3], 6); eta = np.tile([1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2], 2)
>>> loss = 2.0 + 4.0 / (T * eta) + 25.0 * eta
>>> loss[[5, 11]] *= 1.3                     # the largest peak blows up at both horizons
>>> keep, notes = edge_trim(LawData.from_arrays(T=T, loss=loss, peak=eta))
>>> sorted(set(range(12)) - set(keep.tolist())), notes[0]["reason"][:17]
([5, 11], 'edge of stability')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from convexlaw.laws.data import LawData

__all__ = ["edge_trim", "screen_runs"]

# a loss curve that rises this far above its running minimum blew up
SPIKE = 0.5
# a run whose final loss is above its own best by more than this fraction (and 3 noise
# widths) did not recover
NO_RECOVERY = 0.02
# a run that ends within this fraction of its first logged loss never learned
NO_PROGRESS = 0.02


def _peak(run: Any) -> float:
    return float(run.peak_lr) if getattr(run, "peak_lr", None) else float(np.max(run.lrs))


def _where(run: Any) -> dict[str, Any]:
    return {"name": str(getattr(run, "name", "")), "id": getattr(run, "id", None),
            "T": int(np.asarray(run.lrs).size), "peak": _peak(run),
            "N": None if getattr(run, "N", None) is None else float(run.N)}


def screen_runs(runs: Sequence[Any], kind: str | None = None
                ) -> tuple[list[Any], list[dict[str, Any]]]:
    """(usable runs, one dict per left-out run with ``reason``).

    Left out: status ``diverged`` or a non-finite loss; ``beats_constant`` tagged False
    (a plateau at the trivial predictor); a final loss within 2 % of the first logged
    loss (no progress); a curve that rose more than 50 % above its running minimum after
    the first tenth of the run (a blow-up), or that ends more than 2 % above its own best
    (no recovery; at least 3 times the curve's own noise: small batches make held-out
    curves jump). Runs still ``running`` are left out as well.
    """
    kept, out = [], []
    for run in runs:
        info = _where(run)
        status = getattr(run, "status", "finished")
        reason = None
        if status == "diverged":
            at = (getattr(run, "tags", None) or {}).get("diverged_at")
            reason = "diverged" + (f" at step {at}" if at is not None else "")
        elif status not in ("finished", None):
            reason = f"status {status!r} (not finished)"
        else:
            try:
                steps, vals = run.curve(kind) if kind else run.curve()
            except KeyError as err:
                reason = f"no loss curve ({err.args[0] if err.args else err})"
            else:
                reason = _curve_problem(np.asarray(steps), np.asarray(vals, float), run)
        if reason is None:
            kept.append(run)
        else:
            out.append(info | {"reason": reason})
    return kept, out


def _curve_problem(steps: np.ndarray, vals: np.ndarray, run: Any) -> str | None:
    if vals.size == 0:
        return "no loss logged"
    bad = ~np.isfinite(vals)
    if bad.any():
        return f"loss not finite from step {int(steps[bad][0])} (treated as diverged)"
    if (getattr(run, "tags", None) or {}).get("beats_constant") is False:
        return "no better than the constant predictor (a plateau: the run never learned)"
    if vals.size >= 2 and vals[-1] >= (1 - NO_PROGRESS) * vals[0]:
        return (f"no progress: final loss {vals[-1]:.4g} vs {vals[0]:.4g} at step "
                f"{int(steps[0])} (a plateau)")
    start = steps >= 0.1 * max(int(np.asarray(run.lrs).size), 1)
    lv = np.log(vals[start])
    d2 = lv[2:] - 2 * lv[1:-1] + lv[:-2]
    noise = 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(6) \
        if d2.size >= 3 else 0.0
    if start.sum() >= 2:
        v = vals[start]
        rise = v / np.minimum.accumulate(v) - 1.0
        if rise.max() > SPIKE:
            i = int(np.argmax(rise))
            return (f"unstable: the loss rose {100 * rise[i]:.0f} % above its running "
                    f"minimum at step {int(steps[start][i])} (edge of stability)")
    if vals[-1] > (1 + max(NO_RECOVERY, 3 * noise)) * vals.min():
        return (f"unstable: final loss {vals[-1]:.4g} is {100 * (vals[-1] / vals.min() - 1):.1f}"
                f" % above the run's best {vals.min():.4g} (no recovery)")
    return None


TRIM_VARIANTS = ("distance", "gradient", "distance+gradient", "distance+peak")


def edge_trim(data: LawData, variants: Sequence[str] = TRIM_VARIANTS, k: float = 4.0,
              floor: float = 0.01, min_left: int = 3) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(indices kept, one note per trimmed run): the edge-of-stability peaks of each cell.

    The candidates are the largest peak of every cell (horizon, N) that lies above its
    cell's best peak. The law — whichever of ``variants`` fits the other points best
    (AICc; robust fit) — is fitted without any candidate, and each candidate's log residual
    r = log L_obs − log L_law is read out of sample (edge points fitted together would pull
    the law towards themselves and mask each other). Candidates with
    r > max(``k``·σ, log(1 + ``floor``)), σ the robust (MAD) scatter of that fit, are
    dropped, and the next largest peaks become the candidates, until none is dropped. A
    cell keeps at least ``min_left`` peaks. In shape mode a run's points go together (its
    last point decides).
    """
    from convexlaw.laws.selection import law_for

    if data.peak is None:
        return np.arange(data.n), []
    last = np.full(len(data.groups), -np.inf)
    np.maximum.at(last, data.group, data.T)
    finals = data.T == last[data.group]  # the last point of each run: its final loss
    keep = np.ones(data.n, bool)
    N = data.N if data.N is not None else np.zeros(data.n)
    cells = sorted({(float(h), float(n)) for h, n in zip(data.horizon, N, strict=True)})
    notes: list[dict[str, Any]] = []
    while True:
        cand = []
        for h, n in cells:
            ii = np.flatnonzero(keep & finals & (data.horizon == h) & (N == n))
            if ii.size <= min_left:
                continue
            top, best = ii[np.argmax(data.peak[ii])], ii[np.argmin(data.loss[ii])]
            if data.peak[top] > data.peak[best]:
                cand.append(top)
        if not cand:
            break
        out = np.isin(data.group, data.group[cand])
        base = np.flatnonzero(keep & ~out)
        fits = []
        for v in variants:
            try:
                fits.append(law_for(data, v, n_boot=0).fit(data, base))
            except (ValueError, RuntimeError):
                continue
        if not fits:
            break
        law = min(fits, key=lambda f: f.metrics_["AICc"])
        r_in = law.residuals_
        sigma = 1.4826 * float(np.median(np.abs(r_in - np.median(r_in))))
        limit = max(k * sigma, math.log1p(floor))
        r = np.log(data.loss[cand] / law._predict(law.params_, data, np.array(cand)))
        drop = [(i, ri) for i, ri in zip(cand, r, strict=True) if ri > limit]
        if not drop:
            break
        for i, ri in drop:
            keep[data.group == data.group[i]] = False
            notes.append({"T": float(data.horizon[i]), "peak": float(data.peak[i]),
                          "N": None if data.N is None else float(data.N[i]),
                          "name": data.groups[data.group[i]],
                          "reason": f"edge of stability: final loss {100 * math.expm1(ri):.1f}"
                                    f" % above the law ({law.variant}) fitted to the points "
                                    "below the largest peaks"})
    return np.flatnonzero(keep), notes
