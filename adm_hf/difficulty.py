"""Per-sample difficulty measures: loss, logit-gradient norm and the Adversarial Difficulty Measure (ADM).

Every measure returns one detached float32 number per sample; larger means harder.

* ``"loss"``       d_i = ℓ_i = CE(z_i, y_i)                                        cost: free (clean logits)
* ``"grad_norm"``  d_i = ‖∂ℓ_i/∂z_i‖₂ = ‖softmax(z_i) − t_i‖₂                      cost: free (clean logits)
* ``"adm"``        d_i = N(ℓ(x_i + δ_i) − ℓ(x_i))  with δ_i from FGSM or PGD          cost: +1 forward online

ADM keeps ranking samples near flat minima, where losses and gradient norms are uniformly small, because a
flat-minimum model is robust *unevenly*: the loss gap under a small input-space attack still separates samples.
Its online cost is one forward on ``x + δ`` because SAM's ascent backward can produce ``∂ℓ/∂x`` for free
(see ``adm_scores(input_grad=...)``). The normalisation ``N`` is one of ``NORMALIZATIONS`` (``normalize_gap``).

Extra forwards (clean, attack, adversarial) run in the model's current mode under ``frozen_bn_stats`` so
BatchNorm running statistics never see them, and input gradients are taken with ``torch.autograd.grad`` with
respect to the input only, so parameter ``.grad`` buffers stay untouched.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adm_hf.batchnorm import frozen_bn_stats

DIFFICULTIES = ("adm", "loss", "grad_norm")
ATTACKS = ("fgsm", "pgd")
NORMALIZATIONS = ("mean", "clean_loss", "none")

# Madry et al. (2018) use a step of 2.5·ε/steps; with one step it clips to ε, i.e. PGD-1 defaults to FGSM.
PGD_DEFAULT_STEP_FACTOR = 2.5

Forward = Callable[[nn.Module, Tensor], Tensor]


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def per_sample_loss(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy per sample, ``ℓ_i = −Σ_c t_ic log softmax(z_i)_c``, in float32.

    Models return a mean loss; SPL weights and every difficulty need one loss per sample, so they are rebuilt from
    the logits. The upcast keeps bf16/fp16 logits (autocast) from losing the small differences we rank by.
    """
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (batch, classes), got {tuple(logits.shape)}")
    return F.cross_entropy(logits.float(), labels, reduction="none", label_smoothing=label_smoothing)


def smoothed_targets(labels: Tensor, num_classes: int, label_smoothing: float = 0.0) -> Tensor:
    """``t = (1 − ε)·onehot(y) + ε/C``: the target distribution PyTorch's label-smoothed cross-entropy uses."""
    onehot = F.one_hot(labels, num_classes).float()
    return onehot * (1.0 - label_smoothing) + label_smoothing / num_classes


