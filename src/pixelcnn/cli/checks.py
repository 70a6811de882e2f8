"""What a command checks before it works: each output path writable and distinct from every input and every
other output, and each size it would hold in memory (the images, the PNG grid, the GIF's frames) bounded by
``MEMORY_LIMIT``, so a refused command writes nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pixelcnn.errors import InputError

MEMORY_LIMIT = 2 * 1024**3  # bytes one command may hold for its images, grid or GIF (estimated before any work)


def check_png(path: str, flag: str = "--out") -> Path:
    if Path(path).suffix.lower() != ".png":
        raise InputError(f"{flag} {path} must end in .png (the grid is written as a PNG)")
    return Path(path)


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: the same path once links and '..' are resolved, or (both there) one inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there yet (or unreadable): only the resolved paths could tell
        return False


def check_no_clobber(outputs: Sequence[tuple[str, str | None]], inputs: Sequence[tuple[str, str | None]],
                      folders: Sequence[tuple[str, str | None]] = ()) -> None:
    """No output (flag, path) is an input's file, lies in an input folder, or is another output's file.

    Symlinks, '..' and hard links followed; refused before any work, so a
    command never overwrites what it reads (``--npy`` naming the ``--model``).
    """
    given = [(flag, path) for flag, path in outputs if path is not None]
    for index, (flag, path) in enumerate(given):
        for source, read in inputs:
            if read is not None and same_file(path, read):
                raise InputError(f"{flag} {path} would overwrite {source} {read} (the same file), which this command "
                                 f"reads; name another file for {flag}")
        for source, folder in folders:
            if folder is not None and Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder)):
                raise InputError(f"{flag} {path} lies inside {source} {folder}, which this command reads; write it elsewhere")
        for other, written in given[:index]:
            if same_file(path, written):
                raise InputError(f"{flag} {path} is the file {other} writes too; name another file")


def check_outputs(*outputs: tuple[str, str | None]) -> None:
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


def check_memory(what: str, nbytes: int, fix: str) -> None:
    """One sentence with the figure and the way to split the work when ``nbytes`` is over ``MEMORY_LIMIT``."""
    if nbytes > MEMORY_LIMIT:
        raise InputError(f"{what} would take {_bytes(nbytes)} of memory, over the {_bytes(MEMORY_LIMIT)} one command may use; {fix}")


def grid_size(n: int, nrow: int, shape: tuple[int, int, int], scale: int | None) -> tuple[int, int, int]:
    """(height, width, bytes in memory) of the PIL picture ``save_grid`` makes of n images (``grid_array``'s layout)."""
    c, h, w = shape
    scale = scale or max(1, 128 // h)  # save_grid's default
    ncol = max(1, min(nrow, n))
    rows = -(-n // ncol)
    height, width = (rows * (h + 2) + 2) * scale, (ncol * (w + 2) + 2) * scale
    return height, width, height * width * (1 if c == 1 else 4)  # PIL holds RGB in 4 bytes a pixel


def check_grid(what: str, n: int, nrow: int, shape: tuple[int, int, int], scale: int | None, fix: str) -> None:
    height, width, nbytes = grid_size(n, nrow, shape, scale)
    check_memory(f"{what} of {width:,}×{height:,} pixels", nbytes, fix)


def check_label_flag(args, pipe) -> None:
    if args.label is not None and not pipe.num_classes:
        raise InputError(f"the {pipe.title} is unconditional (trained without labels): drop --label")
