"""The recorder: every prediction is written off the request path, in batches.

`submit` puts records on a bounded queue and returns at once (a full queue drops them and counts
it); one thread takes what has queued every `FLUSH_SECONDS` (or as soon as `BATCH_RECORDS` wait) and
writes it in one transaction through each of the recorder's writers: the prediction rows first, then
whatever else a batch feeds (rollups, drift summaries), so a batch is all stored or none of it.
"""
from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence

from mlops_tui.contract.monitoring import PredictionRecord

from ..db import Database
from ..store import monitoring as store

FLUSH_SECONDS = 0.25
BATCH_RECORDS = 5_000
QUEUE_RECORDS = 200_000
"""Records waiting to be written at most; beyond it they are dropped (and counted)."""

Writer = Callable[[sqlite3.Connection, Sequence[tuple[str, PredictionRecord]]], None]
"""Writes a batch of `(source, record)` inside the recorder's transaction."""


def write_predictions(conn: sqlite3.Connection, batch: Sequence[tuple[str, PredictionRecord]]) -> None:
    store.insert_predictions(conn, (
        (r.request_id, r.time, r.name, r.version, r.alias, r.latency_ms, r.status.value, r.error, source,
         None if r.inputs is None else json.dumps(r.inputs), None if r.output is None else json.dumps(r.output),
         None if r.probabilities is None else json.dumps(r.probabilities))
        for source, r in batch))


class Recorder:
    def __init__(self, db: Database, writers: Sequence[Writer] = (write_predictions,)) -> None:
        self.db = db
        self.writers = list(writers)
        self.dropped_total = 0
        """Records dropped here (queue full) plus those replicas reported dropped."""
        self._queue: queue.Queue[tuple[str, PredictionRecord]] = queue.Queue(QUEUE_RECORDS)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="prediction-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def submit(self, records: Sequence[PredictionRecord], source: str = "backend", dropped: int = 0) -> int:
        """Queue `records` for writing; never blocks. Returns how many were queued."""
        queued = 0
        with self._idle:
            self.dropped_total += dropped
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
        """Wait until everything submitted so far is written (tests, shutdown). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(FLUSH_SECONDS)
            while batch := self._take():
                self._write(batch)
            if stopping:
                return

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
                for writer in self.writers:
                    writer(conn, batch)
        except sqlite3.Error:
            with self._idle:
                self.dropped_total += len(batch)
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
