"""Optimizers: SGD (momentum, weight decay), AdamW, Muon (with AdamW on the rest), and
the paper's Muon-NSGD.

Every optimizer here takes the *peak* learning rate as its base LR; the schedule
multiplies it (``convexlaw.schedules.lambda_lr``), so the LR of update t is exactly
``convexlaw.schedule(spec, T, peak)[t-1]``.

Muon (Jordan et al. 2024) orthogonalises the momentum of each hidden weight matrix with a
Newton–Schulz iteration and steps along it:

    B_t = μ B_{t-1} + (1-μ) g_t,   U_t = NS(g_t + μ (B_t - g_t))   (Nesterov)
    θ_t = (1 - η λ) θ_{t-1} - η · 0.2 · √max(rows, cols) · U_t

The factor 0.2·√max(rows, cols) (Moonshot's "match RMS of AdamW") gives the update the
RMS of an AdamW update, so Muon and the AdamW that handles the remaining parameters
(embeddings, input layer, output head, biases, norms) share one peak LR and one schedule.
``torch.optim.Muon`` is used when this torch has it and every hidden weight is 2-D; the
implementation below (float32, conv kernels flattened to (out, in·k·k)) otherwise.

Muon-NSGD (``muon-nsgd``, the optimizer of Bu, Xu & Mao's two-dimensional law): ONE
learning rate η for every parameter, the same Nesterov momentum m_t (as above), and

    2-D weights (every one: embeddings and head too):  θ ← θ − η·√max(1, rows/cols)·NS(m_t)
    all other tensors (biases, norms):                  θ ← θ − η·m_t/‖m_t‖

(Keller Jordan's original Muon scale; normalised SGD per tensor, so every step of such a
tensor has norm exactly η). Weight decay, if any, is decoupled: θ ← (1 − ηλ)θ first.

Example::

    >>> g = torch.randn(64, 32)
    >>> s = torch.linalg.svdvals(newton_schulz(g, steps=30, coefficients=(1.5, -0.5, 0.0)))
    >>> bool(torch.allclose(s, torch.ones(32), atol=1e-4))
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw", "muon", "muon-nsgd")
DEFAULT_MOMENTUM = {"sgd": 0.9, "adamw": 0.9, "muon": 0.95, "muon-nsgd": 0.95}
ADAM_BETA2 = 0.95
# Jordan's quintic: slope 3.4445 at 0 orthogonalises in 5 steps to singular values ~U(0.7, 1.2)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: torch.Tensor, steps: int = 5,
                  coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  eps: float = 1e-7) -> torch.Tensor:
    """Approximate the orthogonal polar factor U Vᵀ of ``g = U S Vᵀ`` (2-D).

    X₀ = g / ‖g‖_F (so every singular value is ≤ 1), then ``steps`` times
    X ← a X + (b A + c A²) X with A = X Xᵀ, which maps each singular value σ to
    p(σ) = a σ + b σ³ + c σ⁵. With (a, b, c) = (1.5, -0.5, 0) this is the classical cubic
    Newton–Schulz iteration, converging to exactly 1; the default quintic trades exactness
    for speed. Works on the wide orientation (rows ≤ cols) so A is the smaller Gram matrix.
    """
    if g.ndim != 2:
        raise ValueError(f"newton_schulz needs a 2-D matrix, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    # float64 stays float64 (for tests against the SVD); half precisions are promoted
    x = g if g.dtype in (torch.float32, torch.float64) else g.float()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(g.dtype)


def _momentum(state: dict, g: torch.Tensor, mu: float, nesterov: bool) -> torch.Tensor:
    """The momentum both Muon variants orthogonalise: buf ← μ·buf + (1 − μ)·g (kept in
    ``state``), then g + μ(buf − g) with Nesterov, else buf."""
    buf = state.setdefault("momentum_buffer", torch.zeros_like(g))
    buf.lerp_(g, 1 - mu)
    return g.lerp(buf, mu) if nesterov else buf


class Muon(torch.optim.Optimizer):
    """Muon for weights of 2 or more dimensions (a conv kernel is seen as (out, rest))."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95,
                 weight_decay: float = 0.0, nesterov: bool = True, ns_steps: int = 5) -> None:
        if lr < 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"Muon: need lr ≥ 0, 0 ≤ momentum < 1, weight_decay ≥ 0; got "
                             f"lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, ns_steps=ns_steps))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(f"Muon needs weights of ≥ 2 dims, got {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.reshape(p.shape[0], -1)
                update = _momentum(self.state[p], g, mu, group["nesterov"])
                update = newton_schulz(update, group["ns_steps"])
                scale = 0.2 * math.sqrt(max(g.shape))
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update.view_as(p), alpha=-lr * scale)
        return loss


