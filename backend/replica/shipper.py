"""Shipping the replica's monitoring records to the backend, off the request path.

Requests `add` their records to a bounded buffer (never blocking, never waiting on the network); one
thread sends what has gathered every `interval` seconds as a batch (`POST /api/v1/monitoring/records`).
While the backend cannot be reached the records stay buffered and are sent when it answers again;
when the buffer is full the oldest records are dropped and counted, and that count rides with the next
batch the backend accepts (`RecordBatch.dropped`), so the backend knows what it did not see.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from mlops_tui.client import Client, MlopsError
from mlops_tui.contract.monitoring import MAX_RECORDS, PredictionRecord, RecordBatch

log = logging.getLogger("mlops.replica")

MAX_BACKOFF_SECONDS = 5.0


class Shipper:
    def __init__(self, client: Client, source: str, capacity: int = 200_000, interval: float = 0.5) -> None:
        self.client = client
        self.source = source
        self.capacity = capacity
        self.interval = interval
        self.sent = 0
        self.dropped_total = 0
        """Records dropped here since the start (buffer full)."""
        self._unreported = 0
        """Dropped records the backend has not been told of yet."""
        self._buffer: deque[PredictionRecord] = deque()
        self._in_flight = 0
        """Records taken out of the buffer for the batch being sent (put back if it fails)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="record-shipper", daemon=True)

    @property
    def buffered(self) -> int:
        """Records not yet accepted by the backend (the batch being sent included)."""
        with self._lock:
            return len(self._buffer) + self._in_flight

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after one last attempt to send what is buffered."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def add(self, records: Sequence[PredictionRecord]) -> None:
        """Buffer a request's records (the oldest leave, counted, when the buffer is full). Never blocks
        on the network."""
        with self._lock:
            self._buffer.extend(records)
            self._trim()

    def _trim(self) -> None:
        overflow = len(self._buffer) - self.capacity
        for _ in range(max(overflow, 0)):
            self._buffer.popleft()
        if overflow > 0:
            self.dropped_total += overflow
            self._unreported += overflow

    def _loop(self) -> None:
        delay = self.interval
        while True:
            stopping = self._stop.wait(delay)
            delay = self.interval
            try:
                while self.ship_once():
                    pass
            except MlopsError as error:
                log.warning("shipping records to %s: %s (%d buffered)", self.client.url, error.message, self.buffered)
                delay = min(max(delay, self.interval) * 2, MAX_BACKOFF_SECONDS)
            if stopping:
                return

    def ship_once(self) -> bool:
        """Send one batch (up to the contract's cap); True when one was accepted. A failure puts the batch
        back at the front of the buffer and raises."""
        with self._lock:
            batch = [self._buffer.popleft() for _ in range(min(len(self._buffer), MAX_RECORDS))]
            dropped = self._unreported
            self._in_flight = len(batch)
        if not batch and not dropped:
            return False
        try:
            self.client.send_records(RecordBatch(source=self.source, records=batch, dropped=dropped))
        except MlopsError as error:
            with self._lock:
                self._in_flight = 0
                if _refused(error):  # the backend will never take this batch: count it, don't retry it
                    self.dropped_total += len(batch)
                    self._unreported += len(batch)
                else:
                    self._buffer.extendleft(reversed(batch))
                    self._trim()
            raise
        with self._lock:
            self._in_flight = 0
            self._unreported -= dropped
            self.sent += len(batch)
        return True


def _refused(error: MlopsError) -> bool:
    """A 4xx other than 408/429: the batch itself is refused (retrying it cannot help)."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in (408, 429)
