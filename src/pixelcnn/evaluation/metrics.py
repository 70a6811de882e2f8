"""Sample quality: FID, IS, KID, precision/recall (torch-fidelity), LPIPS diversity.

Every set of images (a generator's samples, or the train split as the data's
own floor) is scored against the test split by ONE
``torch_fidelity.calculate_metrics`` call, in one of two feature spaces:

- ``classifier``: the project's classifier (``pixelcnn.models.classifier``),
  registered with torch-fidelity as the feature extractor
  ``pixelcnn-classifier``. It rebuilds the network from the checkpoint passed
  as ``feature_extractor_weights_path`` and provides two features:
  ``penultimate`` (D-dim, for FID / KID / precision-recall) and ``logits``
  (K-dim, for IS). It takes the data's own channels (1 for digits).
- ``inception``: torch-fidelity's ``inception-v3-compat`` (``2048`` features,
  ``logits_unbiased``), fed 3-channel images (grayscale repeated).

Diversity is the mean LPIPS (AlexNet trunk, ``lpips`` package) over seeded
random pairs of one set, on images upsampled to at least 64 pixels. Class
accuracy is the share of a set's images that the classifier puts in the
class they were drawn for (sets with labels, feature space ``classifier``). Offline,
torchvision's AlexNet weights cannot be fetched: the metric is then recorded
as ``None`` with one log line, never computed with a random trunk.

Weights are looked up in this order: the path the config sets, the torch
hub cache (``$TORCH_HOME/hub/checkpoints``), a download into that cache. The
file found is loaded (``weights_only=True``) and its key tensors checked before
any work, so a damaged one stops with a sentence naming it.

Shapes: N images, C channels, H W pixels, D features, K classes.
Images are uint8 (N, C, H, W) throughout; features float32 (N, D).
"""

from __future__ import annotations

import functools
import json
import socket
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pixelcnn.checkpoints import load_model
from pixelcnn.configs import EvaluateConfig, Features
from pixelcnn.data.npy import load_npy
from pixelcnn.data.pixels import to_float
from pixelcnn.data.prepared import load_split
from pixelcnn.errors import CheckpointError, DataError, InvalidValue, UserError, require
from pixelcnn.models.classifier import Classifier, accuracy, predict

CLASSIFIER_EXTRACTOR = "pixelcnn-classifier"  # our name in torch-fidelity's registry
INCEPTION_EXTRACTOR = "inception-v3-compat"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's converted TF weights
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet (LPIPS trunk)
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
LPIPS_MIN_SIZE = 64  # smaller images are upsampled first (as torch-fidelity does for LPIPS): AlexNet needs >= 31 pixels
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation of a weights download
ISC_SPLITS = 10  # torch-fidelity's default number of IS splits (fewer when a set is smaller)
# tensors (name → shape) that identify a weights file before it is used
INCEPTION_SIGNATURE = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "fc.weight": (1008, 2048)}
ALEXNET_SIGNATURE = {  # the five convolutions of torchvision's AlexNet ``features``, all that LPIPS keeps
    "features.0.weight": (64, 3, 11, 11),
    "features.3.weight": (192, 64, 5, 5),
    "features.6.weight": (384, 192, 3, 3),
    "features.8.weight": (256, 384, 3, 3),
    "features.10.weight": (256, 256, 3, 3),
}

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
LPIPS_KEY = "lpips_alex_diversity"
CLASS_ACCURACY_KEY = "class_accuracy"  # share of a set's images the classifier puts in the class they were drawn for
FLOOR = "floor"  # the train split scored like a generator: what a perfect model would reach


# ---------------------------------------------------------------- feature spaces


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


# ---------------------------------------------------------------- metrics


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


def _lpips_model(trunk_weights: Path, device: torch.device) -> torch.nn.Module:
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


# ---------------------------------------------------------------- inputs and report


