"""Feature spaces for the sample-quality metrics: which extractor, whose weights, checked before any work.

Two spaces, each a torch-fidelity feature extractor (``FeatureSpace``):

- ``classifier``: the project's classifier (``pixelcnn.models.classifier``),
  registered with torch-fidelity as the feature extractor
  ``pixelcnn-classifier``. It rebuilds the network from the checkpoint passed
  as ``feature_extractor_weights_path`` and provides two features:
  ``penultimate`` (D-dim, for FID / KID / precision-recall) and ``logits``
  (K-dim, for IS). It takes the data's own channels (1 for digits). Its
  accuracy on the test split is measured and must reach
  ``evaluate.min_classifier_accuracy`` before its features are trusted.
- ``inception``: torch-fidelity's ``inception-v3-compat`` (``2048`` features,
  ``logits_unbiased``), fed 3-channel images (grayscale repeated).

LPIPS diversity's AlexNet trunk (``lpips_model``) is looked up the same way.
Offline, torchvision's AlexNet weights cannot be fetched: the figure is then
recorded as ``None`` with one log line, never computed with a random trunk.

Weights are looked up in this order: the path the config sets, the torch
hub cache (``$TORCH_HOME/hub/checkpoints``), a download into that cache. The
file found is loaded (``weights_only=True``) and its key tensors checked before
any work, so a damaged one stops with a sentence naming it.

Shapes: N images, C channels, H W pixels, D features, K classes.
"""

from __future__ import annotations

import functools
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelcnn.checkpoints import load_model
from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.errors import CheckpointError, InvalidValue, UserError
from pixelcnn.models.classifier import Classifier, accuracy

CLASSIFIER_EXTRACTOR = "pixelcnn-classifier"  # our name in torch-fidelity's registry
INCEPTION_EXTRACTOR = "inception-v3-compat"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's converted TF weights
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet (LPIPS trunk)
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
LPIPS_KEY = "lpips_alex_diversity"  # the figure the AlexNet trunk feeds (``metrics.lpips_diversity``)
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation of a weights download
# tensors (name → shape) that identify a weights file before it is used
INCEPTION_SIGNATURE = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "fc.weight": (1008, 2048)}
ALEXNET_SIGNATURE = {  # the five convolutions of torchvision's AlexNet ``features``, all that LPIPS keeps
    "features.0.weight": (64, 3, 11, 11),
    "features.3.weight": (192, 64, 5, 5),
    "features.6.weight": (384, 192, 3, 3),
    "features.8.weight": (256, 384, 3, 3),
    "features.10.weight": (256, 256, 3, 3),
}


@dataclass(frozen=True)
class FeatureSpace:
    """A torch-fidelity feature extractor, resolved and checked before any work."""

    extractor: str  # registered name
    weights_path: str  # its ``feature_extractor_weights_path``
    rgb: bool  # inputs must be 3-channel (grayscale is repeated)
    classifier_accuracy: float | None = None  # the classifier's accuracy on the test split (features: classifier)
    classifier: Classifier | None = field(default=None, repr=False, compare=False)  # that classifier (class accuracy)


