"""MLflow 3's logged models in SQL: the `logged_models` table, and `run_outputs` (which runs output which
model, at which step).

A logged model's files live under `<artifacts>/<experiment>/models/<id>/`; its params and tags are JSON
objects in their row (a model has few, and they are read and written whole). Deleting one marks it
`deleted`, as MLflow does: it stays readable with `allow_deleted` and its files stay in place.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, TypedDict

from ..db import Database
from ..errors import NotFound
from .common import one, placeholders, require_active, rows
from .experiments import as_id

PENDING, READY, FAILED = "PENDING", "READY", "UPLOAD_FAILED"
"""Stored as MLflow's `LoggedModelStatus` names without their `LOGGED_MODEL_` prefix."""
STATUSES = (PENDING, READY, FAILED)

_COLUMNS = ("id, experiment_id, name, source_run_id, model_type, status, status_message, lifecycle_stage, "
            "created_at, updated_at, tags_json, params_json")


class LoggedModelRow(TypedDict):
    id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    model_type: str | None
    status: str
    status_message: str | None
    lifecycle_stage: str
    created_at: int
    updated_at: int
    tags: dict[str, str]
    params: dict[str, str]


def _row(found: dict[str, Any]) -> LoggedModelRow:
    found["experiment_id"] = str(found["experiment_id"])
    found["tags"] = json.loads(found.pop("tags_json"))
    found["params"] = json.loads(found.pop("params_json"))
    return found  # type: ignore[return-value]


def _experiment_number(experiment_id: str) -> int:
    number = as_id(experiment_id)
    if number is None:
        raise NotFound(f"experiment {experiment_id!r} not found", "experiment_id")
    return number


def create(db: Database, model_id: str, experiment_id: str, name: str, *, source_run_id: str | None,
           model_type: str | None, tags: dict[str, str], params: dict[str, str], now: int) -> LoggedModelRow:
    """A new PENDING model in an active experiment (NotFound / Conflict naming `experiment_id`)."""
    number = _experiment_number(experiment_id)
    with db.write() as conn:
        require_active(conn, "experiments", number, "experiment", "experiment_id")
        conn.execute(
            "INSERT INTO logged_models (id, experiment_id, name, source_run_id, model_type, status, created_at, "
            "updated_at, tags_json, params_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (model_id, number, name, source_run_id, model_type, PENDING, now, now, json.dumps(tags),
             json.dumps(params)))
        return _require(conn, model_id, allow_deleted=False)


def _require(conn: sqlite3.Connection, model_id: str, allow_deleted: bool) -> LoggedModelRow:
    found = one(conn.execute(f"SELECT {_COLUMNS} FROM logged_models WHERE id = ?", (model_id,)))
    if found is None or (found["lifecycle_stage"] != "active" and not allow_deleted):
        raise NotFound(f"logged model {model_id!r} not found", "model_id")
    return _row(found)


def get(db: Database, model_id: str, allow_deleted: bool = False) -> LoggedModelRow:
    with db.read() as conn:
        return _require(conn, model_id, allow_deleted)


def update(db: Database, model_id: str, now: int, *, status: str | None = None,
           set_tags: dict[str, str] | None = None, delete_tag: str | None = None,
           set_params: dict[str, str] | None = None) -> LoggedModelRow:
    """Change an active model's status, tags or params in one transaction. Deleting a tag that is not
    set is NotFound naming `tag_key`, as in MLflow."""
    with db.write() as conn:
        found = _require(conn, model_id, allow_deleted=False)
        tags, params = found["tags"], found["params"]
        tags.update(set_tags or {})
        params.update(set_params or {})
        if delete_tag is not None:
            if delete_tag not in tags:
                raise NotFound(f"logged model {model_id!r} has no tag {delete_tag!r}", "tag_key")
            del tags[delete_tag]
        conn.execute("UPDATE logged_models SET status = ?, tags_json = ?, params_json = ?, updated_at = ? "
                     "WHERE id = ?", (status or found["status"], json.dumps(tags), json.dumps(params), now,
                                      model_id))
        return _require(conn, model_id, allow_deleted=False)


def delete(db: Database, model_id: str, now: int) -> None:
    with db.write() as conn:
        _require(conn, model_id, allow_deleted=False)
        conn.execute("UPDATE logged_models SET lifecycle_stage = 'deleted', updated_at = ? WHERE id = ?",
                     (now, model_id))


def in_experiments(db: Database, experiment_ids: list[str]) -> list[LoggedModelRow]:
    """The active models of these experiments, newest first (ties by id, so paging is stable)."""
    numbers = [number for number in (as_id(e) for e in experiment_ids) if number is not None]
    if not numbers:
        return []
    with db.read() as conn:
        found = rows(conn.execute(
            f"SELECT {_COLUMNS} FROM logged_models WHERE experiment_id IN ({placeholders(len(numbers))}) "
            "AND lifecycle_stage = 'active' ORDER BY created_at DESC, id", numbers))
    return [_row(model) for model in found]


def log_outputs(db: Database, run_id: str, outputs: list[tuple[str, int]]) -> None:
    """Record that `run_id` output each (model id, step); a model output again keeps its latest step."""
    with db.write() as conn:
        require_active(conn, "runs", run_id, "run", "run_id")
        for model_id, _ in outputs:
            _require(conn, model_id, allow_deleted=False)
        conn.executemany("INSERT INTO run_outputs (run_id, model_id, step) VALUES (?, ?, ?) "
                         "ON CONFLICT (run_id, model_id) DO UPDATE SET step = excluded.step",
                         [(run_id, model_id, step) for model_id, step in outputs])


def outputs_of(source: Database | sqlite3.Connection, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each run's `model_outputs` (`[{"model_id", "step"}]`, oldest model first), for `runs/get` and
    `runs/search`; runs without outputs are left out. Takes the database or a connection already held."""
    if not run_ids:
        return {}
    if isinstance(source, Database):
        with source.read() as conn:
            return outputs_of(conn, run_ids)
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start:start + 500]
        for run_id, model_id, step in source.execute(
                f"SELECT o.run_id, o.model_id, o.step FROM run_outputs o JOIN logged_models m ON m.id = o.model_id "
                f"WHERE o.run_id IN ({placeholders(len(chunk))}) ORDER BY m.created_at, m.id", chunk):
            found.setdefault(run_id, []).append({"model_id": model_id, "step": step})
    return found

