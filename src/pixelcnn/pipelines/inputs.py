"""What users hand the pipelines, turned into checked values: images, labels, counts, sampling settings.

Legend: N images, C channels, H W pixels.

Every check raises ``pixelcnn.errors.InputError`` with one sentence naming
the argument and the fix; ranges that a config type owns (``SamplingOptions``)
are checked by that type and only reworded here. A PIL image of other
channels than the model's is converted, and a conversion that loses
something (colour, transparency) says so with an ``InputWarning``.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Union

import numpy as np
import torch

from pixelcnn.configs import Sampler, SamplingOptions
from pixelcnn.errors import InputError, InputWarning, InvalidValue, require

if TYPE_CHECKING:
    from PIL import Image as PILImage

# Images the pipelines accept: uint8 array/tensor (N, C, H, W), (C, H, W) or (H, W); PIL image(s).
ImageInput = Union[np.ndarray, torch.Tensor, "PILImage.Image", Sequence["PILImage.Image"]]  # noqa: UP007  (string forward refs)
LabelInput = int | Sequence[int] | np.ndarray | torch.Tensor | None


# ----------------------------------------------------------------------------- images

MAX_IMAGE_SIDE = 4096  # image files of at most MAX_IMAGE_SIDE² pixels are decoded (16.8 megapixels, a phone photo fits)


def open_image(source: str | IO[bytes], name: str) -> PILImage.Image:
    """The image file ``source`` (a path or a binary file) decoded, or one sentence naming ``name`` why not.

    Its size is read from the header first: a file of more than
    ``MAX_IMAGE_SIDE``² pixels is refused before a pixel is decoded, so a small
    file that would expand to gigabytes (a 48 KB PNG of 20000×20000) costs nothing.
    """
    picture = _open_header(source, name)
    try:
        picture.load()
    except (OSError, ValueError, SyntaxError):
        raise InputError(f"{name} is a truncated or corrupt image; save it again as a PNG or JPEG") from None
    return picture


class ImageHeader(NamedTuple):
    """What an image file's header says, before any pixel is decoded."""

    width: int
    height: int
    decoded_bytes: int  # the pixels once decoded, as PIL holds them: 1 byte a pixel (1, L, P), 2 (I;16), else 4 (RGB too)


def image_header(path: str, name: str) -> ImageHeader:
    """The size of the image file at ``path`` from its header (nothing decoded, the file closed again), or one sentence
    naming ``name`` why not (not found, not an image, more than ``MAX_IMAGE_SIDE``² pixels)."""
    with _open_header(path, name) as picture:
        width, height = picture.size
        per_pixel = 1 if picture.mode in ("1", "L", "P") else 2 if picture.mode.startswith("I;16") else 4
        return ImageHeader(width, height, width * height * per_pixel)