def _hub_file(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _local_or_download(configured: str, field: str, name: str, url: str) -> Path:
    """The configured file, else the torch hub cache's copy, else a fresh download into that cache.

    A configured path that does not exist raises ``InvalidValue`` naming ``field``;
    a failed download raises ``OSError`` (the caller words the failure).
    """
    if configured:
        if not Path(configured).is_file():
            raise InvalidValue(field, f"is {configured!r}, which does not exist; put {name} there or set it to \"\" (the torch hub cache)")
        return Path(configured)
    cached = _hub_file(name)
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a silently dropped connection fails instead of hanging
        try:
            torch.hub.download_url_to_file(url, str(cached), progress=False)
        except Exception as exc:  # URLError, HTTPError, socket errors, timeouts ...
            raise OSError(f"{exc.__class__.__name__}: {exc}") from None
        finally:
            socket.setdefaulttimeout(previous)
    return cached


def _state_dict_problem(path: Path, signature: dict[str, tuple[int, ...]]) -> str | None:
    """Why ``path`` is not a state dict holding ``signature``'s tensors, or ``None`` when it is.

    Loaded with ``weights_only=True``: a damaged or foreign file is named here
    instead of failing later, deep inside torch-fidelity or lpips.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ... for a damaged file
        return f"unreadable: {exc.__class__.__name__}"
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "not a dict of tensors"
    for key, shape in signature.items():
        if key not in state:
            return f"no {key}"
        if tuple(state[key].shape) != shape:
            return f"{key} has shape {tuple(state[key].shape)}, expected {shape}"
    return None


def _check_weights(path: Path, configured: bool, field: str, title: str, url: str,
                   signature: dict[str, tuple[int, ...]], instead: str | None) -> Path:
    """``path`` when it holds ``title``'s weights; else one sentence blaming the config ``field`` or the hub cache."""
    problem = _state_dict_problem(path, signature)
    if problem is None:
        return path
    if configured:
        fallback = instead or f'set {field} to "" (the torch hub cache)'
        raise InvalidValue(field, f": {path} is not {title} state dict ({problem}); download {url} to that path again, or {fallback}")
    raise CheckpointError(
        f"{path}: the torch hub cache's copy is not {title} state dict ({problem}); "
        f"delete it and download {url} there again" + (f", or {instead}" if instead else "")
    )


def resolve_feature_space(
    features: Features, config: EvaluateConfig, classifier_path: str | None, test_images: np.ndarray,
    test_labels: np.ndarray,
) -> FeatureSpace:
    """Check that the chosen feature extractor can be built and trusted, before anything is computed.

    ``test_images``: uint8 (N, C, H, W), ``test_labels``: int64 (N,), the test split.
    ``classifier``: the checkpoint must exist, be a classifier, take C channels,
    know the labels, and classify the test split at least
    ``config.min_classifier_accuracy`` right (the accuracy is kept in the result).
    ``inception``: the weights must be a local file (``evaluate.inception_weights``),
    in the torch hub cache, or downloadable, and readable; otherwise one
    ``UserError`` sentence says how to fix it.
    """
    if features.features == "classifier":
        return _classifier_space(config, classifier_path, test_images, test_labels)
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    try:
        path = _local_or_download(config.inception_weights, "inception_weights", INCEPTION_FILE, URL_INCEPTION_V3)
    except OSError:
        raise UserError(
            f"Inception-v3 weights could not be downloaded (offline?) and evaluate.inception_weights is not set; "
            f"download {URL_INCEPTION_V3} to weights/{INCEPTION_FILE} and set evaluate.inception_weights to that "
            f"path, or use evaluate.features: classifier"
        ) from None
    _check_weights(path, bool(config.inception_weights), "inception_weights", "torch-fidelity's Inception-v3",
                   URL_INCEPTION_V3, INCEPTION_SIGNATURE, instead="use evaluate.features: classifier")
    return FeatureSpace(INCEPTION_EXTRACTOR, str(path), rgb=True)


def _classifier_space(
    config: EvaluateConfig, classifier_path: str | None, test_images: np.ndarray, test_labels: np.ndarray
) -> FeatureSpace:
    if classifier_path is None:
        raise InvalidValue("features", "is 'classifier' but no classifier checkpoint was given; pass the train_classifier output")
    model = load_model(classifier_path, Classifier)
    channels, k = int(test_images.shape[1]), model.config.num_classes
    if model.config.in_channels != channels:
        raise CheckpointError(
            f"{classifier_path}: classifier takes {model.config.in_channels}-channel images but the data has "
            f"{channels}; re-run train_classifier on this data"
        )
    labels = np.asarray(test_labels)
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= k:
        span = f"{labels.min()}..{labels.max()}" if len(labels) else "nothing"
        raise CheckpointError(
            f"{classifier_path}: classifier has {k} classes but the test split's labels span {span}; "
            "re-run train_classifier on this data"
        )
    acc = accuracy(model, test_images, labels)
    print(f"evaluate: classifier test accuracy {acc:.4f} ({len(labels)} images, {k} classes)", flush=True)
    if acc < config.min_classifier_accuracy:
        raise CheckpointError(
            f"{classifier_path}: the classifier's test accuracy is {acc:.3f} (chance: {1 / k:.3f}), below "
            f"evaluate.min_classifier_accuracy {config.min_classifier_accuracy}, so its features cannot tell good "
            "samples from bad ones and FID, IS, KID and precision/recall would be meaningless; train it longer "
            "(raise classifier.epochs) or use evaluate.features: inception"
        )
    return FeatureSpace(CLASSIFIER_EXTRACTOR, str(classifier_path), rgb=False, classifier_accuracy=acc, classifier=model)


def resolve_lpips_trunk(config: EvaluateConfig) -> Path | None:
    """The AlexNet trunk weights for LPIPS, or ``None`` (with one log line) when they cannot be had.

    A file that is there but damaged (or another network's) raises one sentence naming it.
    """
    try:
        path = _local_or_download(config.lpips_trunk_weights, "lpips_trunk_weights", ALEXNET_FILE, ALEXNET_URL)
    except OSError:
        print(
            f"evaluate: {LPIPS_KEY} is missing: torchvision's AlexNet weights ({ALEXNET_FILE}) are not in the torch "
            f"hub cache ({_hub_file(ALEXNET_FILE).parent}) and could not be downloaded; set "
            f"evaluate.lpips_trunk_weights to a local copy to compute it",
            flush=True,
        )
        return None
    return _check_weights(path, bool(config.lpips_trunk_weights), "lpips_trunk_weights",
                          "torchvision's AlexNet", ALEXNET_URL, ALEXNET_SIGNATURE, instead=None)


@functools.cache
def _classifier_extractor_class() -> type:
    """Build the torch-fidelity extractor class (torch-fidelity is imported only here)."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.helpers import vassert

    class FeatureExtractorClassifier(FeatureExtractorBase):
        """The project's classifier as a torch-fidelity feature extractor (uint8 (B, C, H, W) in)."""

        def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                     **kwargs: Any):
            super().__init__(name, features_list)
            if feature_extractor_weights_path is None:  # torch-fidelity's vassert raises ValueError too
                raise ValueError(f"{name} needs feature_extractor_weights_path (a classifier checkpoint)")
            self.model = load_model(feature_extractor_weights_path, Classifier)
            self.requires_grad_(False)
            self.eval()

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return "penultimate", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return {"isc": "logits", "fid": "penultimate", "kid": "penultimate", "prc": "penultimate"}[metric]

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            return torch.zeros(1, 1, 32, 32, dtype=torch.uint8)

        def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, ...]:  # FeatureExtractorBase's name for it
            vassert(torch.is_tensor(input) and input.dtype == torch.uint8,
                    "Expecting image as torch.Tensor with dtype=torch.uint8")
            channels = self.model.config.in_channels
            vassert(input.dim() == 4 and input.shape[1] == channels, f"Input is not Bx{channels}xHxW: {tuple(input.shape)}")
            penultimate, logits = self.model(input)
            named = {"penultimate": penultimate, "logits": logits}
            return tuple(named[name] for name in self.features_list)

    return FeatureExtractorClassifier


def register_classifier_extractor() -> None:
    """Register ``pixelcnn-classifier`` with torch-fidelity (once per process)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if CLASSIFIER_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(CLASSIFIER_EXTRACTOR, _classifier_extractor_class())


def lpips_model(trunk_weights: Path, device: torch.device) -> torch.nn.Module:
    """LPIPS (AlexNet, v0.1 linear heads shipped with ``lpips``) with the trunk loaded from ``trunk_weights``."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pnet_rand=True only stops torchvision from downloading: every trunk weight is replaced below.
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    try:
        state = torch.load(trunk_weights, map_location="cpu", weights_only=True)
        # lpips splits AlexNet's ``features`` into slices that keep the layer indices: slice2.3.weight ← features.3.weight
        trunk = {k: state["features." + k.split(".", 1)[1]] for k in model.net.state_dict()}
        model.net.load_state_dict(trunk, strict=True)
    except Exception as exc:
        raise InvalidValue("lpips_trunk_weights", f": {trunk_weights} is not torchvision's AlexNet state dict "
                           f"({exc.__class__.__name__}); point it to {ALEXNET_FILE}") from None
    return model.eval().to(device)
