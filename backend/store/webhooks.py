"""Webhooks in SQL: the `notifications` outbox and the `webhook_deliveries` made from it.

A notification is fanned out once (`fan_out` marks it in the transaction that writes its deliveries,
so a crash in between leaves it to fan out again, never half done). A delivery is a row from its first
attempt to its last, so retries survive a restart; the deliverer reads the due ones oldest first.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from mlops_tui.contract.alerts import Delivery, DeliveryStatus

from ..db import Database
from .common import placeholders, rows

FINISHED = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)


@dataclass(frozen=True)
class Notification:
    """An event waiting in the outbox: `body` is the JSON text every target is sent."""

    id: str
    event: str
    name: str | None
    body: str


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now."""

    id: str
    event: str
    url: str
    body: str
    attempts: int


def waiting(db: Database, limit: int = 100) -> list[Notification]:
    """Notifications not fanned out yet, oldest first."""
    with db.read() as conn:
        found = conn.execute("SELECT id, event, name, body FROM notifications WHERE fanned_out = 0 "
                             "ORDER BY created_at, rowid LIMIT ?", (limit,)).fetchall()
    return [Notification(*row) for row in found]


def fan_out(conn: sqlite3.Connection, notification: Notification, deliveries: list[dict[str, Any]]) -> bool:
    """Mark `notification` fanned out and insert its deliveries, inside the caller's write transaction.
    False (nothing inserted) when it was fanned out already."""
    marked = conn.execute("UPDATE notifications SET fanned_out = 1 WHERE id = ? AND fanned_out = 0",
                          (notification.id,)).rowcount
    if not marked:
        return False
    for delivery in deliveries:
        conn.execute(f"INSERT INTO webhook_deliveries ({', '.join(delivery)}) VALUES ({placeholders(len(delivery))})",
                     list(delivery.values()))
    return True


def due(db: Database, now: int, limit: int = 50) -> list[Due]:
    """Pending deliveries whose next attempt is due at `now`, oldest first."""
    with db.read() as conn:
        found = conn.execute("SELECT id, event, url, body, attempts FROM webhook_deliveries "
                             "WHERE status = ? AND next_attempt_at <= ? ORDER BY created_at, rowid LIMIT ?",
                             (DeliveryStatus.PENDING.value, now, limit)).fetchall()
    return [Due(*row) for row in found]


def next_due(db: Database) -> int | None:
    """When the earliest pending delivery is due (epoch ms), if any is pending."""
    with db.read() as conn:
        found = conn.execute("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = ?",
                             (DeliveryStatus.PENDING.value,)).fetchone()
    return None if found is None or found[0] is None else int(found[0])


def record_attempt(db: Database, delivery_id: str, *, status: DeliveryStatus, attempts: int,
                   status_code: int | None, error: str | None, next_attempt_at: int | None,
                   delivered_at: int | None) -> None:
    with db.write() as conn:
        conn.execute("UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, last_error = ?, "
                     "next_attempt_at = ?, delivered_at = ? WHERE id = ?",
                     (status.value, attempts, status_code, error, next_attempt_at, delivered_at, delivery_id))


def listed(db: Database, name: str | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
    """The delivery log, newest first (the URL as stored: the caller decides what to show of it)."""
    where, args = ["1 = 1"], list[Any]()
    if name is not None:
        where.append("name = ?")
        args.append(name)
    if status is not None:
        where.append("status = ?")
        args.append(status)
    with db.read() as conn:
        found = rows(conn.execute(
            "SELECT id, event, name AS model, url, status, attempts, last_status_code, last_error, created_at, "
            "next_attempt_at, delivered_at, json_extract(body, '$.id') AS event_id FROM webhook_deliveries "
            f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ?", [*args, limit]))
    return [Delivery.model_validate(row) for row in found]


def prune(db: Database, cutoff: int) -> int:
    """Delete fanned-out notifications and finished deliveries created before `cutoff`; how many went."""
    with db.write() as conn:
        gone = conn.execute("DELETE FROM notifications WHERE fanned_out = 1 AND created_at < ?", (cutoff,)).rowcount
        gone += conn.execute(f"DELETE FROM webhook_deliveries WHERE status IN ({placeholders(len(FINISHED))}) "
                             "AND created_at < ?", [*FINISHED, cutoff]).rowcount
    return int(gone)
