"""Experiments: named groups of runs. Deleting is soft (lifecycle_stage = 'deleted')."""
from __future__ import annotations

from typing import Any

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict, NotFound
from .common import one, rows

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
    with db.write() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO experiments (id, name, created_at) VALUES (0, ?, ?)",
            (DEFAULT_EXPERIMENT, now_ms()),
        )


def create(db: Database, name: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    with db.write() as conn:
        existing = conn.execute("SELECT lifecycle_stage FROM experiments WHERE name = ?", (name,)).fetchone()
        if existing:
            state = " (deleted)" if existing[0] == "deleted" else ""
            raise Conflict(f"experiment {name!r} already exists{state}", "name")
        cursor = conn.execute(
            "INSERT INTO experiments (name, created_at) VALUES (?, ?)", (name, now_ms())
        )
        experiment_id = cursor.lastrowid
        conn.executemany(
            "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)",
            [(experiment_id, k, v) for k, v in (tags or {}).items()],
        )
    return get(db, str(experiment_id))


def get_or_create(db: Database, name: str) -> dict[str, Any]:
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


def find(db: Database, name: str) -> dict[str, Any] | None:
    """The experiment's id, name and state by name (no run counts: this is on the hot path)."""
    with db.read() as conn:
        found = one(conn.execute("SELECT id, name, created_at, lifecycle_stage FROM experiments WHERE name = ?",
                                 (name,)))
        return _with_tags(conn, found)


def get(db: Database, ref: str) -> dict[str, Any]:
    """An experiment by id (digits) or by name."""
    with db.read() as conn:
        if as_id(ref) is not None:
            found = one(conn.execute(_SELECT + " WHERE e.id = ?", (as_id(ref),)))
        else:
            found = one(conn.execute(_SELECT + " WHERE e.name = ?", (ref,)))
        if found is None:
            raise NotFound(f"experiment {ref!r} not found", "experiment")
        return _with_tags(conn, found)  # type: ignore[return-value]


def resolve_id(db: Database, ref: str) -> str:
    """The id of an experiment given by id or name, without the run counts `get` computes."""
    with db.read() as conn:
        number = as_id(ref)
        column = "id" if number is not None else "name"
        found = conn.execute(f"SELECT id FROM experiments WHERE {column} = ?", (ref if number is None else number,))
        row = found.fetchone()
    if row is None:
        raise NotFound(f"experiment {ref!r} not found", "experiment")
    return str(row[0])


def _with_tags(conn: Any, experiment: dict[str, Any] | None) -> dict[str, Any] | None:
    if experiment is None:
        return None
    experiment["id"] = str(experiment["id"])
    experiment["tags"] = dict(
        conn.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ?",
                     (int(experiment["id"]),)).fetchall()
    )
    return experiment


def list_all(db: Database, include_deleted: bool = False) -> list[dict[str, Any]]:
    where = "" if include_deleted else " WHERE e.lifecycle_stage = 'active'"
    with db.read() as conn:
        found = rows(conn.execute(_SELECT + where + " ORDER BY e.id"))
        return [_with_tags(conn, e) for e in found]  # type: ignore[misc]


def delete(db: Database, ref: str) -> dict[str, Any]:
    experiment = get(db, ref)
    with db.write() as conn:
        conn.execute("UPDATE experiments SET lifecycle_stage = 'deleted' WHERE id = ?",
                     (int(experiment["id"]),))
        conn.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE experiment_id = ?",
                     (int(experiment["id"]),))
    return get(db, experiment["id"])


def restore(db: Database, ref: str) -> dict[str, Any]:
    experiment = get(db, ref)
    with db.write() as conn:
        conn.execute("UPDATE experiments SET lifecycle_stage = 'active' WHERE id = ?",
                     (int(experiment["id"]),))
        conn.execute("UPDATE runs SET lifecycle_stage = 'active' WHERE experiment_id = ?",
                     (int(experiment["id"]),))
    return get(db, experiment["id"])


def rename(db: Database, ref: str, new_name: str) -> dict[str, Any]:
    experiment = get(db, ref)
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM experiments WHERE name = ?", (new_name,)).fetchone():
            raise Conflict(f"experiment {new_name!r} already exists", "name")
        conn.execute("UPDATE experiments SET name = ? WHERE id = ?", (new_name, int(experiment["id"])))
    return get(db, experiment["id"])
