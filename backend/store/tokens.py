"""Bearer tokens in SQL (`tokens`): name, role, the SHA-256 of the secret, and when it was revoked."""
from __future__ import annotations

import sqlite3
from typing import Any

from ..db import Database
from .common import rows

_COLUMNS = "id, name, role, secret_sha256, created_at, created_by, revoked_at"


def insert(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(f"INSERT INTO tokens ({_COLUMNS}) VALUES (:id, :name, :role, :secret_sha256, :created_at, "
                 ":created_by, NULL)", row)


def active_name_taken(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone() is not None


def revoke(conn: sqlite3.Connection, token_id: str, at: int) -> bool:
    """Mark the token revoked; False when there is no such token not yet revoked."""
    cursor = conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, token_id))
    return cursor.rowcount == 1


def get(db: Database, token_id: str) -> dict[str, Any] | None:
    found = list_all(db, "WHERE id = ?", (token_id,))
    return found[0] if found else None


def list_all(db: Database, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with db.read() as conn:
        return rows(conn.execute(f"SELECT {_COLUMNS} FROM tokens {where} ORDER BY created_at, id", args))
