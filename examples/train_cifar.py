"""Train a ResNet-18 from scratch on CIFAR-10 at 32x32 with SAM and an adversarial-difficulty curriculum.

    python examples/train_cifar.py --output_dir out/cifar10
    accelerate launch --num_processes 2 examples/train_cifar.py --output_dir out/cifar10

Every `adm-hf train` flag works (`--help` lists them); the values below are only this recipe's defaults: the
classic CIFAR schedule (SGD + momentum, cosine decay, pad-and-crop augmentation). Use `--dataset cifar100` for
CIFAR-100.
"""

import sys

from adm_hf.cli import train

DEFAULTS = {
    "dataset": "cifar10",
    "model": "microsoft/resnet-18",  # only its config is downloaded: the weights start from scratch
    "from_scratch": True,
    "image_size": 32,
    "train_augment": "pad_crop",
    "num_train_epochs": 200,
    "per_device_train_batch_size": 128,
    "learning_rate": 0.1,
    "optim": "sgd",
    "optim_args": "momentum=0.9,nesterov=True",
    "weight_decay": 5e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.0,
    "dataloader_num_workers": 4,
}


def main() -> None:
    train(sys.argv[1:], defaults=DEFAULTS)


if __name__ == "__main__":
    main()
