"""Small helpers shared by the store modules."""
from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import Conflict, NotFound


def rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=False)) if row is not None else None


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def require_active(conn: sqlite3.Connection, table: str, key: object, what: str, field: str) -> None:
    """The row `key` of `table` (experiments, runs) exists (else NotFound) and is not deleted (else
    Conflict), both naming `field`. `table` is one of the store's own names, never input."""
    found = conn.execute(f"SELECT lifecycle_stage FROM {table} WHERE id = ?", (key,)).fetchone()
    if found is None:
        raise NotFound(f"{what} {key!r} not found", field)
    if found[0] != "active":
        raise Conflict(f"{what} {key!r} is deleted", field)
