"""Every knob of the project, declared once: the frozen config types of the library.

Each is a plain dataclass (no torch import, so ``pixelcnn.project.params`` can check a
whole params.yaml cheaply) with a comment on every default and a range check
that names the field (``errors.require``). The library takes these types;
``pixelcnn.project.params`` builds them from params.yaml (``params.SECTIONS`` says
which keys of which section fill which type) and names the key when a value
is wrong. Model configs are also what checkpoints store to rebuild a model
(``dataclasses.asdict`` in, ``config_from_dict`` out).

Legend: C channels, H W pixels, K categories per channel (values or codes),
F hidden features, S skip features.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from pixelcnn.errors import require

Device = Literal["auto", "cpu", "cuda"]  # auto: CUDA when present


# ----------------------------------------------------------------------------- configs as data


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a (possibly nested) frozen config dataclass from ``config_to_dict``'s output.

    Fields missing from ``data`` take their defaults (checkpoints written
    before an option existed); an unknown field raises ``TypeError``.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    return cls(**{name: _value(hints[name], value) for name, value in data.items()})


def _value(annotation: Any, value: Any) -> Any:
    origin = get_origin(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return config_from_dict(annotation, value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        for option in get_args(annotation):
            if isinstance(option, type) and dataclasses.is_dataclass(option) and isinstance(value, Mapping):
                return config_from_dict(option, value)
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        inner = get_args(annotation)[0]
        return tuple(_value(inner, v) for v in value)
    return value


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataConfig:
    """Which dataset ``prepare`` writes, at what size, how split (params.yaml ``data``)."""

    name: Literal["digits", "mnist", "fashion_mnist", "cifar10", "celeba", "folder"] = "digits"  # dataset; digits is bundled with scikit-learn (offline)
    root: str = "data/raw"  # where datasets live (MNIST/, FashionMNIST/ or their idx files; cifar-10-batches-py/; celeba/); for folder: the image folder
    image_size: int = 32  # output height = width in pixels
    grayscale: bool = False  # store colour datasets (cifar10, celeba, folder) as one luminance channel
    test_fraction: float = 0.2  # share held out for test where there is no official split (digits, folder)
    split_seed: int = 0  # seed of that split and of the max_train / max_test subsets
    max_train: int = 0  # keep a seeded subset of at most this many train images; 0 keeps all
    max_test: int = 0  # keep a seeded subset of at most this many test images; 0 keeps all
    celeba_attr: str = "Smiling"  # CelebA attribute used as a binary label (0 without, 1 with); "" = unlabelled
    download: bool = False  # let torchvision fetch missing mnist/fashion_mnist/cifar10/celeba files into root (needs internet)

    def __post_init__(self) -> None:
        require(self.image_size >= 4, "image_size", f"must be >= 4, got {self.image_size}")
        require(0 < self.test_fraction < 1, "test_fraction", f"must be in (0, 1), got {self.test_fraction}")
        require(self.root != "", "root", "must not be empty; set it to the folder holding the dataset")
        for key in ("max_train", "max_test"):
            value = getattr(self, key)
            require(value >= 0, key, f"must be >= 0 (0 keeps all), got {value}")


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class OptimConfig:
    """How one model is optimised (keys of its params.yaml section)."""

    epochs: int = 10  # passes over the training rows
    batch_size: int = 32  # examples per optimiser step, over all processes
    lr: float = 2e-3  # peak AdamW learning rate
    schedule: Literal["exponential", "cosine", "constant"] = "exponential"  # decay after the warm-up
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many steps
    lr_decay: float = 0.9  # exponential: the rate is multiplied by this after every epoch
    weight_decay: float = 0.0  # AdamW decoupled weight decay of weights with >= 2 dimensions
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    ema_decay: float = 0.0  # EMA of the weights, used by evaluation and saved as the model; 0 turns it off
    val_fraction: float = 0.0  # share of the training rows held out to validate (early stopping)
    patience: int = 0  # stop after this many epochs without a better validation loss; 0 never stops early
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA and on CPUs with bf16 instructions
    channels_last: bool = False  # channels-last memory format (faster for some convolutions on CPUs)
    compile: bool | Literal["auto"] = False  # torch.compile the training step; auto: only if measured faster, compile time included
    device: Device = "auto"  # auto: CUDA when present

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        require(0 < self.lr_decay <= 1, "lr_decay", f"must be in (0, 1], got {self.lr_decay}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(self.grad_clip >= 0, "grad_clip", f"must be >= 0 (0 turns clipping off), got {self.grad_clip}")
        require(0 <= self.ema_decay < 1, "ema_decay", f"must be in [0, 1) (0 turns the EMA off), got {self.ema_decay}")
        require(0 <= self.val_fraction < 1, "val_fraction", f"must be in [0, 1), got {self.val_fraction}")
        require(self.patience >= 0, "patience", f"must be >= 0 (0 never stops early), got {self.patience}")
        require(self.patience == 0 or self.val_fraction > 0, "patience",
                f"is {self.patience} but early stopping needs a validation share: set val_fraction > 0 as well")


@dataclass(frozen=True)
class RunConfig:
    """How training runs, the same for every model (params.yaml ``train``)."""

    processes: int = 1  # DDP processes on this machine (torchrun --standalone); 1 trains in the stage's own process
    checkpoint_every: int = 500  # optimiser steps between saved training states (also saved at every epoch end); 0: epoch ends only
    workers: int = 0  # DataLoader processes reading batches; 0 reads them in the training process
    deterministic: bool = False  # torch.use_deterministic_algorithms while training: CUDA runs repeat byte for byte (slower); CPU training repeats without it

    def __post_init__(self) -> None:
        require(self.processes >= 1, "processes", f"must be >= 1, got {self.processes}")
        require(self.checkpoint_every >= 0, "checkpoint_every", f"must be >= 0, got {self.checkpoint_every}")
        require(self.workers >= 0, "workers", f"must be >= 0, got {self.workers}")


# ----------------------------------------------------------------------------- the PixelCNN


@dataclass(frozen=True)
class PixelCNNConfig:
    """Everything needed to rebuild a PixelCNN; stored in its checkpoint.

    Every default rebuilds the gated PixelCNN of van den Oord et al. (2016)
    that this project started with, so a checkpoint written before a field
    existed loads into the same model. The newer options combine freely:
    ``output="logistic"`` (the discretized logistic mixture of PixelCNN++,
    pixel models only; the network then has no colour-group masks),
    ``resolutions > 1`` (a U-Net of gated blocks, as PixelCNN++),
    ``attention_every > 0`` (causal self-attention blocks, as PixelSNAIL),
    ``dropout > 0``.
    """

    channels: int = 1  # C: 1 (grey or codes) or 3 (RGB, generated R → G → B)
    levels: int = 256  # K: categories per channel (256 for 8-bit pixels, codebook size for codes)
    height: int = 32  # H of the grids the model is trained on (the sampler's default shape)
    width: int = 32  # W
    hidden: int = 64  # F: features per stack, divisible by channels (categorical output)
    skip: int = 128  # S: skip-connection features, divisible by channels (categorical output)
    layers: int = 8  # gated blocks (per resolution and pass when resolutions > 1); the field grows by kernel//2 per block
    kernel: int = 3  # odd kernel width of the vertical and horizontal stacks
    embed_dim: int = 0  # E: 0 → scalar input in [-1, 1]; > 0 → learned embedding per category
    num_classes: int = 0  # 0 → unconditional; else a class label per image
    cond_channels: int = 0  # D: 0 → none; else a (B, D, H, W) conditioning map per image
    position_channels: int = 0  # P: 0 → none; else a learned (P, H, W) map of where each position is
    position_per_class: bool = False  # a class-conditional model learns one position map per class (a class template)
    output: Literal["categorical", "logistic"] = "categorical"  # categorical: K logits per channel; logistic: mixture of discretized logistics (pixels)
    n_mix: int = 10  # M: components of the logistic mixture (output logistic only)
    resolutions: int = 1  # 1: one stack of `layers` blocks; r > 1: U-Net over r resolutions, each halving H and W
    dropout: float = 0.0  # dropout rate on the gated features of every block while training; 0 turns it off
    attention_every: int = 0  # 0: no attention; n: a causal self-attention block after every n gated blocks (not after the last)
    attention_heads: int = 1  # heads of each attention block; divides hidden
    attention_dim: int = 16  # query and key features per head (values get hidden / attention_heads)
    context: bool = False  # every block also reads the mean of every row so far and of the row to the left: every output sees every earlier input
    null_class: bool = False  # a learned "no class" label (index num_classes) for classifier-free guidance; needs num_classes > 0

    def __post_init__(self) -> None:
        require(self.channels >= 1, "channels", f"must be >= 1, got {self.channels}")
        require(not self.null_class or self.num_classes > 0, "null_class",
                "needs a class-conditional model (num_classes > 0): an unconditional model has no label to drop")
        require(self.output in ("categorical", "logistic"), "output", f"must be 'categorical' or 'logistic', got {self.output!r}")
        require(self.output != "logistic" or self.embed_dim == 0, "output",
                f"is 'logistic', which models pixel values fed as scalars (embed_dim 0), got embed_dim {self.embed_dim}; "
                "code priors use output 'categorical'")
        for name in ("hidden", "skip"):
            value = getattr(self, name)
            require(value >= 1, name, f"must be >= 1, got {value}")
            require(value % self.colours == 0, name,
                    f"must be divisible by the {self.channels} channels of the data (colour groups), got {value}")
        require(self.kernel >= 3 and self.kernel % 2 == 1, "kernel", f"must be odd and >= 3, got {self.kernel}")
        require(2 <= self.levels <= 2**15, "levels", f"must be in [2, 32768], got {self.levels}")
        require(self.embed_dim >= 0, "embed_dim", f"must be >= 0, got {self.embed_dim}")
        require(self.position_channels >= 0, "position_channels", f"must be >= 0, got {self.position_channels}")
        for name in ("layers", "n_mix", "resolutions", "attention_heads", "attention_dim"):
            require(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.attention_every >= 0, "attention_every", f"must be >= 0 (0 turns attention off), got {self.attention_every}")
        require(not self.attention_every or self.attention_every < self.gated_blocks, "attention_every",
                f"is {self.attention_every}, which places no attention block among {self.gated_blocks} gated blocks "
                f"(none follows the last): use a value below {self.gated_blocks}, or 0")
        require(not self.attention_every or self.hidden % self.attention_heads == 0, "attention_heads",
                f"must divide hidden {self.hidden}, got {self.attention_heads}")

    @property
    def colours(self) -> int:
        """Colour groups of the network: C with the categorical output, 1 with the logistic one."""
        return self.channels if self.output == "categorical" else 1

    @property
    def label_count(self) -> int:
        """Rows of the class embeddings: the classes, plus the "no class" label with ``null_class``."""
        return self.num_classes + int(self.null_class)

    @property
    def gated_blocks(self) -> int:
        """Gated blocks in all: ``layers`` in one stack, or per resolution in each of two passes."""
        return self.layers if self.resolutions == 1 else 2 * self.resolutions * self.layers


def grid_sizes(height: int, width: int, resolutions: int) -> list[tuple[int, int]]:
    """(H, W) of each resolution, finest first; each halves the one before, rounding up."""
    sizes = [(height, width)]
    for _ in range(resolutions - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


@dataclass(frozen=True)
class ClassConditioning:
    """Whether a model is conditioned on the class label, and how often training hides it (classifier-free guidance)."""

    conditional: bool = True  # condition on the class label when the data has labels
    cond_dropout: float = 0.0  # share of training labels replaced by a learned "no class" label (for guidance); 0 keeps every label

    def __post_init__(self) -> None:
        require(0 <= self.cond_dropout < 1, "cond_dropout", f"must be in [0, 1) (0 keeps every label), got {self.cond_dropout}")

    def num_classes(self, data_classes: int) -> int:
        """The model's ``num_classes``: the data's when conditional, else 0."""
        return data_classes if self.conditional else 0

    def null_class(self, data_classes: int) -> bool:
        """Whether the model learns a "no class" label: a conditional model trained with ``cond_dropout > 0``."""
        return self.num_classes(data_classes) > 0 and self.cond_dropout > 0


# ----------------------------------------------------------------------------- sampling


class Sampler(StrEnum):
    """Which sampler draws the values; both give the same samples for the same generator.

    The one declaration of the names: params.yaml's ``sampler`` keys, the API's
    ``sampler=``, the sampling dispatcher, the CLI's ``--sampler`` and the demo
    take these members (a plain string equal to a value works too).
    """

    description: str  # a few words for people, shown in error sentences and help texts

    CACHED = "cached", "fast, exact"  # incremental: one cached step per value (the default)
    NAIVE = "naive", "the slow reference"  # one full forward pass per value

    def __new__(cls, value: str, description: str) -> Sampler:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    @classmethod
    def choices(cls, described: bool = False) -> str:
        """The values for a sentence: "'cached' or 'naive'" (each with its description if ``described``)."""
        return " or ".join(f"{s.value!r} ({s.description})" if described else repr(s.value) for s in cls)


@dataclass(frozen=True)
class SamplingOptions:
    """How logits become a category at each step."""

    temperature: float = 1.0  # > 0; below 1 sharpens, above 1 flattens
    top_k: int = 0  # keep the k most likely categories; 0 keeps all
    top_p: float = 1.0  # keep the smallest set whose probability reaches p (nucleus); 1 keeps all
    guidance: float = 1.0  # classifier-free guidance s: uncond + s·(cond − uncond) of the log-probs; 1 plain, 0 no label, > 1 towards the class

    def __post_init__(self) -> None:
        require(self.temperature > 0, "temperature", f"must be > 0, got {self.temperature}")
        require(self.guidance >= 0, "guidance", f"must be >= 0 (1 is plain conditional sampling), got {self.guidance}")
        require(self.top_k >= 0, "top_k", f"must be >= 0 (0 keeps all), got {self.top_k}")
        require(0 < self.top_p <= 1, "top_p", f"must be in (0, 1], got {self.top_p}")

    @property
    def guided(self) -> bool:
        """Whether sampling runs the unconditional stream beside the conditional one (guidance other than 1)."""
        return self.guidance != 1.0

    def filters(self, categories: int) -> bool:
        """Whether these options change a distribution over ``categories`` values."""
        return self.temperature != 1.0 or 0 < self.top_k < categories or self.top_p < 1.0


@dataclass(frozen=True)
class SampleRun:
    """How many images a sampling stage draws, of which classes, with which sampler, where."""

    num_samples: int = 500  # images to draw (evaluate scores them)
    labels: tuple[int, ...] = ()  # classes to draw, cycled (e.g. [3, 7]); []: every class in turn
    sampler: Sampler = Sampler.CACHED  # cached is exact and much faster; naive is the reference
    sample_batch_size: int = 100  # images sampled at once
    device: Device = "auto"  # auto: CUDA when present

    def __post_init__(self) -> None:
        require(self.num_samples >= 1, "num_samples", f"must be >= 1, got {self.num_samples}")
        require(self.sample_batch_size >= 1, "sample_batch_size", f"must be >= 1, got {self.sample_batch_size}")
        require(all(v >= 0 for v in self.labels), "labels",
                f"must be a list of class indices >= 0 ([] draws every class), got {list(self.labels)}")
        require(self.sampler in tuple(Sampler), "sampler", f"must be {Sampler.choices()}, got {self.sampler!r}")
        object.__setattr__(self, "sampler", Sampler(self.sampler))  # a plain string becomes its Sampler


@dataclass(frozen=True)
class PixelSampleRun(SampleRun):
    """``SampleRun`` plus the pictures sample_pixelcnn draws beside the samples."""

    progress_every: int = 4  # rows between frames of the progressive-generation strip and GIF
    complete_rows: int = 16  # completions of test images keep this many top rows and sample the rest

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.progress_every >= 1, "progress_every", f"must be >= 1, got {self.progress_every}")
        require(self.complete_rows >= 1, "complete_rows", f"must be >= 1, got {self.complete_rows}")


# ----------------------------------------------------------------------------- VQ-VAE and priors


@dataclass(frozen=True)
class VQVAEConfig:
    """Everything that rebuilds an autoencoder; stored in its checkpoint. Channels and size come from the data."""

    channels: int = 1  # C of the images
    image_size: int = 32  # H = W of the images
    levels: int = 2  # 1: VQ-VAE (one code grid); 2: VQ-VAE-2 (top + bottom grids)
    hidden: int = 32  # F: channels of the encoder and decoder convolutions
    res_blocks: int = 2  # residual blocks in each encoder and decoder
    res_hidden: int = 16  # channels inside a residual block
    codebook_size: int = 64  # K codes per level (<= 32768: codes are stored as int16)
    code_dim: int = 32  # D: size of one codebook vector
    bottom_downsample: int = 4  # image → finest code grid (32×32 → 8×8); a power of 2
    top_downsample: int = 2  # bottom grid → top grid (8×8 → 4×4); a power of 2; levels 2 only
    decay: float = 0.99  # EMA decay of the codebook statistics, in [0, 1)
    beta: float = 0.25  # weight of the commitment loss ||z - sg(e)||²
    dead_code_threshold: float = 1.0  # restart codes winning fewer vectors per batch (EMA) than this; 0: never

    def __post_init__(self) -> None:
        require(self.levels in (1, 2), "levels", f"must be 1 or 2, got {self.levels}")
        require(self.hidden >= 2, "hidden", f"must be >= 2, got {self.hidden}")
        require(self.res_blocks >= 0, "res_blocks", f"must be >= 0, got {self.res_blocks}")
        require(self.res_hidden >= 1, "res_hidden", f"must be >= 1, got {self.res_hidden}")
        require(2 <= self.codebook_size <= 2**15, "codebook_size",
                f"must be in [2, 32768] (codes are stored as int16), got {self.codebook_size}")
        require(self.code_dim >= 1, "code_dim", f"must be >= 1, got {self.code_dim}")
        for key in ("bottom_downsample", "top_downsample"):
            value = getattr(self, key)
            require(_is_power_of_two(value), key, f"must be a power of 2 (2, 4, 8, ...), got {value}")
        require(0 <= self.decay < 1, "decay", f"must be in [0, 1), got {self.decay}")
        require(self.beta >= 0, "beta", f"must be >= 0, got {self.beta}")
        require(self.dead_code_threshold >= 0, "dead_code_threshold", f"must be >= 0, got {self.dead_code_threshold}")
        factor = self.bottom_downsample * (self.top_downsample if self.levels == 2 else 1)
        require(self.image_size % factor == 0, "bottom_downsample",
                f"times top_downsample ({factor} in all) must divide the image size {self.image_size}; choose smaller factors")

    @property
    def level_names(self) -> tuple[str, ...]:
        """``("top",)`` or ``("top", "bottom")``: the levels, coarse → fine."""
        return ("top",) if self.levels == 1 else ("top", "bottom")

    @property
    def code_shapes(self) -> list[tuple[int, int]]:
        """(h, w) of each level's code grid, coarse → fine."""
        bottom = self.image_size // self.bottom_downsample
        if self.levels == 1:
            return [(bottom, bottom)]
        top = bottom // self.top_downsample
        return [(top, top), (bottom, bottom)]


