"""Small helpers shared by the store modules."""
from __future__ import annotations

import sqlite3
from typing import Any


def rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=False)) if row is not None else None


def placeholders(count: int) -> str:
    return ", ".join("?" * count)
