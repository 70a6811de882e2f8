"""What a command checks before it works: each output path writable, and each size it would hold in memory
(the images, the PNG grid, the GIF's frames) bounded by ``MEMORY_LIMIT``, so a refused command writes nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pixelcnn.errors import InputError

MEMORY_LIMIT = 2 * 1024**3  # bytes one command may hold for its images, grid or GIF (estimated before any work)


def _check_png(path: str, flag: str = "--out") -> Path:
    if Path(path).suffix.lower() != ".png":
        raise InputError(f"{flag} {path} must end in .png (the grid is written as a PNG)")
    return Path(path)


def _check_outputs(*outputs: tuple[str, str | None]) -> None:
    """Each (flag, path) given names a distinct file that can be written; checked by writing nothing that stays."""
    seen: dict[str, str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        target = Path(path)
        key = os.path.realpath(target)
        if key in seen:
            raise InputError(f"{flag} {path} is the file {seen[key]} writes too; name another file")
        seen[key] = flag
        if target.is_dir():
            raise InputError(f"{flag} {path} is a folder; pass the path of a file")
        folder = target.parent
        while not folder.exists() and folder != folder.parent:  # atomic writes create the missing folders
            folder = folder.parent
        if not folder.is_dir():
            raise InputError(f"{flag} {path} cannot be written: {folder} is a file, not a folder")
        try:  # the write itself (a read-only filesystem, permissions, ACLs), as pixelcnn.atomic will do it
            fd, probe = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise InputError(f"{flag} {path} cannot be written: {(exc.strerror or str(exc)).lower()} in {folder}/") from None


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def _check_memory(what: str, nbytes: int, fix: str) -> None:
    """One sentence with the figure and the way to split the work when ``nbytes`` is over ``MEMORY_LIMIT``."""
    if nbytes > MEMORY_LIMIT:
        raise InputError(f"{what} would take {_bytes(nbytes)} of memory, over the {_bytes(MEMORY_LIMIT)} one command may use; {fix}")


def _grid_size(n: int, nrow: int, shape: tuple[int, int, int], scale: int | None) -> tuple[int, int, int]:
    """(height, width, bytes in memory) of the PIL picture ``save_grid`` makes of n images (``grid_array``'s layout)."""
    c, h, w = shape
    scale = scale or max(1, 128 // h)  # save_grid's default
    ncol = max(1, min(nrow, n))
    rows = -(-n // ncol)
    height, width = (rows * (h + 2) + 2) * scale, (ncol * (w + 2) + 2) * scale
    return height, width, height * width * (1 if c == 1 else 4)  # PIL holds RGB in 4 bytes a pixel


def _check_grid(what: str, n: int, nrow: int, shape: tuple[int, int, int], scale: int | None, fix: str) -> None:
    height, width, nbytes = _grid_size(n, nrow, shape, scale)
    _check_memory(f"{what} of {width:,}×{height:,} pixels", nbytes, fix)


def _check_label_flag(args, pipe) -> None:
    if args.label is not None and not pipe.num_classes:
        raise InputError(f"the {pipe.title} is unconditional (trained without labels): drop --label")
