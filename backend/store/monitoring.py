"""Prediction records, per-minute rollups, drift summaries and feedback labels: SQL only."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

PREDICTION_COLUMNS = ("request_id", "time", "name", "version", "alias", "latency_ms", "status", "error", "source",
                      "inputs_json", "output_json", "proba_json")


def insert_predictions(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows in `PREDICTION_COLUMNS` order, inside the caller's write transaction. A request id already
    stored is kept as it was (a replica that sends a batch twice counts it once)."""
    conn.executemany(
        f"INSERT OR IGNORE INTO predictions ({', '.join(PREDICTION_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})", rows)


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
