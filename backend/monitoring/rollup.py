"""Per-minute rollups: each batch's requests counted into `prediction_minutes`, one row per
model, alias, version and minute, merged with what the minute already held (counts add, latency
buckets add), so a window of any length is a sum of minutes."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from mlops_tui.contract.monitoring import PredictionRecord, RecordStatus

from ..store import monitoring as store
from .latency import Traffic

MINUTE_MS = 60_000
K = TypeVar("K", bound=Hashable)


def minute_of(time_ms: int) -> int:
    return time_ms - time_ms % MINUTE_MS


def traffic_by(batch: Sequence[tuple[str, PredictionRecord]],
               key: Callable[[PredictionRecord], K]) -> dict[K, Traffic]:
    """The batch's requests (each counted by its first record) grouped by `key`."""
    found: dict[K, Traffic] = {}
    for _, record in batch:
        if record.first:
            found.setdefault(key(record), Traffic()).add(record.latency_ms, record.rows,
                                                         record.status == RecordStatus.ERROR)
    return found


def minute_key(record: PredictionRecord) -> tuple[str, str, int, int]:
    return record.name, record.alias or "", record.version, minute_of(record.time)


def write_rollups(conn: sqlite3.Connection, batch: Sequence[tuple[str, PredictionRecord]]) -> None:
    """The recorder's writer for `prediction_minutes` (inside the batch's transaction)."""
    added = traffic_by(batch, minute_key)
    for stored in store.stored_minutes(conn, list(added)):
        key = (stored["name"], stored["alias"], stored["version"], stored["minute"])
        added[key].merge(stored_traffic(stored))
    store.put_minutes(conn, (
        (*key, t.requests, t.rows, t.errors, t.latency_sum, json.dumps(t.sparse_buckets()))
        for key, t in added.items()))


def stored_traffic(row: dict[str, Any]) -> Traffic:
    """A `prediction_minutes` row as Traffic."""
    return Traffic.from_stored(row["requests"], row["rows"], row["errors"], row["latency_sum"],
                               json.loads(row["latency_buckets"]))
