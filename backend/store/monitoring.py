"""Prediction records, per-minute rollups, drift summaries and feedback labels: SQL only."""
from __future__ import annotations

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
