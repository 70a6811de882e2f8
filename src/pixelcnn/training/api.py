"""``train``: any model of the project, on images from memory, a torch ``Dataset`` or a prepared folder.

Legend: N images, C channels, H W pixels, K classes, h w a code grid.

    model = pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(channels=1, height=28, width=28, num_classes=10))
    result = pixelcnn.train(model, images, labels, epochs=5)   # images uint8 (N, 1, 28, 28), labels int (N,)
    result.history                                            # one row per epoch: epoch, lr, train_bpd, ...

One way to train: the training stages call ``train`` with their prepared
(or codes) folder and their objective, a user with an array, a tensor or a
``Dataset``; both run the same ``Trainer`` (``pixelcnn.training.trainer``:
AdamW with warm-up and decay, EMA, early stopping, the NaN stop, resume
from a saved state, DistributedDataParallel under ``torchrun``), with a
progress bar, and may log through DVCLive (``pixelcnn.training.live``).

What trains what: a ``PixelCNN`` (pixel space) or a ``Classifier`` on
uint8 images (N, C, H, W) and int labels (N,), a ``VQVAE`` on the images
alone, a ``CodePrior`` on the codes of its ``VQVAE`` (passed as
``vqvae=``: the images are encoded first; or a codes folder written by
``extract_codes``), each level in turn, the bottom given the top. The model
is trained in place, on ``device``, and left in eval mode holding the output
weights (the EMA or the best epoch's, when those are on).

Randomness: ``seed`` fixes the order of the batches and the objective's own
draws (augmentation, label dropout, codebook restarts); the initial weights
and dropout come from torch's global generator, which only the caller seeds
(``torch.manual_seed`` before building the model; the stages seed it).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from pixelcnn import distributed
from pixelcnn.configs import OptimConfig, RunConfig
from pixelcnn.errors import DataError, InputError
from pixelcnn.project.deps import package_files
from pixelcnn.runtime import resolve_device
from pixelcnn.training.live import TrainingLog
from pixelcnn.training.loader import ArrayRows, BatchKey, DatasetRows, Rows, Splits, dataset_image, dir_splits
from pixelcnn.training.state import run_fingerprint
from pixelcnn.training.trainer import FitResult, Objective, Trainer

if TYPE_CHECKING:
    from pixelcnn.models.classifier import Classifier
    from pixelcnn.models.pixelcnn import PixelCNN
    from pixelcnn.models.prior import CodePrior
    from pixelcnn.models.vqvae import VQVAE

Images = np.ndarray | torch.Tensor
PACKAGE = Path(__file__).resolve().parents[1]
TITLES = {"pixelcnn": "PixelCNN", "vqvae": "VQVAE", "classifier": "Classifier", "prior": "CodePrior"}  # kind → class, in sentences


# A model's kind is its class's CHECKPOINT_KIND: this module imports no model module (a training stage imports
# only its own model's, which its DVC deps list).
def _is_pixelcnn(model: object) -> TypeGuard[PixelCNN]:
    return getattr(model, "CHECKPOINT_KIND", None) == "pixelcnn"


def _is_vqvae(model: object) -> TypeGuard[VQVAE]:
    return getattr(model, "CHECKPOINT_KIND", None) == "vqvae"


def _is_prior(model: object) -> TypeGuard[CodePrior]:
    return getattr(model, "CHECKPOINT_KIND", None) == "prior"


def _is_classifier(model: object) -> TypeGuard[Classifier]:
    return getattr(model, "CHECKPOINT_KIND", None) == "classifier"


@dataclass
class TrainResult:
    """What ``train`` returns. A ``CodePrior`` trains one network per level: its figures are prefixed ``top/``, ``bottom/``."""

    history: list[dict[str, float]]  # one row per epoch: epoch, lr, train_*, val_*, test_* (the levels' side by side)
    metrics: dict[str, float]  # the row of the output weights: the last epoch's, or the best one's with early stopping
    runs: dict[str, FitResult] = field(repr=False)  # each network's own result, by name: pixelcnn, vqvae, classifier, top, bottom

    @property
    def stopped_early(self) -> bool:
        return any(r.stopped_early for r in self.runs.values())

    @classmethod
    def of(cls, runs: dict[str, FitResult], parts: bool) -> TrainResult:
        """The result of ``runs``: one network's own, or (``parts``: a model trained in parts) prefixed by each part."""
        if not parts:
            (only,) = runs.values()
            return cls(only.history, only.metrics, runs)
        rows: dict[int, dict[str, float]] = {}
        for name, fit in runs.items():
            for row in fit.history:
                entry = rows.setdefault(int(row["epoch"]), {"epoch": int(row["epoch"])})
                entry.update({f"{name}/{k}": v for k, v in row.items() if k != "epoch"})
        metrics = {f"{name}/{k}": v for name, fit in runs.items() for k, v in fit.metrics.items()}
        return cls([rows[e] for e in sorted(rows)], metrics, runs)


