"""Shadow predictions, off the request path: a request through an alias that has a shadow is answered by
the champion exactly as without one; then its parsed rows are offered to a bounded queue (full: dropped
and counted, never waited on) that one background thread serves. For each request the thread conforms
the rows to the shadow version's own signature, predicts with it (class probabilities too, for a
classifier), times it, and stores both sides' answers for the comparison, in batches.

Which alias has a shadow is held in memory (`ShadowTable`, one per database): changed at once when this
process starts or stops a shadow, and re-read by the thread every `FRESH_SECONDS` (a shadow started by
another process is followed within that time). A request never reads the database for it.
"""
from __future__ import annotations

import math
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd

from ..db import Database
from ..errors import DomainError
from ..store import shadows as store
from .inputs import Table
from .predictor import LoadedModel, Output

FRESH_SECONDS = 2.0
QUEUE_REQUESTS = 2_000
"""Requests waiting for the shadow at most; beyond it they are dropped (and counted)."""
FLUSH_SECONDS = 0.25
BATCH_ROWS = 2_000
MAX_ERROR = 200
AGREE_WITHIN = 0.05
"""Regressors agree when the shadow's prediction is within this share of the champion's."""


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


@dataclass(frozen=True)
class Offered:
    """A request the champion answered (or refused after reading its rows), waiting for the shadow."""

    shadow: Active
    champion: LoadedModel
    table: Table
    frame: pd.DataFrame | None
    """The champion's conformed rows (None when the champion refused them)."""
    output: Output | None
    error: str | None
    champion_ms: float | None
    request_ids: list[str] | None
    time_ms: int


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
                self._queue.put_nowait(Offered(shadow, champion, table, frame, output, error, champion_ms,
                                               request_ids, time_ms))
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
        pending: list[tuple[Any, ...]] = []
        taken = 0
        written_at = refreshed_at = time.monotonic()
        while not self._stop.is_set() or not self._queue.empty():
            try:
                offered = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                offered = None
            if offered is not None:
                pending += self._compare(offered)
                taken += 1
            clock = time.monotonic()
            if taken and (len(pending) >= BATCH_ROWS or self._queue.empty() or clock - written_at >= FLUSH_SECONDS):
                self._write(pending, taken)
                pending, taken, written_at = [], 0, clock
            if clock - refreshed_at >= FRESH_SECONDS:
                refreshed_at = clock
                self._logged(self.table.refresh, self.db)

    def _write(self, found: list[tuple[Any, ...]], taken: int) -> None:
        self._logged(store.insert_rows, self.db, found)
        with self._idle:
            self.compared += taken
            self._unwritten -= taken
            self._idle.notify_all()

    @staticmethod
    def _logged(action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        except Exception as error:  # the thread goes on: one failed batch costs that batch's comparison
            print(f"shadow predictions: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    def _compare(self, offered: Offered) -> list[tuple[Any, ...]]:
        """The shadow's answer for the offered rows, and a stored row per request row."""
        champion, shadow = offered.champion, offered.shadow
        champion_proba = _champion_probabilities(offered)
        answer: Output | None = None
        error: str | None = None
        took: float | None = None
        try:
            model = self._model(shadow.name, shadow.version)
            started = time.perf_counter()
            answer = model.predict(model.conform(offered.table).frame, proba=has_proba(model))
            took = (time.perf_counter() - started) * 1000.0
        except DomainError as refused:
            error = refused.message
        except Exception as failed:  # whatever the shadow does wrong is its error, never the request's
            error = f"{type(failed).__name__}: {failed}"
        regressor = champion.classes is None
        ids: list[str | None] = [*offered.request_ids] if offered.request_ids else [None] * offered.table.rows
        found = []
        for index in range(offered.table.rows):
            ours = offered.output.predictions[index] if offered.output is not None else None
            theirs = answer.predictions[index] if answer is not None else None
            both = offered.output is not None and answer is not None
            found.append((
                shadow.id, ids[index], offered.time_ms, champion.version, int(index == 0),
                int(agree(ours, theirs, regressor)) if both else None,
                _json(ours) if offered.output is not None else None,
                _json(champion_proba[index]) if champion_proba is not None else None,
                offered.champion_ms if index == 0 else None,
                offered.error[:MAX_ERROR] if offered.error is not None else None,
                _json(theirs) if answer is not None else None,
                _json(answer.probabilities[index]) if answer is not None and answer.probabilities else None,
                took if index == 0 else None, error[:MAX_ERROR] if error is not None else None))
        return found


def has_proba(model: LoadedModel) -> bool:
    return model.classes is not None and hasattr(model.pipeline, "predict_proba")


def _champion_probabilities(offered: Offered) -> list[list[float]] | None:
    """The champion's class probabilities: as answered, else computed here (off the request path) so the
    comparison can estimate both sides' performance."""
    if offered.output is None or offered.frame is None:
        return None
    if offered.output.probabilities is not None:
        return offered.output.probabilities
    if not has_proba(offered.champion):
        return None
    try:
        return list(offered.champion.pipeline.predict_proba(offered.frame).tolist())
    except Exception:  # the champion answered; its probabilities are a bonus
        return None


def agree(champion: Any, shadow: Any, regressor: bool) -> bool:
    """Same class; for a regressor, within `AGREE_WITHIN` of the champion's value."""
    if regressor and isinstance(champion, int | float) and isinstance(shadow, int | float):
        if not (math.isfinite(champion) and math.isfinite(shadow)):
            return False
        return abs(champion - shadow) <= AGREE_WITHIN * abs(champion)
    return bool(champion == shadow)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
