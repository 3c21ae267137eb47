"""Files written whole or not at all: the content goes to `NAME.part` beside the target, then
replaces it in one rename, so a crash, a full disk or a kill never leaves a half-written file
under the real name (and an existing file stays as it was)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workbench.errors import InputError


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _commit(partial: Path, path: Path) -> None:
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text to `path` atomically; InputError (one line) when the place cannot be written."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate: checked before anything is written
        raise InputError(f"cannot write {path}: the text is not valid Unicode at character {err.start}") from None
    atomic_write_bytes(path, data)


def _destination(path: Path) -> tuple[Path, bool]:
    """Where to write, and whether atomically. A symlink's target is replaced (the link stays a link); a device,
    pipe or terminal (/dev/stdout, a FIFO) is written into, since replacing it would put a file in its place."""
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            return path, False
        if path.is_symlink():
            path = path.resolve(strict=False)
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise InputError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}") from None
    return path, True


def _write_into(path: Path, data: bytes) -> None:
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to `path` atomically."""
    path, atomic = _destination(Path(path))
    if not atomic:
        return _write_into(path, data)
    partial = _partial(path)
    try:
        partial.write_bytes(data)
        _commit(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None


def atomic_copy(source: Path, path: Path) -> None:
    """Copy a file to `path` atomically."""
    path, atomic = _destination(Path(path))
    if not atomic:
        return _write_into(path, Path(source).read_bytes())
    partial = _partial(path)
    try:
        shutil.copyfile(source, partial)
        _commit(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
