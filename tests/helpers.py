"""Tiny models and datasets shared by the trainer tests (offline, CPU, seconds)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from torch import nn
from torch.nn import functional as F

from adm_hf import ADMConfig

NUM_CLASSES = 4


class TinyCNN(nn.Module):
    """Conv + BatchNorm + linear head; returns {"loss", "logits"} like an HF classifier."""

    def __init__(self, num_classes: int = NUM_CLASSES, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)  # a bias before BN gets only float noise
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, pixel_values, labels=None):
        h = F.relu(self.bn(self.conv(pixel_values))).mean(dim=(2, 3))
        logits = self.head(h)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits, labels)
        return out


class DictDataset(torch.utils.data.Dataset):
    """A plain torch dataset of {"pixel_values", "labels"} dicts (no `datasets` involved)."""

    def __init__(self, n: int = 48, seed: int = 0, size: int = 8):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, size, size, generator=g)
        self.y = torch.randint(0, NUM_CLASSES, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def config(tmp_path, **overrides) -> ADMConfig:
    defaults = dict(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        per_device_train_batch_size=8,
        learning_rate=0.05,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        max_steps=3,
        logging_steps=1,
        seed=0,
        curriculum="none",
    )
    return ADMConfig(**{**defaults, **overrides})


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict, atol: float = 1e-6) -> float:
    """Assert equal state dicts (params and buffers); return the largest absolute difference seen."""
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        diff = (a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0
        worst = max(worst, diff)
        assert diff <= atol, f"{k}: max |diff| = {diff}"
    return worst
