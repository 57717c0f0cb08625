"""CUB-200-2011 read from the official archive layout (``CUB_200_2011/`` as unpacked).

The archive's own ``train_test_split.txt`` is the split every paper reports on, so it is used
as is: train = its 1-rows, eval = its 0-rows.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Image, List, Value

REQUIRED_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
BOXES_FILE = "bounding_boxes.txt"


def clean_class_name(name: str) -> str:
    """``"001.Black_footed_Albatross"`` -> ``"Black footed Albatross"``."""
    return re.sub(r"^\d+\.", "", name).replace("_", " ")


def load_cub_dir(path: Path) -> tuple[DatasetDict, list[str]]:
    """Read the layout at ``path`` (or at ``path/CUB_200_2011``) into train/eval splits and class names."""
    root = path / "CUB_200_2011" if (path / "CUB_200_2011").is_dir() else path
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"CUB-200-2011 layout at {root} is incomplete: missing {', '.join(missing)}")
    images = _read_table(root / "images.txt")
    class_ids = _lookup(root / "image_class_labels.txt", images)
    is_train = _lookup(root / "train_test_split.txt", images)
    boxes = _lookup(root / BOXES_FILE, images) if (root / BOXES_FILE).is_file() else None

    files = [root / "images" / relpath for relpath in images.values()]
    absent = [file for file in files if not file.is_file()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} CUB-200-2011 images are missing, the first: {absent[0]}")

    columns: dict[str, list] = {"image": [str(file) for file in files], "label": [int(c) - 1 for c in class_ids]}
    features = {"image": Image(), "label": Value("int64")}
    if boxes is not None:
        columns["bbox"] = [[float(v) for v in box.split()] for box in boxes]
        features["bbox"] = List(Value("float32"), length=4)
    table = Dataset.from_dict(columns, features=Features(features))
    train_rows = [row for row, flag in enumerate(is_train) if flag == "1"]
    test_rows = [row for row, flag in enumerate(is_train) if flag != "1"]
    splits = DatasetDict(train=table.select(train_rows), eval=table.select(test_rows))
    return splits, _class_names(root / "classes.txt")


def _read_table(file: Path) -> dict[str, str]:
    """``<id> <rest>`` lines as ``{id: rest}``, in file order."""
    table: dict[str, str] = {}
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if line.strip():
            key, _, rest = line.strip().partition(" ")
            if not rest:
                raise ValueError(f"{file}, line {number}: expected '<id> <value>', got {line!r}")
            table[key] = rest.strip()
    return table


def _lookup(file: Path, images: dict[str, str]) -> list[str]:
    """The values of ``file`` for every image id of ``images.txt``, in that order."""
    table = _read_table(file)
    absent = [image_id for image_id in images if image_id not in table]
    if absent:
        raise ValueError(f"{file} has no entry for image id {absent[0]} ({len(absent)} ids missing)")
    return [table[image_id] for image_id in images]


def _class_names(file: Path) -> list[str]:
    classes = {int(class_id): name for class_id, name in _read_table(file).items()}
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise ValueError(f"{file}: class ids must run 1..{len(classes)}")
    return [clean_class_name(classes[class_id]) for class_id in range(1, len(classes) + 1)]
