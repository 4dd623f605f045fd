"""Run artifacts: files under `<home>/artifacts/<experiment_id>/<run_id>/`, found through the run."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from anyio import to_thread

from .. import artifacts
from ..db import Database
from ..settings import Settings
from ..store import runs


def run_folder(db: Database, settings: Settings, run_id: str) -> Path:
    """The run's artifact folder (NotFound when the run is unknown)."""
    run = runs.get(db, run_id, with_metric_stats=False)
    return artifacts.run_root(settings.artifacts_root, run["experiment_id"], run["id"])


def list_artifacts(db: Database, settings: Settings, run_id: str, path: str = "") -> list[dict[str, Any]]:
    return artifacts.list_files(run_folder(db, settings, run_id), path)


async def upload_artifact(db: Database, settings: Settings, run_id: str, path: str,
                          stream: AsyncIterator[bytes]) -> dict[str, Any]:
    """Stream an upload to `path` in the run's folder; the run is looked up in a worker thread, never on
    the event loop."""
    folder = await to_thread.run_sync(run_folder, db, settings, run_id)
    return await artifacts.save_stream(folder, path, stream, settings.max_body_bytes)


def artifact_file(db: Database, settings: Settings, run_id: str, path: str) -> Path:
    return artifacts.file_path(run_folder(db, settings, run_id), path)