def train(
    model: nn.Module | Objective | Sequence[Objective],
    data: Images | Dataset | str | Path,
    labels: Any = None,
    *,
    test: Images | tuple[Images, Any] | Dataset | None = None,
    optim: OptimConfig | None = None,
    run: RunConfig | None = None,
    seed: int = 0,
    state: str | Path | None = None,
    log: str | Path | TrainingLog | None = None,
    progress: bool = True,
    cond_dropout: float = 0.0,
    augment_shift: int = 0,
    vqvae: nn.Module | None = None,
    desc: str | None = None,
    keys: Mapping[str, str] | None = None,
    **settings: Any,
) -> TrainResult:
    """Train ``model`` on ``data``; returns the per-epoch history and the final metrics (see the module docstring).

    model: a ``PixelCNN``, ``VQVAE``, ``CodePrior`` or ``Classifier`` (or the
    ``Objective``(s) wrapping one, as the stages pass). data: uint8 images
    (N, C, H, W) as an array or tensor, with ``labels`` int (N,) for a
    class-conditional model; a ``Dataset`` of images or (image, label) items
    (uint8 tensors or arrays, or PIL images); or a folder written by
    ``prepare`` (or ``extract_codes``, for a prior), which holds its own test
    split. test: images, (images, labels) or a ``Dataset``, scored after
    every epoch (``test_*`` figures); None scores none.

    Settings: ``optim`` (an ``OptimConfig``) and any of its fields as keywords
    (``epochs=5, lr=1e-3, device="cpu"``; these win); ``run`` (a ``RunConfig``:
    ``checkpoint_every``, ``workers``; the number of processes is torchrun's).
    ``state``: a folder where the whole training state is saved every
    ``run.checkpoint_every`` steps and at epoch ends; a call that finds a state
    of the same model, data, settings and code there resumes from it and ends
    with the same weights as a run never interrupted (the folder is kept:
    delete it to start over). ``log``: a folder for DVCLive
    (``pixelcnn.training.live``), or an open ``TrainingLog`` that the caller
    finishes. ``cond_dropout`` (PixelCNN, CodePrior built with
    ``null_class=True``): the share of labels hidden while training, for
    classifier-free guidance; ``augment_shift`` (Classifier): random shifts of
    up to that many pixels. ``desc`` names the run in the progress bar;
    ``keys``: what error sentences call ``optim``'s fields (the stages pass
    their params keys).
    """
    optim = _optim(optim, settings)
    run = run or RunConfig()
    objectives = _objectives(model, cond_dropout, augment_shift)
    prior = model if _is_prior(model) else None
    device = resolve_device(optim.device)
    with distributed.session(device) as ctx:
        device = ctx.device(device)
        sources = _sources(objectives, prior, data, labels, test, vqvae)
        record = None if not ctx.main else TrainingLog(log) if isinstance(log, (str, Path)) else log  # rank 0 logs
        runs: dict[str, FitResult] = {}
        several = _in_parts(objectives)
        for objective, (splits, inputs) in zip(objectives, sources):
            described = {"objective": objective.name, "model": getattr(objective.model, "config", None),
                         "options": _options(objective), "optim": optim, "seed": seed, "processes": ctx.world, "data": inputs}
            fingerprint = run_fingerprint(described, [inputs] if isinstance(inputs, Path) else [], _code(objective))
            label = f"{desc or 'train'} {objective.name}" if several or desc is None else desc
            trainer = Trainer(objective, splits, optim, run, seed=seed, device=device, ctx=ctx,
                              state_path=Path(state) / f"{objective.name}.pt" if state is not None else None,
                              fingerprint=fingerprint, desc=label, keys=keys, progress=progress)
            on_epoch = partial(record.epochs, prefix=f"{objective.name}/" if several else "") if record else None
            runs[objective.name] = trainer.fit(on_epoch=on_epoch)
        result = TrainResult.of(runs, several)
        if record is not None and record is not log:  # opened here, closed here
            record.finish(result.metrics, None, desc or f"training {', '.join(runs)}")
    return result


