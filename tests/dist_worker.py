"""Worker for the multi-process tests: `torchrun --nproc_per_node N tests/dist_worker.py OUT CURRICULUM [CKPT]`.

Trains a tiny model with ADMTrainer and writes, per rank, what the test compares across ranks: a fingerprint of
the parameters after every optimizer step, the ascent-gradient norm of every micro-batch (equal across ranks only
if the ascent were all-reduced), the sample indices of every micro-batch, and the final score table.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from helpers import DictDataset, TinyCNN, config  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from adm_hf import ADMTrainer, sam  # noqa: E402
from adm_hf.indexing import INDEX_KEY  # noqa: E402


class Fingerprints(TrainerCallback):
    def __init__(self):
        self.steps: list[list[float]] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.steps.append([p.detach().double().sum().item() for p in model.parameters()])


class Recording(ADMTrainer):
    """Records each micro-batch's sample indices and ascent-gradient norm (taken just before `sam.perturb`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches: list[list[int]] = []
        self.ascent_norms: list[float] = []
        self.plans: dict[int, list[int]] = {}

    def training_step(self, model, inputs, num_items_in_batch=None):
        if INDEX_KEY in inputs:
            self.batches.append(inputs[INDEX_KEY].tolist())
        if self._sampler is not None:
            self.plans.setdefault(self._sampler.epoch, self._sampler.plan.tolist())
        return super().training_step(model, inputs, num_items_in_batch)


def main(out: str, curriculum: str, checkpoint: str | None = None) -> None:
    """`curriculum` may end in "+nan": one sample is NaN, so one rank meets a non-finite loss each epoch."""
    curriculum, _, poison = curriculum.partition("+")
    fingerprints = Fingerprints()
    args = config(
        out,
        curriculum=curriculum,
        max_steps=6,
        per_device_train_batch_size=4,
        save_strategy="steps",
        save_steps=3,
        curriculum_start_fraction=0.5,
        ddp_backend="gloo",
    )
    dataset = DictDataset(n=32)
    if poison:
        dataset.x[5] = float("nan")
    trainer = Recording(model=TinyCNN(), args=args, train_dataset=dataset, callbacks=[fingerprints])
    perturb = sam.perturb

    def recording_perturb(params, rho, adaptive=False, **kwargs):
        trainer.ascent_norms.append(sam.ascent_norm(params, adaptive).item())
        return perturb(params, rho, adaptive, **kwargs)

    sam.perturb = recording_perturb
    trainer.train(resume_from_checkpoint=checkpoint)
    rank = trainer.args.process_index
    record = {
        "world_size": trainer.args.world_size,
        "nonfinite_steps": trainer.nonfinite_steps,
        "finite": all(bool(torch.isfinite(t).all()) for t in trainer.model.state_dict().values()),
        "fingerprints": fingerprints.steps,
        "ascent_norms": trainer.ascent_norms,
        "batches": trainer.batches,
        "plans": trainer.plans,
    }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    if trainer.scores is not None:
        save_file(dict(trainer.scores.state_dict()), os.path.join(out, f"rank{rank}_table.safetensors"))
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


if __name__ == "__main__":
    main(*sys.argv[1:])
