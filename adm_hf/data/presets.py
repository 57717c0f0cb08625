"""``load_preset``: every supported dataset behind one call and one schema.

Each preset only reads its source into ``train`` (+ ``eval`` when the source fixes one) with
``image``/``label`` columns and class names; :func:`adm_hf.data.schema.unify` does the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, load_dataset, load_from_disk
from PIL import Image as PILImage

from adm_hf.data.cub import clean_class_name, load_cub_dir
from adm_hf.data.domainnet import leave_one_domain_out, load_domainnet_dir
from adm_hf.data.schema import class_names, normalise_columns, split_train_eval, unify

PRESETS = ("cifar10", "cifar100", "cub200", "domainnet", "digits", "imagefolder", "parquet")
HUB_IDS = {
    "cifar10": "uoft-cs/cifar10",
    "cifar100": "uoft-cs/cifar100",
    "cub200": "Donghyun99/CUB-200-2011",
    "domainnet": "wltjr1007/DomainNet",
}
SAVED_TO_DISK_MARKERS = ("dataset_dict.json", "state.json")

Loaded = tuple[DatasetDict, list[str]]


def load_preset(
    name: str,
    *,
    source: str | None = None,
    target_domain: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 42,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    coarse_labels: bool = False,
) -> DatasetDict:
    """Load a preset as ``DatasetDict(train=..., eval=...)`` with columns ``image``, ``label``, ``index``.

    ``source`` is a Hub id or a local path (defaults in ``HUB_IDS``; ``digits`` needs none).
    ``eval`` is the source's test split when it has one (CUB's official split, DomainNet's
    held-out ``target_domain``), otherwise a stratified ``validation_fraction`` of train.
    Images are left encoded (``Image(decode=False)``): decode them with :func:`build_transforms`.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {PRESETS}")
    _check_arguments(name, target_domain, validation_fraction, max_train_samples, max_eval_samples, coarse_labels)
    splits, names = _read(name, source, target_domain, coarse_labels)
    return unify(
        splits,
        names,
        validation_fraction=validation_fraction,
        seed=seed,
        max_train_samples=max_train_samples,
        max_eval_samples=max_eval_samples,
    )


def _check_arguments(
    name: str,
    target_domain: str | None,
    validation_fraction: float,
    max_train_samples: int | None,
    max_eval_samples: int | None,
    coarse_labels: bool,
) -> None:
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    for argument, value in (("max_train_samples", max_train_samples), ("max_eval_samples", max_eval_samples)):
        if value is not None and value < 1:
            raise ValueError(f"{argument} must be a positive number of samples, got {value}")
    if target_domain is not None and name != "domainnet":
        raise ValueError(f"target_domain applies to the domainnet preset only, not {name!r}")
    if coarse_labels and name != "cifar100":
        raise ValueError(f"coarse_labels applies to the cifar100 preset only, not {name!r}")


def _read(name: str, source: str | None, target_domain: str | None, coarse_labels: bool) -> Loaded:
    match name:
        case "cifar10":
            return _from_source(source or HUB_IDS[name])
        case "cifar100":
            label_column = "coarse_label" if coarse_labels else "fine_label"
            return _from_source(source or HUB_IDS[name], label_column=label_column)
        case "cub200":
            return _cub200(source or HUB_IDS[name])
        case "domainnet":
            return _domainnet(source or HUB_IDS[name], target_domain)
        case "digits":
            return _digits()
        case "imagefolder":
            return _from_source(_local_source(source, name), builder="imagefolder")
        case "parquet":
            return _from_source(_local_source(source, name))


def read_source(source: str, builder: str = "parquet") -> DatasetDict:
    """Read a Hub id, or a local file or directory (``builder`` files, or a ``save_to_disk`` dir)."""
    path = Path(source).expanduser()
    if path.is_dir() and any((path / marker).is_file() for marker in SAVED_TO_DISK_MARKERS):
        loaded = load_from_disk(str(path))
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict(train=loaded)
    if path.is_dir():
        return load_dataset(builder, data_dir=str(path))
    if path.is_file():
        return load_dataset(builder, data_files={"train": str(path)})
    if _looks_local(source):
        raise FileNotFoundError(f"the source {source} does not exist")
    return load_dataset(source)


def _looks_local(source: str) -> bool:
    """A Hub id is ``owner/name``; anything else shaped like a path must exist on disk."""
    return source.startswith((".", "~", "/")) or source.count("/") > 1 or Path(source).suffix == ".parquet"


def _local_source(source: str | None, preset: str) -> str:
    if source is None:
        raise ValueError(f"the {preset} preset needs source=<local path>")
    if not Path(source).expanduser().exists():
        raise FileNotFoundError(f"the {preset} source {source} does not exist")
    return source


def _from_source(
    source: str, *, builder: str = "parquet", label_column: str | None = None, keep: tuple[str, ...] = ()
) -> Loaded:
    """The shared path of cifar/parquet/imagefolder/Hub sources: read, pick columns, name classes."""
    splits = split_train_eval(read_source(source, builder))
    splits = DatasetDict(
        {name: normalise_columns(split, label_column=label_column, keep=keep) for name, split in splits.items()}
    )
    return splits, class_names(splits)


def _cub200(source: str) -> Loaded:
    path = Path(source).expanduser()
    if path.is_dir():
        return load_cub_dir(path)
    splits, names = _from_source(source, keep=("bbox",))
    return splits, [clean_class_name(name) for name in names]


def _domainnet(source: str, target_domain: str | None) -> Loaded:
    path = Path(source).expanduser()
    if path.is_dir():
        return load_domainnet_dir(path, target_domain)
    splits, names = _from_source(source, keep=("domain",))
    if "domain" not in splits["train"].column_names:
        raise ValueError(f"the domainnet source {source} has no 'domain' column; it has {splits['train'].column_names}")
    return leave_one_domain_out(splits, target_domain), names


def _digits() -> Loaded:
    """scikit-learn's 1,797 real 8x8 digits: a real dataset that needs no download."""
    from sklearn.datasets import load_digits  # imported here: only this preset needs scikit-learn

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)  # 0..16 gray levels -> 0..255
    names = [str(digit) for digit in range(10)]
    features = Features(image=Image(), label=ClassLabel(names=names))
    images = [PILImage.fromarray(image).convert("RGB") for image in pixels]
    dataset = Dataset.from_dict({"image": images, "label": digits.target.tolist()}, features=features)
    return DatasetDict(train=dataset), names
