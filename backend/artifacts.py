"""Artifact files under `<home>/artifacts/<experiment_id>/<run_id>/`; every path stays inside."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from .datasets.io import UPLOAD_PREFIX, receive_upload
from .errors import Invalid, NotFound


def run_root(artifacts_root: Path, experiment_id: str, run_id: str) -> Path:
    return artifacts_root / str(experiment_id) / run_id


def resolve_inside(root: Path, relative: str, field: str = "path") -> Path:
    """`root / relative`, refusing absolute paths, `..`, and links that lead outside `root`."""
    if "\x00" in relative:
        raise Invalid("path must not contain NUL", field)
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or any(part == ".." for part in pure.parts):
        raise Invalid(f"path {relative!r} must be relative and stay inside the run's folder", field)
    root_resolved = root.resolve()
    target = (root_resolved / pure).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise Invalid(f"path {relative!r} leaves the run's folder", field)
    return target


async def save_stream(root: Path, relative: str, stream: Any, max_bytes: int) -> dict[str, Any]:
    """Write an uploaded stream atomically (temp file, then rename), stopping at `max_bytes`:
    a failed or oversized upload leaves nothing half-written."""

    target = resolve_inside(root, relative)
    if target == root.resolve():
        raise Invalid("path must name a file", "path")
    if target.is_dir():
        raise Invalid(f"path {relative!r} is a folder", "path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise Invalid(f"path {relative!r}: a folder on the way is a file", "path") from None
    temp_path, size = await receive_upload(target.parent, stream, max_bytes)
    try:
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return {"path": relative, "size": size}


def list_files(root: Path, relative: str = "") -> list[dict[str, Any]]:
    """Entries directly under `relative` (folders flagged), like MLflow's list_artifacts."""
    folder = resolve_inside(root, relative) if relative else root.resolve()
    if not folder.exists():
        if relative:
            raise NotFound(f"artifact folder {relative!r} not found", "path")
        return []
    children = [folder] if folder.is_file() else [
        child for child in sorted(folder.iterdir()) if not child.name.startswith(UPLOAD_PREFIX)]
    entries = (_entry(root.resolve(), child) for child in children)
    return [entry for entry in entries if entry is not None]


def _entry(root: Path, path: Path) -> dict[str, Any] | None:
    """The listing entry of `path`; None for a link that is dangling or leads outside the run's folder."""
    target = path.resolve()
    if not target.exists() or (target != root and root not in target.parents):
        return None
    is_dir = target.is_dir()
    return {
        "path": path.relative_to(root).as_posix(),
        "is_dir": is_dir,
        "size": None if is_dir else target.stat().st_size,
    }


def file_path(root: Path, relative: str) -> Path:
    target = resolve_inside(root, relative)
    if not target.is_file():
        raise NotFound(f"artifact {relative!r} not found", "path")
    return target


def tree_digest(path: Path) -> tuple[int, str]:
    """`(bytes, sha256)` of a file, or of a folder's files: each file's path relative to the folder, its
    size and its bytes, in sorted path order, so renaming, adding, removing or changing a file changes
    it. Links are not followed (a folder registered as a model is checked as its own bytes)."""
    digest = hashlib.sha256()
    total = 0
    files = [(PurePosixPath(path.name), path)] if path.is_file() else sorted(
        (PurePosixPath(found.relative_to(path).as_posix()), found)
        for found in path.rglob("*") if found.is_file() and not found.is_symlink())
    for relative, found in files:
        size = found.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        with found.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        total += size
    return total, digest.hexdigest()
