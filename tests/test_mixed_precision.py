"""fp16 on CPU: Accelerate turns fp16 on only on accelerators, so the tests switch on its native AMP by hand (CPU
fp16 autocast) and hand it torch's CPU GradScaler before training; everything after that (autocast forward,
scaled backward, unscale in clipping, inf checks, skipped optimizer steps, scale updates) is the Trainer's and
Accelerate's own fp16 path."""

from __future__ import annotations

import torch
from helpers import DictDataset, TinyCNN, assert_same_state, config, params_of

from adm_hf import ADMTrainer


def train_with_scaler(tmp_path, scale: float | None, max_steps: int = 4, **overrides):
    """Train; with `scale`, in fp16 autocast with a GradScaler starting at that scale."""
    model = TinyCNN()
    args = config(
        tmp_path, max_steps=max_steps, max_grad_norm=1.0, train_sampling_strategy="sequential", fp16=scale is not None,
        **overrides,
    )
    trainer = ADMTrainer(model=model, args=args, train_dataset=DictDataset())
    if scale is not None:
        trainer.accelerator.native_amp = True
        trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=1000)
    trainer.train()
    return trainer, model


def test_sam_step_is_invariant_to_the_loss_scale(tmp_path):
    """Loss scales 2^12 and 2^9 give the same parameters: e(w) ignores the scale and the scaler unscales once."""
    trainer, scaled = train_with_scaler(tmp_path / "a", 2.0**12, gradient_accumulation_steps=2)
    _, unit = train_with_scaler(tmp_path / "b", 2.0**9, gradient_accumulation_steps=2)
    assert trainer.accelerator.scaler.get_scale() == 2.0**12 and trainer.skipped_ascents == 0
    assert_same_state(params_of(scaled), params_of(unit), atol=1e-6)


def test_overflow_skips_ascent_and_optimizer_step_with_finite_weights(tmp_path):
    model_before = params_of(TinyCNN())
    """At 2^20 the fp16 gradients overflow: ascents are skipped and counted, the scaler skips the optimizer step
    and halves the scale until it fits, then training proceeds."""
    trainer, model = train_with_scaler(tmp_path, 2.0**20, max_steps=8, curriculum="spl")
    scaler = trainer.accelerator.scaler
    assert trainer.skipped_ascents >= 1
    assert scaler.get_scale() < 2.0**20
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    assert any((model_before[k] - v).abs().max() > 0 for k, v in params_of(model).items() if "weight" in k)


def test_bf16_on_cpu_trains_with_finite_weights(tmp_path):
    trainer, model = train_with_scaler(tmp_path, None, bf16=True, curriculum="spl")
    assert trainer.accelerator.mixed_precision == "bf16"
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    assert trainer.skipped_ascents == 0 and trainer.scores.num_seen > 0
