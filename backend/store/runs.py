"""Runs and what is logged to them: params, tags and metric points, written in one transaction."""
from __future__ import annotations

import sqlite3
import uuid
from itertools import repeat
from typing import Any, cast

from mlops_tui.contract import RUN_ENDED, RunStatus
from mlops_tui.contract import tags as tag

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict, Invalid, NotFound
from .common import one, placeholders, rows
from .experiments import as_id
from .rows import RunRow

STATUSES = tuple(RunStatus)
RUN_NAME_TAG = tag.RUN_NAME
"""MLflow's tag for the run name, kept equal to `runs.name` as MLflow keeps it: set on create, rewritten on a
rename, and setting it (alone or in a batch) renames the run. Deleting it leaves the name."""
RUN_COLUMNS = ("r.id, r.experiment_id, r.name, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.parent_id, "
               "r.user_id")


Columns = tuple[list[int], list[float], list[int]]
"""A metric's new points as columns: (steps, values, timestamps in epoch milliseconds)."""


def create(
    db: Database,
    experiment_id: str,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    start_time: int | None = None,
    parent_id: str | None = None,
    status: str = RunStatus.RUNNING,
    user_id: str | None = None,
) -> RunRow:
    run_id = uuid.uuid4().hex
    tags = dict(tags or {})
    named = tags.get(RUN_NAME_TAG) or None
    if name and named and name != named:
        raise Invalid(f"the run name {name!r} and the {RUN_NAME_TAG} tag {named!r} differ", "name")
    name = name or named or _default_name(run_id)
    tags[RUN_NAME_TAG] = name
    with db.write() as conn:
        found = conn.execute(
            "SELECT lifecycle_stage FROM experiments WHERE id = ?", (experiment_number(experiment_id),)
        ).fetchone()
        if found is None:
            raise NotFound(f"experiment {experiment_id!r} not found", "experiment_id")
        if found[0] != "active":
            raise Conflict(f"experiment {experiment_id!r} is deleted", "experiment_id")
        if parent_id is not None and not conn.execute("SELECT 1 FROM runs WHERE id = ?", (parent_id,)).fetchone():
            raise NotFound(f"parent run {parent_id!r} not found", "parent_id")
        conn.execute(
            "INSERT INTO runs (id, experiment_id, name, status, start_time, parent_id, user_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, experiment_number(experiment_id), name, status, now_ms() if start_time is None else start_time,
             parent_id, user_id),
        )
        _write_tags(conn, run_id, tags)
    return get(db, run_id)


def experiment_number(experiment_id: str) -> int:
    number = as_id(experiment_id)
    if number is None:
        raise NotFound(f"experiment {experiment_id!r} not found", "experiment_id")
    return number


def _default_name(run_id: str) -> str:
    adjectives = ("amber", "brisk", "calm", "deft", "eager", "fleet", "glad", "keen", "lucid", "merry",
                  "noble", "proud", "quick", "sunny", "tidy", "vivid", "witty", "zesty")
    nouns = ("otter", "heron", "lynx", "finch", "panda", "cobra", "bison", "koala", "raven", "tapir",
             "gecko", "moose", "crane", "whale", "yak", "stoat", "ibis", "quail")
    number = int(run_id[:8], 16)
    return f"{adjectives[number % len(adjectives)]}-{nouns[(number // 97) % len(nouns)]}-{number % 1000}"


