"""Which version each alias points at, held in memory so a prediction does not read SQLite (and wait on
the database lock behind the recorder's batch writes) to resolve its alias.

One table per database. It is filled on first use of an alias and kept current by `moved`, which the
registry calls after every alias move it commits (promote, approval, rollback): the next request then
resolves to the new version, while requests already resolved finish on the old one.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from ..db import Database

Lookup = Callable[[str, str], int | None]
"""Reads an alias's version from the database (None: it points nowhere)."""


class AliasTable:
    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._versions: dict[tuple[str, str], int | None] = {}
        self._changed = threading.Condition()
        self._generation = 0
        """Counts moves: a lookup that raced a move does not store what it read."""

    def version(self, name: str, alias: str) -> int | None:
        key = (name, alias)
        try:
            return self._versions[key]
        except KeyError:
            pass
        with self._changed:
            generation = self._generation
        found = self._lookup(name, alias)
        with self._changed:
            if self._generation == generation:
                self._versions[key] = found
            else:
                found = self._versions.get(key, found)
        return found

    def known(self, name: str, alias: str) -> int | None:
        """The version the table holds for the alias; None when it holds none (not looked up yet)."""
        return self._versions.get((name, alias))

    def moved(self, name: str, alias: str, version: int | None) -> None:
        with self._changed:
            self._generation += 1
            self._versions[(name, alias)] = version
            self._changed.notify_all()

    def wait_moved(self, name: str, alias: str, known: int | None, timeout: float) -> int | None:
        """The alias's version once it is not `known` any more, or after `timeout` seconds (a long poll)."""
        deadline = time.monotonic() + timeout
        current = self.version(name, alias)
        with self._changed:
            while current == known:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
                current = self._versions.get((name, alias), current)
        return current


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
