"""Names that other PixelCNN repositories use, and what this project calls them: one sentence each.

    pixelcnn.PixelCNNSampler            RenamedError: use pixelcnn.generate(model, n, ...) or pixelcnn.load(path)(n, ...)
    prior.sample_with_vqvae2(...)       RenamedMethod: use pixelcnn.generate(prior, n, vqvae=vqvae, ...)
    model.generate(shape, n)            RenamedMethod: use pixelcnn.generate(model, n, ...)
    PixelCNN(in_channels=3)             InputError: PixelCNN takes a PixelCNNConfig: ... channels=3 ...

The package's ``__getattr__`` answers the package-level names of
``PACKAGE`` with ``RenamedError``, an ``ImportError``, so that ``from
pixelcnn import PixelCNNSampler`` shows the sentence (Python replaces the
message of an ``AttributeError`` there by "cannot import name"). The models
declare their methods' old names with ``renamed_method``: calling one raises
``RenamedMethod`` (with ``METHODS``' answer for that model, else ``PACKAGE``'s).
Both are ``UserError``s: the message is the whole report. docs/python-api.md's
"Coming from another PixelCNN repository" table lists the same mapping.
Standard library only: cheap to import.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any, NoReturn

from pixelcnn.errors import InputError, UserError


class RenamedError(UserError, ImportError):
    """``pixelcnn.<name>`` of another PixelCNN repository, spelled differently here: the message says how."""


class RenamedMethod(UserError, AttributeError):
    """``model.<name>`` of another PixelCNN repository's model, spelled differently here: the message says how."""


# package attribute → what this project uses instead
PACKAGE: dict[str, str] = {
    "PixelCNNSampler": "pixelcnn.generate(model, n, labels=..., temperature=...) on a PixelCNN, or "
                       "pixelcnn.load('models/pixelcnn.pt')(n, ...) (both the exact cached sampler)",
    "HierarchicalPixelCNN": "pixelcnn.CodePrior (the top prior, and the bottom prior given the top codes); draw images with "
                            "pixelcnn.generate(prior, n, vqvae=vqvae)",
    "PixelCNNEvaluator": "pixelcnn.evaluate(samples, reference, ...) for FID, IS, KID, precision/recall and class accuracy, "
                         "and pixelcnn.load(path).score(images, labels) for bits/dim",
    "Evaluator": "pixelcnn.evaluate(samples, reference, ...), or pixelcnn.load(path).score(images, labels) for bits/dim",
    "PixelCNNTrainer": "pixelcnn.train(model, images, labels, epochs=...)",
    "Trainer": "pixelcnn.train(model, images, labels, epochs=...)",
    "train_pixelcnn": "pixelcnn.train(model, images, labels, epochs=...) with model = pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(...))",
    "train_vqvae": "pixelcnn.train(vqvae, images, epochs=...) with vqvae = pixelcnn.VQVAE(pixelcnn.VQVAEConfig(...))",
    "train_prior": "pixelcnn.train(prior, images, labels, vqvae=vqvae, epochs=...) with prior a pixelcnn.CodePrior",
    "train_hierarchical": "pixelcnn.train(prior, images, labels, vqvae=vqvae, epochs=...) with prior a pixelcnn.CodePrior",
    "evaluate_model": "pixelcnn.evaluate(samples, reference, ...), or pixelcnn.load(path).score(images, labels) for bits/dim",
    "generate_samples": "pixelcnn.generate(model, n, ...), or pixelcnn.load(path)(n, ...)",
    "sample": "pixelcnn.generate(model, n, labels=..., temperature=...) (or pixelcnn.generate(prior, n, vqvae=vqvae, ...))",
    "sample_with_vqvae2": "pixelcnn.generate(prior, n, vqvae=vqvae, ...) with prior a pixelcnn.CodePrior",
    "get_code_indices": "vqvae.encode(x) on a pixelcnn.VQVAE: int64 code grids per level, coarse → fine, of x float "
                        "(B, C, H, W) in [-1, 1]",
    "VQVAE2": "pixelcnn.VQVAE(pixelcnn.VQVAEConfig(levels=2, ...)) (levels=1 is the VQ-VAE)",
    "VQVAE1": "pixelcnn.VQVAE(pixelcnn.VQVAEConfig(levels=1, ...))",
    "GatedPixelCNN": "pixelcnn.PixelCNN (gated blocks with vertical and horizontal stacks are what it is)",
    "PixelCNNPlusPlus": "pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(output='logistic', resolutions=3, ...))",
    "ConditionalPixelCNN": "pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(num_classes=K, ...))",
    "model": "pixelcnn.PixelCNN, pixelcnn.VQVAE, pixelcnn.CodePrior and pixelcnn.Classifier (modules under pixelcnn.models)",
    "sampler": "pixelcnn.generate(model, n, ...), or pixelcnn.load(path)(n, ...); the samplers live in pixelcnn.sampling",
    "trainer": "pixelcnn.train(model, images, labels, ...); the trainer lives in pixelcnn.training",
    "evaluator": "pixelcnn.evaluate(samples, reference, ...); the metrics live in pixelcnn.evaluation",
}