def _require_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    found = one(conn.execute(f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?", (run_id,)))
    if found is None:
        raise NotFound(f"run {run_id!r} not found", "run_id")
    return found


def get(db: Database, run_id: str, with_metric_stats: bool = True) -> RunRow:
    """The run with its params, tags and latest metrics (and min/max/count per metric).

    A unique prefix of at least 6 characters finds the run too (the CLI shows 8)."""
    with db.read() as conn:
        run = _require_run(conn, _resolve_prefix(conn, run_id))
        attach_details(conn, [run], with_metric_stats=with_metric_stats)
    return cast(RunRow, run)


def _resolve_prefix(conn: sqlite3.Connection, run_id: str) -> str:
    if len(run_id) >= 32 or len(run_id) < 6 or not run_id.isalnum():
        return run_id
    found = [r for (r,) in conn.execute("SELECT id FROM runs WHERE id >= ? AND id < ? LIMIT 2",
                                        (run_id, run_id + "\uffff"))]
    if len(found) > 1:
        raise Conflict(f"run id prefix {run_id!r} is ambiguous", "run_id")
    return found[0] if found else run_id


def attach_details(conn: sqlite3.Connection, found: list[dict[str, Any]], with_metric_stats: bool = False) -> None:
    """Fill `params`, `tags`, `metrics`, `child_count` (and `metric_stats`) for a page of runs, a query
    per table."""
    by_id = {run["id"]: run for run in found}
    for run in found:
        run["experiment_id"] = str(run["experiment_id"])
        run["params"], run["tags"], run["metrics"] = {}, {}, {}
        run["child_count"] = 0
        if with_metric_stats:
            run["metric_stats"] = {}
    if not by_id:
        return
    ids = list(by_id)
    marks = placeholders(len(ids))
    for table in ("params", "tags"):
        for run_id, key, value in conn.execute(
            f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks})", ids
        ):
            by_id[run_id][table][key] = value
    for parent_id, children in conn.execute(
        f"SELECT parent_id, count(*) FROM runs WHERE parent_id IN ({marks}) AND lifecycle_stage = 'active' "
        "GROUP BY parent_id", ids
    ):
        by_id[parent_id]["child_count"] = children
    for run_id, key, value, step, timestamp, low, high, count in conn.execute(
        f"SELECT run_id, key, value, step, timestamp, min_value, max_value, count FROM series "
        f"WHERE run_id IN ({marks})", ids
    ):
        run = by_id[run_id]
        run["metrics"][key] = value
        if with_metric_stats:
            run["metric_stats"][key] = {
                "value": value, "step": step, "timestamp": timestamp,
                "min": low, "max": high, "count": count,
            }


def update(db: Database, run_id: str, status: str | None = None, end_time: int | None = None,
           name: str | None = None) -> RunRow:
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", "status")
    with db.write() as conn:
        _require_run(conn, run_id)
        if status is not None:
            finished = status in RUN_ENDED
            if end_time is None:
                end_time = now_ms() if finished else None
            conn.execute("UPDATE runs SET status = ?, end_time = ? WHERE id = ?", (status, end_time, run_id))
        elif end_time is not None:
            conn.execute("UPDATE runs SET end_time = ? WHERE id = ?", (end_time, run_id))
        if name:
            _write_tags(conn, run_id, {RUN_NAME_TAG: name})  # renames the run
    return get(db, run_id)


def delete(db: Database, run_id: str) -> None:
    with db.write() as conn:
        _require_run(conn, run_id)
        conn.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE id = ? OR parent_id = ?", (run_id, run_id))


def restore(db: Database, run_id: str) -> None:
    with db.write() as conn:
        _require_run(conn, run_id)
        conn.execute("UPDATE runs SET lifecycle_stage = 'active' WHERE id = ? OR parent_id = ?", (run_id, run_id))


def log_batch(
    db: Database,
    run_id: str,
    params: dict[str, str] | None = None,
    metrics: dict[str, Columns] | None = None,
    tags: dict[str, str] | None = None,
    batch: tuple[str, str] | None = None,
) -> bool:
    """Store params, tags and points together: a failure (a changed param) stores nothing.

    `batch` is the client's `(key, digest of the body)`: a key this run has already stored stores nothing
    more (the answer was lost, the client sent it again); the same key with another digest is a 409.
    Whether anything was stored now."""
    with db.write() as conn:
        run = _require_run(conn, run_id)
        if run["lifecycle_stage"] != "active":
            raise Conflict(f"run {run_id!r} is deleted", "run_id")
        if batch is not None and not _claim_batch(conn, run_id, *batch):
            return False
        if params:
            _write_params(conn, run_id, params)
        if tags:
            _write_tags(conn, run_id, tags)
        if metrics:
            _write_points(conn, run_id, metrics)
    return True


