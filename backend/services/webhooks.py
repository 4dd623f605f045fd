"""Webhooks as the API shows them: the delivery log (URLs without their secrets) and a test event.

Delivering is the server's own business (`backend.automation.webhooks`); this only reads what it did
and queues events for it.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from mlops_tui.contract.alerts import Delivery, DeliveryStatus, NotifyEvent, WebhookTestAnswer

from ..db import Database
from ..errors import Conflict
from ..settings import Settings
from ..store import webhooks as store
from . import notify


def redact(url: str) -> str:
    """The URL without credentials or query string (a webhook URL may carry a token there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}{'?…' if parts.query else ''}"


def deliveries(db: Database, model: str | None = None, status: DeliveryStatus | None = None,
               limit: int = 100) -> list[Delivery]:
    """The delivery log, newest first."""
    found = store.listed(db, model, status.value if status else None, limit)
    return [delivery.model_copy(update={"url": redact(delivery.url)}) for delivery in found]


def send_test(db: Database, settings: Settings, actor: str) -> WebhookTestAnswer:
    """Queue a `webhook.test` event for the server's webhook (a `Conflict` when none is configured)."""
    if not settings.webhook_url:
        raise Conflict("no webhook is configured: set MLOPS_WEBHOOK_URL on the server", "webhook_url")
    event_id = notify.notify(db, NotifyEvent.TEST, None, {
        "message": "a test event from mlops-tui: this webhook receives the server's events", "by": actor})
    return WebhookTestAnswer(id=event_id, event=NotifyEvent.TEST, url=redact(settings.webhook_url))