@torch.no_grad()
def logit_grad_norm(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """``"grad_norm"`` difficulty: ``‖∂ℓ_i/∂z_i‖₂ = ‖softmax(z_i) − t_i‖₂``, exact and free (no backward).

    For a last layer ``z = W h + b`` the per-sample weight gradient is ``(p − t)[h, 1]ᵀ``, a rank-one matrix, so its
    Frobenius norm is this value times ``‖[h_i, 1]‖``: the measure is the last-layer gradient norm with the
    feature-norm factor removed (that factor ranks images by feature magnitude, not by how wrong the model is).
    """
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (batch, classes), got {tuple(logits.shape)}")
    probs = logits.float().softmax(dim=-1)
    return (probs - smoothed_targets(labels, logits.shape[-1], label_smoothing)).norm(dim=-1)


def input_space_epsilon(
    epsilon: float, std: Sequence[float] | None, num_channels: int, *, device, dtype
) -> Tensor:
    """L∞ radius ``ε`` given in pixel units of [0, 1] images, expressed in the model's normalised input space.

    Normalisation ``x̂ = (x − μ)/σ`` maps a pixel-space step ``ε`` on channel ``c`` to ``ε/σ_c``; the result has shape
    ``(C, 1, 1)`` and broadcasts over ``(B, C, H, W)``. With ``std=None`` the inputs are assumed to already be in
    [0, 1] pixel units and ``ε`` is used as is.
    """
    if not (epsilon >= 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon}")
    if std is None:
        return torch.full((num_channels, 1, 1), float(epsilon), device=device, dtype=dtype)
    std_t = torch.as_tensor(list(std), device=device, dtype=torch.float64)
    if std_t.numel() != num_channels:
        raise ValueError(f"std has {std_t.numel()} entries but the inputs have {num_channels} channels")
    if not bool((std_t > 0).all()):
        raise ValueError(f"std must be positive, got {list(std)}")
    return (epsilon / std_t).view(num_channels, 1, 1).to(dtype)


def fgsm_delta(input_grad: Tensor, epsilon: Tensor | float) -> Tensor:
    """FGSM (Goodfellow et al. 2015): ``δ = ε · sign(∂ℓ/∂x)``, the L∞-optimal step for the loss linearised at ``x``.

    The sign makes δ invariant to any positive scaling of the gradient (fp16 loss scale, 1/accumulation steps,
    batch-mean reduction), which is what lets the trainer reuse the gradient of SAM's ascent backward.
    """
    return input_grad.sign() * torch.as_tensor(epsilon, device=input_grad.device, dtype=input_grad.dtype)


def _clip(delta: Tensor, epsilon: Tensor) -> Tensor:
    return torch.maximum(torch.minimum(delta, epsilon), -epsilon)


def pgd_delta(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    epsilon: Tensor | float,
    *,
    steps: int,
    step_size: Tensor | float,
    random_start: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD (Madry et al. 2018) in the L∞ ball: ``δ ← clip(δ + α · sign(∇_δ Σ_i ℓ_i(x + δ)), −ε, ε)``, ``steps`` times.

    ``loss_fn`` returns per-sample losses; their sum decouples the samples (each δ_i ascends its own loss, up to
    train-mode BatchNorm coupling). ``random_start`` draws δ₀ ~ U(−ε, ε) from ``generator`` (on ``x.device``);
    otherwise δ₀ = 0, and then one step with ``α = ε`` is exactly FGSM. Gradients are taken with respect to δ only,
    so parameter ``.grad`` buffers are never touched.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = x.detach()
    eps = torch.as_tensor(epsilon, device=x.device, dtype=x.dtype)
    alpha = torch.as_tensor(step_size, device=x.device, dtype=x.dtype)
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = (2 * noise - 1) * eps
    else:
        delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss_fn(x + delta).sum(), delta)
        delta = _clip(delta.detach() + alpha * grad.sign(), eps)
    return delta


def normalize_gap(
    gap: Tensor, clean_loss: Tensor, mode: str, running_mean: float | None, eps: float = 1e-8
) -> Tensor:
    """Scale the adversarial loss gap ``g_i = ℓ(x_i + δ_i) − ℓ(x_i)`` so scores are comparable over training.

    * ``"none"``:       ``g_i``
    * ``"clean_loss"``: ``g_i / (ℓ(x_i) + eps)`` — relative gap; per-sample, so it can reorder samples
    * ``"mean"``:       ``g_i / (m + eps)`` with ``m`` the running mean of ``|g|`` (batch mean of ``|g|`` when None);
      a constant shared by all samples, so it keeps the raw gap's order and only removes the drift of its scale
    """
    _check_choice("normalization", mode, NORMALIZATIONS)
    if mode == "none":
        return gap
    if mode == "clean_loss":
        return gap / (clean_loss + eps)
    scale = gap.abs().mean() if running_mean is None else torch.as_tensor(running_mean, device=gap.device)
    return gap / (scale + eps)


class RunningMean:
    """Exponential moving average of the batch mean ``|gap|``: the denominator of the ``"mean"`` normalisation.

    ``value ← momentum · value + (1 − momentum) · mean|gap|``; the first observation replaces. Scores from early
    and late training then live on one scale, so a table that mixes them stays rankable.
    """

    def __init__(self, momentum: float = 0.99) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, values: Tensor) -> None:
        """Fold in one batch; a non-finite or empty batch is skipped so one overflow cannot poison the scale."""
        if values.numel() == 0:
            return
        batch = float(values.detach().abs().float().mean())
        if not math.isfinite(batch):
            return
        if self._value is None:
            self._value = batch
        else:
            self._value = self.momentum * self._value + (1.0 - self.momentum) * batch

    def state_dict(self) -> dict[str, float]:
        return {"value": math.nan if self._value is None else self._value, "momentum": self.momentum}

    def load_state_dict(self, state: dict[str, float]) -> None:
        value = float(state["value"])
        self._value = None if math.isnan(value) else value
        self.momentum = float(state.get("momentum", self.momentum))


