"""Device choice, autocast, seeding and the stages' error boundary."""

from __future__ import annotations

import contextlib
import random
import sys
from typing import Callable, Iterator

import numpy as np
import torch

from pixelcnn.errors import ConfigError, UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``/``cuda`` as named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("params.yaml: device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"params.yaml: device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA (when enabled); a no-op on the CPU.

    The only place the project turns mixed precision on. Code that must stay
    fp32 (codebook distances, EMA updates) disables it locally.
    """
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
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


def stage_main(main: Callable[[list[str]], None]) -> None:
    """Run ``main(argv)``; a ``UserError`` prints its one sentence and exits 1."""
    try:
        main(sys.argv[1:])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
