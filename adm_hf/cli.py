"""The `adm-hf` command: `train` an image classifier with `ADMTrainer`, export a run's `difficulty` table.

`adm-hf train` parses `DataArguments`, `ModelArguments` and every `ADMConfig` (so every `TrainingArguments`) field
with `HfArgumentParser`. With no arguments it trains the tiny offline ResNet on scikit-learn's digits in a couple
of CPU minutes. The examples reuse `train` with their own defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser
from transformers.trainer_utils import get_last_checkpoint

from .config import ADMConfig
from .data import PRESETS, build_transforms, collate_images, load_preset, validate_images
from .data.presets import HUB_IDS
from .data.transforms import TRAIN_AUGMENTS
from .metrics import build_compute_metrics
from .models import TINY_PRESETS, load_backbone
from .state import ARRAYS_NAME, difficulty_dataset, load_state
from .trainer import ADMTrainer

__all__ = [
    "CLI_DEFAULTS",
    "DataArguments",
    "DifficultyArguments",
    "ModelArguments",
    "export_difficulty",
    "main",
    "parse_train_args",
    "run_train",
    "train",
]

SMALL_IMAGE_PRESETS = ("digits", "cifar10", "cifar100")
"""Presets whose images are tiny, so `pad_crop` rather than random-resized crops is the default augmentation."""

CLI_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 10,
    "learning_rate": 2e-3,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "warmup_steps": 0.1,
    "logging_steps": 10,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 2,
}
"""`adm-hf train`'s own defaults, sized so the default digits run reaches ~0.9+ accuracy in minutes on a CPU."""


@dataclass
class DataArguments:
    """Which dataset preset to train on, and how to feed it."""

    dataset: str = field(
        default="digits",
        metadata={
            "help": f"Dataset preset, one of {PRESETS}; 'digits' is embedded and needs no download.",
            "choices": PRESETS,
        },
    )
    dataset_source: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset id or local path (file, directory, or save_to_disk directory) to read the preset "
            "from; required by 'imagefolder' and 'parquet', optional for the others."
        },
    )
    target_domain: str | None = field(
        default=None, metadata={"help": "DomainNet only: the held-out domain used for evaluation (leave-one-out)."}
    )
    coarse_labels: bool = field(default=False, metadata={"help": "CIFAR-100 only: train on the 20 superclasses."})
    validation_fraction: float = field(
        default=0.1,
        metadata={"help": "Stratified fraction of train held out for evaluation when the source has no test split."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many (randomly chosen) training samples, for quick runs."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many (randomly chosen) evaluation samples."}
    )
    train_augment: str | None = field(
        default=None,
        metadata={
            "help": f"Training augmentation, one of {TRAIN_AUGMENTS}; default 'pad_crop' for {SMALL_IMAGE_PRESETS}, "
            "'rrc' (random resized crop + flip) otherwise.",
            "choices": TRAIN_AUGMENTS,
        },
    )
    validate_images: bool = field(
        default=False, metadata={"help": "Decode every image once before training and fail early on a corrupt one."}
    )


