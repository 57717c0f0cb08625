"""Difficulty measures against autograd and hand-derived closed forms; side effects on the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adm_hf.difficulty import (
    RunningMean,
    adm_scores,
    default_forward,
    fgsm_delta,
    input_space_epsilon,
    logit_grad_norm,
    normalize_gap,
    per_sample_loss,
    pgd_delta,
)


def batch(n=8, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * 3, torch.randint(0, c, (n,), generator=g)


# ------------------------------------------------------------------------------------------- loss and grad norm


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_per_sample_loss_matches_cross_entropy(smoothing):
    logits, labels = batch()
    ref = F.cross_entropy(logits, labels, reduction="none", label_smoothing=smoothing)
    torch.testing.assert_close(per_sample_loss(logits, labels, smoothing), ref)


def test_per_sample_loss_bf16_is_float32():
    logits, labels = batch()
    low = logits.bfloat16()
    out = per_sample_loss(low, labels, 0.1)
    assert out.dtype == torch.float32
    ref = F.cross_entropy(low.double(), labels, reduction="none", label_smoothing=0.1)
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert per_sample_loss(low, labels).dtype == torch.float32
    with pytest.raises(ValueError, match="batch, classes"):
        per_sample_loss(logits[None], labels)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_logit_grad_norm_matches_autograd(smoothing):
    logits, labels = batch(seed=1)
    z = logits.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(
        F.cross_entropy(z, labels, reduction="sum", label_smoothing=smoothing), z
    )  # sum ⇒ row i is ∂ℓ_i/∂z_i
    torch.testing.assert_close(logit_grad_norm(logits, labels, smoothing), grad.norm(dim=1))


def test_logit_grad_norm_is_last_layer_grad_over_feature_norm():
    torch.manual_seed(0)
    head = nn.Linear(6, 4)
    h = torch.randn(3, 6)
    y = torch.tensor([0, 2, 3])
    for i in range(3):
        head.zero_grad()
        F.cross_entropy(head(h[i : i + 1]), y[i : i + 1]).backward()
        full = torch.cat([head.weight.grad.flatten(), head.bias.grad]).norm()
        feat = torch.cat([h[i], torch.ones(1)]).norm()
        torch.testing.assert_close(logit_grad_norm(head(h[i : i + 1]), y[i : i + 1])[0], full / feat)


# --------------------------------------------------------------------------------------------- attack primitives


def test_input_space_epsilon():
    eps = input_space_epsilon(2 / 255, [0.5, 0.25, 0.2], 3, device="cpu", dtype=torch.float32)
    assert eps.shape == (3, 1, 1)
    torch.testing.assert_close(eps.flatten(), torch.tensor([4 / 255, 8 / 255, 10 / 255]))
    raw = input_space_epsilon(0.03, None, 1, device="cpu", dtype=torch.float64)
    assert raw.shape == (1, 1, 1) and raw.dtype == torch.float64 and raw.item() == 0.03
    with pytest.raises(ValueError, match="3 channels"):
        input_space_epsilon(0.1, [0.5, 0.5], 3, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="positive"):
        input_space_epsilon(0.1, [0.5, 0.0, 0.5], 3, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="epsilon"):
        input_space_epsilon(-0.1, None, 3, device="cpu", dtype=torch.float32)


def test_fgsm_delta():
    grad = torch.tensor([[[[0.5, -2.0], [0.0, 1e-9]]]])
    torch.testing.assert_close(fgsm_delta(grad, 0.1), torch.tensor([[[[0.1, -0.1], [0.0, 0.1]]]]))
    per_channel = torch.tensor([0.1, 0.2]).view(2, 1, 1)
    out = fgsm_delta(torch.ones(1, 2, 1, 1), per_channel)
    assert out.flatten().tolist() == pytest.approx([0.1, 0.2])


def test_normalize_gap_modes():
    gap = torch.tensor([0.5, -0.25, 1.0])
    clean = torch.tensor([1.0, 0.5, 4.0])
    torch.testing.assert_close(normalize_gap(gap, clean, "none", None), gap)
    torch.testing.assert_close(normalize_gap(gap, clean, "clean_loss", None), gap / (clean + 1e-8))
    torch.testing.assert_close(normalize_gap(gap, clean, "mean", 0.25), gap / (0.25 + 1e-8))
    torch.testing.assert_close(normalize_gap(gap, clean, "mean", None), gap / (gap.abs().mean() + 1e-8))
    with pytest.raises(ValueError, match="normalization"):
        normalize_gap(gap, clean, "max", None)


def test_running_mean():
    rm = RunningMean(momentum=0.75)
    assert rm.value is None and math.isnan(rm.state_dict()["value"])
    rm.update(torch.tensor([1.0, -3.0]))
    assert rm.value == 2.0
    rm.update(torch.tensor([4.0]))
    assert rm.value == pytest.approx(0.75 * 2 + 0.25 * 4)
    rm.update(torch.tensor([math.inf]))
    rm.update(torch.tensor([]))
    assert rm.value == pytest.approx(2.5)
    other = RunningMean(momentum=0.9)
    other.load_state_dict(rm.state_dict())
    assert other.value == pytest.approx(2.5) and other.momentum == 0.75
    other.load_state_dict(RunningMean().state_dict())
    assert other.value is None
    with pytest.raises(ValueError, match="momentum"):
        RunningMean(momentum=1.0)


# ------------------------------------------------------------------------------------------------------ ADM


def linear_model(d=6, c=4, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(d, c).double()
    x = torch.randn(10, d, dtype=torch.float64)
    y = torch.randint(0, c, (10,))
    return model, x, y


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_adm_fgsm_linear_softmax_closed_form(smoothing):
    model, x, y = linear_model()
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    X, Y = x.numpy(), y.numpy()
    C, eps = W.shape[0], 0.3

    def ce(Z):
        Z = Z - Z.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        T = np.eye(C)[Y] * (1 - smoothing) + smoothing / C
        return -(T * logp).sum(axis=1), np.exp(logp), T

    clean, P, T = ce(X @ W.T + b)
    grad_x = (P - T) @ W  # ∇_x ℓ = Wᵀ(p − t), one row per sample
    adv, _, _ = ce((X + eps * np.sign(grad_x)) @ W.T + b)

    for normalization, expected in [
        ("none", adv - clean),
        ("clean_loss", (adv - clean) / (clean + 1e-8)),
        ("mean", (adv - clean) / (0.7 + 1e-8)),
    ]:
        scores, c_out, a_out = adm_scores(
            model, x, y, epsilon=eps, normalization=normalization, running_mean=0.7, label_smoothing=smoothing
        )
        assert scores.dtype == c_out.dtype == a_out.dtype == torch.float32
        np.testing.assert_allclose(c_out.numpy(), clean, rtol=1e-5)
        np.testing.assert_allclose(a_out.numpy(), adv, rtol=1e-5)
        np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-4, atol=1e-6)
    assert (adv > clean).all()


def test_adm_input_grad_and_clean_logits_supplied_equal_internal():
    model, x, y = linear_model(seed=1)
    internal = adm_scores(model, x, y, epsilon=0.2)
    xr = x.clone().requires_grad_(True)
    logits = model(xr)
    F.cross_entropy(logits, y).mul(1024.0).backward()  # a mean, loss-scaled gradient: same signs
    supplied = adm_scores(model, x, y, epsilon=0.2, input_grad=xr.grad, clean_logits=logits.detach())
    for a, b in zip(internal, supplied):
        torch.testing.assert_close(a, b)


def test_pgd_one_step_equals_fgsm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    eps = torch.tensor([0.1, 0.2, 0.05, 0.1, 0.3])
    fgsm = adm_scores(model, x, y, epsilon=eps)
    pgd = adm_scores(model, x, y, epsilon=eps, attack="pgd", pgd_steps=1, pgd_step_size=eps)
    pgd_default = adm_scores(model, x, y, epsilon=eps, attack="pgd", pgd_steps=1)  # 2.5·ε clips to ε
    for a, b, c in zip(fgsm, pgd, pgd_default):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)


def test_pgd_stays_in_ball_and_beats_fgsm_on_nonlinear_net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 4))
    with torch.no_grad():  # large weights saturate tanh: the loss is far from linear within the ball
        for layer in model[::2]:
            layer.weight.mul_(3.0)
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
    eps = 0.5

    def loss_fn(z):
        return per_sample_loss(model(z), y)

    gen = torch.Generator().manual_seed(1)
    delta = pgd_delta(loss_fn, x, eps, steps=20, step_size=eps / 5, random_start=True, generator=gen)
    assert delta.abs().max() <= eps + 1e-7
    _, _, fgsm_adv = adm_scores(model, x, y, epsilon=eps)
    _, _, pgd_adv = adm_scores(model, x, y, epsilon=eps, attack="pgd", pgd_steps=20, pgd_step_size=eps / 5)
    assert pgd_adv.mean() > fgsm_adv.mean() * 1.1
    assert (pgd_adv >= fgsm_adv - 1e-4).float().mean() > 0.9
    torch.testing.assert_close(per_sample_loss(model(x + delta), y).mean(), pgd_adv.mean(), rtol=0.05, atol=0)


def test_pgd_random_start_uses_generator_and_validates_steps():
    x = torch.zeros(4, 3)

    def loss_fn(z):
        return (z**2).sum(dim=1)

    a = pgd_delta(loss_fn, x, 0.1, steps=1, step_size=0.0, random_start=True, generator=torch.Generator().manual_seed(3))
    b = pgd_delta(loss_fn, x, 0.1, steps=1, step_size=0.0, random_start=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.abs().max() <= 0.1 and a.abs().min() > 0
    with pytest.raises(ValueError, match="steps"):
        pgd_delta(loss_fn, x, 0.1, steps=0, step_size=0.1, random_start=False)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.0),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("train_mode", [True, False])
def test_adm_leaves_bn_stats_grads_and_mode_untouched(attack, train_mode):
    torch.manual_seed(0)
    model = SmallCNN()
    model.train()
    model(torch.randn(8, 3, 6, 6))  # non-trivial running stats
    model.train(train_mode)
    model.head.weight.grad = torch.full_like(model.head.weight, 0.5)  # an accumulated gradient to preserve
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(6, 3, 6, 6), torch.randint(0, 5, (6,))
    eps = input_space_epsilon(8 / 255, [0.25, 0.25, 0.25], 3, device="cpu", dtype=torch.float32)

    scores, clean, adv = adm_scores(model, x, y, epsilon=eps, attack=attack, pgd_steps=2, normalization="mean")

    assert model.training is train_mode and all(m.training is train_mode for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, buffers[k]), k  # weights, running_mean/var, num_batches_tracked
    assert torch.equal(model.head.weight.grad, torch.full_like(model.head.weight, 0.5))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "head.weight")
    assert scores.shape == clean.shape == adv.shape == (6,)
    assert not scores.requires_grad and torch.isfinite(scores).all()
    assert (adv >= clean - 1e-6).mean(dtype=torch.float32) > 0.5  # the attack mostly raises the loss


def test_adm_clean_loss_in_current_mode():
    torch.manual_seed(0)
    model = SmallCNN().train()
    x, y = torch.randn(6, 3, 6, 6), torch.randint(0, 5, (6,))
    _, clean_train, _ = adm_scores(model, x, y, epsilon=0.0)
    with torch.no_grad():
        torch.testing.assert_close(clean_train, per_sample_loss(model(x), y))  # batch statistics
        model.eval()
        _, clean_eval, adv_eval = adm_scores(model, x, y, epsilon=0.0)
        torch.testing.assert_close(clean_eval, per_sample_loss(model(x), y))  # running statistics
    torch.testing.assert_close(adv_eval, clean_eval)  # ε = 0 ⇒ zero gap


class HFStyle(nn.Module):
    """Mimics a Hugging Face vision model: keyword `pixel_values`, output with `.logits`."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 3)

    def forward(self, pixel_values, labels=None):
        class Out:
            pass

        out = Out()
        out.logits = self.net(pixel_values)
        return out


def test_default_forward_and_custom_forward():
    torch.manual_seed(0)
    hf, plain = HFStyle(), nn.Linear(4, 3)
    x = torch.randn(2, 4)
    torch.testing.assert_close(default_forward(hf, x), hf.net(x))
    torch.testing.assert_close(default_forward(plain, x), plain(x))
    y = torch.tensor([0, 2])
    a = adm_scores(hf, x, y, epsilon=0.1)
    b = adm_scores(hf.net, x, y, epsilon=0.1, forward=lambda m, z: m(z))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)


def test_adm_validation():
    model, x, y = linear_model()
    with pytest.raises(ValueError, match="attack"):
        adm_scores(model, x, y, epsilon=0.1, attack="cw")
    with pytest.raises(ValueError, match="normalization"):
        adm_scores(model, x, y, epsilon=0.1, normalization="zscore")