@dataclass(frozen=True)
class ReconstructionGrid:
    """The picture train_vqvae draws of its reconstructions."""

    grid_images: int = 16  # test images shown beside their reconstructions in metrics/vqvae_recon.png

    def __post_init__(self) -> None:
        require(self.grid_images >= 1, "grid_images", f"must be >= 1, got {self.grid_images}")


@dataclass(frozen=True)
class ExtractConfig:
    """How ``extract_codes`` runs (memory and device only: the codes are the same)."""

    extract_batch_size: int = 256  # images per encoder pass
    extract_device: Device = "auto"  # auto: CUDA when present

    def __post_init__(self) -> None:
        require(self.extract_batch_size >= 1, "extract_batch_size", f"must be >= 1, got {self.extract_batch_size}")


@dataclass(frozen=True)
class CondNetConfig:
    """The bottom prior's view of the top codes (``hidden`` and ``blocks`` are the params keys cond_hidden, cond_blocks)."""

    codebook_size: int = 64  # K of the top level
    embed_dim: int = 32  # E: code embedding size
    hidden: int = 64  # width of the convolutions
    blocks: int = 2  # residual blocks
    out_channels: int = 64  # D, handed to every gated block
    scale: int = 2  # upsampling factor top grid → bottom grid (1 = same size)

    def __post_init__(self) -> None:
        require(self.hidden >= 1, "hidden", f"must be >= 1, got {self.hidden}")
        require(self.blocks >= 0, "blocks", f"must be >= 0, got {self.blocks}")
        require(self.scale >= 1, "scale", f"must be >= 1, got {self.scale}")


