"""The diagnostics of one run (plain numpy; no torch), their analysis and their summary.

``Convexity`` holds what the diagnoser measured at each check (steps t_k = updates done):
the per-check readings in ``checks`` (NaN where not measured), the iterate-wise gaps
``gaps[i, j] = r(t_i, t_j)`` (i < j) with the squared distances ``sq_dist``, and the star
gaps against ``reference``. ``analysis()`` applies the rule of :mod:`.onset`; the run
store keeps ``to_dict()`` in ``run.tags["convexity"]`` (NaN stored as null).

Per-check readings (``checks``): ``lr`` η of the update examined (the next one),
``loss`` and ``grad_norm`` on the evaluation batch; GeN along the update: ``eps``,
``step_norm`` ‖d‖, ``curvature``, ``curvature_normalised`` (κ/‖d‖²), ``slope``, ``r2``,
``alpha_star``; Hessian: ``lam_max``, ``lam_min``, ``hvps``, ``converged``; per sample:
``sample_grad_norm`` (median ‖∇θℓ‖) with ``sample_grad_norm_q25``/``_q75``,
``structural_gap`` (median log(λ_max/λ_min) of JJᵀ), ``bounds_hold`` (fraction of samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexlaw.jsonable import plain

from .onset import RULE, check_holds, onset_index
from .path import pair_holds, weak_convexity

__all__ = ["CHECK_FIELDS", "DEFAULT_RULE", "Convexity"]

CHECK_FIELDS = ("lr", "loss", "grad_norm", "eps", "step_norm", "curvature",
                "curvature_normalised", "slope", "r2", "alpha_star", "lam_max", "lam_min",
                "hvps", "converged", "sample_grad_norm", "sample_grad_norm_q25",
                "sample_grad_norm_q75", "structural_gap", "bounds_hold", "cpu_seconds")
DEFAULT_RULE = {"pair_fraction": 0.9, "window": 5, "fraction": 0.8, "tol": 1e-6}
FORMAT = "convexlaw-convexity"
FORMAT_VERSION = 1


def _nan_array(values: Any, n: int) -> np.ndarray:
    a = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if a.size != n:
        raise ValueError(f"convexity record: a per-check field has {a.size} values for "
                         f"{n} checks")
    return a


def _square(rows: Any, n: int) -> np.ndarray:
    a = np.array([[np.nan if v is None else v for v in row] for row in rows],
                 dtype=np.float64).reshape(n, n) if n else np.zeros((0, 0))
    return a


@dataclass
class Convexity:
    """Convexity diagnostics of one run (see the module docstring for the fields)."""

    steps: np.ndarray
    checks: dict[str, np.ndarray]
    gaps: np.ndarray
    sq_dist: np.ndarray
    star_gap: np.ndarray
    star_sq_dist: np.ndarray
    reference: str = "final iterate"
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64)
        n = self.steps.size
        self.checks = {k: _nan_array(np.asarray(v, dtype=object).ravel(), n)
                       for k, v in self.checks.items()}
        for k in CHECK_FIELDS:
            self.checks.setdefault(k, np.full(n, np.nan))

    @property
    def K(self) -> int:
        return int(self.steps.size)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.checks[name]

    # ---------------------------------------------------------------- analysis
    def analysis(self, pair_fraction: float = 0.9, window: int = 5, fraction: float = 0.8,
                 tol: float = 1e-6) -> dict[str, Any]:
        """Pair verdicts, ρ, per-check verdicts and t0 under the rule of :mod:`.onset`."""
        loss = self.checks["loss"]
        pairs = pair_holds(self.gaps, loss[:, None], loss[None, :], tol)
        external = not self.reference.startswith("final iterate")
        star = None
        if external:
            l_ref = self.settings.get("reference_loss")
            l_ref = np.nan if l_ref is None else l_ref
            star = pair_holds(self.star_gap, loss, np.full(self.K, l_ref), tol)
        holds = check_holds(pairs, self.checks["curvature"], star, pair_fraction)
        judged = np.flatnonzero(np.isfinite(holds))
        idx = onset_index(holds[judged] > 0, window, fraction) if judged.size else None
        i0 = None if idx is None else int(judged[idx])
        t0 = None if i0 is None else int(self.steps[i0])
        rho = weak_convexity(self.gaps, self.sq_dist)
        star_holds = (star if star is not None
                      else pair_holds(self.star_gap, loss, np.full(self.K, loss[-1]), tol)
                      if self.K else np.zeros(0))
        return {
            "t0": t0, "t0_index": i0,
            "rule": RULE.format(pair_fraction=pair_fraction, window=window, fraction=fraction),
            "rule_params": {"pair_fraction": pair_fraction, "window": window,
                            "fraction": fraction, "tol": tol},
            "pairs": pairs, "check_holds": holds, "rho": rho, "star_holds": star_holds,
            "rho_star": weak_convexity(self.star_gap, self.star_sq_dist),
        }

    def summary(self, **rule: Any) -> dict[str, Any]:
        """The numbers a person reads (all plain floats; None where not measured)."""
        a = self.analysis(**rule)
        i0 = a["t0_index"]
        c = self.checks
        after = slice(i0, None) if i0 is not None else slice(self.K, None)

        def frac(x: np.ndarray) -> float | None:
            x = x[np.isfinite(x)]
            return float(x.mean()) if x.size else None

        def stat(fn: Any, x: np.ndarray) -> float | None:
            x = x[np.isfinite(x)]
            return float(fn(x)) if x.size else None

        pairs = a["pairs"]
        lam_max, lam_min = c["lam_max"], c["lam_min"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(lam_min) / lam_max
            eos = lam_max * c["lr"] / 2
            alpha_ratio = c["alpha_star"] / c["lr"]
        star_upto = a["star_holds"][:-1] if a["star_holds"].size and \
            self.reference.startswith("final iterate") else a["star_holds"]
        return {
            "t0": a["t0"], "rule": a["rule"], "reference": self.reference, "checks": self.K,
            "steps": [int(self.steps[0]), int(self.steps[-1])] if self.K else None,
            "pairs_holding": frac(pairs), "pairs_holding_after_t0": frac(pairs[after, after]),
            "checks_holding": frac(a["check_holds"]),
            "checks_holding_after_t0": frac(a["check_holds"][after]),
            "star_holding": frac(star_upto),
            "rho_max": stat(np.max, a["rho"]),
            "rho_max_after_t0": stat(np.max, a["rho"][after, after]),
            "curvature_positive": frac((c["curvature"] > 0).astype(float)
                                       * np.where(np.isfinite(c["curvature"]), 1, np.nan)),
            "curvature_normalised_median_after_t0": stat(np.median,
                                                         c["curvature_normalised"][after]),
            "quadratic_r2_median": stat(np.median, c["r2"]),
            "gen_step_over_lr_median": stat(np.median, alpha_ratio),
            "lam_max_last": _last(lam_max), "lam_max_max": stat(np.max, lam_max),
            "lam_min_min": stat(np.min, lam_min),
            "ratio_median": stat(np.median, ratio), "ratio_last": _last(ratio),
            "eos_max": stat(np.max, eos),
            "sample_grad_norm_last": _last(c["sample_grad_norm"]),
            "structural_gap_last": _last(c["structural_gap"]),
            "bounds_hold_min": stat(np.min, c["bounds_hold"]),
            "cpu_seconds": stat(np.sum, c["cpu_seconds"]),
            "error": self.error,
        }

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-plain dict (NaN → None): what ``run.tags["convexity"]`` holds.

        ``t0`` and ``summary`` under the default rule are stored too, so readers of the
        run store need not recompute them.
        """
        s = self.summary()
        return plain({
            "format": FORMAT, "version": FORMAT_VERSION, "t0": s["t0"], "summary": s,
            "steps": self.steps, "checks": self.checks, "reference": self.reference,
            "gaps": self.gaps, "sq_dist": self.sq_dist, "star_gap": self.star_gap,
            "star_sq_dist": self.star_sq_dist, "settings": self.settings,
            "error": self.error,
        }, finite=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Convexity:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError("not a convexity record (expected the dict that "
                             "Convexity.to_dict() writes, format 'convexlaw-convexity')")
        if d.get("version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"convexity record version {d['version']} is newer than this "
                             f"convexlaw reads ({FORMAT_VERSION})")
        n = len(d["steps"])
        return cls(steps=d["steps"], checks={k: v for k, v in d["checks"].items()},
                   gaps=_square(d["gaps"], n), sq_dist=_square(d["sq_dist"], n),
                   star_gap=_nan_array(d["star_gap"], n),
                   star_sq_dist=_nan_array(d["star_sq_dist"], n),
                   reference=d.get("reference", "final iterate"),
                   settings=dict(d.get("settings") or {}), error=d.get("error"))

    @classmethod
    def from_run(cls, run: Any) -> Convexity:
        """The diagnostics stored with a run; a ValueError naming the run if there are none."""
        d = getattr(run, "tags", {}).get("convexity")
        if d is None:
            raise ValueError(f"run {getattr(run, 'name', run)!r} has no convexity diagnostics;"
                             " train it with `convexlaw train ... --diagnose`")
        return cls.from_dict(d)


def _last(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x[-1]) if x.size else None


def describe(summary: dict[str, Any]) -> str:
    """One line for `runs show`: t0 and the headline readings."""
    def pct(x: Any) -> str:
        return "—" if x is None else f"{100 * x:.0f} %"

    def num(x: Any) -> str:
        return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) \
            else f"{x:.3g}"

    t0 = summary.get("t0")
    head = "never convex-like by the rule" if t0 is None else f"t0 = {t0}"
    line = (f"{head}; path pairs holding {pct(summary.get('pairs_holding'))} "
            f"(after t0 {pct(summary.get('pairs_holding_after_t0'))}), "
            f"ρ max {num(summary.get('rho_max'))}, curvature > 0 at "
            f"{pct(summary.get('curvature_positive'))} of checks, "
            + (f"λ_max {num(summary.get('lam_max_last'))}, "
               f"λ_min {num(summary.get('lam_min_min'))}, "
               f"λ_max·η/2 ≤ {num(summary.get('eos_max'))}"
               if summary.get("lam_max_last") is not None else
               "no Hessian reading (the default cadence skips them on short runs; "
               "--hessian-every asks for them)")
            + f" ({summary.get('checks')} checks; star reference: {summary.get('reference')})")
    if summary.get("error"):
        line += f"; stopped: {summary['error']}"
    return line
