"""Top-k accuracy as an `evaluate` metric, bundled so evaluation never needs the Hub."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Fraction of samples whose reference label is among the top-k predictions. `predictions` are either one class id
per sample or one row of class scores (logits or probabilities) per sample; with scores, any `k` can be asked for.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]` or `list[list[float]]`): predicted class ids, or per-class scores of shape (N, C).
    references (`list[int]`): true class ids.
    k (`int` or `list[int]`, defaults to 1): the k of top-k; several give several results. k > 1 needs scores.
Returns:
    `accuracy` for k=1 and `top{k}_accuracy` for every other k, each in [0, 1].
Examples:
    >>> metric = evaluate.load("adm_hf/metrics/accuracy")
    >>> metric.compute(predictions=[[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]], references=[1, 2], k=[1, 2])
    {'accuracy': 0.5, 'top2_accuracy': 1.0}
"""


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
                ),
                datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            ],
        )

    def _compute(self, predictions, references, k=1):
        predictions, references = np.asarray(predictions), np.asarray(references)
        ks = [k] if isinstance(k, int) else list(k)
        if predictions.ndim == 1:
            if ks != [1]:
                raise ValueError("Top-k accuracy with k > 1 needs per-class scores, not class ids.")
            return {"accuracy": float((predictions == references).mean())}
        # A stable descending sort sends ties to the lower class id, exactly like argmax.
        hits = np.argsort(-predictions, axis=1, kind="stable")[:, : max(ks)] == references[:, None]
        return {"accuracy" if kk == 1 else f"top{kk}_accuracy": float(hits[:, :kk].any(1).mean()) for kk in ks}
