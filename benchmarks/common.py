"""Shared pieces of the accuracy and claims benchmarks: data splits, label noise, model, one training run, scoring.

Everything a run needs is in a `Budget` (how much data and compute) and a `RunSpec` (which method, which labels,
which seed, which config overrides); `run` trains one model with `ADMTrainer` and writes one JSON (plus, for noisy
curriculum runs, the final difficulty table as parquet) the moment it finishes, so a run cut short loses only itself.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRAIN_FILE = REPO.parent / "shared/datasets/cifar10/train.parquet"
RESULTS = REPO / "benchmarks/results"

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
NUM_CLASSES = 10

# ADMConfig overrides per method; everything not listed keeps the ADMConfig default (SAM rho 0.05, ADM-FGSM
# eps 2/255 normalised by the running mean, SPL hard weights, linear pace from 0.5 to 1 at 80 % of training).
METHODS: dict[str, dict[str, Any]] = {
    "erm": dict(sam=False, curriculum="none"),
    "sam": dict(sam=True, curriculum="none"),
    "asam": dict(sam=True, sam_adaptive=True, sam_rho=0.5, curriculum="none"),
    "loss_spl_sam": dict(curriculum="spl", difficulty="loss"),
    "gradnorm_spl_sam": dict(curriculum="spl", difficulty="grad_norm"),
    "adm_spl_sam": dict(curriculum="spl"),  # the default config when these benchmarks were run
    "adm_sampler_sam": dict(curriculum="sampler"),
    "adm_spl": dict(sam=False, curriculum="spl"),
}
METHOD_LABELS = {
    "erm": "ERM",
    "sam": "SAM (rho 0.05)",
    "asam": "ASAM (rho 0.5)",
    "loss_spl_sam": "loss-SPL + SAM",
    "gradnorm_spl_sam": "grad-norm-SPL + SAM",
    "adm_spl_sam": "ADM-SPL + SAM (default)",
    "adm_sampler_sam": "ADM-sampler + SAM",
    "adm_spl": "ADM-SPL, no SAM",
}


@dataclass(frozen=True)
class Budget:
    """How much data and compute one run gets; every method in a table shares one budget."""

    n_train: int = 5000
    n_val: int = 1000
    n_eval: int = 2000
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    noise_rate: float = 0.4
    split_seed: int = 0
    hidden_sizes: tuple[int, ...] = (32, 64, 128, 256)
    embedding_size: int = 32
    threads: int = 1


QUICK_BUDGET = Budget(
    n_train=80, n_val=40, n_eval=40, epochs=1, batch_size=16, hidden_sizes=(8, 16), embedding_size=8
)


@dataclass(frozen=True)
class RunSpec:
    """One training run: a method from `METHODS`, clean or noisy labels, a seed and extra config overrides."""

    method: str
    setting: str  # "clean" or "noisy"
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    tag: str = ""  # names an ablation variant; empty for the plain method

    @property
    def name(self) -> str:
        tag = f"_{self.tag}" if self.tag else ""
        return f"{self.setting}_{self.method}{tag}_s{self.seed}"

    def config_overrides(self) -> dict[str, Any]:
        return {**METHODS[self.method], **dict(self.overrides)}


# ------------------------------------------------------------------------------------------------------------ data


@dataclass
class Splits:
    """Disjoint, class-balanced train / validation / held-out subsets, images still JPEG-encoded."""

    train: Any  # datasets.Dataset with columns image, label (possibly noisy)
    val: Any
    held_out: Any
    clean_train_labels: np.ndarray
    flipped: np.ndarray  # bool mask over train: the label was changed by the noise
    held_out_source: str


def _balanced_pick(labels: np.ndarray, counts: Sequence[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Draw disjoint index sets with `counts[k] // 10` samples of each class (why: equal class priors per split)."""
    picks: list[list[int]] = [[] for _ in counts]
    for c in range(NUM_CLASSES):
        pool = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for k, n in enumerate(counts):
            per_class = n // NUM_CLASSES
            if start + per_class > len(pool):
                raise ValueError(f"class {c} has only {len(pool)} images, {sum(counts)} requested in total")
            picks[k].extend(pool[start : start + per_class].tolist())
            start += per_class
    return [rng.permutation(np.array(p, dtype=np.int64)) for p in picks]


