"""The SAM/ASAM step inside the HF Trainer, checked against a reference loop written here."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from helpers import DictDataset, TinyCNN, assert_same_state, config, params_of
from transformers import Trainer, TrainingArguments

from adm_hf import ADMConfig, ADMTrainer


def reference_sam(model, dataset, optimizer, *, steps, batch_size, accum, rho, adaptive):
    """Textbook SAM with per-micro-batch ascent; BatchNorm stats are restored after the perturbed pass."""
    params = [p for p in model.parameters() if p.requires_grad]
    bn_buffers = [b for name, b in model.named_buffers() if "running" in name or "num_batches" in name]
    model.train()
    cursor = 0
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        for _ in range(accum):
            idx = [i % len(dataset) for i in range(cursor, cursor + batch_size)]
            cursor += batch_size
            x = torch.stack([dataset[i]["pixel_values"] for i in idx])
            y = torch.stack([dataset[i]["labels"] for i in idx])
            kept = [None if p.grad is None else p.grad.clone() for p in params]
            for p in params:
                p.grad = None
            model(x, y)["loss"].backward()
            with torch.no_grad():
                scaled = [(p.abs() * p.grad) if adaptive else p.grad for p in params]
                norm = torch.sqrt(sum((s**2).sum() for s in scaled))
                weights = [p.clone() for p in params]
                for p in params:
                    p.add_(rho * (p**2 if adaptive else 1.0) * p.grad / (norm + 1e-12))
            for p, g in zip(params, kept):
                p.grad = g
            saved_bn = [b.clone() for b in bn_buffers]
            (model(x, y)["loss"] / accum).backward()
            with torch.no_grad():
                for b, s in zip(bn_buffers, saved_bn):
                    b.copy_(s)
                for p, w in zip(params, weights):
                    p.copy_(w)
        optimizer.step()
    return model


@pytest.mark.parametrize("optim", ["sgd", "adamw"])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("accum", [1, 2])
def test_sam_matches_reference_loop(tmp_path, optim, adaptive, accum):
    steps, batch_size, rho, lr = 3, 8, 0.05, 0.05
    model, dataset = TinyCNN(), DictDataset(n=48)
    reference = copy.deepcopy(model)

    def make_optimizer(m):
        if optim == "sgd":
            return torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
        return torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.0)

    optimizer = make_optimizer(model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    args = config(
        tmp_path,
        sam_rho=rho,
        sam_adaptive=adaptive,
        gradient_accumulation_steps=accum,
        max_steps=steps,
        train_sampling_strategy="sequential",
    )
    trainer = ADMTrainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, scheduler))
    trainer.train()

    reference_sam(
        reference,
        dataset,
        make_optimizer(reference),
        steps=steps,
        batch_size=batch_size,
        accum=accum,
        rho=rho,
        adaptive=adaptive,
    )
    worst = assert_same_state(params_of(model), params_of(reference), atol=1e-6)
    print(f"SAM parity optim={optim} adaptive={adaptive} accum={accum}: max |diff| = {worst:.2e}")
    # BatchNorm counted only the clean passes: one per micro-batch.
    assert model.bn.num_batches_tracked.item() == steps * accum


def test_sam_off_is_exactly_trainer(tmp_path):
    dataset = DictDataset(n=48)
    ours, theirs = TinyCNN(), TinyCNN()
    common = dict(
        use_cpu=True, report_to="none", max_steps=4, gradient_accumulation_steps=2, per_device_train_batch_size=8,
        learning_rate=0.05, max_grad_norm=1.0, seed=3,
    )
    ADMTrainer(
        model=ours, args=ADMConfig(str(tmp_path / "a"), sam=False, curriculum="none", **common), train_dataset=dataset
    ).train()
    Trainer(model=theirs, args=TrainingArguments(str(tmp_path / "b"), **common), train_dataset=dataset).train()
    assert_same_state(params_of(ours), params_of(theirs), atol=0.0)


def test_sam_changes_the_trajectory(tmp_path):
    """Guards the parity tests against passing because SAM silently did nothing."""
    dataset = DictDataset(n=48)
    with_sam, without = TinyCNN(), TinyCNN()
    ADMTrainer(model=with_sam, args=config(tmp_path / "a", sam_rho=0.5), train_dataset=dataset).train()
    ADMTrainer(model=without, args=config(tmp_path / "b", sam=False), train_dataset=dataset).train()
    diff = max((a - b).abs().max().item() for a, b in zip(with_sam.parameters(), without.parameters()))
    assert diff > 1e-4


def test_nonfinite_ascent_gradient_skips_perturbation(tmp_path):
    """An inf in the ascent gradient (as an fp16 overflow gives) skips e(w) but still takes the descent step."""
    model = TinyCNN()
    calls = {"n": 0}

    def poison_every_ascent(grad):  # the ascent is the first backward of each micro-batch
        calls["n"] += 1
        return torch.full_like(grad, float("inf")) if calls["n"] % 2 == 1 else grad

    model.head.weight.register_hook(poison_every_ascent)
    before = params_of(model)
    trainer = ADMTrainer(model=model, args=config(tmp_path, max_steps=2), train_dataset=DictDataset())
    trainer.train()
    assert trainer.skipped_ascents == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any((before[k] - v).abs().max() > 0 for k, v in params_of(model).items() if "weight" in k)
    logged = [h for h in trainer.state.log_history if "sam_skipped_ascents" in h]
    assert logged and logged[-1]["sam_skipped_ascents"] == 2


@pytest.mark.parametrize("mode", [dict(), dict(sam=False, curriculum="spl"), dict(curriculum="sampler")])
def test_nonfinite_loss_is_skipped_then_aborts(tmp_path, mode):
    dataset = DictDataset(n=16)
    dataset.x[3] = float("nan")  # one bad sample poisons one batch per epoch
    model = TinyCNN()
    trainer = ADMTrainer(
        model=model,
        args=config(tmp_path, max_steps=4, train_sampling_strategy="sequential", max_nonfinite_steps=1, **mode),
        train_dataset=dataset,
    )
    with pytest.raises(RuntimeError, match="non-finite loss"):
        trainer.train()
    assert trainer.nonfinite_steps == 2
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())  # weights and BN running stats


def test_resume_reproduces_uninterrupted_run(tmp_path):
    dataset = DictDataset(n=64)
    args = dict(max_steps=6, save_strategy="steps", save_steps=3, optim="adamw_torch", learning_rate=0.01)
    straight = TinyCNN()
    ADMTrainer(model=straight, args=config(tmp_path / "a", **args), train_dataset=dataset).train()
    resumed = TinyCNN(seed=1)  # weights come from the checkpoint
    trainer = ADMTrainer(model=resumed, args=config(tmp_path / "b", **args), train_dataset=dataset)
    trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-3"))
    assert_same_state(params_of(straight), params_of(resumed), atol=1e-6)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(sam_rho=0.0), "sam_rho"),
        (dict(sam_rho=-1.0), "sam_rho"),
        (dict(curriculum="easy-first"), "curriculum"),
        (dict(difficulty="entropy"), "difficulty"),
        (dict(adm_attack="cw"), "adm_attack"),
        (dict(adm_normalization="zscore"), "adm_normalization"),
        (dict(curriculum_pacing="cosine"), "curriculum_pacing"),
        (dict(spl_weighting="soft"), "spl_weighting"),
        (dict(adm_epsilon=-0.1), "adm_epsilon"),
        (dict(adm_pgd_steps=0), "adm_pgd_steps"),
        (dict(adm_pgd_step_size=0.0), "adm_pgd_step_size"),
        (dict(adm_input_std=[0.5, 0.0, 0.5]), "adm_input_std"),
        (dict(adm_mean_momentum=1.0), "adm_mean_momentum"),
        (dict(difficulty_ema=1.0), "difficulty_ema"),
        (dict(curriculum_start_fraction=0.0), "curriculum_start_fraction"),
        (dict(curriculum_end=1.5), "curriculum_end"),
        (dict(curriculum_root_p=0.0), "curriculum_root_p"),
        (dict(curriculum_num_steps=0), "curriculum_num_steps"),
        (dict(curriculum_explore_fraction=2.0), "curriculum_explore_fraction"),
        (dict(spl_mixture_ratio=1.0), "spl_mixture_ratio"),
        (dict(max_nonfinite_steps=-1), "max_nonfinite_steps"),
        (dict(deepspeed={"zero_optimization": {"stage": 2}}), "deepspeed"),
        (dict(fsdp="full_shard"), "fsdp"),
    ],
)
def test_bad_config_is_rejected(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path, **overrides)


def test_plain_training_arguments_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="ADMConfig"):
        ADMTrainer(model=TinyCNN(), args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True))


def test_sam_off_needs_no_rho(tmp_path):
    assert isinstance(config(tmp_path, sam=False, sam_rho=0.0), ADMConfig)
