"""Alerts: `/api/v1/alerts` (opened by the backend's rule evaluator, `backend.automation.alerting`);
acknowledged and resolved by people, as the `X-Mlops-User`."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mlops_tui.contract.alerts import Alert, AlertAck, AlertFilter, AlertList, AlertResolve, AlertSummary
from mlops_tui.contract.registry import MODEL_NAME_RULE

from ..deps import DB, Actor
from ..openapi import ContractRoute, errors
from ..services import alerts

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], route_class=ContractRoute)


@router.get("", response_model=AlertList, responses=errors(422))
def list_alerts(db: DB, status: AlertFilter | None = Query(None, description="open, acknowledged, resolved, or "
                                                                             "active (open or acknowledged)."),
                model: str | None = Query(None, pattern=MODEL_NAME_RULE, description="Only this model's."),
                limit: int = Query(200, ge=1, le=alerts.MAX_LIMIT)) -> dict[str, Any]:
    """Alerts, open first, then acknowledged, then resolved; newest first within each."""
    return {"alerts": alerts.list_alerts(db, status, model, limit)}


@router.get("/summary", response_model=AlertSummary)
def summary(db: DB) -> AlertSummary:
    """How many alerts are open, acknowledged, and active of severity critical."""
    return alerts.summary(db)


@router.get("/{alert_id}", response_model=Alert, responses=errors(404))
def get_alert(alert_id: str, db: DB) -> Alert:
    return alerts.get_alert(db, alert_id)


@router.post("/{alert_id}/ack", response_model=Alert, responses=errors(404, 409, 422))
def acknowledge(alert_id: str, body: AlertAck, db: DB, actor: Actor) -> Alert:
    """Acknowledge as the `X-Mlops-User` (again: nothing changes); a resolved alert: 409 naming `status`."""
    return alerts.acknowledge(db, alert_id, actor, body.note)


@router.post("/{alert_id}/resolve", response_model=Alert, responses=errors(404, 409, 422))
def resolve(alert_id: str, body: AlertResolve, db: DB, actor: Actor) -> Alert:
    """Resolve by hand with a note; resolved already: 409 naming `status`. The rule opens no new alert
    before its cooldown has passed."""
    return alerts.resolve(db, alert_id, actor, body.note)
