"""One factory for every backbone: Hub ids, local directories, timm checkpoints and tiny offline presets.

Everything goes through the transformers Auto classes (timm checkpoints through transformers' own timm wrapper), so
every model this returns is a `PreTrainedModel` that `Trainer`, `save_pretrained`, `from_pretrained` and
`push_to_hub` handle natively. The image processor is always returned with `image_mean`, `image_std` and `size`,
which is all `adm_hf.data.build_transforms` needs, whatever the backbone.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    PretrainedConfig,
    PreTrainedModel,
    ResNetConfig,
    TimmWrapperConfig,
    TimmWrapperImageProcessor,
    ViTConfig,
    ViTImageProcessor,
)
from transformers.image_processing_utils import BaseImageProcessor
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING

__all__ = ["TINY_PRESETS", "load_backbone"]

_HALF = (0.5, 0.5, 0.5)


def _tiny_resnet(size: int, labels: dict) -> PretrainedConfig:
    return ResNetConfig(
        embedding_size=16, hidden_sizes=[32, 64, 128], depths=[1, 1, 1], layer_type="basic", **labels
    )


def _tiny_vit(size: int, labels: dict) -> PretrainedConfig:
    return ViTConfig(
        image_size=size,
        patch_size=max(size // 8, 1),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        **labels,
    )


def _tiny_timm_resnet(size: int, labels: dict) -> PretrainedConfig:
    # `pretrained_cfg` is where timm (and TimmWrapperImageProcessor) read the input size and normalisation from.
    pretrained_cfg = {"input_size": [3, size, size], "mean": _HALF, "std": _HALF, "crop_pct": 1.0}
    return TimmWrapperConfig(architecture="test_resnet", pretrained_cfg=pretrained_cfg, **labels)


TINY_PRESETS: dict[str, Callable[[int, dict], PretrainedConfig]] = {
    "tiny-resnet": _tiny_resnet,
    "tiny-vit": _tiny_vit,
    "tiny-timm-resnet": _tiny_timm_resnet,
}
"""Randomly initialised toy backbones (default input 32x32) that build offline and train on a CPU in seconds."""


def load_backbone(
    name_or_path: str,
    num_labels: int,
    id2label: dict[int, str] | None = None,
    *,
    from_scratch: bool = False,
    trust_remote_code: bool = False,
    image_size: int | None = None,
) -> tuple[PreTrainedModel, BaseImageProcessor]:
    """Build an image classifier with a fresh `num_labels` head, and the image processor that feeds it.

    `name_or_path` is a tiny preset (`TINY_PRESETS`), a Hub id (transformers or `timm/...`) or a directory written by
    `save_pretrained`. Pretrained bodies are kept and only the head is re-created; `from_scratch` keeps just the
    architecture. `image_size` changes the input resolution: always the processor's, and for patch-grid models the
    architecture's too (timm resamples pretrained position embeddings; transformers ViTs re-initialise them).
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be >= 1, got {num_labels}.")
    labels = _label_kwargs(num_labels, id2label)
    if name_or_path in TINY_PRESETS:
        model = AutoModelForImageClassification.from_config(TINY_PRESETS[name_or_path](image_size or 32, labels))
    else:
        model = _load_model(name_or_path, labels, from_scratch, trust_remote_code, image_size)
    if isinstance(model.config, TimmWrapperConfig):
        if image_size:
            _resize_timm(model, image_size)
        return model, _timm_processor(model.config)
    if name_or_path in TINY_PRESETS:
        return model, _square_processor(image_size or 32)
    processor = AutoImageProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    return model, _resized(processor, image_size) if image_size else processor


