"""Experiments in SQL: named groups of runs. Deleting is soft (lifecycle_stage = 'deleted').

Plain rows go through sqlite-utils' `Table` methods; the reads with run counts and `find` (on the
path of every run created by experiment name) are hand-written SQL."""
from __future__ import annotations

import sqlite3
from typing import Any, cast

from ..clock import now_ms
from ..db import Database
from ..errors import AlreadyExists, Conflict, NotFound
from .common import one, rows
from .rows import ExperimentRow

DEFAULT_EXPERIMENT = "Default"

_SELECT = """
SELECT e.id, e.name, e.created_at, e.lifecycle_stage,
       (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.lifecycle_stage = 'active')
         AS run_count,
       (SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = e.id) AS last_run_time
FROM experiments e
"""


def as_id(ref: str) -> int | None:
    """The integer id `ref` spells, or None when it is a name (or no id SQLite can hold)."""
    if ref.isascii() and ref.isdigit() and len(ref) <= 18:
        return int(ref)
    return None


def ensure_default(db: Database) -> None:
    """Experiment 0, "Default", exists from the start (as in MLflow)."""
    with db.write():
        db.table("experiments").insert({"id": 0, "name": DEFAULT_EXPERIMENT, "created_at": now_ms()}, ignore=True)


def create(db: Database, name: str, tags: dict[str, str] | None = None) -> ExperimentRow:
    with db.write():
        for existing in db.table("experiments").rows_where("name = ?", [name], select="lifecycle_stage"):
            state = " (deleted)" if existing["lifecycle_stage"] == "deleted" else ""
            raise AlreadyExists(f"experiment {name!r} already exists{state}", "name")
        experiment_id = db.table("experiments").insert({"name": name, "created_at": now_ms()}).last_pk
        db.table("experiment_tags").insert_all(
            {"experiment_id": experiment_id, "key": k, "value": v} for k, v in (tags or {}).items())
    return get(db, str(experiment_id))


def get_or_create(db: Database, name: str) -> ExperimentRow:
    found = find(db, name)
    if found and found["lifecycle_stage"] == "active":
        return found
    if found:
        raise Conflict(f"experiment {name!r} is deleted", "experiment")
    try:
        return create(db, name)
    except Conflict:  # created by a concurrent caller in between
        found = find(db, name)
        if found is None:
            raise
        return found


def find(db: Database, name: str) -> ExperimentRow | None:
    """The experiment's id, name and state by name (no run counts: this is on the hot path)."""
    with db.read() as conn:
        found = one(conn.execute("SELECT id, name, created_at, lifecycle_stage FROM experiments WHERE name = ?",
                                 (name,)))
        return _with_tags(conn, found) if found else None


def get(db: Database, ref: str) -> ExperimentRow:
    """An experiment by id (digits) or by name."""
    with db.read() as conn:
        if as_id(ref) is not None:
            found = one(conn.execute(_SELECT + " WHERE e.id = ?", (as_id(ref),)))
        else:
            found = one(conn.execute(_SELECT + " WHERE e.name = ?", (ref,)))
        if found is None:
            raise NotFound(f"experiment {ref!r} not found", "experiment")
        return _with_tags(conn, found)


def resolve_id(db: Database, ref: str) -> str:
    """The id of an experiment given by id or name, without the run counts `get` computes."""
    number = as_id(ref)
    where, value = ("id = ?", number) if number is not None else ("name = ?", ref)
    with db.read():
        found = list(db.table("experiments").rows_where(where, [value], select="id"))
    if not found:
        raise NotFound(f"experiment {ref!r} not found", "experiment")
    return str(found[0]["id"])


def _with_tags(conn: sqlite3.Connection, experiment: dict[str, Any]) -> ExperimentRow:
    """The experiment with its tags (SQL: `find` is on the hot path)."""
    experiment["id"] = str(experiment["id"])
    experiment["tags"] = dict(conn.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ?",
                                           (int(experiment["id"]),)).fetchall())
    return cast(ExperimentRow, experiment)


def list_all(db: Database, include_deleted: bool = False) -> list[ExperimentRow]:
    where = "" if include_deleted else " WHERE e.lifecycle_stage = 'active'"
    with db.read() as conn:
        found = rows(conn.execute(_SELECT + where + " ORDER BY e.id"))
        return [_with_tags(conn, e) for e in found]


def set_stage(db: Database, ref: str, stage: str) -> ExperimentRow:
    """Delete (`deleted`) or restore (`active`) the experiment and its runs."""
    experiment_id = int(get(db, ref)["id"])
    with db.write() as conn:
        db.table("experiments").update(experiment_id, {"lifecycle_stage": stage})
        conn.execute("UPDATE runs SET lifecycle_stage = ? WHERE experiment_id = ?", (stage, experiment_id))
    return get(db, str(experiment_id))


def delete(db: Database, ref: str) -> ExperimentRow:
    return set_stage(db, ref, "deleted")


def restore(db: Database, ref: str) -> ExperimentRow:
    return set_stage(db, ref, "active")


def rename(db: Database, ref: str, new_name: str) -> ExperimentRow:
    experiment_id = int(get(db, ref)["id"])
    with db.write():
        if db.table("experiments").count_where("name = ?", [new_name]):
            raise AlreadyExists(f"experiment {new_name!r} already exists", "name")
        db.table("experiments").update(experiment_id, {"name": new_name})
    return get(db, str(experiment_id))


def set_tag(db: Database, ref: str, key: str, value: str) -> None:
    """Set one tag of an active experiment (MLflow's set-experiment-tag; `mlflow.note.content` is its
    description)."""
    experiment_id = int(resolve_id(db, ref))
    with db.write() as conn:
        stage = conn.execute("SELECT lifecycle_stage FROM experiments WHERE id = ?", (experiment_id,)).fetchone()[0]
        if stage != "active":
            raise Conflict(f"experiment {ref!r} is deleted", "experiment_id")
        conn.execute("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
                     "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                     (experiment_id, key, value))


def delete_tag(db: Database, ref: str, key: str) -> None:
    experiment_id = int(resolve_id(db, ref))
    with db.write() as conn:
        if conn.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                        (experiment_id, key)).rowcount == 0:
            raise NotFound(f"tag {key!r} not found on experiment {ref!r}", "key")
