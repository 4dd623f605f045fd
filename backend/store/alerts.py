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


def get_in(conn: sqlite3.Connection, alert_id: str) -> Alert:
    """`get` inside the caller's transaction (a status change reads and writes in one)."""
    found = one(conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)))
    if found is None:
        raise NotFound(f"alert {alert_id!r} not found", "alert_id")
    return _alert(found)


def update(conn: sqlite3.Connection, alert: Alert, expected: AlertStatus) -> bool:
    """Store `alert`'s changeable fields if its status is still `expected` (compare-and-set: a status
    change that lost a race writes nothing); False when it was not."""
    changed = conn.execute(
        "UPDATE alerts SET status = ?, last_value = ?, evaluated_at = ?, acknowledged_by = ?, acknowledged_at = ?, "
        "resolved_by = ?, resolved_at = ?, note = ? WHERE id = ? AND status = ?",
        (alert.status.value, alert.last_value, alert.evaluated_at, alert.acknowledged_by, alert.acknowledged_at,
         alert.resolved_by, alert.resolved_at, alert.note, alert.id, expected.value))
    return changed.rowcount == 1


def touch(db: Database, alert_id: str, last_value: float | None, evaluated_at: int) -> None:
    """Record the value of an active alert's rule at an evaluation (no status change, nothing to tell)."""
    with db.write() as conn:
        conn.execute("UPDATE alerts SET last_value = ?, evaluated_at = ? WHERE id = ? AND status != ?",
                     (last_value, evaluated_at, alert_id, AlertStatus.RESOLVED.value))


def active_by_rule(db: Database) -> dict[tuple[str, str], Alert]:
    """Every alert open or acknowledged, by (model, rule): what an evaluation round starts from."""
    with db.read() as conn:
        found = rows(conn.execute("SELECT * FROM alerts WHERE status != ?", (AlertStatus.RESOLVED.value,)))
    return {(row["name"], row["rule"]): _alert(row) for row in found}


def last_resolved_at(db: Database) -> dict[tuple[str, str], int]:
    """When each rule's latest alert resolved, by (model, rule): the start of its cooldown."""
    with db.read() as conn:
        found = conn.execute("SELECT name, rule, max(resolved_at) FROM alerts WHERE resolved_at IS NOT NULL "
                             "GROUP BY name, rule").fetchall()
    return {(name, rule): int(at) for name, rule, at in found}


def counts(db: Database) -> dict[str, int]:
    """Alerts open, acknowledged, and active of severity critical (the console header's count)."""
    with db.read() as conn:
        by_status = dict(conn.execute("SELECT status, count(*) FROM alerts WHERE status != ? GROUP BY status",
                                      (AlertStatus.RESOLVED.value,)).fetchall())
        critical = conn.execute("SELECT count(*) FROM alerts WHERE status != ? AND severity = 'critical'",
                                (AlertStatus.RESOLVED.value,)).fetchone()[0]
    return {"open": int(by_status.get(AlertStatus.OPEN.value, 0)),
            "acknowledged": int(by_status.get(AlertStatus.ACKNOWLEDGED.value, 0)), "critical": int(critical)}