def _load_model(
    name_or_path: str, labels: dict, from_scratch: bool, trust_remote_code: bool, image_size: int | None
) -> PreTrainedModel:
    _check_resolvable(name_or_path)
    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **labels)
    _check_image_classifier(name_or_path, config)
    if isinstance(config, TimmWrapperConfig) and config.model_args:
        # Recent timm repeats `num_classes` in `model_args`, which clashes with the head size the wrapper passes.
        config.model_args = {k: v for k, v in config.model_args.items() if k != "num_classes"} or None
    elif image_size and hasattr(config, "image_size"):
        config.image_size = image_size  # patch-grid models; pretrained position embeddings are re-initialised
    if from_scratch:
        model = AutoModelForImageClassification.from_config(config, trust_remote_code=trust_remote_code)
        model.config._name_or_path = ""  # random weights: the model card must not claim a base model
        return model
    return AutoModelForImageClassification.from_pretrained(
        name_or_path, config=config, ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code
    )


def _label_kwargs(num_labels: int, id2label: dict[int, str] | None) -> dict:
    """Always pass explicit names, so a checkpoint's old label names never outlive its replaced head."""
    if id2label is None:
        id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
    id2label = {int(i): str(name) for i, name in id2label.items()}
    if sorted(id2label) != list(range(num_labels)):
        raise ValueError(f"id2label must map exactly the ids 0..{num_labels - 1}, got keys {sorted(id2label)}.")
    return {"num_labels": num_labels, "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def _check_resolvable(name_or_path: str) -> None:
    """Fail fast on names that are neither a preset, a directory nor a Hub id (`org/name`)."""
    if "/" not in name_or_path and not os.path.isdir(name_or_path):
        raise ValueError(
            f"Unknown model {name_or_path!r}: expected a tiny preset ({', '.join(TINY_PRESETS)}), "
            "a Hub id such as 'microsoft/resnet-50' or 'timm/resnet50.a1_in1k', or a local directory."
        )


def _check_image_classifier(name_or_path: str, config: PretrainedConfig) -> None:
    remote = "AutoModelForImageClassification" in (getattr(config, "auto_map", None) or {})
    if not remote and type(config) not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING:
        raise ValueError(
            f"{name_or_path!r} is a {type(config).__name__} ({config.model_type!r}), which has no image-classification "
            "architecture in transformers; pick an image classifier (ViT, ResNet, ConvNeXt, a timm model, ...)."
        )


def _square_processor(size: int) -> BaseImageProcessor:
    return ViTImageProcessor(size={"height": size, "width": size}, image_mean=_HALF, image_std=_HALF)


def _resized(processor: BaseImageProcessor, size: int) -> BaseImageProcessor:
    """Same processor, producing `size` x `size` inputs (shortest-edge processors keep their resize-then-crop)."""
    settings = processor.to_dict()
    shortest_edge = (settings.get("size") or {}).get("shortest_edge")
    overrides = {"size": {"shortest_edge": size} if shortest_edge else {"height": size, "width": size}}
    if settings.get("crop_size"):
        overrides["crop_size"] = {"height": size, "width": size}
    return type(processor).from_dict(settings, **overrides)


def _resize_timm(model: PreTrainedModel, size: int) -> None:
    """Record the size in `pretrained_cfg`, where timm reads its data config from.

    Models with position embeddings resample them with timm's `set_input_size`; the size goes to `model_args` so
    that `from_pretrained` rebuilds them with the same shape.
    """
    config = model.config
    config.pretrained_cfg = {**(config.pretrained_cfg or {}), "input_size": [3, size, size]}
    if hasattr(model.timm_model, "set_input_size"):
        model.timm_model.set_input_size(img_size=size)
        config.model_args = {**(config.model_args or {}), "img_size": [size, size]}


def _timm_processor(config: TimmWrapperConfig) -> TimmWrapperImageProcessor:
    """timm's processor, from the config as `AutoImageProcessor` builds it, with its settings under the usual names.

    timm keeps mean, std and input size in `data_config`; `build_transforms` reads `image_mean`/`image_std`/`size`.
    """
    processor = TimmWrapperImageProcessor(pretrained_cfg=config.pretrained_cfg, architecture=config.architecture)
    data = processor.data_config
    processor.image_mean = list(data["mean"])
    processor.image_std = list(data["std"])
    processor.size = {"height": data["input_size"][1], "width": data["input_size"][2]}
    return processor