def _claim_batch(conn: sqlite3.Connection, run_id: str, key: str, digest: str) -> bool:
    """Record the batch `key` for the run; False when it was stored before (with the same content)."""
    if conn.execute("INSERT OR IGNORE INTO run_batches (run_id, key, digest, created_at) VALUES (?, ?, ?, ?)",
                    (run_id, key, digest, now_ms())).rowcount:
        return True
    found = conn.execute("SELECT digest FROM run_batches WHERE run_id = ? AND key = ?", (run_id, key)).fetchone()
    if found[0] != digest:
        raise Conflict(f"Idempotency-Key {key!r} was already used for another batch of run {run_id!r}",
                       "Idempotency-Key")
    return False


def _write_params(conn: sqlite3.Connection, run_id: str, params: dict[str, str]) -> None:
    keys = list(params)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for key, stored in conn.execute(
            f"SELECT key, value FROM params WHERE run_id = ? AND key IN ({placeholders(len(chunk))})",
            [run_id, *chunk],
        ):
            if stored != params[key]:
                raise Conflict(
                    f"param {key!r} was already logged as {stored!r}; it cannot change to {params[key]!r}",
                    f"params.{key}",
                )
    conn.executemany(
        "INSERT OR IGNORE INTO params (run_id, key, value) VALUES (?, ?, ?)",
        [(run_id, k, v) for k, v in params.items()],
    )


def _write_tags(conn: sqlite3.Connection, run_id: str, tags: dict[str, str]) -> None:
    """Set the tags; a non-empty `mlflow.runName` renames the run (an empty one is ignored, as MLflow does)."""
    name = tags.get(RUN_NAME_TAG)
    if name:
        conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))
    _write_tags_many(conn, [(run_id, k, v) for k, v in tags.items() if k != RUN_NAME_TAG or v])


def delete_tag(db: Database, run_id: str, key: str) -> None:
    with db.write() as conn:
        _require_run(conn, run_id)
        if conn.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (run_id, key)).rowcount == 0:
            raise NotFound(f"tag {key!r} not found on run {run_id!r}", "key")


ROLLUP_BLOCK = 64


def _write_points(conn: sqlite3.Connection, run_id: str, columns: dict[str, Columns]) -> None:
    for key, (steps, values, stamps) in columns.items():
        if not values:
            continue
        found = conn.execute(
            "SELECT id, value, step, timestamp, min_value, max_value, count FROM series WHERE run_id = ? AND key = ?",
            (run_id, key),
        ).fetchone()
        new_step, new_stamp, new_value = max(zip(steps, stamps, values, strict=False))
        low, high = min(values), max(values)
        if found is None:
            series_id = cast(int, conn.execute(
                "INSERT INTO series (run_id, key, value, step, timestamp, min_value, max_value, count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (run_id, key, new_value, new_step, new_stamp, low, high),
            ).lastrowid)
            count = 0
        else:
            series_id, value, step, stamp, old_low, old_high, count = found
            if (new_step, new_stamp) >= (step, stamp):
                value, step, stamp = new_value, new_step, new_stamp
            conn.execute(
                "UPDATE series SET value = ?, step = ?, timestamp = ?, min_value = ?, max_value = ? WHERE id = ?",
                (value, step, stamp, min(old_low, low), max(old_high, high), series_id),
            )
        stored = conn.executemany(
            "INSERT OR IGNORE INTO points (series_id, step, timestamp, value) VALUES (?, ?, ?, ?)",
            zip(repeat(series_id), steps, stamps, values),
        ).rowcount
        conn.execute("UPDATE series SET count = count + ? WHERE id = ?", (stored, series_id))
        _write_rollups(conn, series_id, count, steps, values, stamps)


