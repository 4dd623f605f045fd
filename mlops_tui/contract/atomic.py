"""Atomic file writes: a temp file in the target's folder, written, fsynced, renamed over the target,
then the folder fsynced. A reader sees the old file or the whole new one, never half of it; a failure
at any step (a cut upload, a full disk, a size cap) leaves the target as it was and no temp file behind;
after the call returns the file survives a crash. A link at the target is replaced, never written
through. Standard library only: the backend, the CLI and the replica share it.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".upload-"
"""How temp files start; listings leave them out."""


@contextmanager
def atomic_file(target: Path, prefix: str = TEMP_PREFIX) -> Iterator[BinaryIO]:
    """A binary file to write `target`'s new bytes into; they replace `target` only when the block ends
    without an exception (the temp file is removed otherwise)."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=prefix)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        commit(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def commit(temp: Path, target: Path) -> None:
    """Move a complete, fsynced temp file over `target` (same folder), then make the rename durable."""
    os.replace(temp, target)
    fsync_folder(target.parent)


def write_bytes(target: Path, data: bytes, prefix: str = TEMP_PREFIX) -> None:
    with atomic_file(target, prefix) as out:
        out.write(data)


def write_text(target: Path, text: str, prefix: str = TEMP_PREFIX) -> None:
    write_bytes(target, text.encode("utf-8"), prefix)


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable (a no-op where folders can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