# ----------------------------------------------------------------------------- settings and objectives


def _optim(optim: OptimConfig | None, settings: Mapping[str, Any]) -> OptimConfig:
    names = [f.name for f in dataclasses.fields(OptimConfig)]
    for key in settings:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise InputError(f"train() has no setting {key!r}; {hint}its settings are OptimConfig's fields: {', '.join(names)}")
    return dataclasses.replace(optim or OptimConfig(), **settings)


def _objectives(model: Any, cond_dropout: float, augment_shift: int) -> list[Objective]:
    """The objective(s) that train ``model``: given, or the model kind's own (its module imported here, only when used)."""
    if isinstance(model, Objective):
        return [model]
    if isinstance(model, (list, tuple)):
        if model and all(isinstance(m, Objective) for m in model):
            return list(model)
        raise InputError(f"train() takes a PixelCNN, VQVAE, CodePrior or Classifier of this package, got {type(model).__name__}")
    kind = getattr(model, "CHECKPOINT_KIND", None)
    if augment_shift and kind != "classifier":
        raise InputError("augment_shift shifts a Classifier's training images; drop it for this model")
    if cond_dropout and kind in ("pixelcnn", "prior"):
        null = model.config.null_class if kind == "pixelcnn" else model.guidable
        if not null:
            raise InputError("cond_dropout > 0 needs a model with the \"no class\" label: build it with null_class=True "
                             "(and num_classes > 0)")
    elif cond_dropout:
        raise InputError("cond_dropout hides the labels of a class-conditional PixelCNN or CodePrior; drop it for this model")
    if _is_pixelcnn(model):
        if model.config.embed_dim or model.config.cond_channels:
            raise InputError("this PixelCNN models code grids (one level of a CodePrior): train the CodePrior, with vqvae=")
        from pixelcnn.training.objectives.pixel import PixelObjective

        return [PixelObjective(model, cond_dropout)]
    if _is_vqvae(model):
        from pixelcnn.training.objectives.vqvae import VQVAEObjective

        return [VQVAEObjective(model)]
    if _is_classifier(model):
        from pixelcnn.configs import Augmentation
        from pixelcnn.training.objectives.classifier import ClassifierObjective

        return [ClassifierObjective(model, Augmentation(augment_shift))]
    if _is_prior(model):
        from pixelcnn.training.objectives.prior import prior_objectives

        return [*prior_objectives(model, cond_dropout)]
    raise InputError(f"train() takes a PixelCNN, VQVAE, CodePrior or Classifier of this package, got {type(model).__name__}")


def _in_parts(objectives: list[Objective]) -> bool:
    """Whether the objectives train parts of one model (a CodePrior's levels, even one): figures named by part."""
    whole = len(objectives) == 1 and objectives[0].name == getattr(objectives[0].model, "CHECKPOINT_KIND", None)
    return not whole


def _options(objective: Objective) -> dict[str, Any]:
    """The objective's own settings (cond_dropout, shift, the level above), for the fingerprint of its saved state."""
    return {k: v for k, v in vars(objective).items()
            if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str, type(None)))}


def _code(objective: Objective) -> list[Path]:
    """The source files that decide what training computes: the script run, the objective's and the model's modules."""
    import __main__

    roots = [_source_file(m) for m in (objective, objective.model)]
    script = getattr(__main__, "__file__", None)
    if script and Path(script).suffix == ".py" and Path(script).is_file():
        roots.append(Path(script))
    files = {path.resolve() for root in roots for path in (root, *package_files(root, PACKAGE))}
    return sorted(files)


def _source_file(obj: object) -> Path:
    """The file of the module that defines ``obj``'s class."""
    file = sys.modules[type(obj).__module__].__file__
    if file is None:
        raise ValueError(f"{type(obj).__qualname__} is defined in {type(obj).__module__}, which has no source file to fingerprint")
    return Path(file)


