"""Fine-tune a pretrained ViT (or any Hub image classifier) on CUB-200-2011 with SAM and an ADM curriculum.

    python examples/finetune_cub.py --output_dir out/cub200
    python examples/finetune_cub.py --model microsoft/resnet-50 --learning_rate 1e-4
    python examples/finetune_cub.py --model timm/vit_small_patch16_224.augreg_in21k
    accelerate launch --num_processes 2 examples/finetune_cub.py --push_to_hub --hub_model_id <you>/vit-cub200-sam

Every `adm-hf train` flag works (`--help` lists them); the values below are only this recipe's defaults. The
evaluation split is CUB's official test split; `--dataset_source` points at a local `CUB_200_2011` directory.
"""

import sys

from adm_hf.cli import train

DEFAULTS = {
    "dataset": "cub200",
    "model": "google/vit-base-patch16-224-in21k",
    "train_augment": "rrc",
    "num_train_epochs": 20,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "learning_rate": 5e-5,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.1,
    "logging_steps": 50,
    "dataloader_num_workers": 4,
}


def main() -> None:
    train(sys.argv[1:], defaults=DEFAULTS)


if __name__ == "__main__":
    main()