def symmetric_noise(labels: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly `round(rate * n)` labels, each to a uniformly drawn *different* class; returns (noisy, flipped).

    Flipping to a different class makes the flip mask the exact set of wrong labels, which the AUROC needs.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=round(rate * n), replace=False)] = True
    noisy = labels.copy()
    offsets = rng.integers(1, NUM_CLASSES, size=int(flipped.sum()))
    noisy[flipped] = (labels[flipped] + offsets) % NUM_CLASSES
    return noisy, flipped


def _read_parquet(path: str) -> Any:
    import datasets

    ds = datasets.load_dataset("parquet", data_files={"train": str(path)})["train"]
    if "img" in ds.column_names:
        ds = ds.rename_column("img", "image")
    return ds.cast_column("image", datasets.Image(decode=False))  # build_transforms decodes, per batch


@lru_cache(maxsize=4)
def load_splits(train_file: str, eval_file: str | None, budget: Budget, setting: str) -> Splits:
    """The seeded splits of one budget. Noise uses `split_seed` too, so every method and seed sees the same flips."""
    source = _read_parquet(train_file)
    labels = np.asarray(source["label"])
    rng = np.random.default_rng(budget.split_seed)
    if eval_file is None:
        train_idx, val_idx, held_idx = _balanced_pick(labels, [budget.n_train, budget.n_val, budget.n_eval], rng)
        held_out = source.select(held_idx)
        held_source = f"disjoint class-balanced slice of {Path(train_file).name} (seed {budget.split_seed})"
    else:
        train_idx, val_idx = _balanced_pick(labels, [budget.n_train, budget.n_val], rng)
        eval_source = _read_parquet(eval_file)
        (held_idx,) = _balanced_pick(np.asarray(eval_source["label"]), [budget.n_eval], rng)
        held_out = eval_source.select(held_idx)
        held_source = f"class-balanced subset of {eval_file}"
    train = source.select(train_idx)
    clean = np.asarray(train["label"])
    noisy, flipped = clean.copy(), np.zeros(len(clean), dtype=bool)
    if setting == "noisy":
        noisy, flipped = symmetric_noise(clean, budget.noise_rate, seed=budget.split_seed + 1)
        train = train.remove_columns("label").add_column("label", noisy.tolist())
    return Splits(train, source.select(val_idx), held_out, clean, flipped, held_source)


def transforms(train: bool) -> Callable:
    from adm_hf.data import build_transforms

    return build_transforms(
        train=train, size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, train_augment="pad_crop" if train else "none"
    )


