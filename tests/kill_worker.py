"""Worker for the kill-and-resume test: `python tests/kill_worker.py OUT` trains slowly until it is killed."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from helpers import DictDataset, TinyCNN, config  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from adm_hf import ADMTrainer  # noqa: E402

RUN = dict(curriculum="sampler", max_steps=12, save_strategy="steps", save_steps=3, optim="adamw_torch")


def trainer_for(out: str, slow: bool = False) -> ADMTrainer:
    class Slow(TrainerCallback):
        def on_step_end(self, *args, **kwargs):
            time.sleep(0.3)

    return ADMTrainer(
        model=TinyCNN(),
        args=config(out, learning_rate=0.01, **RUN),
        train_dataset=DictDataset(n=40),
        callbacks=[Slow()] if slow else None,
    )


if __name__ == "__main__":
    trainer_for(sys.argv[1], slow=True).train()
