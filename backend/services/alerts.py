"""Alerts: opening one (from a rule, or by the backend itself), and reading them.

Every change of an alert's status is told to webhooks (`alert.opened`, ...), in the transaction that
makes it.
"""
from __future__ import annotations

import uuid

from mlops_tui.contract.alerts import Alert, AlertKind, AlertStatus, NotifyEvent, Severity

from ..clock import now_ms
from ..db import Database
from ..store import alerts as store
from . import notify


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