def stacked(dataset: Any, labels: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Un-augmented tensors of a whole (small) split: evaluation and scoring then skip the DataLoader."""
    batch = transforms(train=False)(dataset[:])
    y = torch.as_tensor(labels if labels is not None else batch["labels"], dtype=torch.long)
    return torch.stack(batch["pixel_values"]), y


# ----------------------------------------------------------------------------------------------------------- model


def build_model(budget: Budget, seed: int) -> torch.nn.Module:
    """A small from-scratch ResNet (basic blocks, one per stage); seeded so every method starts from one init."""
    from transformers import ResNetConfig, ResNetForImageClassification, set_seed

    set_seed(seed)
    config = ResNetConfig(
        embedding_size=budget.embedding_size,
        hidden_sizes=list(budget.hidden_sizes),
        depths=[1] * len(budget.hidden_sizes),
        layer_type="basic",
        num_labels=NUM_CLASSES,
    )
    return ResNetForImageClassification(config)


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(pixel_values=x[i : i + batch_size]).logits.argmax(-1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / len(y)


# --------------------------------------------------------------------------------------------------------- scoring


def score_all(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float = 2 / 255, batch_size: int = 250
) -> dict[str, np.ndarray]:
    """Every difficulty measure for every sample, with the library's pure functions, in **eval mode** (BN running
    statistics, no augmentation): the same model state scores all measures, so they compare like for like.

    ADM uses FGSM; `adm_mean` divides the raw gap by the mean |gap| over all samples scored here, which is what the
    running-mean normalisation converges to for a fixed model (same ranking as `adm_none`).
    """
    from adm_hf.difficulty import adm_scores, input_space_epsilon, logit_grad_norm, per_sample_loss

    was_training = model.training
    model.eval()
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("loss", "grad_norm", "adm_none", "adm_clean_loss")}
    eps = input_space_epsilon(epsilon, CIFAR_STD, 3, device=x.device, dtype=x.dtype)
    try:
        for i in range(0, len(y), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            gap, clean, adv = adm_scores(model, xb, yb, epsilon=eps, attack="fgsm", normalization="none")
            with torch.no_grad():
                logits = model(pixel_values=xb).logits
            out["loss"].append(per_sample_loss(logits, yb).numpy())
            out["grad_norm"].append(logit_grad_norm(logits, yb).numpy())
            out["adm_none"].append(gap.numpy())
            out["adm_clean_loss"].append((gap / (clean + 1e-8)).numpy())
    finally:
        model.train(was_training)
    scores = {k: np.concatenate(v) for k, v in out.items()}
    scores["adm_mean"] = scores["adm_none"] / (np.abs(scores["adm_none"]).mean() + 1e-8)
    return scores


def auroc(flipped: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """AUROC of `scores` (higher = more suspicious) for the flipped labels, over the finite scores; (auc, n)."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(scores)
    if ok.sum() < 2 or len(np.unique(flipped[ok])) < 2:
        return math.nan, int(ok.sum())
    return float(roc_auc_score(flipped[ok], scores[ok])), int(ok.sum())


# ------------------------------------------------------------------------------------------------------------- run


def make_config(spec: RunSpec, budget: Budget, output_dir: str) -> Any:
    from adm_hf import ADMConfig

    return ADMConfig(
        output_dir=output_dir,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
        log_level="error",
        logging_steps=50,
        seed=spec.seed,
        num_train_epochs=budget.epochs,
        per_device_train_batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        lr_scheduler_type="cosine",
        weight_decay=budget.weight_decay,
        optim="sgd",
        optim_args="momentum=0.9",
        adm_input_std=list(CIFAR_STD),
        **spec.config_overrides(),
    )


