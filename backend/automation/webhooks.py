"""The webhook deliverer: its own thread fans the `notifications` outbox out to webhook targets and
sends the deliveries, retrying with backoff.

- Targets of an event: the server's `MLOPS_WEBHOOK_URL` (every event), and the model's `[notify] url`
  (from the pipeline file of its latest version) when the event is in its `events`. A `[notify]` URL
  comes from a pipeline file anyone with the API may register, and the server makes the request: its
  host must be in `MLOPS_WEBHOOK_HOSTS`, otherwise the delivery is written `failed` with the reason and
  nothing is sent.
- Sending: POST of the event's JSON body, signed (`X-Mlops-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of
  "<t>.<body>">`) when `MLOPS_WEBHOOK_SECRET` is set. A 2xx delivers; anything else (a status, a
  redirect, a timeout, a refused connection) schedules the next attempt after `backoff × 2^(attempts-1)`
  seconds plus a little jitter, until `MLOPS_WEBHOOK_ATTEMPTS`, then `failed`.
- One thread sends one delivery at a time, due ones oldest first: a receiver never sees two requests
  of ours at once, and a slow one delays only other deliveries (never alerts, requests or retrains).
  It polls the outbox (events are queued by routes, timers and job worker processes alike).
"""
from __future__ import annotations

import hashlib
import hmac
import random
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import httpx

from mlops_tui.contract.alerts import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    DeliveryStatus,
    NotifyConfig,
    NotifyEvent,
)

from ..clock import now_ms
from ..db import Database
from ..services import lifecycle
from ..services.webhooks import redact
from ..settings import Settings
from ..store import webhooks as store
from ..store.webhooks import Due, Notification

POLL_SECONDS = 0.5
"""How soon a queued event is noticed (at most)."""
PRUNE_SECONDS = 60.0
DAY_MS = 86_400_000
JITTER = 0.1
"""Up to this share is added to each backoff, so receivers that failed together are not retried together."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Mlops-Signature` value: `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def host_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """The URL's host is listed, alone (any port) or as `host:port` (the port as written, or the scheme's)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    listed = {entry.lower() for entry in hosts}
    return bool(host) and (host in listed or f"{host}:{port}" in listed)


