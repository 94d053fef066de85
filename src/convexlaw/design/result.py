"""What a design returns: the designed schedule, its starts and baselines, as data.

A ``Candidate`` is one schedule (spec string, or None for a free spline) with its peak and
the fitted model's predicted loss; a ``Design`` holds the designed candidate, the family
members the search started from, the baselines (cosine and WSD at their tuned peaks) and
the predicted curves for the figure. ``Design.to_csv`` writes the designed per-step LRs
so that ``csv(path=...)`` reads them back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Candidate", "Design"]


@dataclass
class Candidate:
    """One schedule with its peak and the model's predicted loss (objective value)."""

    label: str
    spec: str | None
    shape: np.ndarray = field(repr=False)
    peak: float
    loss: float
    params: dict[str, Any] = field(default_factory=dict)
    peak_mode: str = "tuned"  # "tuned" | "fixed"

    @property
    def lrs(self) -> np.ndarray:
        return self.peak * self.shape

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "spec": self.spec, "peak": self.peak, "loss": self.loss,
                "peak_mode": self.peak_mode, "params": self.params}


@dataclass
class Design:
    """The designed schedule, the members it started from, and the baselines."""

    family: str
    steps: int
    horizons: list[int]
    weights: list[float]
    model: str
    designed: Candidate
    starts: list[Candidate]
    baselines: list[Candidate]
    fast: bool
    notes: list[str] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def lrs(self) -> np.ndarray:
        """The designed per-step learning rates (exactly ``schedule(spec, T, peak)``)."""
        return self.designed.lrs

    def to_csv(self, path: str | Path) -> str:
        """Write the designed LRs as CSV (step, lr); returns the spec that reads them back.

        ``schedule(spec, T, peak)`` then reproduces ``lrs`` exactly.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lrs = self.lrs
        with path.open("w") as fh:
            fh.write("step,lr\n")
            fh.writelines(f"{i},{v!r}\n" for i, v in enumerate(lrs.tolist(), start=1))
        return f"csv(path={path})"

    def gains(self) -> list[dict[str, Any]]:
        """Predicted loss of each baseline minus the design's (> 0: the design is better),
        for baselines at the same kind of peak as the design (fixed or tuned)."""
        out = []
        for b in self.baselines:
            if b.peak_mode != self.designed.peak_mode:
                continue
            out.append({"baseline": b.label, "peak_mode": b.peak_mode,
                        "gain": b.loss - self.designed.loss,
                        "relative": (b.loss - self.designed.loss) / b.loss})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "steps": self.steps, "horizons": self.horizons,
                "weights": self.weights, "model": self.model,
                "designed": self.designed.to_dict(),
                "starts": [c.to_dict() for c in self.starts],
                "baselines": [c.to_dict() for c in self.baselines], "gains": self.gains(),
                "fast_path": self.fast, "notes": self.notes, "curves": self.curves}
