"""Download a run's artifacts (a file, a folder, or all of them) into a local folder, kept inside it.

Shared by `mlops runs download`; reaches the backend only through the client. Every path the backend
lists is checked by the same rule as the backend's own (`mlops_tui.contract.paths`): a hostile or
broken backend can't make it write outside DEST. Files are written atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .client import Client
from .contract import ArtifactFile, atomic, paths

DOWNLOAD_PREFIX = ".mlops-download-"
"""Temp files of downloads in flight."""


class UnsafePath(paths.UnsafePath):
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
    written, a path that breaks `mlops_tui.contract.paths`' rule or would resolve outside `dest` (`..`,
    encoded or not, absolute, a backslash, a link in `dest`)."""
    base = PurePosixPath(path.strip("/")).parent if path.strip("/") else PurePosixPath("")
    planned = []
    for file in files:
        try:
            relative = PurePosixPath(*paths.relative_parts(file.path, str(dest)))
            if base.parts:
                relative = relative.relative_to(base)
            target = paths.resolve_inside(dest, relative.as_posix(), str(dest))
        except ValueError as error:  # UnsafePath, or a listed file outside the folder asked for
            raise UnsafePath(f"refusing artifact path {file.path!r}: {error}") from None
        if target == dest.resolve():
            raise UnsafePath(f"refusing artifact path {file.path!r}: it names {dest} itself")
        planned.append(Planned(file.path, target))
    return planned


def write_file(target: Path, content: bytes) -> None:
    """Write atomically (a temp file beside the target, fsync, rename), creating the folders on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(target, content, DOWNLOAD_PREFIX)


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
