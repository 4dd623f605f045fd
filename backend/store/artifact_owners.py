"""Who owns a place in the artifact folder, in SQL: the run or logged model a path belongs to, and the
folders that hold a registered version's files (which must never change: their sha256 is the
registry's integrity check)."""
from __future__ import annotations

from posixpath import dirname
from typing import NamedTuple

from ..db import Database

MLFLOW_FORMAT = "mlflow"


class Owner(NamedTuple):
    """A run or a logged model: the experiment it is in, and whether it is active."""

    experiment_id: str
    active: bool


def run(db: Database, run_id: str) -> Owner | None:
    with db.read() as conn:
        found = conn.execute("SELECT experiment_id, lifecycle_stage FROM runs WHERE id = ?", (run_id,)).fetchone()
    return Owner(str(found[0]), found[1] == "active") if found else None


def logged_model(db: Database, model_id: str) -> Owner | None:
    with db.read() as conn:
        found = conn.execute("SELECT experiment_id, lifecycle_stage FROM logged_models WHERE id = ?",
                             (model_id,)).fetchone()
    return Owner(str(found[0]), found[1] == "active") if found else None


def registered_folders(db: Database, run_id: str | None) -> list[str]:
    """Folders (relative to the artifact root) whose files a registered version was made from: the
    native versions of `run_id` (`<experiment>/<run>/<folder of model_path>`), and every MLflow-format
    version (its `model_path` is relative to the root already)."""
    with db.read() as conn:
        folders = [path for (path,) in conn.execute(
            "SELECT model_path FROM model_versions WHERE model_format = ?", (MLFLOW_FORMAT,))]
        if run_id is not None:
            folders += [f"{experiment}/{run_id}/{dirname(path)}".rstrip("/") for experiment, path in conn.execute(
                "SELECT r.experiment_id, v.model_path FROM model_versions v JOIN runs r ON r.id = v.run_id "
                "WHERE v.run_id = ? AND v.model_format != ?", (run_id, MLFLOW_FORMAT))]
    return folders
