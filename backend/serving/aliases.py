"""Which version each alias points at, held in memory so a prediction does not read SQLite (and wait on
the database lock behind the recorder's batch writes) to resolve its alias.

One table per database. It is filled on first use of an alias and kept current by `moved`, which the
registry calls after every alias move it commits (promote, approval, rollback): the next request then
resolves to the new version, while requests already resolved finish on the old one. An entry is read
again from the database after `FRESH_SECONDS`, so a move committed by another process (a job worker)
is served within that time too.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from ..db import Database

FRESH_SECONDS = 2.0
Lookup = Callable[[str, str], int | None]
"""Reads an alias's version from the database (None: it points nowhere)."""


class AliasTable:
    def __init__(self, lookup: Lookup, fresh_seconds: float = FRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._fresh = fresh_seconds
        self._clock = clock
        self._versions: dict[tuple[str, str], tuple[int | None, float]] = {}
        """(name, alias) -> (version, when it was read or moved: `time.monotonic()`)."""
        self._lock = threading.Lock()
        self._generation = 0
        """Counts moves: a lookup that raced a move does not store what it read."""

    def known(self, name: str, alias: str) -> int | None:
        """The version the table holds for the alias while fresh; None otherwise (look it up: `version`)."""
        found = self._versions.get((name, alias))
        if found is None or self._clock() - found[1] > self._fresh:
            return None
        return found[0]

    def version(self, name: str, alias: str) -> int | None:
        known = self.known(name, alias)
        if known is not None:
            return known
        with self._lock:
            generation = self._generation
        found = self._lookup(name, alias)
        with self._lock:
            if self._generation == generation:
                self._versions[(name, alias)] = (found, self._clock())
            elif (name, alias) in self._versions:
                found = self._versions[(name, alias)][0]
        return found

    def moved(self, name: str, alias: str, version: int | None) -> None:
        with self._lock:
            self._generation += 1
            self._versions[(name, alias)] = (version, self._clock())


_tables: weakref.WeakKeyDictionary[Database, AliasTable] = weakref.WeakKeyDictionary()
_tables_lock = threading.Lock()


def table(db: Database, lookup: Lookup) -> AliasTable:
    """The database's alias table (made on first use with `lookup`)."""
    with _tables_lock:
        found = _tables.get(db)
        if found is None:
            found = _tables[db] = AliasTable(lookup)
        return found


def moved(db: Database, name: str, alias: str, version: int | None) -> None:
    """The registry moved `alias` (committed): the next prediction through it uses `version`."""
    with _tables_lock:
        found = _tables.get(db)
    if found is not None:
        found.moved(name, alias, version)
