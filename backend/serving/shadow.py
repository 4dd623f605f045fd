"""Shadow predictions, off the request path: a request through an alias that has a shadow is answered by
the champion exactly as without one; then its parsed rows are offered to a bounded queue (full: dropped
and counted, never waited on) that one background thread serves. Every `GATHER_SECONDS` at most the
thread takes what queued, has the shadow version predict it (conformed to its own signature; class
probabilities too, for a classifier; see `shadow_compare`) and stores both sides' answers in one
transaction.

Which alias has a shadow is held in memory (`ShadowTable`, one per database): changed at once when this
process starts or stops a shadow, and re-read by the thread every `FRESH_SECONDS` (a shadow started by
another process is followed within that time). A request never reads the database for it.
"""
from __future__ import annotations

import functools
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..db import Database
from ..store import shadows as store
from .inputs import Table
from .predictor import LoadedModel, Output
from .shadow_compare import Offered, compare

FRESH_SECONDS = 2.0
QUEUE_REQUESTS = 2_000
"""Requests waiting for the shadow at most; beyond it they are dropped (and counted)."""
WAIT_SECONDS = 0.25
"""How long the idle thread waits for a request before it looks at the table's age again."""
GATHER_SECONDS = 0.05
"""After a request arrives, the thread lets others queue this long, then predicts them together."""
MAX_BATCH = 1_000
"""Requests taken at most at once."""
TIME_EVERY_SECONDS = 1.0
"""How often a shadow's latency is sampled (one request predicted alone and timed)."""


@dataclass(frozen=True)
class Active:
    """A running shadow: `version` also predicts what `name@alias` is asked."""

    id: int
    name: str
    alias: str
    version: int
    started_at: int


class ShadowTable:
    """Running shadows by (name, alias). Reading is one dict lookup; changes swap the whole dict."""

    def __init__(self) -> None:
        self._by_alias: dict[tuple[str, str], Active] = {}
        self._lock = threading.Lock()
        self._generation = 0
        """Counts changes made here: a refresh that raced one does not store what it read."""

    def get(self, name: str, alias: str) -> Active | None:
        return self._by_alias.get((name, alias))

    def started(self, active: Active) -> None:
        with self._lock:
            self._generation += 1
            self._by_alias = {**self._by_alias, (active.name, active.alias): active}

    def stopped(self, name: str, alias: str) -> None:
        with self._lock:
            self._generation += 1
            self._by_alias = {key: value for key, value in self._by_alias.items() if key != (name, alias)}

    def refresh(self, db: Database) -> None:
        """Read every running shadow from the database (a backstop for other processes' changes)."""
        with self._lock:
            generation = self._generation
        found = {(row["name"], row["alias"]): active_of_row(row) for row in store.active(db)}
        with self._lock:
            if self._generation == generation:
                self._by_alias = found


def active_of_row(row: dict[str, Any]) -> Active:
    return Active(int(row["id"]), row["name"], row["alias"], int(row["version"]), int(row["started_at"]))


_tables: weakref.WeakKeyDictionary[Database, ShadowTable] = weakref.WeakKeyDictionary()
_tables_lock = threading.Lock()


def table(db: Database) -> ShadowTable:
    """The database's shadow table (made on first use)."""
    with _tables_lock:
        found = _tables.get(db)
        if found is None:
            found = _tables[db] = ShadowTable()
        return found


class ShadowRunner:
    """The bounded queue and the thread that predicts with the shadows and stores the compared rows."""

    def __init__(self, db: Database, model: Callable[[str, int], LoadedModel],
                 queue_requests: int | None = None) -> None:
        self.db = db
        self.table = table(db)
        self.dropped = 0
        """Requests not shadowed because the queue was full."""
        self.compared = 0
        """Requests the shadow predicted (or failed on) since the start."""
        self._model = model
        self._queue: queue.Queue[Offered] = queue.Queue(queue_requests or QUEUE_REQUESTS)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._unwritten = 0
        self._timed_at: dict[int, float] = {}
        """When each shadow's latency was last sampled (`time.monotonic()`)."""
        self._thread: threading.Thread | None = None

    # --- the request path ----------------------------------------------------------------------------

    def offer(self, name: str, alias: str | None, version: int, champion: LoadedModel, table: Table,
              frame: pd.DataFrame | None, output: Output | None, error: str | None, champion_ms: float | None,
              request_ids: list[str] | None, time_ms: int) -> None:
        """Hand the request to the shadow of `name@alias`, if one runs (not when `version`, the one that
        answered, is the shadow itself). Never blocks: a full queue drops it."""
        shadow = self.table.get(name, alias) if alias is not None else None
        if shadow is None or shadow.version == version or not table.rows:
            return
        with self._idle:
            try:
                self._queue.put_nowait(Offered(shadow.id, shadow.version, champion, table, frame, output, error,
                                               champion_ms, request_ids, time_ms))
            except queue.Full:
                self.dropped += 1
                return
            self._unwritten += 1

    # --- the thread --------------------------------------------------------------------------------------

    def start(self) -> None:
        self.table.refresh(self.db)
        self._thread = threading.Thread(target=self._loop, name="shadow-predictions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every request offered so far is predicted and stored (tests). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unwritten == 0, timeout)

    def _loop(self) -> None:
        refreshed_at = time.monotonic()
        while not self._stop.is_set() or not self._queue.empty():
            batch = self._take()
            if batch:
                self._write(batch)
            if time.monotonic() - refreshed_at >= FRESH_SECONDS:
                refreshed_at = time.monotonic()
                self._logged(self.table.refresh, self.db)

    def _take(self) -> list[Offered]:
        """The requests that queued: the first waited for, then what came within `GATHER_SECONDS`."""
        try:
            batch = [self._queue.get(timeout=WAIT_SECONDS)]
        except queue.Empty:
            return []
        self._stop.wait(GATHER_SECONDS)
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[Offered]) -> None:
        groups: dict[tuple[int, int], list[Offered]] = {}
        for offered in batch:
            groups.setdefault((offered.shadow_id, offered.champion.version), []).append(offered)
        found = []
        clock = time.monotonic()
        for (shadow_id, _), group in groups.items():
            timed = clock - self._timed_at.get(shadow_id, -TIME_EVERY_SECONDS) >= TIME_EVERY_SECONDS
            if timed:
                self._timed_at[shadow_id] = clock
            load = functools.partial(self._model, group[0].champion.name, group[0].shadow_version)
            try:
                found += compare(load, group, timed)
            except Exception as error:  # a bug here costs this group's comparison, never the thread
                print(f"shadow predictions: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        self._logged(store.insert_rows, self.db, found)
        with self._idle:
            self.compared += len(batch)
            self._unwritten -= len(batch)
            self._idle.notify_all()

    @staticmethod
    def _logged(action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        except Exception as error:  # the thread goes on: one failed batch costs that batch's comparison
            print(f"shadow predictions: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
