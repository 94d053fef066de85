"""What every law shares: fit with bootstrap over runs, intervals, diagnostics, a report,
and a JSON form. Subclasses say which parameters exist and how they predict.

Intervals are percentile intervals over a bootstrap that resamples whole runs (stratified
by model size when there are several), each replicate refitted from the full-data solution.
Warnings name the problem and the number behind it: a parameter stuck at a bound, an
optimum the pilots do not bracket, curvature of the log residuals against log T or log N,
and (at prediction time) how far beyond the pilots a query reaches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np

from convexlaw.fitting import Param, Problem, bootstrap, fit, param_lines
from convexlaw.laws.data import LawData
from convexlaw.metrics import curve_metrics

__all__ = ["FLAGS", "LAW_KINDS", "VARIANTS", "Law", "curvature_warning", "reach_warnings",
           "variant_flags"]

FLAGS = ("distance", "gradient", "peak")
# the variants `auto` compares; any '+'-combination of FLAGS is accepted
VARIANTS = ("literal", "distance", "gradient", "peak", "distance+gradient", "distance+peak")


def variant_flags(variant: str) -> frozenset[str]:
    """The freed terms of a variant: 'literal' → {}, 'distance+gradient' → both.

    >>> sorted(variant_flags("distance+peak"))
    ['distance', 'peak']
    """
    if not isinstance(variant, str) or not variant.strip():
        raise ValueError(f"variant must be a string such as 'literal' or 'distance+gradient', "
                         f"got {variant!r}")
    if variant.strip() == "literal":
        return frozenset()
    parts = [p.strip() for p in variant.split("+")]
    bad = [p for p in parts if p not in FLAGS]
    if bad:
        raise ValueError(f"unknown variant term {bad[0]!r} in {variant!r}: expected 'literal' "
                         f"or a '+'-combination of {', '.join(FLAGS)}")
    return frozenset(parts)
LAW_KINDS: dict[str, type[Law]] = {}


def _finite_or_none(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def curvature_warning(resid: np.ndarray, value: np.ndarray, name: str,
                      threshold: float = 3.0) -> str | None:
    """Warn when log residuals bend against log(value): quadratic term with |t| > 3.

    Needs at least 4 distinct values; the t statistic uses the scatter of all points.
    """
    z = np.log(value)
    if np.unique(np.round(z, 9)).size < 4 or resid.size < 6:
        return None
    z = (z - z.mean()) / (z.std() or 1.0)
    M = np.column_stack([np.ones_like(z), z, z * z])
    coef, *_ = np.linalg.lstsq(M, resid, rcond=None)
    dof = resid.size - 3
    s2 = float(np.sum((resid - M @ coef) ** 2)) / dof
    cov = s2 * np.linalg.pinv(M.T @ M)
    se = math.sqrt(max(cov[2, 2], 0.0))
    t = coef[2] / se if se > 0 else 0.0
    if abs(t) > threshold:
        return (f"log residuals bend against log {name} (quadratic term t = {t:+.1f}): the "
                f"power law in {name} does not hold over the pilots' range, so "
                f"extrapolation in {name} is risky")
    return None


def reach_warnings(pilots: dict[str, Any], T: np.ndarray, N: np.ndarray | None) -> list[str]:
    """How far a query reaches outside the pilots, as ×factors."""
    out = []
    for name, val in (("T", T), ("N", N)):
        rng = pilots.get(name)
        if rng is None or val is None:
            continue
        lo, hi = rng
        vmax, vmin = float(np.max(val)), float(np.min(val))
        if vmax > hi * 1.0001:
            out.append(f"{name} = {vmax:.4g} is ×{vmax / hi:.3g} beyond the largest pilot "
                       f"{name} ({hi:.4g}): an extrapolation")
        if vmin < lo / 1.0001:
            out.append(f"{name} = {vmin:.4g} is ×{lo / vmin:.3g} below the smallest pilot "
                       f"{name} ({lo:.4g}): an extrapolation")
    return out


class LinfForm:
    """Mixin of the laws whose L∞ may depend on N: the ``linf`` hyper-parameter.

    ``"offset"`` L∞ = E + A·n^(−α) (needs ≥ 4 sizes), ``"power"`` L∞ = A·n^(−α),
    ``"constant"`` L∞ = E, or ``"auto"`` (offset with ≥ 4 sizes, else power).
    """

    FORMS = ("auto", "offset", "power", "constant")

    def __init__(self, variant: str = "literal", linf: str = "auto", delta: float = 1e-3,
                 n_boot: int = 200, level: float = 0.95, random_state: int = 0,
                 n_starts: int = 4) -> None:
        super().__init__(variant, delta, n_boot, level, random_state, n_starts)  # type: ignore[call-arg]
        self.linf = linf

    def _hyper(self) -> dict[str, Any]:
        return super()._hyper() | {"linf": self.linf}  # type: ignore[misc]

    def _linf_form(self, sizes: int) -> str:
        """The L∞ form for ``sizes`` distinct model sizes (validates ``linf``)."""
        if self.linf not in self.FORMS:
            raise ValueError(f"linf must be auto, offset, power or constant; got {self.linf!r}")
        return self.linf if self.linf != "auto" else ("offset" if sizes >= 4 else "power")


class Law:
    """Base of the scikit-learn-style law estimators (hyper-parameters only in __init__)."""

    kind: ClassVar[str] = "Law"
    sized: ClassVar[bool] = False  # coefficients are power laws in N

    def __init__(self, variant: str = "literal", delta: float = 1e-3, n_boot: int = 200,
                 level: float = 0.95, random_state: int = 0, n_starts: int = 4) -> None:
        self.variant = variant
        self.delta = delta
        self.n_boot = n_boot
        self.level = level
        self.random_state = random_state
        self.n_starts = n_starts

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        LAW_KINDS[cls.kind] = cls

    # ---------------------------------------------------------------- to override
    def _params(self, data: LawData, idx: np.ndarray) -> list[Param]:
        raise NotImplementedError

    def _fixed(self) -> dict[str, float]:
        return {}

    def _predict(self, v: dict[str, float], data: LawData, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _basis(self, v: dict[str, float], data: LawData, idx: np.ndarray
               ) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _check_data(self, data: LawData, idx: np.ndarray) -> None:
        pass

    def _diagnose(self, data: LawData, idx: np.ndarray) -> list[str]:
        return []

    def _restore(self, d: dict[str, Any]) -> None:
        """Subclass state beyond the common fields, from ``to_dict`` output."""

    def forecast(self, T: float, N: float | None = None, peak: float | None = None,
                 shape: Any = None, at: Any = None) -> dict[str, Any]:
        """η*, L* and their intervals at horizon T (each law family defines it)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fit
    def _hyper(self) -> dict[str, Any]:
        return {"variant": self.variant, "delta": self.delta, "n_boot": self.n_boot,
                "level": self.level, "random_state": self.random_state,
                "n_starts": self.n_starts}

    def fit(self, data: LawData, idx: np.ndarray | None = None) -> Self:
        """Fit to ``data`` (optionally only the points ``idx``); returns self."""
        self.flags_ = variant_flags(self.variant)
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level!r}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot must be >= 0, got {self.n_boot!r}")
        idx = np.arange(data.n) if idx is None else np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            raise ValueError(f"{data.source}: no points to fit")
        if np.any(~np.isfinite(data.loss[idx])):
            raise ValueError(f"{data.source}: the losses to fit contain NaN/inf")
        self.mode_ = data.mode
        self.t_ref_ = float(np.exp(np.mean(np.log(data.T[idx]))))
        self.N_ref_ = (float(np.exp(np.mean(np.log(data.N[idx]))))
                       if data.N is not None else None)
        self._check_data(data, idx)
        params = self._params(data, idx)
        fixed = self._fixed()
        self.free_ = [p.name for p in params]
        self.bounds_ = {p.name: (p.lower, p.upper) for p in params}

        def predict(v: dict[str, float], ii: np.ndarray) -> np.ndarray:
            return self._predict(v, data, ii)

        def basis(v: dict[str, float], ii: np.ndarray) -> dict[str, np.ndarray]:
            return self._basis(v, data, ii)

        # the law's formulas broadcast over a batch of parameter sets (bootstrap refits)
        problem = Problem(params, predict, data.loss, fixed, basis=basis, batched=True)
        res = fit(problem, idx, n_starts=self.n_starts, delta=self.delta)
        self.params_ = res.values
        self.stderr_ = res.stderr
        self.at_bound_ = res.at_bound
        self.n_points_ = int(idx.size)
        self.n_runs_ = int(np.unique(data.group[idx]).size)
        self.residuals_ = res.residuals
        self.metrics_ = curve_metrics(data.loss[idx], res.prediction)
        k = len(params)
        rss = float(res.residuals @ res.residuals)
        n = idx.size
        self.metrics_["k"] = k
        self.metrics_["n"] = n
        self.metrics_["AICc"] = (n * math.log(max(rss, 1e-300) / n) + 2 * k
                                 + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0
                                    else float("inf")))
        self.pilots_ = {"T": [float(data.T[idx].min()), float(data.T[idx].max())],
                        "horizon": [float(data.horizon[idx].min()),
                                    float(data.horizon[idx].max())]}
        if data.N is not None:
            self.pilots_["N"] = [float(data.N[idx].min()), float(data.N[idx].max())]
        if data.peak is not None:
            self.pilots_["peak"] = [float(data.peak[idx].min()), float(data.peak[idx].max())]
        self.spec_ = data.common_spec() if data.mode == "shape" else None
        self.points_ = {"T": data.T[idx].tolist(), "horizon": data.horizon[idx].tolist(),
                        "loss": data.loss[idx].tolist(),
                        "peak": None if data.peak is None else data.peak[idx].tolist(),
                        "N": None if data.N is None else data.N[idx].tolist()}
        self.boot_ = self._bootstrap(data, idx, problem, res.z)
        warns = [f"parameter {name} = {self.params_[name]:.4g} sits at its bound "
                 f"{self._bound_text(name)}: the data do not pin it" for name in self.at_bound_]
        for w in (curvature_warning(res.residuals, data.T[idx], "T"),
                  curvature_warning(res.residuals, data.N[idx], "N")
                  if data.N is not None and self.sized else None):
            if w:
                warns.append(w)
        if self.n_boot and len(self.boot_) < 0.5 * self.n_boot:
            warns.append(f"only {len(self.boot_)} of {self.n_boot} bootstrap resamples of the "
                         f"{self.n_runs_} runs have more distinct points than the "
                         f"{len(params)} parameters: intervals are unreliable (add runs)")
        warns += self._diagnose(data, idx)
        self.warnings_ = warns
        return self

    def _bound_text(self, name: str) -> str:
        lo, hi = self.bounds_[name]
        return f"[{lo:.4g}, {hi:.4g}]"

    def _bootstrap(self, data: LawData, idx: np.ndarray, problem: Problem, z: np.ndarray
                   ) -> np.ndarray:
        """Resample runs (within each model size) with replacement and refit (all
        replicates at once, each from the full-data solution)."""
        if self.n_boot == 0:
            return np.empty((0, problem.k))
        rng = np.random.default_rng(self.random_state)
        groups = data.group[idx]
        labels = list(np.unique(groups))
        if self.sized and data.N is not None:
            strata: dict[float, list[int]] = {}
            for g in labels:
                strata.setdefault(float(data.N[idx[groups == g][0]]), []).append(g)
            order = list(strata.values())
        else:
            order = [labels]
        return bootstrap(problem, z, idx, groups, self.n_boot, rng, order, delta=self.delta)

    # ---------------------------------------------------------------- evaluation helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"this {self.kind} is not fitted yet: call fit() first")

    def _samples(self) -> list[dict[str, float]]:
        out = []
        for row in self.boot_:
            v = dict(self.params_)
            v.update(dict(zip(self.free_, row, strict=True)))
            out.append(v)
        return out

    def _with_interval(self, fn: Callable[[dict[str, float]], np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point estimate and bootstrap percentile interval of fn(params)."""
        point = np.asarray(fn(self.params_), dtype=np.float64)
        samples = self._samples()
        if not samples:
            nan = np.full(point.shape, np.nan)
            return point, nan, nan
        S = np.array([fn(v) for v in samples], dtype=np.float64)
        q = 100 * (1 - self.level) / 2
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanpercentile(S, [q, 100 - q], axis=0)
        return point, lo, hi

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` restores a law that predicts identically."""
        self._check_fitted()
        return {
            "kind": self.kind, "format": 1, "hyper": self._hyper(), "mode": self.mode_,
            "params": {k: float(v) for k, v in self.params_.items()},
            "stderr": {k: _finite_or_none(v) for k, v in self.stderr_.items()},
            "free": list(self.free_),
            "bounds": {k: list(v) for k, v in self.bounds_.items()},
            "at_bound": list(self.at_bound_), "boot": self.boot_.tolist(),
            "t_ref": self.t_ref_, "N_ref": self.N_ref_, "spec": self.spec_,
            "pilots": self.pilots_, "points": self.points_, "n_points": self.n_points_,
            "n_runs": self.n_runs_,
            "metrics": {k: _finite_or_none(float(v)) for k, v in self.metrics_.items()},
            "warnings": list(self.warnings_),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Law:
        """Rebuild a fitted law from ``to_dict`` output (any kind)."""
        if not isinstance(d, dict) or d.get("kind") not in LAW_KINDS:
            raise ValueError("not a convexlaw law: expected a dict with 'kind' in "
                             f"{sorted(LAW_KINDS)}, got {str(d)[:80]!r}")
        try:
            law = LAW_KINDS[d["kind"]](**d["hyper"])
            law.mode_ = d["mode"]
            law.params_ = {k: float(v) for k, v in d["params"].items()}
            law.stderr_ = {k: (float("nan") if v is None else float(v))
                           for k, v in d["stderr"].items()}
            law.free_ = list(d["free"])
            law.bounds_ = {k: tuple(v) for k, v in d["bounds"].items()}
            law.at_bound_ = list(d["at_bound"])
            law.boot_ = np.array(d["boot"], dtype=np.float64).reshape(-1, len(law.free_))
            law.t_ref_ = float(d["t_ref"])
            law.N_ref_ = None if d["N_ref"] is None else float(d["N_ref"])
            law.spec_ = d["spec"]
            law.pilots_ = d["pilots"]
            law.points_ = d["points"]
            law.n_points_, law.n_runs_ = int(d["n_points"]), int(d["n_runs"])
            law.metrics_ = {k: (float("nan") if v is None else v)
                            for k, v in d["metrics"].items()}
            law.warnings_ = list(d["warnings"])
            law.flags_ = variant_flags(law.variant)
            law._restore(d)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed {d.get('kind')} record: {err!r}") from err
        return law

    # ---------------------------------------------------------------- report
    def _param_lines(self) -> list[str]:
        bounds = {k: v for k, v in self.bounds_.items() if k in self.free_}
        return param_lines(self.params_, self.stderr_, bounds, self.at_bound_)

    def _derived_lines(self) -> list[str]:
        return []

    def report(self) -> str:
        """A readable fit report (lmfit style): parameters, derived laws, fit quality."""
        self._check_fitted()
        m = self.metrics_
        head = (f"{self.kind} [{self.variant}] on {self.n_points_} points from "
                f"{self.n_runs_} runs ({self.mode_} mode); {len(self.free_)} free parameters,"
                f" {len(self.boot_)} bootstrap refits")
        lines = [head, "parameters:", *self._param_lines()]
        lines += self._derived_lines()
        lines.append(f"fit: R² {m['R2']:.4f}  RMSE {m['RMSE']:.4g}  mean rel. error "
                     f"{100 * m['PredE']:.3f} %  worst {100 * m['WorstE']:.3f} %")
        lines += [f"warning: {w}" for w in self.warnings_]
        return "\n".join(lines)
