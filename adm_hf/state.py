"""Run state on disk: curriculum state inside a checkpoint (safetensors + JSON, never pickle), finding checkpoints."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import datasets
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from transformers.trainer import TRAINER_STATE_NAME

ARRAYS_NAME = "adm_curriculum.safetensors"
SCALARS_NAME = "adm_curriculum.json"
FORMAT_VERSION = 1


def last_complete_checkpoint(output_dir: str) -> str:
    """The newest `checkpoint-N` whose Trainer state was written (the Trainer writes it last when saving)."""
    steps = []
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            match = re.fullmatch(r"checkpoint-(\d+)", name)
            if match and os.path.isfile(os.path.join(output_dir, name, TRAINER_STATE_NAME)):
                steps.append(int(match.group(1)))
    if not steps:
        raise ValueError(f"No complete checkpoint (with {TRAINER_STATE_NAME}) in {output_dir} to resume from.")
    return os.path.join(output_dir, f"checkpoint-{max(steps)}")


def save_state(directory: str, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
    os.makedirs(directory, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, os.path.join(directory, ARRAYS_NAME))
    with open(os.path.join(directory, SCALARS_NAME), "w", encoding="utf-8") as f:
        json.dump({"format_version": FORMAT_VERSION, **scalars}, f, indent=2)


def load_state(directory: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read both files, turning a missing or damaged one into an error that names it and says what to do."""
    arrays_path, scalars_path = (os.path.join(directory, n) for n in (ARRAYS_NAME, SCALARS_NAME))
    for path in (arrays_path, scalars_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} is missing: this checkpoint has no curriculum state (was it written with curriculum='none' "
                "or by another trainer?). Resume from a checkpoint of the same run, or start a new run."
            )
    try:
        arrays = load_file(arrays_path)
        with open(scalars_path, encoding="utf-8") as f:
            scalars = json.load(f)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"Curriculum state in {directory} is damaged ({err}); cannot resume from it.") from err
    if scalars.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{scalars_path}: unsupported format_version {scalars.get('format_version')!r}.")
    return arrays, scalars


def difficulty_dataset(table: dict[str, np.ndarray]) -> datasets.Dataset:
    """The score-table arrays as a `datasets.Dataset`: one row per training sample, for inspection or export.

    `score` is NaN and `last_step` -1 for samples never scored; `label` is -1 where unknown.
    """
    return datasets.Dataset.from_dict(
        {
            "index": np.arange(len(table["scores"])),
            "score": table["scores"],
            "label": table["labels"],
            "times_seen": table["times_seen"],
            "last_step": table["last_step"],
        }
    )
