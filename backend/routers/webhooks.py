"""Webhooks: `/api/v1/webhooks` (the delivery log, and a test event for the server's webhook). The
secret they are signed with is never shown; URLs are shown without credentials or query string."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mlops_tui.contract.alerts import DeliveryList, DeliveryStatus, WebhookTestAnswer

from ..deps import DB, Actor, AppSettings
from ..openapi import ContractRoute, errors
from ..services import webhooks

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=ContractRoute)


@router.get("/deliveries", response_model=DeliveryList, responses=errors(422))
def list_deliveries(db: DB, model: str | None = Query(None, max_length=256), status: DeliveryStatus | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """Webhook deliveries, newest first: each target of each event, its attempts and last outcome."""
    return {"deliveries": webhooks.deliveries(db, model, status, limit)}


@router.post("/test", response_model=WebhookTestAnswer, responses=errors(409))
def send_test(db: DB, settings: AppSettings, actor: Actor) -> WebhookTestAnswer:
    """Queue a `webhook.test` event for the server's webhook (`MLOPS_WEBHOOK_URL`; 409 naming
    `webhook_url` when none is configured). Its delivery shows in the log like any other."""
    return webhooks.send_test(db, settings, actor)
