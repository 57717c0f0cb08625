"""`ADMTrainer`: the HF `Trainer` with a SAM step and an adversarial-difficulty curriculum.

Thin glue: the math lives in `sam`, `difficulty` and `curriculum`; the Trainer keeps its own optimizer, scheduler,
clipping, mixed precision, logging and checkpointing. Per micro-batch the SAM step is:

1. stash the gradients accumulated so far; clean forward/backward under `no_sync` (`g1`, and `dL/dx` for free);
2. score the batch (ADM: one extra no-grad forward on `x + delta`), update the score table, form SPL weights;
3. `w <- w + e(w)`; put the stashed gradients back;
4. forward/backward at `w + e` through `Trainer.training_step` (accumulation scaling, loss scaling, DDP sync),
   with BatchNorm running statistics frozen; restore `w` from the saved copy;
5. return the clean loss.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from typing import Any

import datasets
import numpy as np
import torch
from torch import nn
from transformers import Trainer
from transformers.utils import logging

from . import sam
from .batchnorm import bn_restore, bn_snapshot, frozen_bn_stats
from .config import ADMConfig
from .curriculum import CurriculumSampler, ScoreTable, admitted_fraction, spl_loss, spl_weights
from .difficulty import (
    PGD_DEFAULT_STEP_FACTOR,
    RunningMean,
    adm_scores,
    input_space_epsilon,
    logit_grad_norm,
    logits_of,
    per_sample_loss,
)
from .indexing import INDEX_KEY, IndexedCollator, IndexedDataset
from .model_card import render_model_card, write_model_card
from .state import difficulty_dataset, last_complete_checkpoint, load_state, save_state

logger = logging.get_logger(__name__)

THRESHOLD_PROBE = 1 << 16  # tables larger than this take the SPL threshold from a fixed probe of this many samples


class ADMTrainer(Trainer):
    """Drop-in `Trainer` for `ADMConfig`. With `sam=False` and `curriculum="none"` it is exactly `Trainer`."""

    _tag_names = ["adm-hf", "sam", "curriculum-learning", "image-classification"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, ADMConfig):
            raise TypeError(f"ADMTrainer needs `args` to be an ADMConfig, got {type(self.args).__name__}.")
        if self.args.sam and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ValueError(
                "ADMTrainer: sam=True is not supported with DeepSpeed or FSDP (enabled through the Accelerate "
                "config): the SAM ascent needs each process's full, unsharded gradients and weights."
            )
        self.skipped_ascents = 0
        self.nonfinite_steps = 0
        self.gap_mean = RunningMean(momentum=self.args.adm_mean_momentum)
        self.scores: ScoreTable | None = None
        self._sampler: CurriculumSampler | None = None
        self._batch_weights: torch.Tensor | None = None
        self._pass_logits: torch.Tensor | None = None
        self._batch_stats: dict[str, float | torch.Tensor] = {}
        self._weight_backup: list[torch.Tensor] | None = None  # reused by every SAM step: no per-step allocation
        if self.args.curriculum == "spl" and self.compute_loss_func is not None:
            raise ValueError(
                "curriculum='spl' replaces the loss with a self-paced weighted cross-entropy, so it cannot honour "
                "`compute_loss_func`; use curriculum='sampler' (which keeps your loss) or drop compute_loss_func."
            )
        if self.args.curriculum != "none" and self.train_dataset is not None:
            self._validate_for_curriculum()
            self.scores = ScoreTable(len(self.train_dataset), ema=self.args.difficulty_ema)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """`resume_from_checkpoint=True` takes the last *complete* checkpoint: a kill while saving leaves a partial
        `checkpoint-N` that Trainer would pick and fail (or worse) on."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    # ------------------------------------------------------------------ validation

    def _validate_for_curriculum(self) -> None:
        """Refuse set-ups the curriculum cannot work with before any step is taken."""
        args, dataset = self.args, self.train_dataset
        if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
            raise ValueError(
                f"curriculum={args.curriculum!r} needs a map-style train_dataset with a length (scores are keyed by "
                f"dataset index); got {type(dataset).__name__}. Use curriculum='none' for streaming data."
            )
        if args.difficulty == "adm":
            forward = inspect.signature(self.accelerator.unwrap_model(self.model).forward).parameters
            if "pixel_values" not in forward:
                raise ValueError(
                    "difficulty='adm' perturbs `pixel_values`, but the model's forward has no `pixel_values` "
                    f"argument ({', '.join(forward)}). Use difficulty='loss' or 'grad_norm'."
                )

    def _check_first_batch(self, collator, dataset) -> None:
        batch = collator([dataset[0]])
        if "labels" not in batch:
            raise ValueError(
                f"curriculum={self.args.curriculum!r} needs per-sample labels, but the collated training batch has "
                f"no 'labels' (keys: {sorted(batch)}). Check the dataset's label column and the data collator."
            )
        if self.args.difficulty == "adm" and "pixel_values" not in batch:
            raise ValueError(
                f"difficulty='adm' needs 'pixel_values' in the training batch (keys: {sorted(batch)})."
            )

    # ------------------------------------------------------------------ data

    def get_train_dataloader(self):
        """Wrap dataset and collator so every batch carries its samples' dataset indices (see `indexing`)."""
        if self.scores is None:
            return super().get_train_dataloader()
        original = self.train_dataset, self.data_collator
        dataset = self.train_dataset
        if isinstance(dataset, datasets.Dataset):
            dataset = self._remove_unused_columns(dataset, description="training")
        collator = self._get_collator_with_removed_columns(self.data_collator, description="training")
        self._check_first_batch(collator, dataset)
        self.train_dataset, self.data_collator = IndexedDataset(dataset), IndexedCollator(collator)
        try:
            return super().get_train_dataloader()
        finally:
            self.train_dataset, self.data_collator = original

    def _get_train_sampler(self, train_dataset=None):
        if self.args.curriculum != "sampler":
            return super()._get_train_sampler(train_dataset)
        if self._sampler is None:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            self._sampler = CurriculumSampler(
                self.scores,
                self._admitted_fraction,
                seed=seed,
                explore_fraction=self.args.curriculum_explore_fraction,
            )
        return self._sampler

    def _admitted_fraction(self) -> float:
        progress = self.state.global_step / max(1, self.state.max_steps)
        return admitted_fraction(
            progress,
            pacing=self.args.curriculum_pacing,
            start_fraction=self.args.curriculum_start_fraction,
            end=self.args.curriculum_end,
            root_p=self.args.curriculum_root_p,
            num_steps=self.args.curriculum_num_steps,
        )

    # ------------------------------------------------------------------ the step

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        if not self.args.sam and self.scores is None:
            return super().training_step(model, inputs, num_items_in_batch)
        inputs = self._prepare_inputs(inputs)
        index = inputs.pop(INDEX_KEY, None)
        if self.args.curriculum == "spl":
            num_items_in_batch = None  # SPL's weighted loss is a per-micro-batch mean: let Trainer scale it for GA
        model.train()
        params = sam.trainable_params(model)
        accumulated = sam.stash_grads(params)
        bn_before = bn_snapshot(model)
        clean_loss, input_grad = self._ascent_pass(model, inputs, num_items_in_batch)
        finite = clean_loss is None or bool(torch.isfinite(clean_loss))
        scores = None
        if self.scores is not None:  # on every rank, even a non-finite one: scoring gathers across ranks
            logits = self._pass_logits if self.args.sam else None
            scores = self._score_batch(model, inputs, index, logits, input_grad)
            finite = finite and bool(torch.isfinite(scores).all())
        if not self._finite_on_every_rank(finite):
            sam.restore_grads(params, accumulated)
            bn_restore(model, bn_before)
            self._skip_nonfinite(params, index)
            return clean_loss if clean_loss is not None else torch.tensor(math.nan, device=self.args.device)
        backup = None
        if self.args.sam:
            backup = sam.perturb(params, self.args.sam_rho, self.args.sam_adaptive, backup=self._weight_backup)
            self._weight_backup = backup or self._weight_backup
            if backup is None:
                self.skipped_ascents += 1
                logger.warning(f"Non-finite SAM ascent gradient at step {self.state.global_step}: no perturbation.")
        sam.restore_grads(params, accumulated)  # the descent accumulates onto them, inside DDP's sync if due
        if self.args.curriculum == "spl":
            self._batch_weights = self._spl_weights(scores)
        try:
            with frozen_bn_stats(model) if self.args.sam else contextlib.nullcontext():
                loss = super().training_step(model, inputs, num_items_in_batch)
        finally:
            self._batch_weights = None
            if backup is not None:
                sam.restore_weights(params, backup)
        return clean_loss if self.args.sam else loss

    def _ascent_pass(self, model, inputs, num_items_in_batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """SAM's first pass at `w`, per device (`no_sync`); with FGSM-ADM it also yields `dL/dx` for free."""
        if not self.args.sam:
            return None, None
        online_fgsm = self.scores is not None and self.args.difficulty == "adm" and self.args.adm_attack == "fgsm"
        if online_fgsm:
            inputs["pixel_values"] = inputs["pixel_values"].detach().requires_grad_(True)
        with self.accelerator.no_sync(model):
            clean_loss = super().training_step(model, inputs, num_items_in_batch)
        if not online_fgsm:
            return clean_loss, None
        x = inputs["pixel_values"]
        inputs["pixel_values"] = x.detach()
        return clean_loss, x.grad

    def _finite_on_every_rank(self, finite: bool) -> bool:
        """All ranks must skip together, or DDP's gradient all-reduce would wait forever for the skipping one."""
        if self.accelerator.num_processes == 1:
            return finite
        flag = torch.tensor([float(finite)], device=self.args.device)
        return bool(self.accelerator.gather(flag).min() > 0)

    def _skip_nonfinite(self, params: list[nn.Parameter], index: torch.Tensor | None) -> None:
        """Drop this micro-batch (its gradients, BN updates); if it was due to sync them, average the rest by hand."""
        if self.accelerator.sync_gradients and self.accelerator.num_processes > 1:
            for p in params:
                if p.grad is not None:
                    p.grad = self.accelerator.reduce(p.grad, reduction="mean")
        self.nonfinite_steps += 1
        where = f" (sample indices {index.tolist()})" if index is not None else ""
        logger.warning(f"Non-finite training loss at step {self.state.global_step}{where}: micro-batch skipped.")
        if self.nonfinite_steps > self.args.max_nonfinite_steps:
            raise RuntimeError(
                f"{self.nonfinite_steps} micro-batches had a non-finite loss (max_nonfinite_steps="
                f"{self.args.max_nonfinite_steps}); aborting. Last one at step {self.state.global_step}{where}."
            )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss, or the SPL-weighted loss `sum(v_i l_i) / sum(v_i)` while weights are pending."""
        if self._batch_weights is None:
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
        else:
            outputs = model(**inputs)
            per_sample = per_sample_loss(logits_of(outputs), inputs["labels"], self.args.label_smoothing_factor)
            loss = spl_loss(per_sample, self._batch_weights)
        if model.training:
            self._pass_logits = logits_of(outputs).detach()
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------ difficulty and curriculum

    def _score_batch(self, model, inputs, index, logits, input_grad) -> torch.Tensor:
        """This batch's difficulty (returned) and the score table update, identical on all ranks."""
        args, labels = self.args, inputs["labels"]
        if args.difficulty == "adm":
            x = inputs["pixel_values"]
            scores, clean, adv = adm_scores(
                model,
                x,
                labels,
                clean_logits=logits,
                input_grad=input_grad,
                **self._attack_kwargs(x),
                normalization=args.adm_normalization,
                running_mean=self.gap_mean.value,
                label_smoothing=args.label_smoothing_factor,
            )
            self.gap_mean.update(self._gather(adv - clean)[0])
        else:
            if logits is None:
                with torch.no_grad(), frozen_bn_stats(model):
                    logits = logits_of(model(**inputs))
            measure = per_sample_loss if args.difficulty == "loss" else logit_grad_norm
            scores = measure(logits.detach(), labels, args.label_smoothing_factor)
        all_index, all_scores, all_labels = self._gather(index, scores, labels)
        self.scores.update(all_index, all_scores, step=self.state.global_step, labels=all_labels)
        self._batch_stats = {"difficulty_batch_mean": scores.mean().detach()}  # read at log time: no per-step sync
        return scores

    def _spl_weights(self, scores: torch.Tensor) -> torch.Tensor:
        """Self-paced weights against the table's q(t)-quantile, so "easy" means easy among all samples seen."""
        q = self._admitted_fraction()
        threshold = self.scores.threshold(q, max_exact=THRESHOLD_PROBE)
        weights = spl_weights(scores, threshold, self.args.spl_weighting, mixture_ratio=self.args.spl_mixture_ratio)
        self._batch_stats.update(
            admitted_fraction=q, spl_threshold=threshold, spl_batch_admitted=(weights > 0).float().mean()
        )
        return weights

    def _attack_kwargs(self, x: torch.Tensor) -> dict[str, Any]:
        args = self.args
        std = getattr(self.processing_class, "image_std", None) or args.adm_input_std
        to_input_space = lambda eps: input_space_epsilon(  # noqa: E731
            eps, std, x.shape[1], device=x.device, dtype=x.dtype
        )
        step_size = args.adm_pgd_step_size or PGD_DEFAULT_STEP_FACTOR * args.adm_epsilon / args.adm_pgd_steps
        generator = None
        if args.adm_pgd_random_start:
            generator = torch.Generator(x.device).manual_seed(args.seed + self.state.global_step)
        return dict(
            epsilon=to_input_space(args.adm_epsilon),
            attack=args.adm_attack,
            pgd_steps=args.adm_pgd_steps,
            pgd_step_size=to_input_space(step_size),
            pgd_random_start=args.adm_pgd_random_start,
            generator=generator,
        )

    def _gather(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """Concatenate per-rank batch tensors across processes (only this batch's updates travel)."""
        if self.accelerator.num_processes == 1:
            return list(tensors)
        valid = torch.ones(len(tensors[0]), dtype=torch.long, device=tensors[0].device)
        padded = [self.accelerator.pad_across_processes(t.contiguous(), dim=0) for t in (valid, *tensors)]
        gathered = [self.accelerator.gather(t) for t in padded]
        keep = gathered[0].bool()
        return [g[keep] for g in gathered[1:]]

    def difficulty_table(self) -> datasets.Dataset:
        """Per-sample difficulty (index, score, label, times_seen, last_step) for inspecting hard/mislabelled data."""
        if self.scores is None:
            raise ValueError("No difficulty table: with curriculum='none' no difficulty is computed.")
        return difficulty_dataset(self.scores.state_dict())

    # ------------------------------------------------------------------ logging and checkpoints

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            logs.update(self._curriculum_logs())
        super().log(logs, start_time)

    def _curriculum_logs(self) -> dict[str, float]:
        logs: dict[str, float] = {}
        if self.args.sam:
            logs["sam_skipped_ascents"] = self.skipped_ascents
        if self.scores is not None and self.scores.num_seen:
            seen = self.scores.scores[~np.isnan(self.scores.scores)]
            p10, p50, p90 = np.quantile(seen, [0.1, 0.5, 0.9])
            logs.update(
                {
                    **{k: float(v) for k, v in self._batch_stats.items()},
                    "difficulty_mean": float(seen.mean()),
                    "difficulty_std": float(seen.std()),
                    "difficulty_p10": float(p10),
                    "difficulty_p50": float(p50),
                    "difficulty_p90": float(p90),
                    "difficulty_seen_fraction": self.scores.num_seen / len(self.scores),
                }
            )
            if self.args.curriculum == "sampler":
                logs["admitted_fraction"] = self._admitted_fraction()
        return logs

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save as Trainer does, plus the model card and the curriculum state (checkpoints and final model alike)."""
        super().save_model(output_dir, _internal_call)
        output_dir = output_dir or self.args.output_dir
        if self.args.should_save:
            self._write_model_card(output_dir)
            if self.scores is not None:
                self._save_curriculum_state(output_dir)

    def create_model_card(self, model_name: str | None = None, dataset: str | None = None, **kwargs) -> None:
        """The card `push_to_hub` uploads: Trainer's own is replaced by one recording the ADM/SAM set-up."""
        if self.is_world_process_zero():
            self._write_model_card(self.args.output_dir, model_name=model_name, dataset=dataset)

    def _write_model_card(self, output_dir: str, model_name: str | None = None, dataset: str | None = None) -> None:
        evaluations = [h for h in self.state.log_history if any(k.startswith("eval_") for k in h)]
        base_model = getattr(getattr(self.accelerator.unwrap_model(self.model), "config", None), "_name_or_path", None)
        text = render_model_card(
            self.args,
            model_name=model_name or self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir)),
            base_model=base_model or None,
            dataset=dataset or self.args.dataset_name,
            metrics=evaluations[-1] if evaluations else None,
        )
        write_model_card(output_dir, text)

    def _save_curriculum_state(self, output_dir: str) -> None:
        arrays = dict(self.scores.state_dict())
        scalars: dict[str, Any] = {
            "num_samples": len(self.scores),
            "curriculum": self.args.curriculum,
            "difficulty": self.args.difficulty,
            "gap_mean": self.gap_mean.state_dict(),
            "skipped_ascents": self.skipped_ascents,
            "nonfinite_steps": self.nonfinite_steps,
        }
        if self._sampler is not None:
            sampler_state = self._sampler.state_dict()
            arrays["sampler_plan"] = sampler_state["plan"]
            scalars["sampler_epoch"] = sampler_state["epoch"]
        save_state(output_dir, arrays, scalars)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """Curriculum state is training state: it is restored with the optimizer when a run resumes."""
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None or self.scores is None:
            return
        arrays, scalars = load_state(checkpoint)
        if scalars["num_samples"] != len(self.scores):
            raise ValueError(
                f"Checkpoint {checkpoint} scores {scalars['num_samples']} samples but the train_dataset has "
                f"{len(self.scores)}: resume with the same training data."
            )
        plan = arrays.pop("sampler_plan", None)
        self.scores.load_state_dict(arrays)
        self.gap_mean.load_state_dict(scalars["gap_mean"])
        self.skipped_ascents = scalars["skipped_ascents"]
        self.nonfinite_steps = scalars["nonfinite_steps"]
        if self._sampler is not None and plan is not None:
            self._sampler.load_state_dict({"epoch": scalars["sampler_epoch"], "plan": plan})
