"""Alerts and webhooks' contract: the rules a pipeline file declares (`[[monitor.alerts]]`, `[notify]`),
the alerts the backend opens from them, and the webhook deliveries it makes.

An alert's lifecycle: `open` → `acknowledged` (by whom) → `resolved` (the condition cleared, or by hand
with a note). While an alert of a rule is open or acknowledged, the rule opens no other; after one is
resolved, the rule opens none again before its `cooldown` has passed.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALERT_RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""An alert rule's name: unique within a model's pipeline file; `on_drift` names it."""
DURATION_RULE = r"^[1-9][0-9]{0,5}(s|m|h|d)$"
"""A span of time in a pipeline file's alert and retrain tables: `90s`, `15m`, `1h`, `7d`."""
SIGNATURE_HEADER = "X-Mlops-Signature"
"""On every webhook request: `t=<epoch seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`."""
EVENT_HEADER = "X-Mlops-Event"
"""On every webhook request: the event type (`alert.opened`, `alias.moved`, ...)."""
DELIVERY_HEADER = "X-Mlops-Delivery"
"""On every webhook request: the delivery id (the same on every retry of one delivery)."""
MAX_NOTE = 2_000


class Section(BaseModel):
    """A table of the pipeline file: unknown keys are an error naming them."""

    model_config = ConfigDict(extra="forbid")


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertKind(StrEnum):
    DRIFT = "drift"
    """A feature's drift (`feature`), or any watched feature's when `feature` is not set."""
    PREDICTION_DRIFT = "prediction_drift"
    LATENCY_P95 = "latency_p95"
    """p95 latency in ms above `threshold`."""
    ERROR_RATE = "error_rate"
    """Failed requests' share (0 to 1) above `threshold`."""
    ACCURACY = "accuracy"
    """Live accuracy (or, before labels arrive, the estimated one) below `threshold`."""
    RMSE = "rmse"
    """Live RMSE of a regressor above `threshold`."""
    NO_TRAFFIC = "no_traffic"
    """No request through the alias for the whole window."""
    # opened by the backend itself, never declared in a pipeline file
    RETRAIN_PAUSED = "retrain_paused"
    """The retrain policy's circuit breaker opened: too many candidates rejected in a row."""
    ROLLBACK = "rollback"
    """An automatic promotion regressed live and the alias was rolled back."""


RULE_KINDS = (AlertKind.DRIFT, AlertKind.PREDICTION_DRIFT, AlertKind.LATENCY_P95, AlertKind.ERROR_RATE,
              AlertKind.ACCURACY, AlertKind.RMSE, AlertKind.NO_TRAFFIC)
"""The kinds a pipeline file's rule may have."""


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertRule(Section):
    """One `[[monitor.alerts]]` table: a condition on the alias's live health, checked on a timer.

    The rule breaches in a window when its value passes `threshold` there; it fires when at least
    `min_breaches` of the last `of_windows` consecutive windows (each `window` long, the latest ending
    now) breach, and clears when fewer do."""

    name: str = Field(pattern=ALERT_RULE_NAME, description="Unique in the file; `[retrain] on_drift` names it.")
    kind: AlertKind
    feature: str | None = Field(None, max_length=256, description="`drift` only: the feature watched (default: "
                                                                  "any watched feature).")
    alias: str = Field("production", description="The alias whose traffic is watched.")
    window: str = Field("15m", pattern=DURATION_RULE, description="One window's length: `15m`, `1h`, `1d`.")
    threshold: float | None = Field(None, description="The bound (see each kind); `drift` and `prediction_drift` "
                                                      "default to the monitor's own `drift` status.")
    min_breaches: int = Field(1, ge=1, le=1000, description="Windows that must breach ...")
    of_windows: int = Field(1, ge=1, le=1000, description="... among the last this many.")
    min_rows: int = Field(0, ge=0, le=10_000_000, description="A window with fewer rows never breaches (except "
                                                               "`no_traffic`); default: the monitor's `min_rows` "
                                                               "for drift kinds, 1 for the others.")
    cooldown: str = Field("30m", pattern=DURATION_RULE, description="After an alert of this rule resolves, none "
                                                                   "opens again before this has passed.")
    severity: Severity = Severity.WARNING

    @field_validator("kind")
    @classmethod
    def _declared_kind(cls, value: AlertKind) -> AlertKind:
        if value not in RULE_KINDS:
            raise ValueError(f"{value.value!r} alerts are opened by the backend; a rule is one of "
                             f"{', '.join(k.value for k in RULE_KINDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertRule:
        if self.min_breaches > self.of_windows:
            raise ValueError(f"min_breaches ({self.min_breaches}) is more than of_windows ({self.of_windows})")
        if self.feature is not None and self.kind != AlertKind.DRIFT:
            raise ValueError("feature is only for kind = \"drift\"")
        needs_threshold = (AlertKind.LATENCY_P95, AlertKind.ERROR_RATE, AlertKind.ACCURACY, AlertKind.RMSE)
        if self.kind in needs_threshold and self.threshold is None:
            raise ValueError(f"kind = {self.kind.value!r} needs a threshold")
        if self.kind in (AlertKind.ERROR_RATE, AlertKind.ACCURACY) and self.threshold is not None \
                and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold of a {self.kind.value!r} rule is a share, 0 to 1")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", self.alias):
            raise ValueError(f"alias {self.alias!r} is not an alias name")
        return self


