"""Artifact files under `<home>/artifacts/<experiment_id>/<run_id>/`; every path stays inside.

Every name that becomes a path here (a request's, a database row's) goes through `resolve_inside`,
the backend's face of `mlops_tui.contract.paths` (the one rule, shared with the CLI); every file is
written atomically (`mlops_tui.contract.atomic`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_tui.contract import paths
from mlops_tui.contract.atomic import commit

from .datasets.io import UPLOAD_PREFIX, receive_upload
from .errors import Invalid, NotFound
from .paths import resolve_inside

__all__ = ["resolve_inside", "run_root", "save_stream", "list_files", "file_path", "tree_digest"]


def run_root(artifacts_root: Path, experiment_id: str, run_id: str) -> Path:
    """A run's folder; its two ids are checked like any path component (they come from the database)."""
    return resolve_inside(artifacts_root, f"{experiment_id}/{run_id}", "run_id", "the artifact folder")


async def save_stream(root: Path, relative: str, stream: Any, max_bytes: int) -> dict[str, Any]:
    """Write an uploaded stream atomically (temp file, fsync, rename, fsync of the folder), stopping at
    `max_bytes`: a failed, cut or oversized upload leaves nothing half-written."""

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
        commit(temp_path, target)
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
    if not target.exists() or not paths.is_inside(root, target):
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
