"""Carry each training sample's dataset index through any dataset type and any user collator.

The curriculum keys its scores by dataset index, but `remove_unused_columns` and users' own collators (the
transformers example scripts build only `pixel_values` and `labels`) drop unknown keys. So the index never
travels inside the sample: the dataset yields `(index, sample)` pairs and the collator runs the user's collator
on the samples alone, then adds the indices to the batch under `INDEX_KEY`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

INDEX_KEY = "adm_sample_index"


class IndexedDataset(Dataset):
    """`dataset[i]` → `(i, dataset[i])`, keeping `datasets`' fast batched `__getitems__` when there is one."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.dataset[index]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[int, Any]]:
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(list(indices)) if getitems else [self.dataset[i] for i in indices]
        return list(zip(indices, items))


class IndexedCollator:
    """Collate `(index, sample)` pairs with the user's collator and add the indices as `batch[INDEX_KEY]`."""

    def __init__(self, collator: Callable[[list[Any]], Mapping[str, Any]]):
        self.collator = collator

    def __call__(self, features: list[tuple[int, Any]]) -> Mapping[str, Any]:
        indices, samples = zip(*features)
        batch = self.collator(list(samples))
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"ADMTrainer needs the data collator to return a dict of model inputs (as Trainer does), "
                f"got {type(batch).__name__}."
            )
        batch[INDEX_KEY] = torch.tensor(indices, dtype=torch.long)
        return batch
