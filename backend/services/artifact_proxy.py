"""MLflow's artifact proxy (`mlflow-artifacts:/...`) over the home's artifact folder.

A proxy path is relative to `<home>/artifacts/`: `<experiment>/<run>/...` is the run's own folder (the
one the native API lists, so a file logged either way is the same file) and
`<experiment>/models/<model id>/...` a logged model's. Reads go anywhere inside the artifact folder;
writes (upload, delete) only into an active run or logged model of the experiment the path names, and
never over the files a registered version was made from: their sha256 is the registry's check.
Every path goes through `artifacts.resolve_inside` (no `..`, encoded or not, no absolute path, no link
out); a delete removes a link, never what it points at.
"""
from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from anyio import to_thread

from .. import artifacts
from ..db import Database
from ..errors import Conflict, Invalid, NotFound
from ..settings import Settings
from ..store import artifact_owners

ARTIFACT_FOLDER = "the artifact folder"
LOGGED_MODELS = "models"
"""The folder of an experiment that holds its logged models (a run id is 32 hex digits, never this)."""


@dataclass(frozen=True)
class Place:
    """Where a write goes: the owner's folder (a run's or a logged model's) and the path inside it."""

    root: Path
    inside: str


def _relative(settings: Settings, path: str) -> str:
    """`path` resolved inside the artifact root, as a clean relative path ('' for the root itself). Its
    last component is not followed (a link there is what a delete removes; an upload checks it again)."""
    root = settings.artifacts_root.resolve()
    found = artifacts.resolve_inside(root, path.rstrip("/"), where=ARTIFACT_FOLDER, follow_last=False)
    relative = found.relative_to(root).as_posix()
    return "" if relative == "." else relative


def writable(db: Database, settings: Settings, path: str) -> Place:
    """The place a write to `path` goes, once its owner is known to be active in that experiment and
    no registered version's files are in the way."""
    relative = _relative(settings, path)
    parts = relative.split("/") if relative else []
    is_model = len(parts) >= 2 and parts[1] == LOGGED_MODELS
    depth = 3 if is_model else 2
    if len(parts) < depth:
        raise Invalid(f"path {path!r} must name a file in a run (<experiment>/<run>/...) or a logged model "
                      f"(<experiment>/{LOGGED_MODELS}/<model id>/...)", "path")
    owner_id = parts[depth - 1]
    owner = (artifact_owners.logged_model if is_model else artifact_owners.run)(db, owner_id)
    kind = "logged model" if is_model else "run"
    if owner is None:
        raise NotFound(f"{kind} {owner_id!r} not found (path {path!r})", "path")
    if owner.experiment_id != parts[0]:
        raise Invalid(f"path {path!r}: {kind} {owner_id!r} is in experiment {owner.experiment_id}", "path")
    if not owner.active:
        raise Invalid(f"path {path!r}: {kind} {owner_id!r} is deleted", "path")
    for folder in artifact_owners.registered_folders(db, None if is_model else owner_id):
        if relative == folder or relative.startswith(folder + "/") or folder.startswith(relative + "/"):
            raise Conflict(f"path {path!r}: {folder!r} holds a registered model version's files, which "
                           "cannot change (register a new version instead)", "path")
    root = settings.artifacts_root.joinpath(*parts[:depth])
    return Place(root, "/".join(parts[depth:]))


async def upload(db: Database, settings: Settings, path: str, stream: AsyncIterator[bytes]) -> dict[str, Any]:
    """Stream a file to `path` (atomically, within the size limit); the owner is checked in a worker
    thread, never on the event loop."""
    place = await to_thread.run_sync(writable, db, settings, path)
    if not place.inside:
        raise Invalid(f"path {path!r} must name a file inside the run or logged model", "path")
    return await artifacts.save_stream(place.root, place.inside, stream, settings.max_body_bytes)


def delete(db: Database, settings: Settings, path: str) -> None:
    """Remove a file or a folder (all of a run's files when `path` is the run); nothing there is fine,
    as in MLflow."""
    place = writable(db, settings, path)
    target = artifacts.resolve_inside(place.root, place.inside, follow_last=False) if place.inside else place.root
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()


def listing(settings: Settings, path: str) -> list[dict[str, Any]]:
    """What is directly in the folder `path`, as MLflow lists it: names, folders flagged, sizes of files.
    A file or a missing path lists nothing (MLflow's answer); links leading outside are left out."""
    relative = path.rstrip("/")
    root = settings.artifacts_root
    folder = artifacts.resolve_inside(root, relative, where=ARTIFACT_FOLDER) if relative else root.resolve()
    if not folder.is_dir():
        return []
    return [{"path": PurePosixPath(entry["path"]).name, "is_dir": True} if entry["is_dir"] else
            {"path": PurePosixPath(entry["path"]).name, "is_dir": False, "file_size": entry["size"]}
            for entry in artifacts.list_files(root, relative)]


def run_listing(db: Database, settings: Settings, run_id: str, path: str) -> tuple[str, list[dict[str, Any]]]:
    """MLflow's `artifacts/list`: the run's folder (relative to the root) and what is directly under
    `path` in it, each path given from the run's folder."""
    owner = artifact_owners.run(db, run_id)
    if owner is None:
        raise NotFound(f"run {run_id!r} not found", "run_id")
    folder = f"{owner.experiment_id}/{run_id}"
    inside = path.rstrip("/")
    artifacts.resolve_inside(settings.artifacts_root / folder, inside)  # `..` and links out refused here
    prefix = f"{inside}/" if inside else ""
    return folder, [{**entry, "path": prefix + entry["path"]}
                    for entry in listing(settings, f"{folder}/{inside}" if inside else folder)]


def file(settings: Settings, path: str) -> Path:
    """The file at `path` (NotFound naming `path` when it is missing or a folder)."""
    return artifacts.file_path(settings.artifacts_root, path.rstrip("/"))