class NotifyEvent(StrEnum):
    """What a webhook is told about (the `event` of its body, and the `X-Mlops-Event` header)."""

    ALERT_OPENED = "alert.opened"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_RESOLVED = "alert.resolved"
    MODEL_REGISTERED = "model.registered"
    ALIAS_MOVED = "alias.moved"
    """A promote, an approved request's move or a rollback (automatic ones included)."""
    RETRAIN_STARTED = "retrain.started"
    RETRAIN_FINISHED = "retrain.finished"
    TEST = "webhook.test"


MODEL_EVENTS: tuple[NotifyEvent, ...] = tuple(event for event in NotifyEvent if event != NotifyEvent.TEST)
"""What a model's `[notify]` webhook is sent by default."""


class NotifyConfig(Section):
    """`[notify]`: a webhook for this model's events (besides the server's global one, if any). The
    server makes these requests: a URL's host must be in the server's `MLOPS_WEBHOOK_HOSTS`."""

    url: str = Field(max_length=2000, pattern=r"^https?://", description="An http(s) URL the server POSTs to.")
    events: list[NotifyEvent] = Field(default_factory=lambda: list(MODEL_EVENTS),
                                      description="The events sent (default: all).")


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ACTIVE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
"""An alert in one of these blocks its rule from opening another."""


class Alert(Model):
    """`GET /api/v1/alerts/{id}` answers this."""

    id: str
    model: str
    alias: str | None = None
    version: int | None = None
    """The version the alias held when the alert opened."""
    rule: str
    """The rule's name (a backend alert's is `retrain-paused` or `rollback-<alias>`)."""
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    message: str
    """What breached, in words: `monthly_charges drifted (PSI 0.41 ≥ 0.25) in 3 of the last 3 15m windows`."""
    value: float | None = None
    """The rule's value in the latest window when it opened (the worst when resolved: see `last_value`)."""
    threshold: float | None = None
    last_value: float | None = None
    """The value at the latest evaluation."""
    opened_at: int
    window_start: int | None = None
    """Epoch ms: the start of the earliest breaching window when it opened (where the console's Monitor
    view goes on `enter`)."""
    evaluated_at: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    resolved_by: str | None = None
    """`system` when the condition cleared."""
    resolved_at: int | None = None
    note: str = ""


class AlertList(Model):
    """`GET /api/v1/alerts`: open first, then acknowledged, then resolved; newest first within each."""

    alerts: list[Alert]


class AlertSummary(Model):
    """`GET /api/v1/alerts/summary`: what the console's header counts."""

    open: int
    acknowledged: int
    critical: int
    """Open or acknowledged alerts of severity critical."""


class AlertFilter(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ACTIVE = "active"
    """Open or acknowledged."""


class AlertAck(BaseModel):
    """`POST /api/v1/alerts/{id}/ack`: acknowledged by the `X-Mlops-User`."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=MAX_NOTE)


class AlertResolve(BaseModel):
    """`POST /api/v1/alerts/{id}/resolve`: resolved by hand by the `X-Mlops-User`; a note is required."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_NOTE)

    @field_validator("note")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note is required to resolve an alert by hand")
        return value


class WebhookBody(Model):
    """The JSON body of every webhook request."""

    id: str
    """The event's id: the same for every target and every retry (a receiver that sees it twice has seen
    a retry; `X-Mlops-Delivery` names the delivery to one target)."""
    event: NotifyEvent
    time: int
    """Epoch ms when the event happened."""
    model: str | None = None
    data: dict[str, Any]
    """The event's object: the `Alert`, the `ModelEvent` of an alias move or a registration, or the `Retrain`."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Not sent yet, or failed and waiting for its next attempt."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Every attempt failed (or the target is not allowed); not retried again."""


class Delivery(Model):
    """One webhook delivery and what happened to it (the delivery log)."""

    id: str
    """Sent as `X-Mlops-Delivery`: the same on every attempt of this delivery."""
    event: NotifyEvent
    event_id: str | None = None
    """The body's `id`: the same for every target of one event."""
    model: str | None = None
    url: str
    """The target (without credentials or query string: they may hold secrets)."""
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: int
    next_attempt_at: int | None = None
    delivered_at: int | None = None


class DeliveryList(Model):
    """`GET /api/v1/webhooks/deliveries`: newest first."""

    deliveries: list[Delivery]


class WebhookTestAnswer(Model):
    """`POST /api/v1/webhooks/test`: a `webhook.test` event was queued for the server's webhook."""

    id: str
    """The event's id (the body's `id`; `event_id` in the delivery log)."""
    event: NotifyEvent
    url: str
    """The server's webhook (shown as the delivery log shows it)."""
