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
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return torch.zeros(())
    grads = [p.grad for p in with_grad]
    if adaptive:
        grads = torch._foreach_mul(torch._foreach_abs([p.detach() for p in with_grad]), grads)
    norms = torch._foreach_norm(grads)
    device = norms[0].device
    return torch.stack([n.float().to(device) for n in norms]).norm(2)


@torch.no_grad()
def perturb(
    params: list[nn.Parameter], rho: float, adaptive: bool = False, backup: list[torch.Tensor] | None = None
) -> list[torch.Tensor] | None:
    """Move `w` to `w + e(w)` using the gradients currently in `.grad`; return the saved weights.

    `backup` (buffers shaped like `params`, e.g. the list returned by the previous call) is reused instead of
    allocating a copy of the model every step. Returns None (and leaves the weights alone) when the gradient norm is
    not finite, e.g. an fp16 overflow or a bad batch: the caller then takes a plain descent step for this micro-batch.
    """
    norm = ascent_norm(params, adaptive)
    if not torch.isfinite(norm):
        return None
    if backup is None or len(backup) != len(params):
        backup = [p.detach().clone() for p in params]
    else:
        torch._foreach_copy_(backup, [p.detach() for p in params])
    with_grad = [p for p in params if p.grad is not None]
    if with_grad:
        step = [p.grad for p in with_grad]
        if adaptive:
            step = torch._foreach_mul(torch._foreach_mul(with_grad, with_grad), step)
        torch._foreach_add_(with_grad, step, alpha=rho / (norm.item() + 1e-12))
    return backup


@torch.no_grad()
def restore_weights(params: list[nn.Parameter], backup: list[torch.Tensor]) -> None:
    torch._foreach_copy_(params, backup)