@dataclass
class ModelArguments:
    """Which backbone to train."""

    model: str = field(
        default="tiny-resnet",
        metadata={
            "help": f"Backbone: a tiny offline preset ({', '.join(TINY_PRESETS)}), a Hub id (e.g. "
            "google/vit-base-patch16-224-in21k, microsoft/resnet-50, timm/resnet50.a1_in1k) or a local directory "
            "written by save_pretrained. Its classification head is re-created for the dataset's classes."
        },
    )
    from_scratch: bool = field(
        default=False, metadata={"help": "Use only the architecture of `model`, randomly initialised."}
    )
    image_size: int | None = field(
        default=None,
        metadata={"help": "Input resolution (e.g. 32 for CIFAR from scratch); default: the model's (32 for presets)."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow model code from the Hub repository to run on this machine."}
    )


@dataclass
class DifficultyArguments:
    """Where a finished run is, and where its per-sample difficulty table goes."""

    run_dir: str = field(metadata={"help": "Output directory of an `adm-hf train` / ADMTrainer run (or a checkpoint)."})
    output: str | None = field(
        default=None, metadata={"help": "Table to write, .csv or .parquet; default <run_dir>/difficulty.csv."}
    )


def parse_train_args(
    argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None
) -> tuple[DataArguments, ModelArguments, ADMConfig]:
    """Parse `adm-hf train` arguments; `defaults` (any field) override `CLI_DEFAULTS` but not the command line."""
    parser = HfArgumentParser((DataArguments, ModelArguments, ADMConfig), prog="adm-hf train")
    parser.set_defaults(**{**CLI_DEFAULTS, **(defaults or {})})
    namespace = parser.parse_args(argv)
    namespace.output_dir = namespace.output_dir or os.path.join("out", namespace.dataset)
    namespace.dataset_name = namespace.dataset_name or _dataset_name(namespace.dataset, namespace.dataset_source)
    namespace.remove_unused_columns = False  # the transform needs the raw `image` column
    return parser.parse_dict(vars(namespace))


def run_train(data_args: DataArguments, model_args: ModelArguments, args: ADMConfig) -> dict[str, float]:
    """load_preset -> load_backbone -> ADMTrainer.train/evaluate/save_model (-> push_to_hub); returns eval metrics."""
    splits = load_preset(
        data_args.dataset,
        source=data_args.dataset_source,
        target_domain=data_args.target_domain,
        validation_fraction=data_args.validation_fraction,
        seed=args.seed,
        max_train_samples=data_args.max_train_samples,
        max_eval_samples=data_args.max_eval_samples,
        coarse_labels=data_args.coarse_labels,
    )
    if data_args.validate_images:
        for split in splits.values():
            validate_images(split, num_proc=args.dataloader_num_workers or None)
    names = splits["train"].features["label"].names
    model, processor = load_backbone(
        model_args.model,
        len(names),
        dict(enumerate(names)),
        from_scratch=model_args.from_scratch,
        trust_remote_code=model_args.trust_remote_code,
        image_size=model_args.image_size,
    )
    augment = data_args.train_augment or ("pad_crop" if data_args.dataset in SMALL_IMAGE_PRESETS else "rrc")
    trainer = ADMTrainer(
        model=model,
        args=args,
        train_dataset=splits["train"].with_transform(build_transforms(processor, train=True, train_augment=augment)),
        eval_dataset=splits["eval"].with_transform(build_transforms(processor, train=False)),
        data_collator=collate_images,
        compute_metrics=build_compute_metrics(len(names)),
        processing_class=processor,
    )
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    if trainer.is_world_process_zero():
        print(f"eval accuracy: {metrics['eval_accuracy']:.4f}")
    trainer.save_model()
    if args.push_to_hub:
        trainer.push_to_hub()
    return metrics


def train(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> dict[str, float]:
    """`adm-hf train`: parse `argv` (with `defaults` for unset fields) and run; the examples call this."""
    return run_train(*parse_train_args(argv, defaults))


def export_difficulty(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Write the per-sample difficulty table (index, score, label, times_seen, last_step) of a run to CSV/parquet.

    The table is read from the curriculum state the trainer saves with each checkpoint: `run_dir` itself when it
    holds one, else its last `checkpoint-*`.
    """
    output = Path(output or Path(run_dir) / "difficulty.csv")
    if output.suffix not in (".csv", ".parquet"):
        raise ValueError(f"--output must end in .csv or .parquet, got {output}")
    arrays, _ = load_state(_state_dir(str(run_dir)))
    table = difficulty_dataset(arrays)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".csv":
        table.to_csv(output, index=False)
    else:
        table.to_parquet(output)
    return output


def _state_dir(run_dir: str) -> str:
    if os.path.isfile(os.path.join(run_dir, ARRAYS_NAME)):
        return run_dir
    checkpoint = get_last_checkpoint(run_dir) if os.path.isdir(run_dir) else None
    if checkpoint and os.path.isfile(os.path.join(checkpoint, ARRAYS_NAME)):
        return checkpoint
    raise FileNotFoundError(
        f"No {ARRAYS_NAME} in {run_dir} or its last checkpoint: the curriculum state is saved with each checkpoint, "
        "so the run needs a curriculum ('spl' or 'sampler') and a save_strategy other than 'no'."
    )


def _dataset_name(dataset: str, source: str | None) -> str:
    """What the model card lists under `datasets`: the Hub dataset read, else the preset name."""
    source = source or HUB_IDS.get(dataset)
    return source if source and not os.path.exists(source) else dataset


def _difficulty(argv: Sequence[str]) -> None:
    parser = HfArgumentParser(DifficultyArguments, prog="adm-hf difficulty")
    (difficulty_args,) = parser.parse_args_into_dataclasses(argv)
    print(f"difficulty table: {export_difficulty(difficulty_args.run_dir, difficulty_args.output)}")


COMMANDS = {
    "train": (train, "Train or fine-tune an image classifier with SAM and a difficulty curriculum."),
    "difficulty": (_difficulty, "Export the per-sample difficulty table of a finished run (CSV or parquet)."),
}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `adm-hf` console script; `adm-hf COMMAND --help` shows a command's options."""
    parser = argparse.ArgumentParser(prog="adm-hf", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)  # the command's own parser handles --help
    namespace, rest = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    COMMANDS[namespace.command][0](rest)


if __name__ == "__main__":
    main()
