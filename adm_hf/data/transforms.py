"""Batch transforms for ``Dataset.with_transform`` and the collator that goes with them.

They follow the transformers image-classification example: the transform turns ``image``/
``label`` columns into ``pixel_values``/``labels`` and drops every other column, so the
batches fit ``Trainer`` with ``remove_unused_columns=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torchvision.transforms import v2

from adm_hf.data.images import decode_rgb

TRAIN_AUGMENTS = ("rrc", "pad_crop", "none")
DEFAULT_CROP_PCT = 0.875  # resize to size / 0.875, then centre-crop: the usual ImageNet evaluation

Size = int | tuple[int, int]


def build_transforms(
    image_processor: Any = None,
    *,
    train: bool,
    size: Size | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    train_augment: str = "rrc",
) -> Callable[[dict[str, list]], dict[str, list]]:
    """Build the batch transform for ``ds.with_transform``.

    Geometry and normalisation come from ``image_processor`` (anything with ``size``,
    ``image_mean``, ``image_std``, as HF image processors have); ``size``/``mean``/``std``
    override it or replace it when it is ``None``. ``size`` as ``(h, w)`` resizes straight to
    it; a single edge resizes the shortest edge to ``edge / crop_pct`` and centre-crops.

    Training augmentation: ``"rrc"`` RandomResizedCrop(``crop_scale``) + flip (ImageNet style),
    ``"pad_crop"`` RandomCrop with ``size // 8`` padding + flip (the CIFAR standard for small
    images trained from scratch), ``"none"`` the eval pipeline.
    """
    if train_augment not in TRAIN_AUGMENTS:
        raise ValueError(f"train_augment must be one of {TRAIN_AUGMENTS}, got {train_augment!r}")
    size = size if size is not None else _attribute(image_processor, "size")
    mean = mean if mean is not None else _attribute(image_processor, "image_mean")
    std = std if std is not None else _attribute(image_processor, "image_std")
    resize, crop = _geometry(size, image_processor)
    if not train or train_augment == "none":
        geometry = [v2.Resize(resize), v2.CenterCrop(crop)]
    elif train_augment == "rrc":
        geometry = [v2.RandomResizedCrop(crop, scale=crop_scale), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.Resize(crop), v2.RandomCrop(crop, padding=min(crop) // 8), v2.RandomHorizontalFlip()]
    pipeline = v2.Compose(
        [v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    )
    return partial(_transform_batch, pipeline)  # a partial, not a closure: DataLoader workers can pickle it


def collate_images(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack transformed rows into a batch (the ``collate_fn`` of the transformers example)."""
    return {
        "pixel_values": torch.stack([feature["pixel_values"] for feature in features]),
        "labels": torch.tensor([int(feature["labels"]) for feature in features], dtype=torch.long),
    }


def _transform_batch(pipeline: v2.Compose, batch: dict[str, list]) -> dict[str, list]:
    images = batch["image"]
    kind = "index" if "index" in batch else "batch position"  # without an index column, only the position is known
    rows = batch.get("index", range(len(images)))
    pixels = [pipeline(decode_rgb(image, f"{kind} {row}")) for image, row in zip(images, rows)]
    out: dict[str, list] = {"pixel_values": [tensor.as_subclass(torch.Tensor) for tensor in pixels]}
    if "label" in batch:
        out["labels"] = [int(label) for label in batch["label"]]
    return out


def _attribute(image_processor: Any, name: str) -> Any:
    value = getattr(image_processor, name, None)
    if value is None:
        raise ValueError(f"no {name}: pass an image_processor that has one, or pass size, mean and std explicitly")
    return value


def _geometry(size: Any, image_processor: Any) -> tuple[Size, tuple[int, int]]:
    """``(resize, crop)`` for evaluation, as HF processors define them.

    ``size`` may be an int, ``(h, w)``, or a dict / ``SizeDict`` with ``height``+``width`` or
    ``shortest_edge``; a processor's ``crop_size`` (CLIP style) or ``crop_pct`` (ConvNeXt
    style) decides how much is cropped after resizing the shortest edge.
    """
    if hasattr(size, "get"):
        size = (size["height"], size["width"]) if size.get("height") else size.get("shortest_edge")
    if isinstance(size, Sequence):
        height, width = size
        return (height, width), (height, width)
    if not isinstance(size, int):
        raise ValueError(f"unsupported size {size!r}: use an int, (height, width) or a dict with those keys")
    crop_size = getattr(image_processor, "crop_size", None)
    if crop_size is not None and crop_size.get("height"):
        return size, (crop_size["height"], crop_size["width"])
    crop_pct = getattr(image_processor, "crop_pct", None) or DEFAULT_CROP_PCT
    return round(size / crop_pct), (size, size)
