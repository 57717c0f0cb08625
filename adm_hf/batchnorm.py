"""Keep BatchNorm running statistics untouched by extra forwards (SAM's second pass, ADM scoring)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module) -> Iterator[None]:
    """Forward with batch statistics but without updating running mean/var or `num_batches_tracked`.

    Turning off `track_running_stats` in train mode makes BatchNorm normalise with the batch's own statistics
    (exactly as in the clean pass) while leaving every buffer untouched. Eval-mode layers are unaffected.
    """
    changed = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    for m in changed:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in changed:
            m.track_running_stats = True