def backoff_seconds(base: float, attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt: base, 2×base, 4×base, ... plus jitter."""
    return float(base * 2 ** (attempts - 1) * (1 + random.uniform(0, JITTER)))


class Deliverer:
    """Fans the outbox out and sends due deliveries, in one thread started and stopped with the server."""

    def __init__(self, db: Database, settings: Settings, poll_seconds: float = POLL_SECONDS) -> None:
        self.db = db
        self.settings = settings
        self.poll_seconds = min(poll_seconds, settings.control_interval_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)
        self._pruned_at = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.webhook_timeout_seconds + 5)

    def run_once(self, now: int | None = None) -> None:
        """Fan out what is queued, then send what is due at `now` (the thread's round, callable by tests)."""
        self.fan_out(now_ms() if now is None else now)
        self.send_due(now)

    # --- fan-out -------------------------------------------------------------------------------

    def fan_out(self, now: int) -> int:
        """Turn queued notifications into deliveries (one per target); how many notifications were done."""
        done = 0
        while notifications := store.waiting(self.db):
            notify_of: dict[str, NotifyConfig | None] = {}
            for notification in notifications:
                deliveries = [self._delivery(notification, url, why_not, now)
                              for url, why_not in self._targets(notification, notify_of)]
                with self.db.write() as conn:
                    store.fan_out(conn, notification, deliveries)
                done += 1
        return done

    def _targets(self, notification: Notification,
                 notify_of: dict[str, NotifyConfig | None]) -> list[tuple[str, str | None]]:
        """`(url, why it is not sent)` for each target of the event (the reason is None for a target sent to)."""
        targets: list[tuple[str, str | None]] = []
        if self.settings.webhook_url:
            targets.append((self.settings.webhook_url, None))
        if notification.name is None or notification.event == NotifyEvent.TEST:
            return targets
        if notification.name not in notify_of:
            found = lifecycle.of_model(self.db, notification.name)
            notify_of[notification.name] = found.notify if found else None
        config = notify_of[notification.name]
        if config is None or notification.event not in config.events or config.url == self.settings.webhook_url:
            return targets
        allowed = host_allowed(config.url, self.settings.webhook_hosts)
        why_not = None if allowed else (f"host of {redact(config.url)} is not in MLOPS_WEBHOOK_HOSTS: the "
                                        "server sends a pipeline file's [notify] url only to hosts listed there")
        return [*targets, (config.url, why_not)]

    @staticmethod
    def _delivery(notification: Notification, url: str, why_not: str | None, now: int) -> dict[str, object]:
        return {"id": uuid.uuid4().hex, "event": notification.event,
                "name": notification.name, "url": url, "body": notification.body,
                "status": (DeliveryStatus.FAILED if why_not else DeliveryStatus.PENDING).value,
                "last_error": why_not, "created_at": now, "next_attempt_at": None if why_not else now}

    # --- sending -------------------------------------------------------------------------------

    def send_due(self, now: int | None = None) -> int:
        """Attempt every delivery due at `now` (default: the clock at each batch); how many were attempted."""
        attempted = 0
        with httpx.Client(timeout=self.settings.webhook_timeout_seconds, follow_redirects=False) as http:
            while not self._stop.is_set() and (batch := store.due(self.db, now_ms() if now is None else now)):
                for delivery in batch:
                    if self._stop.is_set():
                        break
                    self._attempt(http, delivery, now)
                    attempted += 1
                if now is not None:
                    break
        return attempted

    def _attempt(self, http: httpx.Client, delivery: Due, now: int | None) -> None:
        """POST it once and record the outcome (at `now`, default: when the answer came): delivered, the
        next attempt's time, or failed."""
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "mlops-tui-webhooks",
                   EVENT_HEADER: delivery.event, DELIVERY_HEADER: delivery.id}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = signature(self.settings.webhook_secret, int(time.time()), body)
        code: int | None = None
        try:
            answer = http.post(delivery.url, content=body, headers=headers)
            code = answer.status_code
            error = None if answer.is_success else _refusal(answer)
        except httpx.TimeoutException:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except Exception as failure:  # refused, reset, a URL httpx cannot send to: a failed attempt all the same
            error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        attempts = delivery.attempts + 1
        now = now_ms() if now is None else now
        if error is None:
            status, next_at = DeliveryStatus.DELIVERED, None
        elif attempts >= self.settings.webhook_max_attempts:
            status, next_at = DeliveryStatus.FAILED, None
        else:
            status = DeliveryStatus.PENDING
            next_at = now + int(1000 * backoff_seconds(self.settings.webhook_backoff_seconds, attempts))
        store.record_attempt(self.db, delivery.id, status=status, attempts=attempts, status_code=code,
                             error=error, next_attempt_at=next_at,
                             delivered_at=now if status == DeliveryStatus.DELIVERED else None)

    # --- the thread ----------------------------------------------------------------------------

    def prune(self, now: int) -> int:
        """Forget fanned-out events and finished deliveries older than the monitoring retention."""
        return store.prune(self.db, now - int(self.settings.monitor_retention_days * DAY_MS))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                if time.monotonic() - self._pruned_at >= PRUNE_SECONDS:
                    self._pruned_at = time.monotonic()
                    self.prune(now_ms())
                wait = self.poll_seconds
                upcoming = store.next_due(self.db)
                if upcoming is not None:
                    wait = min(wait, max(0.0, (upcoming - now_ms()) / 1000))
            except Exception as error:  # the database is busy or closing: try again next round
                print(f"webhooks: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                wait = self.poll_seconds
            self._stop.wait(wait)


def _refusal(answer: httpx.Response) -> str:
    if answer.is_redirect:
        return f"HTTP {answer.status_code}: redirects are not followed (to {answer.headers.get('location', '?')})"
    return f"HTTP {answer.status_code}: {answer.text[:200]}"

