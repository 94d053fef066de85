"""The diagnoser: a callback for any PyTorch training loop that measures convexity.

Checks happen at steps t = 0, k, 2k, … (t = updates done; k = ``every``) and at the end,
all on one fixed evaluation batch. At each check: the loss and gradient (path checks,
:mod:`.path`); the update that follows it, probed at five points along its direction
(:mod:`.direction`); at every ``hessian_every``-th check (or at the steps
``hessian_steps``) also the Hessian's extremes (:mod:`.hessian`) and per-sample
quantities (:mod:`.jacobian`). The parameters, their gradients and the model's buffers
(BatchNorm statistics) are restored bit for bit after every measurement, and no random
number generator is touched: a run with diagnostics has the same curves as one without.

Use it in a loop with ``before_update(t)`` right before the optimizer step of update t,
``after_update(t, lr)`` right after it, and ``finish()`` at the end::

    diag = Diagnoser(model, loss_fn, (x_eval, y_eval), every=50)
    for t in range(1, T + 1):
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward()
        diag.before_update(t)
        opt.step()
        diag.after_update(t, lr=opt.param_groups[0]["lr"])
    result = diag.finish()          # a Convexity record; result.summary()["t0"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .direction import PROBES, probe_quadratic
from .errors import ConvexityError
from .hessian import hessian_extremes, trainable
from .jacobian import per_sample
from .path import PathRecorder
from .result import CHECK_FIELDS, Convexity

__all__ = ["Diagnoser"]


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ConvexityError(f"{name} must be a positive integer (steps), got {v!r}")
    return int(v)


class Diagnoser:
    """Convexity diagnostics along one run (see the module docstring).

    ``batch``: the fixed evaluation batch (inputs, targets); ``loss_fn(outputs, targets)``
    its mean loss. ``every``: the cadence in updates; ``hessian_every``: Hessian and
    per-sample readings at every so many checks (and at the last); ``hessian_steps``:
    instead, the steps (updates done) whose checks take them, and only those (the
    harness's default, :mod:`.cadence`); ``checks``: the number of checks expected
    (reserves the checkpoints' memory); ``eps``: the probe step
    along the update direction (default: each update's own learning rate); ``reference``:
    a flat parameter vector w* for the star gaps (default: the final iterate);
    ``samples``: how many of the batch's samples enter the per-sample readings;
    ``lanczos_tol``/``lanczos_steps``/``lanczos_method``: the Lanczos accuracy (relative
    residual), budget (Hessian-vector products) and routine (``hessian_extremes``);
    ``checkpoint_dir``: keep the checkpoints on disk there instead of in memory.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, batch: tuple, *,
                 every: int, hessian_every: int = 10,
                 hessian_steps: Collection[int] | None = None, checks: int | None = None,
                 eps: float | None = None,
                 reference: torch.Tensor | np.ndarray | None = None, samples: int = 8,
                 lanczos_tol: float = 1e-2, lanczos_steps: int = 40,
                 lanczos_method: str = "lanczos", max_outputs: int = 64,
                 checkpoint_dir: str | Path | None = None) -> None:
        self.every = _positive_int("cadence (every)", every)
        self.hessian_every = _positive_int("hessian_every", hessian_every)
        self.hessian_steps = None
        if hessian_steps is not None:
            bad = [v for v in hessian_steps if isinstance(v, bool)
                   or not isinstance(v, int | np.integer) or v < 0]
            if bad:
                raise ConvexityError(f"hessian_steps must be steps ≥ 0, got {bad[0]!r}")
            self.hessian_steps = frozenset(int(v) for v in hessian_steps)
        if not isinstance(model, torch.nn.Module):
            raise ConvexityError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.params = trainable(model)
        if not self.params:
            raise ConvexityError(f"model {type(model).__name__} has no trainable parameters;"
                                 " convexity diagnostics need at least one")
        if eps is not None and not (isinstance(eps, int | float) and math.isfinite(eps)
                                    and eps > 0):
            raise ConvexityError(f"probe step eps must be a finite number > 0, got {eps!r}")
        if samples < 0:
            raise ConvexityError(f"samples must be ≥ 0, got {samples!r}")
        try:
            x, y = batch
        except (TypeError, ValueError):
            raise ConvexityError("batch must be a pair (inputs, targets)") from None
        self.model, self.loss_fn, self.batch = model, loss_fn, (x, y)
        self.eps, self.samples, self.max_outputs = eps, samples, max_outputs
        if lanczos_method not in ("lanczos", "arpack"):
            raise ConvexityError(f"lanczos_method {lanczos_method!r}: expected lanczos or "
                                 "arpack")
        _positive_int("lanczos_steps", lanczos_steps)
        if not (0 <= lanczos_tol < 1):
            raise ConvexityError(f"lanczos_tol must be in [0, 1), got {lanczos_tol!r}")
        self.lanczos = {"tol": lanczos_tol, "ncv": lanczos_steps, "method": lanczos_method}
        ref = None
        if reference is not None:
            w_ref = torch.as_tensor(reference).detach().reshape(-1)
            n = sum(p.numel() for p in self.params)
            if w_ref.numel() != n:
                raise ConvexityError(f"reference point has {w_ref.numel()} parameters, the "
                                     f"model {n}")
            with self._at(w_ref.to(self.params[0])):
                l_ref, _ = self._loss_grad(step=None)
            ref, self.reference_loss = (w_ref, l_ref), l_ref
        self.path = PathRecorder(checkpoint_dir, ref, capacity=checks)
        self.rows: list[dict[str, float]] = []
        self._pending: tuple[int, torch.Tensor] | None = None
        self.error: str | None = None
        self.updates, self.done = 0, False

    # ---------------------------------------------------------------- state handling
    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])  # a new tensor

    def _set(self, flat: torch.Tensor) -> None:
        with torch.no_grad():
            i = 0
            for p in self.params:
                p.copy_(flat[i:i + p.numel()].view_as(p))
                i += p.numel()

    @contextmanager
    def _at(self, flat: torch.Tensor | None = None, saved: torch.Tensor | None = None
            ) -> Iterator[None]:
        """Parameters (moved to ``flat`` if given) and buffers as they were, on exit.

        ``saved``: the current flat parameters, when the caller has them already. Without
        ``flat`` the parameters are not touched (the measurements inside read them only)
        and only the buffers (BatchNorm statistics) are restored."""
        buffers = [b.detach().clone() for b in self.model.buffers()]
        if flat is not None:
            saved = self._flat() if saved is None else saved
            self._set(flat)
        try:
            yield
        finally:
            if flat is not None:
                self._set(saved)
            with torch.no_grad():
                for b, v in zip(self.model.buffers(), buffers, strict=True):
                    b.copy_(v)

    def _loss(self) -> float:
        x, y = self.batch
        with torch.no_grad():
            return float(self.loss_fn(self.model(x), y))

    def _loss_grad(self, step: int | None) -> tuple[float, torch.Tensor]:
        x, y = self.batch
        loss = self.loss_fn(self.model(x), y)
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        g = torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1)
                       for h, p in zip(grads, self.params, strict=True)])
        value = float(loss.detach())
        where = "the reference point" if step is None else f"checkpoint step {step}"
        if not math.isfinite(value):
            raise ConvexityError(f"non-finite loss {value} on the evaluation batch at {where}")
        if not torch.isfinite(g).all():
            raise ConvexityError(f"non-finite gradient on the evaluation batch at {where}")
        return value, g.detach()

    # ---------------------------------------------------------------- the callback
    def before_update(self, t: int) -> None:
        """Call right before the optimizer applies update t (parameters = w_{t−1})."""
        if self.done or self.error is not None or (t - 1) % self.every:
            return
        self._guard(self._check, t - 1, True)

    def after_update(self, t: int, lr: float) -> None:
        """Call right after update t with its learning rate (parameters = w_t)."""
        self.updates = t
        if self._pending is None or self._pending[0] != t - 1 or self.error is not None:
            return
        self._guard(self._probe, t, float(lr))

    def finish(self, step: int | None = None) -> Convexity:
        """The last check at the current parameters (``step`` = updates done, default the
        last update seen), then the record."""
        if not self.done:
            step = self.updates if step is None else step
            last = self.path.steps[-1] if self.path.steps else -1
            if self.error is None and step > last:
                self._guard(self._check, step, False)
            self.done = True
        return self.result()

    def _guard(self, fn: Callable, *args: Any) -> None:
        """Run one measurement; a ConvexityError stops the diagnostics (kept in ``error``)."""
        try:
            fn(*args)
        except ConvexityError as err:
            self.error, self._pending = str(err), None

    def _check(self, step: int, probe_next: bool) -> None:
        c0 = time.process_time()
        with self._at():
            loss, g = self._loss_grad(step)
        w = self._flat()
        self.path.add(step, w, g, loss)
        row = {"loss": loss,
               "grad_norm": float(torch.linalg.vector_norm(g, dtype=torch.float64))}
        self.rows.append(row)
        self._pending = (step, w) if probe_next else None
        if self._reads_hessian(step, final=not probe_next):
            row.update(self._curvature_readings(step))
        row["cpu_seconds"] = time.process_time() - c0

    def _reads_hessian(self, step: int, final: bool) -> bool:
        if self.hessian_steps is not None:
            return step in self.hessian_steps
        return final or (len(self.path) - 1) % self.hessian_every == 0

    def _curvature_readings(self, step: int) -> dict[str, float]:
        out: dict[str, float] = {}
        with self._at():
            e = hessian_extremes(self.model, self.loss_fn, self.batch, **self.lanczos)
        if not (math.isfinite(e.lam_min) and math.isfinite(e.lam_max)):
            raise ConvexityError(f"non-finite Hessian eigenvalue ({e.lam_min}, {e.lam_max}) "
                                 f"on the evaluation batch at checkpoint step {step}")
        out.update(lam_max=e.lam_max, lam_min=e.lam_min, hvps=e.hvps,
                   converged=float(e.converged))
        if self.samples:
            x, y = self.batch
            with self._at():
                s = per_sample(self.model, self.loss_fn, x[:self.samples], y[:self.samples],
                               max_outputs=self.max_outputs)
            if s is not None:
                q25, q50, q75 = np.quantile(s["grad_norm"], [0.25, 0.5, 0.75])
                out.update(sample_grad_norm=q50, sample_grad_norm_q25=q25,
                           sample_grad_norm_q75=q75,
                           structural_gap=float(np.median(s["gap"])),
                           bounds_hold=float(s["bounds_hold"].mean()))
        return out

    def _probe(self, t: int, lr: float) -> None:
        """GeN along update t, which took w_{t−1} (kept) to the current w_t."""
        c0 = time.process_time()
        step, w_prev = self._pending
        self._pending = None
        row = self.rows[-1]
        row["lr"] = lr
        if not lr > 0:
            return  # no step taken: no direction to probe
        w_now = self._flat()
        d = (w_prev - w_now) / lr
        eps = self.eps if self.eps is not None else lr
        losses = []
        with self._at(w_prev, saved=w_now):
            for a in PROBES:
                if a == 0:
                    losses.append(row["loss"])
                    continue
                self._set(w_prev - (a * eps) * d)
                losses.append(self._loss())
        d_norm = float(torch.linalg.vector_norm(d, dtype=torch.float64))
        try:
            p = probe_quadratic(eps, losses, d_norm)
        except ValueError as err:
            raise ConvexityError(f"along the update after checkpoint step {step}: {err}"
                                 ) from None
        row.update(eps=eps, step_norm=d_norm,
                   **{k: (np.nan if v is None else v) for k, v in p.items()})
        row["cpu_seconds"] = row.get("cpu_seconds", 0.0) + time.process_time() - c0

    # ---------------------------------------------------------------- the record
    def result(self) -> Convexity:
        n = len(self.path)
        rows = (self.rows + [{}] * n)[:n]  # a check cut short by an error keeps its gaps
        checks = {k: np.array([r.get(k, np.nan) for r in rows], dtype=np.float64)
                  for k in CHECK_FIELDS}
        star, star_d2, which = self.path.star()
        settings = {"every": self.every, "hessian_every": self.hessian_every,
                    "hessian_steps": (None if self.hessian_steps is None
                                      else sorted(self.hessian_steps)),
                    "eps": self.eps, "samples": self.samples,
                    "eval_batch": int(len(self.batch[0])),
                    "parameters": int(sum(p.numel() for p in self.params)),
                    "dtype": str(self.params[0].dtype).removeprefix("torch."),
                    "lanczos": self.lanczos,
                    "checkpoints": "disk" if self.path.directory else "memory"}
        if self.path.reference is not None:
            settings["reference_loss"] = self.reference_loss
        return Convexity(steps=self.path.steps, checks=checks, gaps=self.path.gaps(),
                         sq_dist=self.path.sq_distances(), star_gap=star,
                         star_sq_dist=star_d2, reference=which, settings=settings,
                         error=self.error)