def _open_header(source: str | IO[bytes], name: str) -> PILImage.Image:
    """``source`` opened by PIL, its header read and its size checked against ``MAX_IMAGE_SIDE``; no pixel decoded."""
    from PIL import Image, UnidentifiedImageError

    too_large = f"more than {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} (the most an image file may have); shrink it first"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is far lower
            picture = Image.open(source)
    except FileNotFoundError:
        raise InputError(f"{name} not found") from None
    except Image.DecompressionBombError:  # PIL's own limit, above ours: the header said far too many pixels
        raise InputError(f"{name} is far larger than {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels "
                         "(the most an image file may have); shrink it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(f"{name} is not an image PIL can read (PNG, JPEG, ...)") from None
    width, height = picture.size
    if width * height > MAX_IMAGE_SIDE**2:
        picture.close()
        raise InputError(f"{name} is {width}×{height} pixels, {too_large}")
    return picture


def as_images(images: ImageInput, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) of ``shape`` = (C, H, W) from an array, tensor, PIL image or list of PIL images.

    PIL images are checked against the model's size from their header, before they are decoded.
    """
    c, h, w = shape
    array = _to_array(images, shape)
    if array.dtype != np.uint8:
        raise InputError(f"images must be uint8 in [0, 255], got dtype {array.dtype}; convert them (e.g. (x * 255).round().astype(np.uint8))")
    if array.ndim == 2:
        array = array[None, None]  # (1, 1, H, W)
    elif array.ndim == 3:
        array = array[None]  # (1, C, H, W)
    if array.ndim != 4 or len(array) == 0:
        raise InputError(f"images must be (N, C, H, W), (C, H, W) or (H, W) with N >= 1, got shape {array.shape}")
    if array.shape[1] != c:
        fix = "convert them to grey (PIL: .convert('L'))" if c == 1 else "convert them to RGB (PIL: .convert('RGB'))"
        raise InputError(f"images have {array.shape[1]} channels but the model works on {c}; {fix}")
    if array.shape[2:] != (h, w):
        raise InputError(_wrong_size(array.shape[2], array.shape[3], h, w))
    return np.ascontiguousarray(array)


def _wrong_size(height: int, width: int, h: int, w: int) -> str:
    return f"images are {height}×{width} but the model works on {h}×{w} images; resize them to {h}×{w}"


def _to_array(images: ImageInput, shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image

    channels, h, w = shape
    if isinstance(images, torch.Tensor):
        return images.detach().cpu().numpy()
    if isinstance(images, Image.Image):
        images = [images]
    if isinstance(images, (list, tuple)) and images and all(isinstance(i, Image.Image) for i in images):
        sizes = {(i.height, i.width) for i in images}  # from the headers: nothing decoded yet
        if len(sizes) > 1:
            raise InputError(f"the images differ in size ({sorted(sizes)}); resize them to one size first")
        if sizes != {(h, w)}:
            raise InputError(_wrong_size(*sizes.pop(), h, w))
        mode = "L" if channels == 1 else "RGB"
        for index, picture in enumerate(images):
            _warn_if_lossy(picture, mode, index)
        arrays = [np.asarray(i.convert(mode)) for i in images]
        stacked = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
        return stacked[:, None] if channels == 1 else stacked.transpose(0, 3, 1, 2)  # (N, C, H, W)
    if isinstance(images, np.ndarray):
        return images
    raise InputError(f"images must be a uint8 array or tensor (N, C, H, W), or PIL images, got {type(images).__name__}")


def _warn_if_lossy(picture: PILImage.Image, mode: str, index: int) -> None:
    """An ``InputWarning`` when converting ``picture`` to ``mode`` drops colour or transparency."""
    lost = []
    if "A" in picture.getbands() or "transparency" in picture.info:
        alpha = np.asarray(picture.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            lost.append("its transparency dropped")
    if mode == "L" and picture.mode not in ("L", "1", "I", "I;16", "F"):
        rgb = np.asarray(picture.convert("RGB"))
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            lost.append("its colours turned to grey (luminance)")
    if lost:
        kind = "grey" if mode == "L" else "RGB"
        warnings.warn(f"image {index} ({picture.mode}, {picture.width}×{picture.height}) was converted for a model of "
                      f"{kind} images: {' and '.join(lost)}; convert it yourself to choose how", InputWarning, stacklevel=4)


# ----------------------------------------------------------------------------- labels
# ``num_classes`` and ``title`` are the pipeline's: its model's classes (0: unconditional) and its name for people.


def class_labels(n: int, num_classes: int, labels: tuple[int, ...] | list[int] = ()) -> torch.Tensor | None:
    """Labels int64 (n,): ``labels`` cycled, or every class in turn when empty; None if unconditional.

    A class the model does not know raises ``errors.InvalidValue`` naming ``labels``.
    """
    if not num_classes:
        return None
    pool = list(labels) or list(range(num_classes))
    for label in pool:
        require(0 <= label < num_classes, "labels",
                f"contains class {label}, but the model knows {num_classes} classes (0..{num_classes - 1})")
    return torch.tensor([pool[i % len(pool)] for i in range(n)], dtype=torch.long)


def sample_labels(n: int, labels: LabelInput, num_classes: int, title: str) -> torch.Tensor | None:
    """Labels int64 (n,) of ``sample``: one class, or a list cycled; None → every class in turn (None if unconditional)."""
    pool: list[int] = []
    if labels is not None:
        pool = _label_list(labels)
        if not pool:
            raise InputError("labels is empty: pass a class, a list of classes, or None for every class in turn")
        _check_label_values(pool, num_classes, title)
    return class_labels(n, num_classes, pool)


def image_labels(n: int, labels: LabelInput, num_classes: int, title: str) -> torch.Tensor | None:
    """Labels int64 (n,) of ``complete`` / ``score``: one class for all or one per image; None only if unconditional."""
    if labels is None:
        if num_classes:
            raise InputError(f"the {title} is conditioned on {num_classes} classes: pass labels= (one class, or one per image)")
        return None
    values = _label_list(labels)
    if isinstance(labels, (int, np.integer)) or (len(values) == 1 and n != 1):
        values = values * n
    if len(values) != n:
        raise InputError(f"labels has {len(values)} entries for {n} images: pass one class, or one per image")
    _check_label_values(values, num_classes, title)
    return torch.tensor(values, dtype=torch.long)


def _check_label_values(values: list[int], num_classes: int, title: str) -> None:
    if not num_classes:
        raise InputError(f"the {title} is unconditional (trained without labels): drop labels")
    for label in values:
        if not 0 <= label < num_classes:
            raise InputError(f"label {label} is out of range: the {title} knows {num_classes} classes (0..{num_classes - 1})")


def _label_list(labels: LabelInput) -> list[int]:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    values = np.asarray(labels).reshape(-1)
    if values.size == 0:
        return []
    if values.dtype.kind not in "iu":
        raise InputError(f"labels must be a class index or a list of class indices, got {labels!r}")
    return [int(v) for v in values]


# ----------------------------------------------------------------------------- sampling settings


def known_keywords(keywords: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse a keyword a sampling call does not take (``**keywords`` accepts any name): one sentence, a close name."""
    known = list(known)
    for name in keywords:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            fix = f"did you mean {close[0]}=?" if close else f"the sampling keywords are {', '.join(f'{k}=' for k in known)}"
            raise InputError(f"{name}= is not a sampling keyword; {fix}")


def sampling_options(keywords: Mapping[str, Any]) -> SamplingOptions:
    """The settings of one request: ``options`` as given, or built from the four knobs given (not both)."""
    knobs = {name: keywords[name] for name in ("temperature", "top_k", "top_p", "guidance") if name in keywords}
    options = keywords.get("options")
    if options is not None:
        if not isinstance(options, SamplingOptions):
            raise InputError(f"options must be a pixelcnn.configs.SamplingOptions or None, got {type(options).__name__}")
        if knobs:
            raise InputError("pass the sampling settings either as options= or as temperature=, top_k=, top_p=, "
                             "guidance=, not both")
        return options
    for name, value in knobs.items():
        whole = name == "top_k"
        numbers = (int, np.integer) if whole else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, numbers) or not math.isfinite(value):
            raise InputError(f"{name} must be {'a whole number' if whole else 'a finite number'}, got {value!r}")
    given: dict[str, Any] = {name: int(value) if name == "top_k" else float(value) for name, value in knobs.items()}
    try:  # the defaults and the ranges are SamplingOptions' own
        return SamplingOptions(**given)
    except InvalidValue as exc:
        raise InputError(str(exc)) from None


