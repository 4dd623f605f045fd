"""Alerts: opening one (from a rule, or by the backend itself), its lifecycle (acknowledged, resolved by
hand or because its condition cleared), and reading them.

Every change of an alert's status is told to webhooks (`alert.opened`, `alert.acknowledged`,
`alert.resolved`), in the transaction that makes it. A status change is a compare-and-set on the status
it read, so an operator's resolve and the evaluator's never both happen.
"""
from __future__ import annotations

import sqlite3
import uuid

from mlops_tui.contract.alerts import (
    Alert,
    AlertFilter,
    AlertKind,
    AlertStatus,
    AlertSummary,
    NotifyEvent,
    Severity,
)

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict
from ..store import alerts as store
from . import notify

SYSTEM = "system"
"""`resolved_by` of an alert whose condition cleared."""
MAX_LIMIT = 1_000


def open_alert(db: Database, *, model: str, rule: str, kind: AlertKind, message: str,
               severity: Severity = Severity.WARNING, alias: str | None = None, version: int | None = None,
               value: float | None = None, threshold: float | None = None, window_start: int | None = None,
               now: int | None = None) -> Alert | None:
    """Open an alert of `rule` on `model`; None when one of that rule is already open or acknowledged
    (never a duplicate). The backend's own alerts (`retrain_paused`, `rollback`) come through here too."""
    when = now_ms() if now is None else now
    alert = Alert(id=uuid.uuid4().hex[:12], model=model, alias=alias, version=version, rule=rule, kind=kind,
                  severity=severity, status=AlertStatus.OPEN, message=message, value=value, threshold=threshold,
                  last_value=value, opened_at=when, window_start=window_start, evaluated_at=when)
    with db.write() as conn:
        if not store.insert(conn, alert):
            return None
        notify.queue(conn, NotifyEvent.ALERT_OPENED, model, alert.model_dump(mode="json"), when)
    return alert


def get_alert(db: Database, alert_id: str) -> Alert:
    return store.get(db, alert_id)


def acknowledge(db: Database, alert_id: str, actor: str, note: str = "", now: int | None = None) -> Alert:
    """open → acknowledged by `actor`. Acknowledging again changes nothing; a resolved alert: Conflict
    naming `status`."""
    when = now_ms() if now is None else now
    with db.write() as conn:
        alert = store.get_in(conn, alert_id)
        if alert.status == AlertStatus.ACKNOWLEDGED:
            return alert
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert_id!r} is resolved already: there is nothing to acknowledge", "status")
        changed = alert.model_copy(update={"status": AlertStatus.ACKNOWLEDGED, "acknowledged_by": actor,
                                           "acknowledged_at": when, "note": _noted(alert.note, note)})
        store.update(conn, changed, AlertStatus.OPEN)
        notify.queue(conn, NotifyEvent.ALERT_ACKNOWLEDGED, alert.model, changed.model_dump(mode="json"), when)
    return changed


def resolve(db: Database, alert_id: str, actor: str, note: str, now: int | None = None) -> Alert:
    """Resolve by hand (open or acknowledged), with a note; an alert resolved already: Conflict naming
    `status`. Its rule may open a new alert once its cooldown has passed."""
    with db.write() as conn:
        alert = store.get_in(conn, alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert_id!r} was resolved already by {alert.resolved_by}", "status")
        return _resolved(conn, alert, actor, note, now_ms() if now is None else now)


def resolve_cleared(db: Database, alert: Alert, note: str, value: float | None, now: int) -> Alert | None:
    """The evaluator's resolve: the rule's condition cleared. None when the alert is not active any more
    (resolved by hand meanwhile)."""
    with db.write() as conn:
        current = store.get_in(conn, alert.id)
        if current.status == AlertStatus.RESOLVED:
            return None
        return _resolved(conn, current.model_copy(update={"last_value": value, "evaluated_at": now}),
                         SYSTEM, note, now)


def _resolved(conn: sqlite3.Connection, alert: Alert, actor: str, note: str, when: int) -> Alert:
    changed = alert.model_copy(update={"status": AlertStatus.RESOLVED, "resolved_by": actor, "resolved_at": when,
                                       "note": _noted(alert.note, note)})
    store.update(conn, changed, alert.status)
    notify.queue(conn, NotifyEvent.ALERT_RESOLVED, alert.model, changed.model_dump(mode="json"), when)
    return changed


def _noted(notes: str, note: str) -> str:
    """The alert's notes, one per line, the new one last."""
    note = note.strip()
    return f"{notes}\n{note}" if notes and note else notes or note


def record_value(db: Database, alert: Alert, value: float | None, now: int) -> None:
    """An active alert's rule still fires: keep its latest value and when it was evaluated."""
    store.touch(db, alert.id, value, now)


def list_alerts(db: Database, status: AlertFilter | None = None, model: str | None = None,
                limit: int = 200) -> list[Alert]:
    """Open first, then acknowledged, then resolved; newest first within each."""
    statuses: tuple[str, ...] | None = None
    if status == AlertFilter.ACTIVE:
        statuses = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value)
    elif status is not None:
        statuses = (status.value,)
    return store.listed(db, statuses, model, limit)


def summary(db: Database) -> AlertSummary:
    return AlertSummary(**store.counts(db))
