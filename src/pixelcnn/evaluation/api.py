"""``evaluate``: the evaluate stage's figures for any images, from Python.

Legend: N generated images, M reference images, C channels, H W pixels, K classes.

    scores = pixelcnn.evaluate(samples, test_images, labels=sample_labels, reference_labels=test_labels,
                               classifier="models/classifier.pt")
    scores["fid"], scores["class_accuracy"]

FID, Inception Score, KID, precision and recall (torch-fidelity), LPIPS
diversity (when torchvision's AlexNet weights can be had; else None), and,
with a classifier and the labels the samples were drawn for, class
accuracy: the share of samples the classifier puts in their class. The
evaluate stage calls this function on the sets it collects, so the numbers
are the same. See ``pixelcnn.evaluation.metrics`` for each metric and
``pixelcnn.evaluation.features`` for the feature spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.errors import InputError
from pixelcnn.evaluation.features import resolve_feature_space, resolve_lpips_trunk
from pixelcnn.evaluation.metrics import evaluate_sets
from pixelcnn.runtime import resolve_device

Images = np.ndarray | torch.Tensor


def evaluate(
    samples: Images | Mapping[str, Images],
    reference: Images,
    *,
    labels: Any = None,
    reference_labels: Any = None,
    classifier: str | Path | None = None,
    features: str | None = None,
    config: EvaluateConfig | None = None,
    device: str | torch.device | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float | None]:
    """Sample quality of ``samples`` against the real images ``reference``: ``{metric: value}``.

    samples: uint8 images (N, C, H, W), array or tensor; or ``{name: images}``
    to score several sets alike (keys ``"<name>.<metric>"``). reference: uint8
    (M, C, H, W) of the same C, H, W. labels: the class each sample was drawn
    for, int (N,) (a dict for several sets); with a classifier it adds
    ``class_accuracy``. classifier: a ``train_classifier`` checkpoint; its
    features are the default feature space (``features="classifier"``; the
    project's digits have no better one), else ``features="inception"``
    (Inception-v3 weights from ``config.inception_weights``, the torch hub
    cache or a download). With the classifier's features,
    ``reference_labels`` (int (M,)) are needed: the classifier's accuracy on
    the reference is checked against ``config.min_classifier_accuracy`` and
    returned as ``classifier.test_accuracy``. config: how many images per set
    (a seeded subset), KID subsets, the precision/recall k, LPIPS pairs and
    weights, batch size (``EvaluateConfig``); device: default ``config.device``.
    generator: the subsets' and LPIPS pairs' draws (the stage seeds it).
    """
    config = config or EvaluateConfig()
    name = features or ("classifier" if classifier is not None else "inception")
    if name != "classifier" and name != "inception":
        raise InputError(f"features must be 'classifier' or 'inception', got {name!r}")
    chosen = Features(name)
    if chosen.features == "classifier" and classifier is None:
        raise InputError("features='classifier' needs classifier= (a train_classifier checkpoint); or use features='inception'")
    several = isinstance(samples, Mapping)
    sets = {name: _images(images, f"samples[{name!r}]") for name, images in samples.items()} if several \
        else {"samples": _images(samples, "samples")}
    drawn_for = _labels(labels, sets, several)
    ref = _images(reference, "reference")
    if chosen.features == "classifier":
        if reference_labels is None:
            raise InputError("the classifier's features need reference_labels= (its accuracy on the reference is checked "
                             "before its features are trusted)")
        ref_labels = _label_array(reference_labels, len(ref), "reference_labels")
    else:
        ref_labels = np.zeros(len(ref), dtype=np.int64)
    device = resolve_device(device if device is not None else config.device)
    space = resolve_feature_space(chosen, config, None if classifier is None else str(classifier), ref, ref_labels)
    lpips_trunk = resolve_lpips_trunk(config)
    results = evaluate_sets(sets, ref, space, lpips_trunk, config, device, generator, labels=drawn_for)
    if not several:
        results = {key.split(".", 1)[1]: value for key, value in results.items()}
    if space.classifier_accuracy is not None:
        results["classifier.test_accuracy"] = space.classifier_accuracy
    return results


def _images(images: Any, what: str) -> np.ndarray:
    """uint8 (N, C, H, W) from an array or tensor (a memory-mapped array stays mapped), or one sentence."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if not isinstance(images, np.ndarray):
        raise InputError(f"{what} must be uint8 images (N, C, H, W) as an array or tensor, got {type(images).__name__}")
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise InputError(f"{what} must be uint8 images (N, C, H, W) with N >= 1, got {images.dtype} {images.shape}")
    return images


def _label_array(labels: Any, n: int, what: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise InputError(f"{what} must be integers, one per image ({n},), got {y.dtype} {y.shape}")
    return y.astype(np.int64)


def _labels(labels: Any, sets: dict[str, np.ndarray], several: bool) -> dict[str, np.ndarray]:
    if labels is None:
        return {}
    if several:
        if not isinstance(labels, Mapping):
            raise InputError("samples is a dict of sets: pass labels as a dict too, {name: labels}")
        unknown = sorted(set(labels) - set(sets))
        if unknown:
            raise InputError(f"labels[{unknown[0]!r}] names no set of samples; the sets are {', '.join(sets)}")
        return {name: _label_array(y, len(sets[name]), f"labels[{name!r}]") for name, y in labels.items()}
    return {"samples": _label_array(labels, len(sets["samples"]), "labels")}
