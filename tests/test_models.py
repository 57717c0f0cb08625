"""Backbones (`load_backbone`) and the bundled accuracy metric, offline on random data."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
import pytest
import timm
import torch
from datasets import Dataset
from transformers import AutoModelForImageClassification, BertConfig, EvalPrediction, TimmWrapperForImageClassification

from adm_hf import ADMConfig, ADMTrainer
from adm_hf.metrics import build_compute_metrics
from adm_hf.models import TINY_PRESETS, load_backbone

ID2LABEL = {0: "cat", 1: "dog", 2: "bird"}


def random_images(n: int = 16, size: int = 32, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset.from_dict(
        {
            "pixel_values": rng.standard_normal((n, 3, size, size), dtype=np.float32),
            "labels": rng.integers(0, len(ID2LABEL), n),
        }
    ).with_format("torch")


def logits(model, pixel_values: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(pixel_values=pixel_values).logits


@pytest.mark.parametrize("preset", list(TINY_PRESETS))
def test_tiny_preset_trains_with_sam_saves_and_reloads(preset, tmp_path):
    model, processor = load_backbone(preset, 3, ID2LABEL)
    assert model.config.num_labels == 3 and model.config.id2label == ID2LABEL
    assert model.config.label2id == {"cat": 0, "dog": 1, "bird": 2}
    assert list(processor.image_mean) == [0.5] * 3 and list(processor.image_std) == [0.5] * 3
    assert (processor.size["height"], processor.size["width"]) == (32, 32)

    args = ADMConfig(
        output_dir=str(tmp_path / "run"),
        use_cpu=True,
        report_to=[],
        sam=True,
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        save_strategy="no",
    )
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = ADMTrainer(model=model, args=args, train_dataset=random_images(), processing_class=processor)
    trainer.train()
    assert any(not torch.equal(before[name], p) for name, p in model.named_parameters())

    trainer.save_model(str(tmp_path / "saved"))
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "saved")
    x = random_images(4, seed=1)[:4]["pixel_values"]
    torch.testing.assert_close(logits(reloaded, x), logits(model, x), atol=1e-6, rtol=0)
    assert reloaded.config.id2label == ID2LABEL

    # The saved directory is a valid `load_backbone` source: same labels keep the trained head.
    again, again_processor = load_backbone(str(tmp_path / "saved"), 3, ID2LABEL)
    torch.testing.assert_close(logits(again, x), logits(model, x), atol=1e-6, rtol=0)
    assert list(again_processor.image_mean) == [0.5] * 3


def test_local_path_with_new_labels_keeps_body_and_replaces_head(tmp_path):
    model, processor = load_backbone("tiny-resnet", 3, ID2LABEL)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    fresh, _ = load_backbone(str(tmp_path), 5)
    assert fresh.config.num_labels == 5 and fresh.config.id2label[4] == "LABEL_4"
    assert fresh.classifier[-1].out_features == 5
    body = model.resnet.embedder.embedder.convolution.weight
    torch.testing.assert_close(fresh.resnet.embedder.embedder.convolution.weight, body)
    scratch, _ = load_backbone(str(tmp_path), 5, from_scratch=True)
    assert not torch.equal(scratch.resnet.embedder.embedder.convolution.weight, body)


@pytest.mark.parametrize("architecture", ["test_resnet", "test_vit"])
def test_timm_checkpoint_loads_through_the_transformers_wrapper(architecture, tmp_path):
    """A directory in the layout of the Hub's `timm/...` repos (written by timm itself)."""
    original = timm.create_model(architecture, pretrained=False)
    timm.models.save_for_hf(original, str(tmp_path), safe_serialization=True)
    model, processor = load_backbone(str(tmp_path), 4, image_size=64)
    assert isinstance(model, TimmWrapperForImageClassification)
    assert model.config.num_labels == 4 and model.timm_model.get_classifier().out_features == 4
    assert (processor.size["height"], processor.size["width"]) == (64, 64)
    assert logits(model, torch.randn(2, 3, 64, 64)).shape == (2, 4)
    body = {k: v for k, v in original.state_dict().items() if not k.startswith(("fc.", "head.", "pos_embed"))}
    loaded = model.timm_model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in body.items())


def test_image_size_changes_patch_grid_and_processor():
    model, processor = load_backbone("tiny-vit", 2, image_size=48)
    assert model.config.image_size == 48 and processor.size["height"] == 48
    assert logits(model, torch.randn(1, 3, 48, 48)).shape == (1, 2)


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown model 'tiny-nope'.*tiny-resnet"):
        load_backbone("tiny-nope", 3)
    with pytest.raises(ValueError, match="num_labels must be >= 1"):
        load_backbone("tiny-resnet", 0)
    with pytest.raises(ValueError, match="id2label must map exactly the ids 0..2"):
        load_backbone("tiny-resnet", 3, {0: "a", 1: "b"})
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="BertConfig.*no image-classification architecture"):
        load_backbone(str(tmp_path), 3)


def test_compute_metrics_exact_accuracy_and_top5():
    scores = np.tile(np.arange(10, dtype=np.float32), (4, 1))  # every row ranks class 9 first, then 8, 7, ...
    labels = np.array([9, 5, 4, 0])  # ranks 1, 5, 6 and 10
    metrics = build_compute_metrics(10)(EvalPrediction(predictions=scores, label_ids=labels))
    assert metrics == {"accuracy": 0.25, "top5_accuracy": 0.5}
    few = build_compute_metrics(3)(EvalPrediction(predictions=(scores[:, :3], None), label_ids=np.array([2, 0, 2, 1])))
    assert few == {"accuracy": 0.5}