def check_guidance(options: SamplingOptions, guidable: bool, num_classes: int, title: str) -> None:
    """Guidance other than 1 needs a class-conditional model trained with its "no class" label."""
    if not options.guided or guidable:
        return
    if not num_classes:
        raise InputError(f"guidance {options.guidance} needs a class-conditional model, but the {title} is unconditional; "
                         "use guidance 1")
    raise InputError(f"guidance {options.guidance} needs a model trained with cond_dropout > 0 (a learned 'no class' label), "
                     f"and the {title} was trained without it; use guidance 1, or retrain with cond_dropout (e.g. 0.1)")


def sampler(value: Sampler | str) -> Sampler:
    """The ``Sampler`` named by ``value`` (a member, or its string)."""
    if value not in tuple(Sampler):
        raise InputError(f"sampler must be {Sampler.choices(described=True)}, got {value!r}")
    return Sampler(value)


def callback(value: Callable[..., Any] | None) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise InputError(f"callback must be a function of one Progress, or None, got {type(value).__name__}")
    return value


def generator(value: torch.Generator | None) -> torch.Generator | None:
    if value is not None and not isinstance(value, torch.Generator):
        raise InputError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, got {type(value).__name__}"
        )
    return value


# ----------------------------------------------------------------------------- counts


def count(name: str, value: int) -> int:
    """``value`` if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def kept_rows(rows: int, height: int) -> int:
    """The rows ``complete`` keeps, in [0, height)."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 0 <= rows < height:
        raise InputError(f"rows must be a whole number in [0, {height - 1}] (the top rows to keep of {height}), got {rows!r}")
    return int(rows)


def frames_every(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"frames_every must be a whole number >= 0 (0 keeps no frames), got {value!r}")
    return int(value)
