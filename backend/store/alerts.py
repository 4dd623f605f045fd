"""Alerts in SQL. At most one alert per (model, rule) is not resolved: the partial unique index
`alerts_one_active` refuses a second, so two evaluators racing can never open it twice."""
from __future__ import annotations

import sqlite3
from typing import Any

from mlops_tui.contract.alerts import Alert, AlertStatus

from ..db import Database
from ..errors import NotFound
from .common import one, rows


def insert(conn: sqlite3.Connection, alert: Alert) -> bool:
    """Insert an open alert inside the caller's write transaction; False when the rule already has one
    that is not resolved (nothing written)."""
    fields = alert.model_dump(mode="json")
    fields["name"] = fields.pop("model")
    columns = ", ".join(fields)
    try:
        conn.execute(f"INSERT INTO alerts ({columns}) VALUES ({', '.join('?' * len(fields))})",
                     list(fields.values()))
    except sqlite3.IntegrityError:
        return False
    return True


def active(conn: sqlite3.Connection, name: str, rule: str) -> Alert | None:
    """The rule's alert that is open or acknowledged, if any."""
    found = one(conn.execute("SELECT * FROM alerts WHERE name = ? AND rule = ? AND status != ?",
                             (name, rule, AlertStatus.RESOLVED.value)))
    return _alert(found) if found else None


def get(db: Database, alert_id: str) -> Alert:
    with db.read() as conn:
        found = one(conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)))
    if found is None:
        raise NotFound(f"alert {alert_id!r} not found", "alert_id")
    return _alert(found)


def listed(db: Database, status: tuple[str, ...] | None = None, name: str | None = None,
           limit: int = 200) -> list[Alert]:
    """Open first, then acknowledged, then resolved; newest first within each."""
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if status:
        where.append(f"status IN ({', '.join('?' * len(status))})")
        args.extend(status)
    if name is not None:
        where.append("name = ?")
        args.append(name)
    order = "CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, opened_at DESC"
    with db.read() as conn:
        found = rows(conn.execute(f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
                                  [*args, limit]))
    return [_alert(row) for row in found]


def _alert(row: dict[str, Any]) -> Alert:
    row = dict(row)
    row["model"] = row.pop("name")
    return Alert.model_validate(row)
