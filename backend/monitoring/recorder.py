"""The recorder: every prediction is written off the request path, in batches.

`submit` puts records on a bounded queue and returns at once (a full queue drops them and counts
it); one thread takes what has queued every `FLUSH_SECONDS` (or as soon as `BATCH_RECORDS` wait) and
writes it in one transaction through each of the recorder's writers: the prediction rows first, then
whatever else a batch feeds (rollups, drift summaries), so a batch is all stored or none of it.
Before the writers run, records whose request id is stored already are left out (a replica that
resends a batch is counted once); which rows keep their inputs was decided where the records were
made (`backend.serving.records.Sampler`, in the backend and in replicas). After a
batch is stored its traffic is added to the in-memory totals `/metrics` reads. The same thread runs
retention every `retention.EVERY_SECONDS`.
"""
from __future__ import annotations

import json
import queue
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from mlops_tui.contract.monitoring import PredictionRecord

from ..clock import now_ms
from ..db import Database
from ..settings import Settings
from ..store import monitoring as store
from .latency import Traffic
from .retention import EVERY_SECONDS, Retention
from .rollup import traffic_by, write_rollups

FLUSH_SECONDS = 0.25
BATCH_RECORDS = 5_000
QUEUE_RECORDS = 200_000
"""Records waiting to be written at most; beyond it they are dropped (and counted)."""

Writer = Callable[[sqlite3.Connection, Sequence[tuple[str, PredictionRecord]]], None]
"""Writes a batch of `(source, record)` inside the recorder's transaction."""
TotalsKey = tuple[str, int, str]
"""(model, version, alias or "")."""


def write_predictions(conn: sqlite3.Connection, batch: Sequence[tuple[str, PredictionRecord]]) -> None:
    store.insert_predictions(conn, (
        (r.request_id, r.time, r.name, r.version, r.alias, r.latency_ms, r.status.value, r.error, source,
         None if r.inputs is None else json.dumps(r.inputs), None if r.output is None else json.dumps(r.output),
         None if r.probabilities is None else json.dumps(r.probabilities), int(r.first))
        for source, r in batch))


def fresh_records(conn: sqlite3.Connection,
                  batch: Sequence[tuple[str, PredictionRecord]]) -> list[tuple[str, PredictionRecord]]:
    """The batch without the records whose request id is stored already or came earlier in the batch."""
    seen = store.stored_request_ids(conn, [r.request_id for _, r in batch])
    fresh = []
    for source, record in batch:
        if record.request_id not in seen:
            seen.add(record.request_id)
            fresh.append((source, record))
    return fresh


class Recorder:
    def __init__(self, db: Database, writers: Sequence[Writer] = (write_predictions, write_rollups),
                 retention: Retention | None = None, enabled: bool = True) -> None:
        self.db = db
        self.writers = list(writers)
        self.retention = retention
        self.enabled = enabled
        """False (MLOPS_MONITORING=0): `submit` keeps nothing."""
        self.dropped_total = 0
        """Records dropped here (queue full) plus those replicas reported dropped."""
        self.received: Counter[str] = Counter()
        """Records submitted, by source (`backend` or a replica), since the start."""
        self.totals: dict[TotalsKey, Traffic] = {}
        """Traffic stored since the start, by model, version and alias: what `/metrics` counts."""
        self._queue: queue.Queue[tuple[str, PredictionRecord]] = queue.Queue(QUEUE_RECORDS)
        self._stop = threading.Event()
        self._wake = threading.Event()
        """Set to write what is queued now (flush, stop) instead of at the next beat."""
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="prediction-recorder", daemon=True)

    @classmethod
    def for_settings(cls, db: Database, settings: Settings) -> Recorder:
        return cls(db, retention=Retention(settings.monitor_retention_days, settings.monitor_retention_rows),
                   enabled=settings.monitoring)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def submit(self, records: Sequence[PredictionRecord], source: str = "backend", dropped: int = 0) -> int:
        """Queue `records` for writing; never blocks, never touches the database. Returns how many were queued."""
        queued = 0
        with self._idle:
            self.dropped_total += dropped
            if not self.enabled:
                return 0
            self.received[source] += len(records)
            for record in records:
                try:
                    self._queue.put_nowait((source, record))
                except queue.Full:
                    self.dropped_total += 1
                    continue
                queued += 1
            self._pending += queued
        return queued

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, shutdown, feedback). False on timeout."""
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def pending(self) -> int:
        """Records submitted and not written yet."""
        return self._pending

    def traffic_totals(self) -> dict[TotalsKey, Traffic]:
        """A copy of the totals (the writer thread keeps adding to them)."""
        with self._idle:
            return {key: Traffic.from_stored(t.requests, t.rows, t.errors, t.latency_sum, t.sparse_buckets())
                    for key, t in self.totals.items()}

    def prune(self, now: int | None = None) -> int:
        """Apply retention now (the thread does it every minute); how many rows were deleted."""
        return 0 if self.retention is None else self.retention.prune(self.db, now_ms() if now is None else now)

    def _loop(self) -> None:
        pruned_at = time.monotonic()
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            stopping = self._stop.is_set()
            while batch := self._take():
                self._write(batch)
            if stopping:
                return
            if time.monotonic() - pruned_at >= EVERY_SECONDS:
                pruned_at = time.monotonic()
                self._prune_logged()

    def _prune_logged(self) -> None:
        try:
            self.prune()
        except sqlite3.Error as error:  # retention tries again next time
            print(f"monitoring retention: {error}", file=sys.stderr, flush=True)

    def _take(self) -> list[tuple[str, PredictionRecord]]:
        batch: list[tuple[str, PredictionRecord]] = []
        while len(batch) < BATCH_RECORDS:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[tuple[str, PredictionRecord]]) -> None:
        try:
            with self.db.write() as conn:
                fresh = fresh_records(conn, batch)
                for writer in self.writers:
                    writer(conn, fresh)
            self._count(fresh)
        except Exception as error:  # a batch that cannot be stored is counted as dropped; the thread goes on
            print(f"prediction recorder: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            with self._idle:
                self.dropped_total += len(batch)
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _count(self, stored: Sequence[tuple[str, PredictionRecord]]) -> None:
        added = traffic_by(stored, lambda r: (r.name, r.version, r.alias or ""))
        with self._idle:
            for key, traffic in added.items():
                self.totals.setdefault(key, Traffic()).merge(traffic)