# ----------------------------------------------------------------------------- classifier and evaluation


@dataclass(frozen=True)
class ClassifierConfig:
    """What rebuilds the feature-extractor classifier; stored in its checkpoint. Channels and classes come from the data."""

    in_channels: int = 1  # C of the data
    num_classes: int = 10  # K of the data
    width: int = 16  # channels of the first conv block; blocks 2 and 3 double it
    feature_dim: int = 64  # size of the penultimate features that FID / KID / precision-recall compare

    def __post_init__(self) -> None:
        require(self.width >= 1, "width", f"must be >= 1, got {self.width}")
        require(self.feature_dim >= 2, "feature_dim", f"must be >= 2, got {self.feature_dim}")
        require(self.num_classes >= 2, "num_classes",
                f"is {self.num_classes}: the classifier needs labelled data with at least 2 classes")


@dataclass(frozen=True)
class Augmentation:
    """How the classifier's training images are perturbed."""

    augment_shift: int = 2  # shift training images by up to this many pixels, zero-filled; 0 turns it off

    def __post_init__(self) -> None:
        require(self.augment_shift >= 0, "augment_shift", f"must be >= 0, got {self.augment_shift}")


@dataclass(frozen=True)
class Features:
    """The feature space of FID / IS / KID / precision-recall (read by train_classifier and evaluate)."""

    features: Literal["classifier", "inception"] = "classifier"  # classifier: train_classifier's network (offline, labelled data); inception: Inception-v3


