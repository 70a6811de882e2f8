"""Sample quality of one set of images against another: FID, IS, KID, precision/recall, LPIPS diversity,
class accuracy.

Every set of images (a generator's samples, or the train split as the data's
own floor) is scored against the reference (the test split) by ONE
``torch_fidelity.calculate_metrics`` call in the feature space of
``pixelcnn.evaluation.features``. Diversity is the mean LPIPS (AlexNet trunk,
``lpips`` package) over seeded random pairs of one set, on images upsampled
to at least 64 pixels. Class accuracy is the share of a set's images that the
classifier puts in the class they were drawn for (sets with labels, feature
space ``classifier``). ``evaluate_sets`` scores named sets alike, each cut to
a seeded subset first.

Shapes: N images, C channels, H W pixels, D features, K classes.
Images are uint8 (N, C, H, W) throughout; features float32 (N, D).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pixelcnn.configs import EvaluateConfig
from pixelcnn.data.pixels import to_float
from pixelcnn.errors import DataError, require
from pixelcnn.evaluation.features import (
    CLASSIFIER_EXTRACTOR,
    LPIPS_KEY,
    FeatureSpace,
    lpips_model,
    register_classifier_extractor,
)
from pixelcnn.models.classifier import Classifier, predict

LPIPS_MIN_SIZE = 64  # smaller images are upsampled first (as torch-fidelity does for LPIPS): AlexNet needs >= 31 pixels
ISC_SPLITS = 10  # torch-fidelity's default number of IS splits (fewer when a set is smaller)

# torch-fidelity's result keys → ours
_METRIC_KEYS = {
    "frechet_inception_distance": "fid",
    "inception_score_mean": "is_mean",
    "inception_score_std": "is_std",
    "kernel_inception_distance_mean": "kid_mean",
    "kernel_inception_distance_std": "kid_std",
    "precision": "precision",
    "recall": "recall",
}
CLASS_ACCURACY_KEY = "class_accuracy"  # share of a set's images the classifier puts in the class they were drawn for


class UInt8Images(Dataset):
    """uint8 images (N, C, H, W) as the torch Dataset torch-fidelity takes: item i → uint8 tensor (C, H, W).

    ``rgb`` repeats a single channel three times (Inception needs (3, H, W)).
    """

    def __init__(self, images: np.ndarray, rgb: bool = False):
        self.images = images
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = torch.from_numpy(np.array(self.images[i], dtype=np.uint8))  # (C, H, W)
        if self.rgb and x.shape[0] == 1:
            x = x.expand(3, -1, -1).contiguous()  # (3, H, W)
        return x


def fidelity_metrics(
    images: np.ndarray,
    reference: np.ndarray,
    space: FeatureSpace,
    config: EvaluateConfig,
    device: torch.device,
    rng_seed: int,
) -> dict[str, float]:
    """FID, IS (mean, std), KID (mean, std), precision, recall of ``images`` against ``reference``.

    One ``torch_fidelity.calculate_metrics`` call: each set's features are
    extracted once and shared by all metrics. Nothing is cached on disk
    (``cache=False``); ``save_cpu_ram=True`` keeps data loading in this
    process (no worker processes) and uses the batched precision/recall.
    """
    import torch_fidelity

    n = min(len(images), len(reference))
    require(n > config.prc_neighborhood, "prc_neighborhood",
            f"({config.prc_neighborhood}) must be below the smallest set's size ({n} images); lower it or score more images")
    if space.extractor == CLASSIFIER_EXTRACTOR:
        register_classifier_extractor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision / pin-memory deprecation chatter
        raw = torch_fidelity.calculate_metrics(
            input1=UInt8Images(images, space.rgb),
            input2=UInt8Images(reference, space.rgb),
            cuda=device.type == "cuda",
            batch_size=config.batch_size,
            isc=True,
            fid=True,
            kid=True,
            prc=True,
            feature_extractor=space.extractor,
            feature_extractor_weights_path=space.weights_path,
            isc_splits=min(ISC_SPLITS, len(images)),
            kid_subsets=config.kid_subsets,
            kid_subset_size=min(config.kid_subset_size, n),
            prc_neighborhood=config.prc_neighborhood,
            cache=False,
            save_cpu_ram=True,
            rng_seed=rng_seed,
            verbose=False,
        )
    return {ours: float(raw[theirs]) for theirs, ours in _METRIC_KEYS.items()}


@torch.no_grad()
def lpips_diversity(
    images: np.ndarray,
    model: torch.nn.Module,
    pairs: int,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> float:
    """Mean LPIPS over ``pairs`` random pairs of distinct images of one set (higher: more diverse)."""
    n = len(images)
    if n < 2:
        raise DataError(f"LPIPS diversity needs at least 2 images, got {n}")
    i = torch.randint(0, n, (pairs,), generator=generator)
    j = (i + torch.randint(1, n, (pairs,), generator=generator)) % n  # never i itself
    total = 0.0
    for start in range(0, pairs, batch_size):
        a, b = (_to_lpips_input(images, idx[start : start + batch_size], device) for idx in (i, j))
        total += float(model(a, b).sum())
    return total / pairs


def _to_lpips_input(images: np.ndarray, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, C, H, W)[idx] → float (B, 3, H', W') in [-1, 1], H' W' at least ``LPIPS_MIN_SIZE``."""
    x = to_float(np.asarray(images)[idx.numpy()], device)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
    if min(x.shape[2:]) < LPIPS_MIN_SIZE:
        scale = LPIPS_MIN_SIZE / min(x.shape[2:])
        size = [max(LPIPS_MIN_SIZE, round(d * scale)) for d in x.shape[2:]]
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)  # (B, 3, H', W')
    return x