def _write_rollups(conn: sqlite3.Connection, series_id: int, first_ordinal: int, steps: list[int],
                   values: list[float], stamps: list[int]) -> None:
    """Fold the lowest and highest point of each 64-point block (by arrival order) into `rollups`."""
    rows = []
    start = 0
    block = first_ordinal // ROLLUP_BLOCK
    end = ROLLUP_BLOCK - first_ordinal % ROLLUP_BLOCK
    while start < len(values):
        chunk = values[start:end]
        low = start + chunk.index(min(chunk))
        high = start + chunk.index(max(chunk))
        rows.append((series_id, block, values[low], steps[low], stamps[low], values[high], steps[high], stamps[high]))
        start, end, block = end, end + ROLLUP_BLOCK, block + 1
    conn.executemany(
        "INSERT INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, block) DO UPDATE SET "
        "min_value = CASE WHEN excluded.min_value < min_value THEN excluded.min_value ELSE min_value END, "
        "min_step = CASE WHEN excluded.min_value < min_value THEN excluded.min_step ELSE min_step END, "
        "min_timestamp = CASE WHEN excluded.min_value < min_value THEN excluded.min_timestamp ELSE min_timestamp END, "
        "max_value = CASE WHEN excluded.max_value > max_value THEN excluded.max_value ELSE max_value END, "
        "max_step = CASE WHEN excluded.max_value > max_value THEN excluded.max_step ELSE max_step END, "
        "max_timestamp = CASE WHEN excluded.max_value > max_value THEN excluded.max_timestamp ELSE max_timestamp END",
        rows,
    )


def list_children(db: Database, parent_id: str) -> list[RunRow]:
    with db.read() as conn:
        found = rows(conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.parent_id = ? AND r.lifecycle_stage = 'active' "
            "ORDER BY r.start_time", (parent_id,)))
        attach_details(conn, found)
    return cast(list[RunRow], found)


FAILURE_REASON_TAG = tag.FAILURE_REASON
HEARTBEAT_LOST = "heartbeat lost"


def heartbeat(db: Database, run_id: str) -> dict[str, Any]:
    """Record that the run's process is alive. A run marked FAILED only because its heartbeat was
    lost (the backend was down longer than the timeout) is RUNNING again: its process came back."""
    now = now_ms()
    with db.write() as conn:
        run = _require_run(conn, _resolve_prefix(conn, run_id))
        run_id = run["id"]
        reason = conn.execute("SELECT value FROM tags WHERE run_id = ? AND key = ?",
                              (run_id, FAILURE_REASON_TAG)).fetchone()
        if run["status"] == RunStatus.FAILED and reason is not None and reason[0] == HEARTBEAT_LOST:
            conn.execute("UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE id = ?", (run_id,))
            conn.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (run_id, FAILURE_REASON_TAG))
            run["status"] = RunStatus.RUNNING
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, run_id))
    return {"run_id": run_id, "status": run["status"], "heartbeat_at": now}


def fail_silent_runs(db: Database, timeout_ms: int) -> list[str]:
    """Mark FAILED (tag `mlops.failure_reason = heartbeat lost`) every RUNNING run whose last
    heartbeat is older than `timeout_ms`. Runs that never sent a heartbeat (job workers' runs,
    MLflow clients) are not touched: the job manager watches the former."""
    now = now_ms()
    with db.write() as conn:
        silent = [run_id for (run_id,) in conn.execute(
            "SELECT id FROM runs WHERE status = 'RUNNING' AND heartbeat_at IS NOT NULL AND heartbeat_at < ?",
            (now - timeout_ms,))]
        for run_id in silent:
            conn.execute("UPDATE runs SET status = 'FAILED', end_time = ? WHERE id = ?", (now, run_id))
        _write_tags_many(conn, [(run_id, FAILURE_REASON_TAG, HEARTBEAT_LOST) for run_id in silent])
    return silent


def _write_tags_many(conn: sqlite3.Connection, rows: list[tuple[str, str, str]]) -> None:
    conn.executemany(
        "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value", rows)