class MuonNSGD(torch.optim.Optimizer):
    """Muon on every weight of ≥ 2 dims, normalised SGD on the rest, one LR (see above).

    A weight of more than 2 dims (a conv kernel) is orthogonalised as (out, rest).
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.95,
                 weight_decay: float = 0.0, nesterov: bool = True, ns_steps: int = 5,
                 eps: float = 1e-12) -> None:
        if lr < 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"MuonNSGD: need lr ≥ 0, 0 ≤ momentum < 1, weight_decay ≥ 0; "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, ns_steps=ns_steps, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = _momentum(self.state[p], p.grad, mu, group["nesterov"])
                if p.ndim >= 2:
                    m2 = m.reshape(p.shape[0], -1)
                    rows, cols = m2.shape
                    update = newton_schulz(m2, group["ns_steps"]).view_as(p)
                    update = update * math.sqrt(max(1.0, rows / cols))
                else:
                    # a zero momentum (no signal yet) leaves the tensor where it is
                    update = m / m.norm().clamp(min=group["eps"])
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr)
        return loss


def split_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden weights for Muon, everything else for AdamW).

    Hidden = weights with ≥ 2 dims that the model does not list in ``model.non_hidden``
    (embeddings, the input layer, the output head).
    """
    skip = {id(p) for p in getattr(model, "non_hidden", [])}
    hidden, rest = [], []
    for p in model.parameters():
        if p.requires_grad:
            (hidden if p.ndim >= 2 and id(p) not in skip else rest).append(p)
    return hidden, rest


def build_optimizers(name: str, model: nn.Module, peak: float, momentum: float | None = None,
                     weight_decay: float = 0.0) -> tuple[list[torch.optim.Optimizer], str]:
    """The optimizer(s) for ``model`` at base LR ``peak``; returns (optimizers, impl name).

    Muon comes as [Muon, AdamW] (AdamW for the non-hidden parameters); the caller
    schedules each with the same spec and steps them together.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    mom = DEFAULT_MOMENTUM[name] if momentum is None else momentum
    if not 0 <= mom < 1:
        raise ValueError(f"momentum must be in [0, 1), got {mom!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return [torch.optim.SGD(params, lr=peak, momentum=mom, weight_decay=weight_decay)], "sgd"
    if name == "adamw":
        return [torch.optim.AdamW(params, lr=peak, betas=(mom, ADAM_BETA2),
                                  weight_decay=weight_decay)], "adamw"
    if name == "muon-nsgd":
        return [MuonNSGD(params, lr=peak, momentum=mom, weight_decay=weight_decay)], \
            "convexlaw.MuonNSGD"
    hidden, rest = split_params(model)
    if not hidden:
        raise ValueError("muon: the model has no hidden weight matrices to orthogonalise")
    if hasattr(torch.optim, "Muon") and all(p.ndim == 2 for p in hidden):
        muon = torch.optim.Muon(hidden, lr=peak, momentum=mom, weight_decay=weight_decay,
                                nesterov=True, adjust_lr_fn="match_rms_adamw")
        impl = "torch.optim.Muon"
    else:
        muon, impl = Muon(hidden, lr=peak, momentum=mom, weight_decay=weight_decay), \
            "convexlaw.Muon"
    adamw = torch.optim.AdamW(rest, lr=peak, betas=(0.9, ADAM_BETA2), weight_decay=weight_decay)
    return [muon, adamw], impl + "+adamw"