@dataclass(frozen=True)
class EvaluateConfig:
    """How samples are scored (params.yaml ``evaluate``, beside ``features``)."""

    num_samples: int = 500  # at most this many images per scored set (seeded subset); the floor uses as many train images
    kid_subset_size: int = 100  # KID subset size; lowered to the smaller set's size when a set is smaller
    kid_subsets: int = 100  # KID subsets averaged
    prc_neighborhood: int = 3  # k of the k-NN balls of precision/recall (must be below every set's size)
    lpips_pairs: int = 500  # random pairs of one set whose mean LPIPS is its diversity
    inception_weights: str = ""  # local Inception-v3 file (features: inception); "" = torch hub cache or download
    lpips_trunk_weights: str = ""  # local torchvision AlexNet file for LPIPS; "" = torch hub cache or download
    batch_size: int = 100  # images per forward pass of the feature extractor and LPIPS
    device: Device = "auto"  # auto: CUDA when present
    min_classifier_accuracy: float = 0.8  # features classifier: stop when its test accuracy is lower (its features would be noise); 0 turns the check off

    def __post_init__(self) -> None:
        require(0 <= self.min_classifier_accuracy <= 1, "min_classifier_accuracy",
                f"must be in [0, 1], got {self.min_classifier_accuracy}")
        require(self.num_samples >= 2, "num_samples", f"must be >= 2, got {self.num_samples}")
        require(self.kid_subset_size >= 2, "kid_subset_size", f"must be >= 2, got {self.kid_subset_size}")
        require(self.kid_subsets >= 1, "kid_subsets", f"must be >= 1, got {self.kid_subsets}")
        require(self.prc_neighborhood >= 1, "prc_neighborhood", f"must be >= 1, got {self.prc_neighborhood}")
        require(self.lpips_pairs >= 1, "lpips_pairs", f"must be >= 1, got {self.lpips_pairs}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