# ----------------------------------------------------------------------------- data


def _sources(objectives: list[Objective], prior: CodePrior | None, data: Any, labels: Any, test: Any,
             vqvae: nn.Module | None) -> list[tuple[Splits, Any]]:
    """Each objective's (splits, what its data is for the fingerprint: a folder's path, or a digest)."""
    if isinstance(data, (str, Path)):
        folder = Path(data)
        if not folder.is_dir():
            raise DataError(f"{folder} is not a folder: pass a prepared data folder (prepare's output), a codes folder "
                            "(extract_codes'), or the images themselves")
        if labels is not None or test is not None:
            raise InputError(f"{folder} holds its own labels and test split: drop labels= and test=")
        return [(dir_splits(folder, o.files), folder) for o in objectives]
    if prior is not None:
        return _code_sources(objectives, prior, data, labels, test, vqvae)
    model = objectives[0].model
    kind = getattr(model, "CHECKPOINT_KIND", None)
    if len(objectives) > 1 or kind not in ("pixelcnn", "vqvae", "classifier"):
        raise InputError("to train a CodePrior on images, pass the CodePrior itself with vqvae= (its autoencoder)")
    shape, classes = _expects(model, data)
    train_set, digest = _split_source(data, labels, shape, classes, "data", kind)
    test_set = None
    if test is not None:
        images, test_labels = test if isinstance(test, tuple) else (test, None)
        test_set, test_digest = _split_source(images, test_labels, shape, classes, "test", kind)
        digest += test_digest
    return [(Splits(train_set, test_set), digest)]


def _is_dataset(data: Any) -> bool:
    return isinstance(data, Dataset) and not isinstance(data, (np.ndarray, torch.Tensor))


def _expects(model: nn.Module, data: Any) -> tuple[tuple[int, int, int], int]:
    """(C, H, W) the model takes and its classes (0: labels are not used)."""
    if _is_pixelcnn(model):
        c = model.config
        return (c.channels, c.height, c.width), c.num_classes
    if _is_vqvae(model):
        return model.image_shape, 0
    if not _is_classifier(model):
        raise InputError(f"train() takes a PixelCNN, VQVAE, CodePrior or Classifier of this package, got {type(model).__name__}")
    # the classifier takes any size (global pooling): the data's
    if _is_dataset(data):
        item = data[0]
        height, width = dataset_image(item[0] if isinstance(item, (tuple, list)) else item, 0).shape[1:]
    else:
        height, width = tuple(data.shape[-2:]) if hasattr(data, "shape") and len(data.shape) >= 2 else (0, 0)
    return (model.config.in_channels, height, width), model.config.num_classes


def _split_source(data: Any, labels: Any, shape: tuple[int, int, int], classes: int, what: str,
                  kind: str | None) -> tuple[Rows, str]:
    """A rows source of one split (images and labels) and a digest of its contents."""
    if _is_dataset(data):
        if labels is not None:
            raise InputError(f"{what} is a Dataset, whose items carry their labels: drop its labels")
        rows = DatasetRows(data, shape, classes)
        rows.item(0)  # the first item's image and label checked before any work
        return rows, f"{type(data).__module__}.{type(data).__qualname__}:{len(rows)}"
    images = as_training_images(data, shape, what)
    y = as_training_labels(labels, len(images), classes, what, kind)
    h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    h.update(y.tobytes())
    return ArrayRows({"images": images, "labels": y}), h.hexdigest()


