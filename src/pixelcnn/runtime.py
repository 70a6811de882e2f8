"""Where and how tensors are computed: the device and precision choice, the one autocast, and seeding."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch

from pixelcnn.errors import InvalidValue

Precision = Literal["fp32", "bf16"]


def resolve_device(device: str | torch.device, field: str = "device") -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything else as torch names it ("cpu", "cuda", "cuda:1", a device).

    A device that cannot be had raises ``errors.InvalidValue`` naming ``field``
    (the config field or argument the value came from).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidValue(field, f"must be 'auto', 'cpu', 'cuda' or a torch.device, got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidValue(field, f"is {str(device)!r} but no CUDA device is available; use 'auto' or 'cpu'")
    return resolved


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 instructions (AVX512-BF16 or AMX), where bf16 autocast is fast."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``auto`` → bf16 on CUDA with bf16 support and on CPUs with bf16 instructions, else fp32."""
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if cpu_has_bf16() else "fp32"
    if name == "fp32" or name == "bf16":
        return name
    raise ValueError(f"precision must be auto, fp32 or bf16, got {name!r}")


@contextlib.contextmanager
def autocast(device: torch.device, precision: Precision | bool = "fp32") -> Iterator[None]:
    """bf16 autocast on ``device`` when ``precision`` is ``"bf16"``; nothing otherwise.

    The only place the project turns mixed precision on. Code that must stay
    fp32 (codebook distances, EMA updates, attention softmax, log-probabilities)
    disables it locally.
    """
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same.

    Only stages call this: library code takes an explicit ``torch.Generator``.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
