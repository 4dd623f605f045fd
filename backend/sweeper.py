"""The heartbeat sweeper: a thread in the server that marks runs whose heartbeat stopped as FAILED."""
from __future__ import annotations

import sys
import threading
import time

from .db import Database
from .store import runs

MAX_SWEEP_SECONDS = 30.0


class HeartbeatSweeper:
    """Every `min(timeout / 4, 30 s)`, fail RUNNING runs silent for longer than `timeout_seconds`.

    Nothing is failed during the first `timeout_seconds` after the server starts: a run's script
    may have been waiting through the server's own downtime and not have sent its heartbeat yet."""

    def __init__(self, db: Database, timeout_seconds: float) -> None:
        self.db = db
        self.timeout_ms = int(timeout_seconds * 1000)
        self.interval = min(max(timeout_seconds / 4, 0.05), MAX_SWEEP_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            if (time.monotonic() - started) * 1000 < self.timeout_ms:
                continue
            try:
                runs.fail_silent_runs(self.db, self.timeout_ms)
            except Exception as error:  # keep sweeping whatever one round hit
                print(f"heartbeat sweeper: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