def run(
    spec: RunSpec,
    budget: Budget,
    out_dir: Path,
    train_file: str,
    eval_file: str | None = None,
    callbacks: Iterable[Any] = (),
    save_table: bool = True,
) -> dict[str, Any]:
    """Train one model and write `<out_dir>/runs/<spec.name>.json` as soon as it finishes; returns that record.

    For noisy runs it also scores every training sample afterwards (`score_all`, eval mode) and records each
    measure's AUROC for the flipped labels, next to the AUROC of the run's own final `difficulty_table()`.
    """
    from adm_hf import ADMTrainer
    from adm_hf.data import collate_images

    torch.set_num_threads(budget.threads)
    splits = load_splits(train_file, eval_file, budget, spec.setting)
    model = build_model(budget, spec.seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(spec, budget, tmp)
        trainer = ADMTrainer(
            model=model,
            args=config,
            train_dataset=splits.train.with_transform(transforms(train=True)),
            data_collator=collate_images,
            callbacks=list(callbacks),
        )
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    x_val, y_val = stacked(splits.val)
    x_held, y_held = stacked(splits.held_out)
    record: dict[str, Any] = {
        "name": spec.name,
        "method": spec.method,
        "setting": spec.setting,
        "seed": spec.seed,
        "tag": spec.tag,
        "overrides": spec.config_overrides(),
        "budget": asdict(budget),
        "held_out_source": splits.held_out_source,
        "val_accuracy": accuracy(model, x_val, y_val),
        "held_out_accuracy": accuracy(model, x_held, y_held),
        "train_seconds": wall,
        "steps": trainer.state.global_step,
        "torch_threads": torch.get_num_threads(),
    }
    if spec.setting == "noisy":
        record.update(_noisy_record(spec, trainer, model, splits, out_dir, save_table))
    write_json(out_dir / "runs" / f"{spec.name}.json", record)
    return record


def _noisy_record(spec: RunSpec, trainer: Any, model: Any, splits: Splits, out_dir: Path, save_table: bool) -> dict:
    """AUROC of the training-time table (if the run has a curriculum) and of post-hoc eval-mode scores."""
    x_tr, y_tr = stacked(splits.train)  # the noisy labels the model was trained on
    record: dict[str, Any] = {"n_flipped": int(splits.flipped.sum()), "n_train": len(splits.flipped)}
    record["train_fit_noisy"] = accuracy(model, x_tr, y_tr)
    record["train_fit_clean"] = accuracy(model, x_tr, torch.as_tensor(splits.clean_train_labels))
    posthoc = score_all(model, x_tr, y_tr)
    record["auroc_posthoc"] = {k: auroc(splits.flipped, v)[0] for k, v in posthoc.items()}
    if trainer.scores is not None:
        table = trainer.difficulty_table()
        scores = np.asarray(table["score"], dtype=np.float64)
        auc, n = auroc(splits.flipped, scores)
        record["auroc_table"] = auc
        record["table_scored"] = n
        record["table_last_step_min"] = int(np.min(table["last_step"]))
        if save_table:
            (out_dir / "tables").mkdir(parents=True, exist_ok=True)
            table = table.add_column("flipped", splits.flipped.tolist())
            table.to_parquet(str(out_dir / "tables" / f"{spec.name}.parquet"))
    return record


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=_jsonable))
    tmp.replace(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def load_runs(out_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*.json"))]


def run_many(
    specs: Sequence[RunSpec],
    budget: Budget,
    out_dir: Path,
    train_file: str,
    eval_file: str | None,
    jobs: int = 1,
    force: bool = False,
) -> None:
    """Run specs in order, `jobs` at a time, skipping those whose JSON exists (so an interrupted grid resumes)."""
    todo = [s for s in specs if force or not (out_dir / "runs" / f"{s.name}.json").exists()]
    print(f"{len(specs) - len(todo)} of {len(specs)} runs already done; running {len(todo)} with {jobs} job(s)")
    if jobs <= 1:
        for spec in todo:
            _report(run(spec, budget, out_dir, train_file, eval_file))
        return
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run, s, budget, out_dir, train_file, eval_file) for s in todo]
        for future in futures:
            _report(future.result())


def _report(record: dict[str, Any]) -> None:
    print(
        f"{record['name']}: val {record['val_accuracy']:.4f} held-out {record['held_out_accuracy']:.4f} "
        f"({record['train_seconds']:.0f} s)",
        flush=True,
    )


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    """`mean ± sample std` over the finite values (just the value for one, a dash for none)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def with_budget(budget: Budget, **changes: Any) -> Budget:
    return replace(budget, **{k: v for k, v in changes.items() if v is not None})


def budget_line(budget: Budget) -> str:
    return (
        f"{budget.n_train} train / {budget.n_val} val / {budget.n_eval} held-out images, {budget.epochs} epochs, "
        f"batch {budget.batch_size}, SGD momentum 0.9 lr {budget.learning_rate} cosine, wd {budget.weight_decay}, "
        f"ResNet (basic blocks, widths {list(budget.hidden_sizes)}, stem {budget.embedding_size}) from scratch"
    )
