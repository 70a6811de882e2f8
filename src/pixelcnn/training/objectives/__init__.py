"""What training each model means: its loss per example and its validation metrics.

Legend: B batch (this process's shard), G global batch, C channels, H W pixels,
K classes or codes, h w a code grid.

Each objective wraps one model for ``pixelcnn.training.trainer.Trainer``: ``files``
names the ``.npy`` files of a split that a batch is read from (``{split}``
is ``train`` or ``test``), ``forward(batch, generator)`` returns per-example
values (``loss_name`` is the one optimised), ``evaluate`` sums validation
statistics over a batch and ``summarize`` turns summed statistics into
metrics. Batches arrive as stored on disk (uint8 images, int64 labels,
int16 codes) plus ``offset`` and ``total``, the shard's place in the global
batch: an objective that draws random numbers (augmentation) draws them for
the whole global batch and takes its slice, so any number of processes sees
the draws one process would.

One module per model family, so that a training stage depends on its own
model's code only.
"""

from __future__ import annotations

import torch

Batch = dict[str, torch.Tensor]
IMAGES = {"images": "{split}_images.npy", "labels": "{split}_labels.npy"}


def _count(batch: Batch, key: str) -> torch.Tensor:
    return torch.tensor(float(batch[key].shape[0]), dtype=torch.float64)


def drop_labels(batch: Batch, labels: torch.Tensor, rate: float, null: int, generator: torch.Generator | None) -> torch.Tensor:
    """Classifier-free guidance training: each label is replaced by ``null`` (the "no class" label) with
    probability ``rate``. labels: int64 (B,) of this process's shard → int64 (B,).

    The draws are made for the whole global batch and sliced at the shard's offset, so any number of
    processes sees the labels one process would; ``rate`` 0 draws nothing (training unchanged).
    """
    if not rate:
        return labels
    offset, total = int(batch["offset"]), int(batch["total"])
    dropped = torch.rand(total, generator=generator)[offset : offset + len(labels)] < rate  # (B,)
    return torch.where(dropped.to(labels.device), torch.full_like(labels, null), labels)

