"""Per-sample gradient norms and the structural gap of JJᵀ (our reading of Qi, Gong & Li).

For one sample with logits z ∈ R^C and J = ∂z/∂θ (C × P), the chain rule gives
∇θℓ = Jᵀ∇_zℓ, so ‖∇θℓ‖² = ∇_zℓᵀ(JJᵀ)∇_zℓ and, by the Rayleigh quotient,

    ‖∇θℓ‖² / λ_max(JJᵀ)  ≤  ‖∇_zℓ‖²  ≤  ‖∇θℓ‖² / λ_min(JJᵀ).

Qi, Gong & Li (*Extended convexity and smoothness and their applications in deep
learning*, arXiv 2410.05807) read the training objective through these two factors: the
local gradient norm ‖∇θℓ‖, which SGD drives down, and the structural error
log(λ_max/λ_min) of JJᵀ, which architecture and initialisation control. Taking the
per-sample Gram matrix JJᵀ of the logits and this log-ratio as "the structural error" is
**our reading** of that paper, not a formula quoted from it.

Computed with ``torch.func`` (``vmap`` over samples of ``jacrev`` and ``grad``) with the
model in eval mode, so that each sample's logits depend on that sample alone (BatchNorm
uses its running statistics here, not the batch's). ∇θℓ is computed by its own per-sample
backward pass, not as Jᵀ∇_zℓ, so the bounds are a real check on every sample. Only for
models with few outputs per sample (``max_outputs``; the MLP and CNN classifiers, not the
byte-GPT's context × 256 logits).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, grad, jacrev, vmap

__all__ = ["per_sample"]

BOUND_RTOL = 1e-4  # float32 rounding of ‖∇θℓ‖² against the eigenvalues' products


def per_sample(model: torch.nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
               *, max_outputs: int = 64, chunk: int = 4) -> dict[str, np.ndarray] | None:
    """Per sample: ``grad_norm`` ‖∇θℓ‖, ``gz_norm`` ‖∇_zℓ‖, ``lam_min``/``lam_max`` of JJᵀ,
    ``gap`` log(λ_max/λ_min) and ``bounds_hold`` (1/0). None when a sample has more than
    ``max_outputs`` outputs."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b for n, b in model.named_buffers()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            z_all = model(x[:1])
        if z_all[0].numel() > max_outputs:
            return None

        def logits(p: dict, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(model, ({**p, **frozen}, buffers),
                                   (xi.unsqueeze(0),)).reshape(-1)

        def loss_of_logits(z: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            return loss_fn(z.reshape(1, -1), yi.reshape(1))

        def loss_one(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            return loss_of_logits(logits(p, xi), yi)

        out = {k: [] for k in ("grad_norm", "gz_norm", "lam_min", "lam_max")}
        for i in range(0, len(x), chunk):
            xc, yc = x[i:i + chunk], y[i:i + chunk]
            jac = vmap(jacrev(logits), in_dims=(None, 0))(params, xc)  # name -> (n, C, ...)
            gram = 0
            for n in names:  # Σ over tensors of J_p J_pᵀ, summed in float64
                j = jac[n].reshape(jac[n].shape[0], jac[n].shape[1], -1)
                gram = gram + torch.bmm(j, j.transpose(1, 2)).double()
            ev = torch.linalg.eigvalsh(gram)  # (n, C), ascending
            with torch.no_grad():
                z = vmap(logits, in_dims=(None, 0))(params, xc)
            gz = vmap(grad(loss_of_logits))(z, yc)
            gt = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, xc, yc)
            gt2 = sum(g.reshape(g.shape[0], -1).pow(2).sum(1).double() for g in gt.values())
            out["grad_norm"].append(gt2.sqrt())
            out["gz_norm"].append(gz.pow(2).sum(1).double().sqrt())
            out["lam_min"].append(ev[:, 0])
            out["lam_max"].append(ev[:, -1])
    finally:
        model.train(was_training)
    res = {k: torch.cat(v).cpu().numpy() for k, v in out.items()}
    g2, gz2 = res["grad_norm"] ** 2, res["gz_norm"] ** 2
    slack = BOUND_RTOL * g2 + 1e-30
    res["bounds_hold"] = ((g2 <= res["lam_max"] * gz2 + slack)
                          & (res["lam_min"] * gz2 <= g2 + slack)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        res["gap"] = np.log(res["lam_max"] / res["lam_min"])
    return res
