"""Sharpness-aware minimisation as plain functions on a list of parameters.

One SAM step (Foret et al. 2021; ASAM: Kwon et al. 2021) around weights `w` with ascent gradient `g`:

    e(w) = rho * g / ||g||                       (SAM)
    e(w) = rho * |w|^2 * g / || |w| * g ||       (ASAM, element-wise)

then the descent gradient is taken at `w + e(w)` and applied to `w`. The weights are restored from a saved copy
(not by subtracting `e`) so they come back bit for bit. `e` is invariant to a common scale of `g`, so gradients
still multiplied by an fp16 loss scale (or divided by the accumulation steps) give the same perturbation.
"""

from __future__ import annotations

import torch
from torch import nn


def trainable_params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def stash_grads(params: list[nn.Parameter]) -> list[torch.Tensor | None]:
    """Take the gradients accumulated so far out of the parameters so the ascent sees this micro-batch alone."""
    grads = [p.grad for p in params]
    for p in params:
        p.grad = None
    return grads


def restore_grads(params: list[nn.Parameter], grads: list[torch.Tensor | None]) -> None:
    for p, g in zip(params, grads):
        p.grad = g


def ascent_norm(params: list[nn.Parameter], adaptive: bool) -> torch.Tensor:
    """Global 2-norm of `g` (SAM) or `|w| * g` (ASAM) over the parameters that have a gradient, in float32."""
    norms = [
        ((p.detach().abs() * p.grad) if adaptive else p.grad).float().norm(2)
        for p in params
        if p.grad is not None
    ]
    if not norms:
        return torch.zeros(())
    device = norms[0].device
    return torch.stack([n.to(device) for n in norms]).norm(2)


@torch.no_grad()
def perturb(params: list[nn.Parameter], rho: float, adaptive: bool = False) -> list[torch.Tensor] | None:
    """Move `w` to `w + e(w)` using the gradients currently in `.grad`; return the saved weights.

    Returns None (and leaves the weights alone) when the gradient norm is not finite, e.g. an fp16 overflow or a
    bad batch: the caller then takes a plain descent step for this micro-batch.
    """
    norm = ascent_norm(params, adaptive)
    if not torch.isfinite(norm):
        return None
    backup = [p.detach().clone() for p in params]
    for p in params:
        if p.grad is None:
            continue
        e = p.grad.float() * (rho / (norm.to(p.device) + 1e-12))
        if adaptive:
            e = e * p.float().pow(2)
        p.add_(e.to(p.dtype))
    return backup


@torch.no_grad()
def restore_weights(params: list[nn.Parameter], backup: list[torch.Tensor]) -> None:
    for p, saved in zip(params, backup):
        p.copy_(saved)
