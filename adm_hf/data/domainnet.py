"""DomainNet with the leave-one-domain-out protocol of domain generalisation.

Train on the *train* lists of every source domain, evaluate on the whole held-out target
domain (its train and test lists): the model never sees a target image while training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value, concatenate_datasets

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
DOMAIN_LABEL = ClassLabel(names=list(DOMAINS))

Row = tuple[str, int, str]  # (relative path "<domain>/<class>/<file>", label, domain)


def check_target(target: str | None, available: list[str]) -> None:
    """Refuse a missing, unknown or absent target domain, naming the ones that are there."""
    if target is None:
        raise ValueError(f"domainnet needs target_domain (the held-out domain), one of {available}")
    if target not in DOMAINS:
        raise ValueError(
            f"unknown target_domain {target!r}: DomainNet's domains are {list(DOMAINS)}; available: {available}"
        )
    if target not in available:
        raise ValueError(f"target_domain {target!r} is not in the data; available: {available}")
    if len(available) < 2:
        raise ValueError(f"leave-one-domain-out needs a source domain besides {target!r}; available: {available}")


def load_domainnet_dir(root: Path, target: str | None) -> tuple[DatasetDict, list[str]]:
    """Read ``<root>/<domain>/<class>/<file>`` with ``<root>/<domain>_{train,test}.txt``."""
    present = [domain for domain in DOMAINS if (root / domain).is_dir()]
    check_target(target, present)
    train = [row for domain in present if domain != target for row in _read_split(root, domain, "train")]
    held_out = [row for split in ("train", "test") for row in _read_split(root, target, split)]
    splits = DatasetDict(train=_to_dataset(root, train), eval=_to_dataset(root, held_out))
    return splits, _class_names(train + held_out)


def leave_one_domain_out(splits: DatasetDict, target: str | None) -> DatasetDict:
    """The same protocol for a source with a ``domain`` column (e.g. from the Hub)."""
    splits = DatasetDict({name: _encode_domains(split) for name, split in splits.items()})
    ids = {name: split.with_format("arrow")["domain"].to_numpy() for name, split in splits.items()}
    check_target(target, [DOMAINS[i] for i in np.unique(np.concatenate(list(ids.values())))])
    target_id = DOMAINS.index(target)
    held_out = [split.select(np.flatnonzero(ids[name] == target_id)) for name, split in splits.items()]
    train = splits["train"].select(np.flatnonzero(ids["train"] != target_id))
    return DatasetDict(train=train, eval=concatenate_datasets(held_out))


def _encode_domains(split: Dataset) -> Dataset:
    feature = split.features["domain"]
    if isinstance(feature, ClassLabel):  # re-map by name: the source's ids need not be ours
        names = np.asarray(feature.names)[split.with_format("arrow")["domain"].to_numpy()]
        split = split.remove_columns("domain").add_column("domain", names.tolist())
    return split.cast_column("domain", DOMAIN_LABEL)


def _read_split(root: Path, domain: str, split: str) -> list[Row]:
    file = root / f"{domain}_{split}.txt"
    if not file.is_file():
        raise FileNotFoundError(f"DomainNet split file {file} is missing")
    rows = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        relpath, _, label = line.strip().rpartition(" ")
        if not relpath or not label.lstrip("-").isdigit():
            raise ValueError(f"{file}, line {number}: expected '<domain>/<class>/<file> <label>', got {line!r}")
        rows.append((relpath, int(label), domain))
    return rows


def _to_dataset(root: Path, rows: list[Row]) -> Dataset:
    files = [root / relpath for relpath, _, _ in rows]
    absent = [file for file in files if not file.is_file()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} DomainNet images from the split files are missing: {absent[0]}, ...")
    columns = {
        "image": [str(file) for file in files],
        "label": [label for _, label, _ in rows],
        "domain": [DOMAINS.index(domain) for _, _, domain in rows],
    }
    return Dataset.from_dict(columns, features=Features(image=Image(), label=Value("int64"), domain=DOMAIN_LABEL))


def _class_names(rows: list[Row]) -> list[str]:
    """Class names by label id, from the ``<class>`` directory of each listed file."""
    names: dict[int, str] = {}
    for relpath, label, _ in rows:
        name = Path(relpath).parent.name
        if names.setdefault(label, name) != name:
            raise ValueError(f"DomainNet label {label} is used for two classes: {names[label]!r} and {name!r}")
    odd = sorted(set(names) ^ set(range(len(names))))
    if odd:
        raise ValueError(f"DomainNet labels must run 0..{len(names) - 1} without gaps; out of place: {odd[:10]}")
    return [names[label] for label in range(len(names))]
