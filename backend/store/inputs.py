"""The datasets a run used (MLflow's log-inputs), in `run_inputs`: one row per (run, dataset name, digest).

A dataset logged again to the same run keeps its first row, as MLflow does. `context` is the input's
`mlflow.data.context` tag (`training`, `eval`...), kept in its own column so searches can filter on it."""
from __future__ import annotations

from typing import Any, TypedDict

import orjson

from ..db import Database
from .common import placeholders, require_active

CONTEXT_TAG = "mlflow.data.context"
CHUNK = 500
"""Run ids per `IN (...)` query (SQLite binds at most 32,766 values)."""


class InputRow(TypedDict):
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: dict[str, str]


def log(db: Database, run_id: str, inputs: list[InputRow]) -> None:
    """Record the run's inputs, all in one transaction; the run must exist and be active."""
    with db.write() as conn:
        require_active(conn, "runs", run_id, "run", "run_id")
        conn.executemany(
            "INSERT INTO run_inputs (run_id, name, digest, source_type, source, schema, profile, context, tags_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name, digest) DO NOTHING",
            [(run_id, i["name"], i["digest"], i["source_type"], i["source"], i["schema"], i["profile"],
              i["tags"].get(CONTEXT_TAG), orjson.dumps(i["tags"]).decode()) for i in inputs],
        )


def of_runs(db: Database, run_ids: list[str]) -> dict[str, list[InputRow]]:
    """Each run's inputs (runs without any are absent), a query per 500 runs, ordered by name and digest."""
    found: dict[str, list[InputRow]] = {}
    with db.read() as conn:
        for start in range(0, len(run_ids), CHUNK):
            chunk = run_ids[start:start + CHUNK]
            for run_id, name, digest, source_type, source, schema, profile, tags_json in conn.execute(
                "SELECT run_id, name, digest, source_type, source, schema, profile, tags_json FROM run_inputs "
                f"WHERE run_id IN ({placeholders(len(chunk))}) ORDER BY run_id, name, digest", chunk
            ):
                tags: dict[str, Any] = orjson.loads(tags_json)
                found.setdefault(run_id, []).append(InputRow(
                    name=name, digest=digest, source_type=source_type, source=source, schema=schema,
                    profile=profile, tags=tags))
    return found
