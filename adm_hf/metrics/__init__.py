"""Evaluation metrics for `Trainer`, loaded from the `evaluate` script bundled in this package (works offline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction

__all__ = ["ACCURACY_PATH", "build_compute_metrics"]

ACCURACY_PATH = str(Path(__file__).parent / "accuracy")
"""Directory of the bundled top-k accuracy metric: `evaluate.load(ACCURACY_PATH)`."""


def build_compute_metrics(num_labels: int) -> Callable[[EvalPrediction], dict[str, float]]:
    """`compute_metrics` for `Trainer`: `accuracy`, plus `top5_accuracy` when there are more than 5 classes."""
    metric = evaluate.load(ACCURACY_PATH)
    k = [1, 5] if num_labels > 5 else [1]

    def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
        logits = eval_pred.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits  # models that also return hidden states
        return metric.compute(predictions=np.asarray(logits), references=eval_pred.label_ids, k=k)

    return compute_metrics
