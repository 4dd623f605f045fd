"""Download a run's artifacts (a file, a folder, or all of them) into a local folder, kept inside it.

Shared by `mlops runs download`; reaches the backend only through the client.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .client import Client
from .contract import ArtifactFile


class UnsafePath(ValueError):
    """An artifact path that would land outside the destination folder."""


@dataclass(frozen=True)
class Planned:
    artifact: str
    """The file's path in the run's artifacts."""
    target: Path
    """Where it is written, inside the destination."""


def artifact_files(client: Client, run_id: str, path: str = "") -> list[ArtifactFile]:
    """Every file at `path` or under it (folders walked), in listing order."""
    found: list[ArtifactFile] = []
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            found += artifact_files(client, run_id, entry.path)
        else:
            found.append(entry)
    return found


def plan(files: list[ArtifactFile], path: str, dest: Path) -> list[Planned]:
    """Targets under `dest`, keeping each file's path below `path`'s parent (`model/` downloads as
    `dest/model/...`, `model/model.skops` as `dest/model.skops`). Refuses, before anything is
    written, a path that would resolve outside `dest` (`..`, absolute, a link in `dest`)."""
    root = dest.resolve()
    base = PurePosixPath(path.strip("/")).parent if path.strip("/") else PurePosixPath("")
    planned = []
    for file in files:
        relative = PurePosixPath(file.path)
        if relative.is_absolute() or ".." in relative.parts:
            raise UnsafePath(f"refusing artifact path {file.path!r}: it would leave {dest}")
        if base.parts:
            relative = relative.relative_to(base)
        target = (root / relative).resolve()
        if root not in target.parents:
            raise UnsafePath(f"refusing artifact path {file.path!r}: it would leave {dest}")
        planned.append(Planned(file.path, target))
    return planned


def write_file(target: Path, content: bytes) -> None:
    """Write atomically: a temp file beside the target, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".mlops-download-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def download(client: Client, run_id: str, path: str, dest: Path) -> list[Planned]:
    """Download `path` (a file or a folder; "" for everything) of the run into `dest`."""
    files = artifact_files(client, run_id, path)
    planned = plan(files, path, dest)
    for item in planned:
        if item.target.parent.exists() and not item.target.parent.is_dir():
            raise UnsafePath(f"cannot write {item.target}: {item.target.parent} is a file")
    for item in planned:
        write_file(item.target, client.download_artifact(run_id, item.artifact))
    return planned