# a model's method elsewhere (and this project's own before models stopped sampling), "Model.method" → what to use here
METHODS: dict[str, str] = {
    "PixelCNN.generate": "pixelcnn.generate(model, n, labels=..., temperature=...) (the exact cached sampler; the shape is "
                         "the config's)",
    "CodePrior.generate": "pixelcnn.generate(prior, n, vqvae=vqvae, labels=...) (every level's codes, decoded by the VQ-VAE "
                          "the priors were trained with)",
}

# a config field's name elsewhere → its name here
FIELDS: dict[str, str] = {
    "in_channels": "channels", "input_channels": "channels", "n_channels": "channels", "image_channels": "channels",
    "hidden_channels": "hidden", "hidden_dim": "hidden", "n_filters": "hidden", "num_filters": "hidden",
    "skip_channels": "skip", "n_layers": "layers", "num_layers": "layers", "num_blocks": "layers",
    "kernel_size": "kernel", "n_classes": "num_classes", "num_labels": "num_classes", "color_levels": "levels",
    "n_bits": "levels", "num_embeddings": "codebook_size", "embedding_dim": "code_dim", "n_embeddings": "codebook_size",
    "img_size": "image_size", "image_height": "height", "image_width": "width",
}


def _sentence(owner: str, name: str, answer: str) -> str:
    return f"{owner} has no {name}, a name from another PixelCNN repository; here, use {answer}"


def renamed(name: str) -> RenamedError:
    """The error for ``pixelcnn.<name>`` (``pixelcnn.PixelCNNSampler``), naming what to use instead."""
    return RenamedError(_sentence("pixelcnn", name, PACKAGE[name]), name=name)


def renamed_method(name: str, model: str = "") -> Callable[..., NoReturn]:
    """Method ``name`` of ``model`` (a class name) under another repository's name: calling it raises ``RenamedMethod``
    naming what to use (``METHODS["<model>.<name>"]``, else ``PACKAGE[name]``).

    A plain method, not a property that raises: ``nn.Module.__getattr__``
    would replace the message of an ``AttributeError`` raised while reading it.
    """
    answer = METHODS.get(f"{model}.{name}") or PACKAGE[name]

    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise RenamedMethod(_sentence(type(self).__name__, name, answer))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Another PixelCNN repository's name; here, use {answer}."
    return method


def config_required(model: str, config_type: type, config: Any, fields: dict[str, Any]) -> InputError:
    """The error for a model built without its config (``PixelCNN(in_channels=3)``): how to write it here."""
    known = {f.name for f in dataclasses.fields(config_type)}
    parts, notes = [], []
    for key, value in fields.items():
        ours = FIELDS.get(key) if key not in known else key
        if ours is None:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            ours = close[0] if close else None
            if ours is None:
                notes.append(f"{key} has no counterpart")
                continue
        if ours != key:
            notes.append(f"{key} is {ours} here")
        parts.append(f"{ours}={value!r}")
    got = f"got {type(config).__name__}" if config is not None else f"got {', '.join(f'{k}=' for k in fields) or 'nothing'}"
    example = f"{model}({config_type.__name__}({', '.join(parts) or '...'}))"
    said = f" ({'; '.join(notes)})" if notes else ""
    return InputError(f"{model} takes one {config_type.__name__}, {got}: write {example}{said}; the fields and their "
                      f"meaning are in pixelcnn.configs.{config_type.__name__}")
