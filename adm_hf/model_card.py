"""Hub model cards (README.md) that record how a model was trained: SAM, difficulty and curriculum settings.

`render_model_card` is a pure function of the training arguments; it reads every field with `getattr`, so it
works with `ADMConfig`, a plain `TrainingArguments` or any object carrying the same attribute names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

__all__ = ["TAGS", "render_model_card", "write_model_card"]

TAGS = ["adm-hf", "sam", "curriculum-learning", "image-classification"]
SETTING_PREFIXES = ("sam", "adm_", "curriculum", "difficulty", "spl_", "pacing")
HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "seed",
)
_BOOKKEEPING = ("runtime", "per_second", "epoch")  # timings and counters, not results


def render_model_card(
    args: Any,
    *,
    model_name: str,
    base_model: str | None,
    dataset: str | None,
    metrics: dict[str, float] | None,
) -> str:
    """The README.md text: YAML front matter (tags, base model, dataset, model-index) and a readable body.

    Pass `base_model=None` for a model trained from scratch; `metrics` may be `Trainer.evaluate()`'s output.
    """
    results = _results(metrics)
    card_data = ModelCardData(
        library_name="transformers",
        tags=list(TAGS),
        base_model=base_model if base_model and _is_hub_id(base_model) else None,
        datasets=[dataset] if dataset else None,
        model_name=model_name,
        eval_results=[
            EvalResult(
                task_type="image-classification",
                dataset_type=dataset or "custom",
                dataset_name=dataset or "custom",
                metric_type=name,
                metric_value=value,
            )
            for name, value in results.items()
        ]
        or None,
    )
    sections = [
        f"---\n{card_data.to_yaml()}\n---",
        f"# {model_name}",
        _summary(args, base_model, dataset),
        _table("## Results", results, "metric"),
        _table("## SAM, difficulty and curriculum settings", _settings(args), "setting"),
        _table("## Training hyper-parameters", _hyperparameters(args), "hyper-parameter"),
        _usage(model_name),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def write_model_card(output_dir: str | os.PathLike, text: str) -> Path:
    """Write `text` as `output_dir/README.md`, the file the Hub shows as the model card."""
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _is_hub_id(name: str) -> bool:
    """`org/name` and not a local directory: only Hub ids belong in the card's `base_model`."""
    return re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not os.path.exists(name)


def _results(metrics: dict[str, float] | None) -> dict[str, float]:
    return {
        key.removeprefix("eval_"): float(value)
        for key, value in (metrics or {}).items()
        if isinstance(value, (int, float)) and not any(word in key for word in _BOOKKEEPING)
    }


def _summary(args: Any, base_model: str | None, dataset: str | None) -> str:
    origin = f"fine-tuned from `{base_model}`" if base_model else "trained from scratch"
    on = f" on `{dataset}`" if dataset else ""
    if getattr(args, "curriculum", None) is None:
        return f"An image classifier {origin}{on} with the Hugging Face `Trainer`."
    sam = "plain optimisation (no SAM)"
    if getattr(args, "sam", False):
        kind = "ASAM" if getattr(args, "sam_adaptive", False) else "SAM"
        sam = f"sharpness-aware minimisation ({kind}, rho={getattr(args, 'sam_rho', None)})"
    difficulty = getattr(args, "difficulty", None)
    curriculum = {
        "none": "no curriculum",
        "spl": f"a self-paced curriculum weighting samples by their `{difficulty}` difficulty",
        "sampler": f"a curriculum sampler admitting the easiest samples first by `{difficulty}` difficulty",
    }.get(args.curriculum, f"the `{args.curriculum}` curriculum")
    return (
        f"An image classifier {origin}{on} with adm-hf's `ADMTrainer`: "
        f"{sam} and {curriculum}."
    )


def _settings(args: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(args).items() if name.startswith(SETTING_PREFIXES)}


def _hyperparameters(args: Any) -> dict[str, Any]:
    values = {name: getattr(args, name, None) for name in HYPERPARAMETERS}
    if (values["max_steps"] or 0) <= 0:
        values.pop("max_steps")  # -1: the epoch count decides
    precision = "bf16" if getattr(args, "bf16", False) else "fp16" if getattr(args, "fp16", False) else "no"
    values["mixed_precision"] = precision
    return {name: value for name, value in values.items() if value is not None}


def _table(title: str, rows: dict[str, Any], header: str) -> str:
    if not rows:
        return ""
    lines = [title, "", f"| {header} | value |", "| --- | --- |"]
    lines += [f"| {name} | {_format(value)} |" for name, value in rows.items()]
    return "\n".join(lines)


def _format(value: Any) -> str:
    value = getattr(value, "value", value)  # enums such as OptimizerNames
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _usage(model_name: str) -> str:
    return f"""## How to use

```python
from transformers import pipeline

classifier = pipeline("image-classification", model="{model_name}")
classifier("path/to/image.jpg")
```

or, for the raw logits:

```python
from transformers import AutoImageProcessor, AutoModelForImageClassification

processor = AutoImageProcessor.from_pretrained("{model_name}")
model = AutoModelForImageClassification.from_pretrained("{model_name}")
logits = model(**processor(images, return_tensors="pt")).logits
```"""
