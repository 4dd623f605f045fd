"""Prediction records, per-minute rollups, drift summaries and feedback labels: SQL only."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ..db import Database
from .common import placeholders, rows

PREDICTION_COLUMNS = ("request_id", "time", "name", "version", "alias", "latency_ms", "status", "error", "source",
                      "inputs_json", "output_json", "proba_json", "first")
MINUTE_COLUMNS = ("name", "alias", "version", "minute", "requests", "rows", "errors", "latency_sum",
                  "latency_buckets")
CHUNK = 500
"""Ids per `IN (...)` query (SQLite's variable limit is far above it)."""
DELETE_CHUNK = 5_000
"""Rows deleted per transaction by retention: the writer lock is never held long."""


def insert_predictions(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows in `PREDICTION_COLUMNS` order, inside the caller's write transaction. A request id already
    stored is kept as it was (a replica that sends a batch twice counts it once)."""
    conn.executemany(
        f"INSERT OR IGNORE INTO predictions ({', '.join(PREDICTION_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})", rows)


def stored_request_ids(conn: sqlite3.Connection, request_ids: Sequence[str]) -> set[str]:
    """Which of `request_ids` are stored already."""
    found: set[str] = set()
    for start in range(0, len(request_ids), CHUNK):
        chunk = request_ids[start:start + CHUNK]
        found.update(r[0] for r in conn.execute(
            f"SELECT request_id FROM predictions WHERE request_id IN ({placeholders(len(chunk))})", chunk))
    return found


# --- drift summaries -------------------------------------------------------------------------------


def version_profile(conn: sqlite3.Connection, name: str, version: int) -> str | None:
    """A version's monitoring profile (JSON text), None when it has none or does not exist."""
    found = conn.execute("SELECT profile_json FROM model_versions WHERE name = ? AND version = ?",
                         (name, version)).fetchone()
    return found[0] if found else None


def add_drift_counts(conn: sqlite3.Connection, rows: Iterable[tuple[str, int, int, str, int, list[int]]]) -> None:
    """Add `(name, version, minute, feature, rows, counts)` to the minute's stored counts (same bins:
    added bin by bin), inside the caller's write transaction."""
    for name, version, minute, feature, count, counts in rows:
        key = (name, version, minute, feature)
        found = conn.execute("SELECT rows, counts_json FROM drift_minutes WHERE name = ? AND version = ? AND "
                             "minute = ? AND feature = ?", key).fetchone()
        if found is not None:
            stored = json.loads(found[1])
            if len(stored) == len(counts):
                count, counts = count + int(found[0]), [a + b for a, b in zip(stored, counts, strict=True)]
        conn.execute("INSERT OR REPLACE INTO drift_minutes (name, version, minute, feature, rows, counts_json) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (*key, count, json.dumps(counts)))


def drift_counts(conn: sqlite3.Connection, name: str, version: int, since: int,
                 until: int | None = None) -> list[tuple[str, str]]:
    """`(feature, counts_json)` of every stored minute of a version from `since` (epoch ms, inclusive) to
    `until` (exclusive)."""
    sql = "SELECT feature, counts_json FROM drift_minutes WHERE name = ? AND version = ? AND minute >= ?"
    args: list[Any] = [name, version, since]
    if until is not None:
        sql += " AND minute < ?"
        args.append(until)
    return [(row[0], row[1]) for row in conn.execute(sql, args)]


# --- per-minute rollups ---------------------------------------------------------------------------


def stored_minutes(conn: sqlite3.Connection, keys: Sequence[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """The rollups of `(name, alias, version, minute)` keys that exist."""
    found: list[dict[str, Any]] = []
    for key in keys:
        found += rows(conn.execute(
            f"SELECT {', '.join(MINUTE_COLUMNS)} FROM prediction_minutes "
            "WHERE name = ? AND alias = ? AND version = ? AND minute = ?", key))
    return found


def put_minutes(conn: sqlite3.Connection, minutes: Iterable[tuple[Any, ...]]) -> None:
    """Rollups in `MINUTE_COLUMNS` order, replacing what their keys held (the caller merged them)."""
    conn.executemany(f"INSERT OR REPLACE INTO prediction_minutes ({', '.join(MINUTE_COLUMNS)}) "
                     f"VALUES ({placeholders(len(MINUTE_COLUMNS))})", minutes)


def minutes_since(db: Database, since: int, name: str | None = None, alias: str | None = None,
                  until: int | None = None) -> list[dict[str, Any]]:
    """Rollups from minute `since` on (of one model alias, or of every model), before `until` when given."""
    where = "minute >= ?"
    args: list[Any] = [since]
    if until is not None:
        where += " AND minute < ?"
        args.append(until)
    if name is not None:
        where += " AND name = ? AND alias = ?"
        args += [name, alias or ""]
    with db.read() as conn:
        return rows(conn.execute(f"SELECT {', '.join(MINUTE_COLUMNS)} FROM prediction_minutes WHERE {where}", args))


# --- raw rows ---------------------------------------------------------------------------------------

_ALIAS_ROWS = "FROM predictions WHERE name = ? AND alias = ? AND time >= ?"
_NO_END = 2**62
"""`until` when a window runs to now (later than any stored time)."""


def last_rows_since(db: Database, name: str, alias: str, count: int) -> int | None:
    """The time of the oldest of the alias's last `count` prediction rows (None without any)."""
    with db.read() as conn:
        found = conn.execute("SELECT min(time) FROM (SELECT time FROM predictions WHERE name = ? AND alias = ? "
                             "ORDER BY time DESC LIMIT ?)", (name, alias, count)).fetchone()
    return None if found is None or found[0] is None else int(found[0])


def raw_traffic(db: Database, name: str, alias: str, since: int) -> tuple[int, list[tuple[float, str]]]:
    """The alias's rows from `since` on: how many predicted rows (status ok), and each request's
    `(latency_ms, status)` (its first row's)."""
    with db.read() as conn:
        ok_rows = conn.execute(f"SELECT count(*) {_ALIAS_ROWS} AND status = 'ok'", (name, alias, since)).fetchone()[0]
        requests = conn.execute(f"SELECT latency_ms, status {_ALIAS_ROWS} AND first = 1",
                                (name, alias, since)).fetchall()
    return int(ok_rows), [(float(latency), str(status)) for latency, status in requests]


def sampled_rows(db: Database, name: str, alias: str, since: int, until: int | None = None) -> int:
    """The alias's rows from `since` on (before `until`, when given) that kept their inputs."""
    with db.read() as conn:
        return int(conn.execute(f"SELECT count(*) {_ALIAS_ROWS} AND time < ? AND inputs_json IS NOT NULL",
                                (name, alias, since, _NO_END if until is None else until)).fetchone()[0])


def labeled_rows(db: Database, name: str, alias: str, since: int, version: int | None = None,
                 until: int | None = None) -> list[tuple[str, str | None, str]]:
    """`(output_json, proba_json, label_json)` of the alias's sampled rows from `since` on (before `until`,
    of `version` when given) that have a label."""
    where, args = "", [name, alias, since]
    if version is not None:
        where, args = " AND p.version = ?", [*args, version]
    if until is not None:
        where, args = f"{where} AND p.time < ?", [*args, until]
    with db.read() as conn:
        return conn.execute(
            "SELECT p.output_json, p.proba_json, f.label_json FROM predictions p "
            "JOIN feedback f ON f.request_id = p.request_id "
            f"WHERE p.name = ? AND p.alias = ? AND p.time >= ? AND p.output_json IS NOT NULL{where}", args).fetchall()


def window_samples(db: Database, name: str, version: int, since: int, limit: int,
                   until: int | None = None) -> list[tuple[str, str | None, str | None]]:
    """`(inputs_json, output_json, proba_json)` of the newest `limit` rows `version` answered from `since` on
    (before `until` when given; through any alias or its version route) that kept their inputs."""
    with db.read() as conn:
        return conn.execute(
            "SELECT inputs_json, output_json, proba_json FROM predictions WHERE name = ? AND version = ? "
            "AND time >= ? AND time < ? AND inputs_json IS NOT NULL ORDER BY time DESC LIMIT ?",
            (name, version, since, _NO_END if until is None else until, limit)).fetchall()


def window_probabilities(db: Database, name: str, version: int, since: int, until: int, limit: int) -> list[str]:
    """`proba_json` of the newest `limit` sampled rows `version` answered from `since` to `until` that were
    served with probabilities (what estimating performance before labels reads, without the inputs)."""
    with db.read() as conn:
        return [row[0] for row in conn.execute(
            "SELECT proba_json FROM predictions WHERE name = ? AND version = ? AND time >= ? AND time < ? "
            "AND inputs_json IS NOT NULL AND proba_json IS NOT NULL ORDER BY time DESC LIMIT ?",
            (name, version, since, until, limit))]


def version_profile_of(db: Database, name: str, version: int) -> str | None:
    with db.read() as conn:
        return version_profile(conn, name, version)


# --- feedback ---------------------------------------------------------------------------------------


def requests_of(db: Database, name: str, request_ids: Sequence[str]) -> set[str]:
    """Which of `request_ids` name a stored prediction of model `name`."""
    found: set[str] = set()
    with db.read() as conn:
        for start in range(0, len(request_ids), CHUNK):
            chunk = request_ids[start:start + CHUNK]
            found.update(r[0] for r in conn.execute(
                f"SELECT request_id FROM predictions WHERE name = ? AND request_id IN ({placeholders(len(chunk))})",
                [name, *chunk]))
    return found


def put_labels(db: Database, name: str, labels: Iterable[tuple[str, str]], time: int) -> None:
    """`(request_id, label_json)` pairs; a label sent again replaces the one stored."""
    with db.write() as conn:
        conn.executemany("INSERT OR REPLACE INTO feedback (request_id, name, label_json, time) VALUES (?, ?, ?, ?)",
                         ((request_id, name, label, time) for request_id, label in labels))


# --- retention --------------------------------------------------------------------------------------


def delete_predictions_before(db: Database, time: int) -> int:
    """Delete prediction rows older than `time`, a chunk per transaction; how many went."""
    return _delete_chunks(db, "DELETE FROM predictions WHERE id IN (SELECT id FROM predictions WHERE time < ? "
                              "LIMIT ?)", time)


def delete_predictions_beyond(db: Database, keep: int) -> int:
    """Delete all but the newest `keep` prediction rows (the first written leave first)."""
    with db.read() as conn:
        found = conn.execute("SELECT id FROM predictions ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
    if found is None:
        return 0
    return _delete_chunks(db, "DELETE FROM predictions WHERE id IN (SELECT id FROM predictions WHERE id <= ? "
                              "ORDER BY id LIMIT ?)", found[0])


def delete_summaries_before(db: Database, time: int) -> int:
    """Delete per-minute rollups, drift summaries and feedback labels older than `time`."""
    with db.write() as conn:
        deleted = conn.execute("DELETE FROM prediction_minutes WHERE minute < ?", (time,)).rowcount
        deleted += conn.execute("DELETE FROM drift_minutes WHERE minute < ?", (time,)).rowcount
        deleted += conn.execute("DELETE FROM feedback WHERE time < ?", (time,)).rowcount
    return int(deleted)


def _delete_chunks(db: Database, statement: str, bound: int) -> int:
    deleted = 0
    while True:
        with db.write() as conn:
            count = conn.execute(statement, (bound, DELETE_CHUNK)).rowcount
        deleted += count
        if count < DELETE_CHUNK:
            return deleted


# --- overview and /metrics ----------------------------------------------------------------------------


def aliases(db: Database) -> list[dict[str, Any]]:
    """Every model alias: `{"name", "alias", "version"}`."""
    with db.read() as conn:
        return rows(conn.execute("SELECT name, alias, version FROM model_aliases ORDER BY name, alias"))


def job_counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return {status: count for status, count in conn.execute("SELECT status, count(*) FROM jobs GROUP BY status")}


def ingest_counts(db: Database) -> dict[str, int]:
    """Metric points and params logged to runs, as stored."""
    with db.read() as conn:
        points = conn.execute("SELECT coalesce(sum(count), 0) FROM series").fetchone()[0]
        params = conn.execute("SELECT count(*) FROM params").fetchone()[0]
    return {"metric_points": int(points), "params": int(params)}