def subset(images: np.ndarray, limit: int, generator: torch.Generator | None) -> np.ndarray:
    """At most ``limit`` images of ``images``, a seeded random subset (kept in order) when there are more."""
    keep = subset_rows(len(images), limit, generator)
    return np.asarray(images) if keep is None else np.asarray(images[keep])


def subset_rows(n: int, limit: int, generator: torch.Generator | None) -> np.ndarray | None:
    """The sorted rows of ``subset`` (None: all ``n``, nothing drawn)."""
    if n <= limit:
        return None
    return torch.randperm(n, generator=generator)[:limit].sort().values.numpy()


def class_accuracy(classifier: Classifier, images: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of ``images`` uint8 (N, C, H, W) that ``classifier`` puts in ``labels`` int (N,); None when unlabelled (-1)."""
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise DataError(f"{len(labels)} labels for {len(images)} images: pass the class each image was drawn for")
    if len(labels) == 0 or (labels < 0).all():
        return None
    return float((predict(classifier, images).numpy() == labels).mean())


def evaluate_sets(
    sets: dict[str, np.ndarray],
    reference: np.ndarray,
    space: FeatureSpace,
    lpips_trunk: Path | None,
    config: EvaluateConfig,
    device: torch.device,
    generator: torch.Generator | None = None,
    labels: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float | None]:
    """Score every named set against ``reference``: flat ``{"<set>.<metric>": value}``.

    Each set is first cut to ``config.num_samples`` images (seeded subset). The
    LPIPS diversity is ``None`` when ``lpips_trunk`` is ``None``. A set with
    ``labels`` (the class each image was drawn for) also gets its class
    accuracy under ``space.classifier`` (over the same subset), when there is one.
    """
    labels = labels or {}
    shape = tuple(reference.shape[1:])
    for name, images in sets.items():
        if tuple(images.shape[1:]) != shape:
            raise DataError(
                f"{name}: images of shape {tuple(images.shape[1:])} do not match the test split's {shape}; "
                "sample at the data's size"
            )
    lpips = lpips_model(lpips_trunk, device) if lpips_trunk is not None else None
    results: dict[str, float | None] = {}
    for name, images in sets.items():
        start = time.perf_counter()
        keep = subset_rows(len(images), config.num_samples, generator)
        drawn_for = None if name not in labels else np.asarray(labels[name]) if keep is None else np.asarray(labels[name])[keep]
        images = np.asarray(images) if keep is None else np.asarray(images[keep])
        rng_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        metrics: dict[str, float | None] = dict(fidelity_metrics(images, reference, space, config, device, rng_seed))
        metrics[LPIPS_KEY] = (
            lpips_diversity(images, lpips, config.lpips_pairs, config.batch_size, device, generator)
            if lpips is not None
            else None
        )
        if drawn_for is not None and space.classifier is not None:
            agreement = class_accuracy(space.classifier, images, drawn_for)
            if agreement is not None:  # an unconditional generator draws no class
                metrics[CLASS_ACCURACY_KEY] = agreement
        results.update({f"{name}.{k}": v for k, v in metrics.items()})
        shown = " ".join(f"{k} {v:.4g}" if v is not None else f"{k} missing" for k, v in metrics.items())
        seconds = time.perf_counter() - start
        print(f"evaluate: {name} ({len(images)} vs {len(reference)} test images, {seconds:.1f} s): {shown}", flush=True)
    return results