def logits_of(outputs: Any) -> Tensor:
    """The logits of a classifier's output: a tensor, an HF ``ModelOutput``/dict with ``logits``, or a tuple.

    Tuples follow the HF convention: ``(loss, logits, ...)`` when the first element is a scalar loss, else
    ``(logits, ...)``.
    """
    if isinstance(outputs, Tensor):
        return outputs
    if isinstance(outputs, Mapping):
        return outputs["logits"]
    if hasattr(outputs, "logits"):
        return outputs.logits
    first = outputs[0]
    return outputs[1] if first.ndim == 0 and len(outputs) > 1 else first


def default_forward(model: nn.Module, x: Tensor) -> Tensor:
    """Logits of ``model(pixel_values=x)`` for models that name their input so (HF vision models), else of
    ``model(x)`` (plain modules, and DDP wrappers, which pass positional inputs through)."""
    try:
        named = "pixel_values" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        named = False
    return logits_of(model(pixel_values=x) if named else model(x))


def adm_scores(
    model: nn.Module,
    pixel_values: Tensor,
    labels: Tensor,
    *,
    epsilon: Tensor | float,
    attack: str = "fgsm",
    pgd_steps: int = 1,
    pgd_step_size: Tensor | float | None = None,
    pgd_random_start: bool = False,
    normalization: str = "none",
    running_mean: float | None = None,
    input_grad: Tensor | None = None,
    clean_logits: Tensor | None = None,
    label_smoothing: float = 0.0,
    generator: torch.Generator | None = None,
    forward: Forward | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Adversarial Difficulty Measure: ``score_i = N(ℓ(x_i + δ_i) − ℓ(x_i))``; returns ``(scores, clean, adv)``.

    All three are per-sample, detached float32. The model's mode is never changed and every forward runs under
    ``frozen_bn_stats``. Cost in forward units (backward = 2):

    * clean loss: 0 with ``clean_logits`` (e.g. from SAM's ascent forward), else 1;
    * FGSM direction: 0 with ``input_grad`` (SAM's ascent backward, sign-invariant to its scaling), else a
      forward + input-only backward (3, shared with the clean loss when both are computed here);
    * PGD: 3 per step (``pgd_step_size`` defaults to 2.5·ε/steps; ``input_grad`` is not used);
    * adversarial forward: 1, under ``torch.no_grad()``.

    ``input_grad`` must be ``∂ℓ_i/∂x_i`` up to a positive per-sample factor: a gradient of an SPL-weighted loss
    is zero for samples with ``v_i = 0``, which makes their δ and gap zero.
    """
    _check_choice("attack", attack, ATTACKS)
    _check_choice("normalization", normalization, NORMALIZATIONS)
    fwd = forward or default_forward
    x = pixel_values.detach()
    eps = torch.as_tensor(epsilon, device=x.device, dtype=x.dtype)

    def losses(inp: Tensor) -> Tensor:
        return per_sample_loss(fwd(model, inp), labels, label_smoothing)

    clean = None if clean_logits is None else per_sample_loss(clean_logits.detach(), labels, label_smoothing)
    with frozen_bn_stats(model):
        if attack == "fgsm":
            if input_grad is None:
                x_req = x.clone().requires_grad_(True)
                with torch.enable_grad():
                    loss = losses(x_req)
                    (input_grad,) = torch.autograd.grad(loss.sum(), x_req)
                if clean is None:
                    clean = loss.detach()
            delta = fgsm_delta(input_grad.detach().to(x.dtype), eps)
        else:
            step = PGD_DEFAULT_STEP_FACTOR * eps / pgd_steps if pgd_step_size is None else pgd_step_size
            delta = pgd_delta(
                losses, x, eps, steps=pgd_steps, step_size=step, random_start=pgd_random_start, generator=generator
            )
        with torch.no_grad():
            if clean is None:
                clean = losses(x)
            adv = losses(x + delta)
    gap = adv - clean
    scores = normalize_gap(gap, clean, normalization, running_mean)
    return scores.detach(), clean.detach(), adv.detach()
