"""Keep BatchNorm running statistics untouched by extra forwards (SAM's second pass, ADM scoring, skipped batches)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module) -> Iterator[None]:
    """Forward with batch statistics but without updating running mean/var or `num_batches_tracked`.

    Turning off `track_running_stats` in train mode makes BatchNorm normalise with the batch's own statistics
    (exactly as in the clean pass) while leaving every buffer untouched. Eval-mode layers are unaffected.
    """
    changed = [m for m in _batchnorms(model) if m.track_running_stats]
    for m in changed:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in changed:
            m.track_running_stats = True


def bn_snapshot(model: nn.Module) -> list[torch.Tensor]:
    """Copies of every BatchNorm buffer, so a skipped (non-finite) micro-batch leaves no NaN in running stats."""
    return [b.detach().clone() for m in _batchnorms(model) for b in m.buffers()]


def bn_restore(model: nn.Module, snapshot: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for b, saved in zip((b for m in _batchnorms(model) for b in m.buffers()), snapshot):
            b.copy_(saved)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
