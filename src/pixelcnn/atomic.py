"""Atomic file outputs: JSON, text, and the temporary-then-rename machinery under them.

Every output is written to a temporary file beside its destination and moved
into place with ``os.replace``, so an interrupted stage never leaves a
half-written file where DVC (or the next stage) would trust it.

Temporaries are named ``.<name>.tmp-<pid>-<random>[<suffix>]`` (and
``.<name>.old-<pid>-<random>`` for a directory's previous version during the
swap); the repository git-ignores both patterns. A run that is killed leaves
them behind: the next atomic write to the same destination removes those
whose process is gone. A full disk (``ENOSPC``, ``EDQUOT``) while writing
becomes one ``OutputError`` sentence naming the destination, with no
temporary left; ``write_json`` refuses NaN and infinity (invalid JSON).
Standard library only: cheap to import (checkpoints live in ``pixelcnn.checkpoints``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelcnn.errors import OutputError

FULL_DISK = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class _FullDisk(OutputError):
    """The disk filled up (or the quota ran out) while ``path`` was being written."""

    def __init__(self, path: Path, code: int):
        super().__init__(f"{path}: {FULL_DISK[code]} while writing it; free space and re-run")
        self.path, self.code = path, code


def _umask_mode(base: int) -> int:
    """``base`` permissions less the process umask (mkstemp/mkdtemp create 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # ours: possibly in use right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _remove_stale(path: Path, suffix: str) -> None:
    """Delete temporaries of ``path`` left by runs that were killed: their process is gone.

    Names without a pid (``.<name>.tmp-<random>``, written before pids were
    added) are always stale: DVC's lock already refuses two runs on one output.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:tmp|old)-(?:(\d+)-)?[a-z0-9_]+{re.escape(suffix)}")
    for sibling in path.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match and not (match.group(1) and _alive(int(match.group(1)))):
            with contextlib.suppress(FileNotFoundError):
                _remove(sibling)


def _full_disk(path: Path, exc: BaseException, inside: Path | None = None) -> _FullDisk | None:
    """``exc`` as a sentence about ``path`` when it is a full disk (also one reported for a file ``inside``)."""
    if isinstance(exc, _FullDisk):
        return _FullDisk(path, exc.code) if inside is not None and exc.path.is_relative_to(inside) else None
    if isinstance(exc, OSError) and exc.errno in FULL_DISK:
        return _FullDisk(path, exc.errno)
    return None


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it to ``path``.

    A full disk while writing raises one ``OutputError`` sentence naming ``path``;
    the temporary is removed whatever happens.
    """
    path = Path(path)
    suffix = suffix or path.suffix
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path, suffix)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        tmp_path.chmod(_umask_mode(0o666))
        os.replace(tmp_path, path)
    except (OSError, OutputError) as exc:
        report = _full_disk(path, exc)
        if report is None:
            raise
        raise report from None
    finally:
        if tmp_path is not None and (tmp_path.exists() or tmp_path.is_symlink()):
            tmp_path.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path`` whole.

    The previous ``path`` (if any) is moved aside before the swap and deleted
    only after it, so a failure at any point leaves either the old complete
    output or the new one, never a mixture. A full disk while writing into the
    folder (directly or through a nested ``atomic_path``) raises one
    ``OutputError`` sentence naming ``path``.
    """
    path = Path(path)
    tmp: Path | None = None
    old: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path, "")
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
        old = path.parent / f".{path.name}.old-{tmp.name.removeprefix(f'.{path.name}.tmp-')}"
        tmp.chmod(_umask_mode(0o777))
        yield tmp
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(tmp, path)
    except (OSError, OutputError) as exc:
        report = _full_disk(path, exc, inside=tmp)
        if report is None:
            raise
        raise report from None
    finally:
        for leftover in (tmp, old):
            if leftover is not None:
                _remove(leftover)


def _first_non_finite(node: Any, key: str = "") -> tuple[str, float] | None:
    """The dotted key (``top.test_bits_per_code``, ``curve[2]``) and value of the first NaN or infinity in ``node``."""
    if isinstance(node, float):
        return None if math.isfinite(node) else (key or "the value", node)
    if isinstance(node, dict):
        items = ((f"{key}.{k}" if key else str(k), v) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        items = ((f"{key}[{i}]", v) for i, v in enumerate(node))
    else:
        return None
    for child_key, child in items:
        found = _first_non_finite(child, child_key)
        if found is not None:
            return found
    return None


def write_json(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON with sorted keys; NaN or infinity anywhere raises ``OutputError``, writing nothing."""
    bad = _first_non_finite(obj)
    if bad is not None:
        key, value = bad
        raise OutputError(
            f"{path}: {key} is {float(value)!r}, which JSON cannot hold; find why the run produced it "
            "(a diverged loss, an empty set) and re-run"
        )
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)