def load_samples(sample_dir: str | Path) -> np.ndarray:
    """A generator's ``samples.npy``: uint8 (N, C, H, W)."""
    path = Path(sample_dir) / "samples.npy"
    if not path.is_file():
        raise DataError(f"{path} not found; run the sampling stage that writes {sample_dir} or leave it out of --samples")
    images = load_npy(path, mmap=True, fix="re-run its sampling stage")
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{path}: expected uint8 (N, C, H, W), got {images.dtype} {images.shape}; re-run its sampling stage")
    return images


def load_sample_labels(sample_dir: str | Path) -> np.ndarray | None:
    """The class each of a generator's samples was drawn for (``labels.npy`` beside ``samples.npy``), int64 (N,);
    None when the folder has none."""
    path = Path(sample_dir) / "labels.npy"
    if not path.is_file():
        return None
    labels = np.asarray(load_npy(path, mmap=False, fix="re-run its sampling stage"))
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DataError(f"{path}: expected int labels (N,), got {labels.dtype} {labels.shape}; re-run its sampling stage")
    return labels.astype(np.int64)


def collect_sets(data_dir: str | Path, sample_dirs: list[str]) -> dict[str, np.ndarray]:
    """The sets to score: the train split as ``floor``, then each sample dir under its own name."""
    sets = {FLOOR: load_split(data_dir, "train").images}
    for d in sample_dirs:
        name = Path(d).name
        if name in sets:
            raise DataError(
                f"{d}: a set named {name!r} is already scored; give each sample dir a distinct name other than {FLOOR!r}"
            )
        sets[name] = load_samples(d)
    return sets


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


def likelihood_set(path: str | Path) -> str:
    """The set a training metrics file belongs to: its DVCLive folder (``metrics/prior/metrics.json`` → ``prior``),
    else its stem (``prior.json`` → ``prior``)."""
    path = Path(path)
    return path.parent.name if path.name == "metrics.json" else path.stem


def read_likelihoods(path: str | Path) -> dict[str, float]:
    """The test-split likelihoods of a training stage's metrics JSON, flattened.

    Keeps numeric leaves whose own key starts with ``test_`` and names bits
    (``test_bpd``, ``top.test_bits_per_code``, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found; run the training stage that writes it or leave it out of --bpd")
    try:
        tree = json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path}: not valid JSON; re-run the training stage that writes it") from None
    out: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            key = prefix[:-1]
            leaf = key.rsplit(".", 1)[-1]
            if leaf.startswith("test_") and ("bpd" in leaf or "bits" in leaf):
                out[key] = float(node)

    walk(tree, "")
    return out


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
    lpips_model = _lpips_model(lpips_trunk, device) if lpips_trunk is not None else None
    results: dict[str, float | None] = {}
    for name, images in sets.items():
        start = time.perf_counter()
        keep = subset_rows(len(images), config.num_samples, generator)
        drawn_for = None if name not in labels else np.asarray(labels[name]) if keep is None else np.asarray(labels[name])[keep]
        images = np.asarray(images) if keep is None else np.asarray(images[keep])
        rng_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        metrics: dict[str, float | None] = dict(fidelity_metrics(images, reference, space, config, device, rng_seed))
        metrics[LPIPS_KEY] = (
            lpips_diversity(images, lpips_model, config.lpips_pairs, config.batch_size, device, generator)
            if lpips_model is not None
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


def markdown_table(results: dict[str, float | None]) -> str:
    """Metrics as rows, sets as columns; ``None`` shows as ``missing``, an absent metric stays blank."""
    import pandas as pd

    columns: dict[str, dict[str, str]] = {}
    rows: dict[str, None] = {}  # metrics in first-seen order
    for key, value in results.items():
        name, metric = key.split(".", 1)
        columns.setdefault(name, {})[metric] = "missing" if value is None else f"{value:.4g}"
        rows[metric] = None
    frame = pd.DataFrame(columns, index=list(rows)).fillna("")
    frame.index.name = "metric"
    return frame.to_markdown(stralign="right") + "\n"

