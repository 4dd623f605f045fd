"""Events for webhooks: `queue` writes one to the `notifications` outbox, inside the caller's write
transaction (so an event is told if and only if what it tells was committed); the server's deliverer
fans each one out to the webhook targets that want it and sends them (see `backend.automation`).

Anything may queue (a route, a job's worker process, a timer): nothing is sent here, nothing here
needs the server's settings.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from mlops_tui.contract.alerts import NotifyEvent

from ..clock import now_ms
from ..db import Database


def queue(conn: sqlite3.Connection, event: NotifyEvent, model: str | None, data: dict[str, Any],
          time: int | None = None) -> str:
    """Add `event` about `model` (its object as JSON, `data`) to the outbox; returns its id, which is
    also the `id` of its webhook bodies."""
    event_id = secrets.token_hex(16)  # not `uuid`: tests that script the ids of what they seed get theirs
    when = now_ms() if time is None else time
    body = {"id": event_id, "event": event.value, "time": when, "model": model, "data": data}
    conn.execute("INSERT INTO notifications (id, event, name, body, created_at) VALUES (?, ?, ?, ?, ?)",
                 (event_id, event.value, model, json.dumps(body, separators=(",", ":"), default=str), when))
    return event_id


def notify(db: Database, event: NotifyEvent, model: str | None, data: dict[str, Any]) -> str:
    """`queue` in a write transaction of its own (for a caller that already committed what it tells)."""
    with db.write() as conn:
        return queue(conn, event, model, data)
