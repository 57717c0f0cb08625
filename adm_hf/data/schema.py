"""One schema for every preset: ``image``, ``label`` (named classes), ``index``, plus extras.

Every loader only has to produce splits with an image and a label column; the checks, the
eval split, the sample limits and the ``index`` column the curriculum keys its scores on are
done here once.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import ClassLabel, Dataset, DatasetDict, Image

IMAGE_NAMES = ("image", "img")
LABEL_NAMES = ("label", "labels")
EVAL_SPLITS = ("test", "validation")


def normalise_columns(dataset: Dataset, *, label_column: str | None = None, keep: Iterable[str] = ()) -> Dataset:
    """Rename the image and label columns to ``image``/``label`` and drop all others but ``keep``.

    Sources name them differently (``img``, ``fine_label``, ``labels`` ...); guessing is only
    allowed when exactly one column fits, so a wrong column is never trained on silently.
    """
    image = _pick_column(dataset, "image", Image, IMAGE_NAMES)
    label = label_column or _pick_column(dataset, "label", ClassLabel, LABEL_NAMES)
    if label not in dataset.column_names:
        raise ValueError(f"label column {label!r} not found; the columns are {dataset.column_names}")
    keep = [name for name in keep if name in dataset.column_names]
    dataset = dataset.select_columns([image, label, *keep])
    return dataset.rename_columns({old: new for old, new in ((image, "image"), (label, "label")) if old != new})


def _pick_column(dataset: Dataset, kind: str, feature_type: type, names: tuple[str, ...]) -> str:
    typed = [name for name, feature in dataset.features.items() if isinstance(feature, feature_type)]
    if len(typed) == 1:
        return typed[0]
    named = [name for name in dataset.column_names if name in names]
    if len(named) == 1:
        return named[0]
    found = typed or named
    problem = f"several candidates {found}" if found else "no candidate"
    raise ValueError(
        f"cannot tell which column holds the {kind}: {problem} among {dataset.column_names} "
        f"(expected one {feature_type.__name__} feature or one column named {' or '.join(names)})"
    )


def split_train_eval(splits: DatasetDict) -> DatasetDict:
    """Keep ``train`` and, when the source has one, its held-out split as ``eval``."""
    if "train" not in splits:
        raise ValueError(f"the source has no 'train' split; it has {list(splits)}")
    held_out = next((name for name in EVAL_SPLITS if name in splits), None)
    kept = {"train": splits["train"]} | ({"eval": splits[held_out]} if held_out else {})
    return DatasetDict(kept)


def class_names(splits: DatasetDict) -> list[str]:
    """Class names of a source: its ClassLabel names, sorted strings, or ``"0".."max"`` for ints."""
    feature = splits["train"].features["label"]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    columns = [split.with_format("arrow")["label"] for split in splits.values()]
    if pa.types.is_integer(columns[0].type):
        top = max((value for value in (pc.max(column).as_py() for column in columns) if value is not None), default=-1)
        return [str(label) for label in range(top + 1)]
    return sorted({value for column in columns for value in column.to_pylist()})


def check_labels(dataset: Dataset, num_classes: int, split: str) -> None:
    """Raise on the first integer label outside ``[0, num_classes)`` — vectorised, so it is cheap."""
    labels = dataset.with_format("arrow")["label"]
    if not pa.types.is_integer(labels.type):
        return
    outside = pc.or_(pc.less(labels, 0), pc.greater_equal(labels, num_classes))
    bad = np.flatnonzero(pc.fill_null(outside, True).to_numpy(zero_copy_only=False))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{split} split, row {row}: label {labels[row].as_py()} is outside [0, {num_classes}) "
            f"({bad.size} bad rows in total)"
        )


def carve_eval(train: Dataset, fraction: float, seed: int) -> DatasetDict:
    """Hold out a stratified, seeded ``fraction`` of train, so tuning never sees the test set."""
    parts = train.train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)
    return DatasetDict(train=parts["train"], eval=parts["test"])


def unify(
    splits: DatasetDict,
    names: list[str],
    *,
    validation_fraction: float,
    seed: int,
    max_train_samples: int | None,
    max_eval_samples: int | None,
) -> DatasetDict:
    """Turn ``train`` (+ optional ``eval``) splits with image/label columns into the preset schema."""
    label = ClassLabel(names=list(names))
    for split, dataset in splits.items():
        check_labels(dataset, label.num_classes, split)
    splits = DatasetDict({split: dataset.cast_column("label", label) for split, dataset in splits.items()})
    if "eval" not in splits:
        splits = carve_eval(splits["train"], validation_fraction, seed)
    return DatasetDict(
        train=_finish(splits["train"], max_train_samples, seed),
        eval=_finish(splits["eval"], max_eval_samples, seed),
    )


def _finish(dataset: Dataset, max_samples: int | None, seed: int) -> Dataset:
    """Subsample, leave images undecoded and number the rows.

    Images stay encoded (``Image(decode=False)``) so that decoding happens in the transform,
    where a broken file can be reported with its row index instead of a bare PIL error.
    """
    if max_samples is not None and max_samples < len(dataset):
        dataset = dataset.shuffle(seed=seed).select(range(max_samples))
    dataset = dataset.cast_column("image", Image(decode=False))
    return dataset.add_column("index", np.arange(len(dataset), dtype=np.int64))