def as_training_images(data: Any, shape: tuple[int, int, int], what: str = "data") -> np.ndarray:
    """uint8 (N, C, H, W) of ``shape`` = (C, H, W) from an array or tensor ((N, H, W) for one channel), or one sentence."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    if not isinstance(data, np.ndarray):
        raise InputError(f"{what} must be uint8 images (N, C, H, W) as an array or tensor, a torch Dataset, or a prepared "
                         f"folder, got {type(data).__name__}")
    if data.dtype != np.uint8:
        raise InputError(f"{what} must be uint8 in [0, 255], got dtype {data.dtype}; convert it (e.g. (x * 255).round().astype(np.uint8))")
    if data.ndim == 3 and shape[0] == 1:
        data = data[:, None]  # (N, 1, H, W)
    if data.ndim != 4 or len(data) == 0:
        raise InputError(f"{what} must be images (N, C, H, W) with N >= 1, got shape {data.shape}")
    if data.shape[1:] != tuple(shape):
        hint = "; it looks like (N, H, W, C): transpose it with .transpose(0, 3, 1, 2)" if data.shape[-1] == shape[0] else ""
        raise InputError(f"{what} has images of shape {data.shape[1:]} (C, H, W) but the model takes {tuple(shape)}{hint}")
    return data


def as_training_labels(labels: Any, n: int, classes: int, what: str = "data", kind: str | None = None) -> np.ndarray:
    """int64 (n,) in [0, classes) (-1 everywhere when the model takes none), or one sentence."""
    if labels is None:
        if classes:
            raise InputError(f"the {TITLES.get(kind or '', 'model')} is conditioned on {classes} classes: pass the labels of {what}, "
                             f"int (N,) in [0, {classes})")
        return np.full(n, -1, dtype=np.int64)
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise InputError(f"the labels of {what} must be integers, one per image ({n},), got {y.dtype} {y.shape}")
    if not classes:
        return np.full(n, -1, dtype=np.int64)  # an unconditional model: labels are not used
    if len(y) and (y.min() < 0 or y.max() >= classes):
        bad = int(y[(y < 0) | (y >= classes)][0])
        raise InputError(f"label {bad} of {what} is out of range: the {TITLES.get(kind or '', 'model')} knows {classes} classes (0..{classes - 1})")
    return y.astype(np.int64)


def _code_sources(objectives: list[Objective], prior: CodePrior, data: Any, labels: Any, test: Any,
                  vqvae: nn.Module | None) -> list[tuple[Splits, Any]]:
    """A prior's levels on the codes of ``vqvae``: the images (and test images) encoded once, in memory."""
    from pixelcnn.models.prior import check_pairing

    if not _is_vqvae(vqvae):
        raise InputError("a CodePrior trains on the codes of its VQ-VAE: pass vqvae= (the trained VQVAE), or a codes folder")
    check_pairing(prior, "the prior", vqvae.fingerprint(), "vqvae=")
    shape, classes = vqvae.image_shape, prior.num_classes
    splits = {"train": _encoded(vqvae, data, labels, shape, classes, "data")}
    if test is not None:
        images, test_labels = test if isinstance(test, tuple) else (test, None)
        splits["test"] = _encoded(vqvae, images, test_labels, shape, classes, "test")
    digest = hashlib.sha256(b"".join(a.tobytes() for split in splits.values() for a in split.values())).hexdigest()

    def rows(objective: Objective, split: str) -> ArrayRows:
        stems = {k: f.removeprefix("{split}_").removesuffix(".npy") for k, f in objective.files.items()}
        return ArrayRows({k: splits[split][stem] for k, stem in stems.items()})

    return [(Splits(rows(o, "train"), rows(o, "test") if "test" in splits else None), digest) for o in objectives]


@torch.no_grad()
def _encoded(vqvae: VQVAE, data: Any, labels: Any, shape: tuple[int, int, int], classes: int,
             what: str, batch_size: int = 256) -> dict[str, np.ndarray]:
    """{"top": int64 (N, h, w), ["bottom": ...], "labels": int64 (N,)}: the codes of the images, per level."""
    from pixelcnn.data.pixels import to_float

    if _is_dataset(data):
        source = DatasetRows(data, shape, classes)
        batch = source[BatchKey(tuple(range(len(source))), 0, len(source))]
        images, y = batch["images"].numpy(), batch["labels"].numpy()
    else:
        images = as_training_images(data, shape, what)
        y = as_training_labels(labels, len(images), classes, what, "prior")
    was_training = vqvae.training
    vqvae.eval()
    device = next(vqvae.parameters()).device
    parts: list[list[torch.Tensor]] = []
    for start in range(0, len(images), batch_size):
        parts.append([c.cpu() for c in vqvae.encode(to_float(images[start : start + batch_size], device))])
    vqvae.train(was_training)
    codes = {name: torch.cat([p[i] for p in parts]).numpy() for i, name in enumerate(vqvae.level_names)}
    return {**codes, "labels": y}
