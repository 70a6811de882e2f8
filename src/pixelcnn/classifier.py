"""A small CNN classifier of the dataset: the feature space of the sample metrics.

Inception-v3 features neither fit 32×32 grayscale digits nor can be had on an
offline machine, so ``evaluate`` can score samples in the space of this
network instead: its penultimate ``features`` feed FID / KID / precision-recall
and its ``logits`` feed the Inception Score (``pixelcnn.evaluation`` registers
it with torch-fidelity).

Shapes: B batch, C channels, H W pixels, K classes, D ``feature_dim``.
Images enter as uint8 (B, C, H, W) and are mapped to [-1, 1] inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelcnn import params
from pixelcnn.errors import DataError
from pixelcnn.io import load_checkpoint


@dataclass(frozen=True)
class ClassifierParams:
    """params.yaml ``classifier``: how the feature-extractor classifier is built and trained."""

    SECTION: ClassVar[str] = "classifier"

    epochs: int = 10  # passes over the train split
    batch_size: int = 64  # images per optimizer step
    lr: float = 5e-3  # peak AdamW learning rate (one-cycle schedule)
    weight_decay: float = 1e-4  # AdamW weight decay
    width: int = 16  # channels of the first conv block; blocks 2 and 3 double it
    feature_dim: int = 64  # size D of the penultimate features used by FID/KID/precision-recall
    augment_shift: int = 2  # random translation of training images by up to this many pixels (0: off)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present

    def __post_init__(self) -> None:
        params.check(self.epochs >= 1, f"classifier.epochs must be >= 1, got {self.epochs}")
        params.check(self.batch_size >= 1, f"classifier.batch_size must be >= 1, got {self.batch_size}")
        params.check(self.lr > 0, f"classifier.lr must be > 0, got {self.lr}")
        params.check(self.weight_decay >= 0, f"classifier.weight_decay must be >= 0, got {self.weight_decay}")
        params.check(self.width >= 1, f"classifier.width must be >= 1, got {self.width}")
        params.check(self.feature_dim >= 2, f"classifier.feature_dim must be >= 2, got {self.feature_dim}")
        params.check(self.augment_shift >= 0, f"classifier.augment_shift must be >= 0, got {self.augment_shift}")


@dataclass(frozen=True)
class ClassifierConfig:
    """What rebuilds a trained classifier; stored in its checkpoint."""

    in_channels: int  # C of the data
    num_classes: int  # K of the data
    width: int = 32  # channels of the first conv block
    feature_dim: int = 64  # D of the penultimate features


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 conv → BN → ReLU → 2×2 max-pool: halves H and W."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class Classifier(nn.Module):
    """Three conv blocks → global average pool → D features → K logits.

    Global pooling makes the network indifferent to the image size (≥ 1 pixel).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.trunk = nn.Sequential(_block(config.in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w))
        self.to_features = nn.Linear(4 * w, config.feature_dim)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: uint8 (B, C, H, W) → (features float (B, D), logits float (B, K)).

        ``features`` are taken before the last non-linearity, so they are not
        clipped at zero (a better fit for the Gaussian that FID assumes).
        """
        x = x.float() / 127.5 - 1.0
        h = self.trunk(x).mean(dim=(2, 3))  # (B, 4w)
        features = self.to_features(h)  # (B, D)
        logits = self.head(F.relu(features))  # (B, K)
        return features, logits


def _shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None) -> torch.Tensor:
    """Translate each uint8 image (B, C, H, W) by up to ``max_shift`` pixels, zero-filled."""
    if max_shift == 0:
        return x
    B, _, H, W = x.shape
    padded = F.pad(x, (max_shift,) * 4)  # (B, C, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, B), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(B)])


@torch.no_grad()
def predict(model: Classifier, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class predictions int64 (N,) for uint8 images (N, C, H, W), on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        batch = torch.as_tensor(np.array(images[i : i + batch_size], dtype=np.uint8))  # (B, C, H, W), copied off any memmap
        out.append(model(batch.to(device))[1].argmax(1).cpu())
    return torch.cat(out)


def accuracy(model: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` (uint8 (N, C, H, W)) whose predicted class equals ``labels`` (N,)."""
    return float((predict(model, images) == torch.as_tensor(np.asarray(labels))).float().mean())


def train_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    cfg: ClassifierParams,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> tuple[Classifier, list[dict[str, float]]]:
    """Train a ``Classifier`` on uint8 images (N, C, H, W) with int64 labels in [0, K).

    Everything random (initialisation, shuffling, shifts) is drawn from
    ``generator``, so the same generator state gives the same network.
    Returns the model (in eval mode) and one row per epoch:
    ``{"epoch", "train_loss", "test_accuracy"}``.
    """
    if num_classes < 2:
        raise DataError(
            f"the classifier needs labelled data with at least 2 classes, got {num_classes}; "
            "use labelled data or evaluate.features: inception"
        )
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(np.array(train_images, dtype=np.uint8))  # a writable copy (the split may be a memmap)
    y = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64)
    config = ClassifierConfig(int(x.shape[1]), num_classes, cfg.width, cfg.feature_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        model = Classifier(config).to(device)
    steps_per_epoch = (len(x) + cfg.batch_size - 1) // cfg.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            xb = _shift(x[idx], cfg.augment_shift, generator).to(device)
            loss = F.cross_entropy(model(xb)[1], y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = accuracy(model, test_images, test_labels)
        history.append({"epoch": epoch, "train_loss": total / len(x), "test_accuracy": acc})
    model.eval()
    return model, history


def load_classifier(path: str, map_location: str | torch.device = "cpu") -> Classifier:
    """Rebuild a trained ``Classifier`` (eval mode) from its checkpoint at ``path``."""
    payload = load_checkpoint(path, "classifier", map_location=map_location)
    model = Classifier(ClassifierConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()

