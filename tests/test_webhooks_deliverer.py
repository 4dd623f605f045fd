"""The webhook deliverer's rules, round by round with an explicit clock: a real database file, real
receivers (in threads, and `scripts/webhook_receiver.py` as a process), `Deliverer.run_once(now)`.

The retry schedule, a restart in the middle of the retries, what is never sent (a host not allowed),
what is forgotten after the retention, and the receiver script the README and the demo use."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port

from backend.automation.webhooks import Deliverer, host_allowed, signature
from backend.db import Database
from backend.services import notify
from backend.services.webhooks import redact
from backend.settings import Settings
from backend.store import registry
from backend.store import webhooks as store
from mlops_tui.contract.alerts import DeliveryStatus, NotifyEvent
from scripts.webhook_receiver import Receiver, summary, verify

SECRET = "s3cret"
BACKOFF = 2.0
T0 = 1_800_000_000_000
DAY_MS = 86_400_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), SECRET)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def settings(home: Path, url: str, **more: object) -> Settings:
    fields = {"webhook_max_attempts": 4, "webhook_backoff_seconds": BACKOFF, "webhook_timeout_seconds": 5, **more}
    return Settings(home=home, token=None, webhook_url=url, webhook_secret=SECRET, **fields)


def test_retries_double_their_wait_and_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    db = Database(tmp_path / "mlops.db")
    event_id = notify.notify(db, NotifyEvent.TEST, None, {"message": "hello"})
    receiver.fail_first = 3
    first = Deliverer(db, settings(tmp_path, receiver.url))
    first.run_once(T0)
    [delivery] = store.listed(db)
    assert delivery.attempts == 1 and delivery.status == DeliveryStatus.PENDING and delivery.event_id == event_id
    # the next attempt after BACKOFF seconds (plus at most 10 % jitter): not before
    assert T0 + BACKOFF * 1000 <= (delivery.next_attempt_at or 0) <= T0 + BACKOFF * 1100
    first.run_once(T0 + int(BACKOFF * 1000) - 1)
    assert len(receiver.received) == 1
    # the server restarts: a new database connection, a new deliverer; the delivery is a row
    db.close()
    db = Database(tmp_path / "mlops.db")
    again = Deliverer(db, settings(tmp_path, receiver.url))
    now = delivery.next_attempt_at or 0
    waits = []
    for attempt in (2, 3):
        again.run_once(now)
        [delivery] = store.listed(db)
        assert delivery.attempts == attempt and delivery.last_status_code == 500
        waits.append((delivery.next_attempt_at or 0) - now)
        now = delivery.next_attempt_at or 0
    assert BACKOFF * 2000 <= waits[0] <= BACKOFF * 2200 and BACKOFF * 4000 <= waits[1] <= BACKOFF * 4400, waits
    again.run_once(now)
    [delivery] = store.listed(db)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 4 and delivery.delivered_at == now
    assert [r.answered for r in receiver.received] == [500, 500, 500, 200]
    assert {r.delivery for r in receiver.received} == {delivery.id}
    assert json.loads(receiver.received[-1].body)["id"] == event_id
    db.close()


def test_the_last_failed_attempt_ends_failed_and_nothing_is_sent_again(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlops.db")
    nowhere = f"http://127.0.0.1:{free_port()}/hook"
    deliverer = Deliverer(db, settings(tmp_path, nowhere))
    notify.notify(db, NotifyEvent.TEST, None, {})
    now = T0
    for _ in range(4):
        deliverer.run_once(now)
        now += 3_600_000
    [delivery] = store.listed(db)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 4 and delivery.next_attempt_at is None
    assert "Connect" in (delivery.last_error or "") and delivery.last_status_code is None
    deliverer.run_once(now + DAY_MS)
    assert store.listed(db)[0].attempts == 4
    db.close()


def test_a_model_event_goes_to_its_notify_url_only_when_the_host_is_allowed(tmp_path: Path,
                                                                             receiver: Receiver) -> None:
    """The global target and the model's are fanned out in one transaction; nothing when neither is set."""
    db = Database(tmp_path / "mlops.db")
    port = receiver.server_address[1]
    registry.insert_version(db, "m", {"run_id": "r", "model_path": "x", "sha256": "x", "size_bytes": 0, "pipeline_json":
                                      json.dumps({"notify": {"url": f"http://localhost:{port}/team"}})}, "tests")
    notify.notify(db, NotifyEvent.ALERT_OPENED, "m", {"rule": "r", "message": "hi"})
    Deliverer(db, Settings(home=tmp_path, token=None, webhook_secret=SECRET, webhook_hosts=("127.0.0.1",))).run_once(T0)
    [refused] = store.listed(db)
    assert refused.status == DeliveryStatus.FAILED and "MLOPS_WEBHOOK_HOSTS" in (refused.last_error or "")
    assert receiver.received == []
    notify.notify(db, NotifyEvent.ALERT_OPENED, "m", {"rule": "r", "message": "hi"})
    Deliverer(db, Settings(home=tmp_path, token=None, webhook_secret=SECRET, webhook_hosts=(f"localhost:{port}",))
              ).run_once(T0)
    assert store.listed(db)[0].status == DeliveryStatus.DELIVERED and len(receiver.received) == 1
    notify.notify(db, NotifyEvent.TEST, None, {})  # no global webhook: a test event has no target
    Deliverer(db, Settings(home=tmp_path, token=None, webhook_secret=SECRET, webhook_hosts=(f"localhost:{port}",))
              ).run_once(T0)
    assert len(store.listed(db)) == 2 and store.waiting(db) == []
    db.close()


def test_old_events_and_finished_deliveries_are_forgotten_after_the_retention(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlops.db")
    deliverer = Deliverer(db, settings(tmp_path, f"http://127.0.0.1:{free_port()}/", monitor_retention_days=2,
                                       webhook_max_attempts=1))
    for when in (T0, T0 + 3 * DAY_MS):
        with db.write() as conn:
            notify.queue(conn, NotifyEvent.TEST, None, {}, when)
        deliverer.run_once(when)
    assert [d.status for d in store.listed(db)] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]
    assert deliverer.prune(T0 + 4 * DAY_MS) == 2  # the first event's notification and delivery
    assert [d.created_at for d in store.listed(db)] == [T0 + 3 * DAY_MS]
    db.close()


def test_hosts_and_urls_as_the_allowlist_and_the_log_read_them() -> None:
    assert host_allowed("https://hooks.example.com/x", ("hooks.example.com",))
    assert host_allowed("https://Hooks.Example.com/x", ("hooks.example.com:443",))
    assert not host_allowed("http://hooks.example.com/x", ("hooks.example.com:443",))
    assert not host_allowed("http://hooks.example.com.evil.net/x", ("hooks.example.com",))
    assert not host_allowed("http://user@evil.net/@hooks.example.com", ("hooks.example.com",))
    assert not host_allowed("http://127.0.0.1:9/x", ())
    assert redact("https://user:pw@hooks.example.com:8443/services/x?token=abc") == \
        "https://hooks.example.com:8443/services/x?…"


def test_the_receiver_script_verifies_prints_and_fails_as_asked() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "webhook_receiver.py"), "--port", str(port),
                                "--secret", SECRET, "--fail-first", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"listening on http://127.0.0.1:{port}/")
        body = json.dumps({"id": "e1", "event": "alert.opened", "time": 1, "model": "churn",
                           "data": {"rule": "charges-drift", "message": "monthly_charges drifted"}}).encode()

        def post(content: bytes, secret: str = SECRET) -> int:
            header = signature(secret, int(time.time()), body)
            return httpx.post(f"http://127.0.0.1:{port}/", content=content, timeout=10,
                              headers={"X-Mlops-Signature": header, "X-Mlops-Event": "alert.opened"}).status_code

        assert [post(body), post(body), post(body + b" "), post(body, "wrong")] == [500, 200, 401, 401]
        lines = [process.stdout.readline().strip() for _ in range(4)]
        assert lines[1] == "alert.opened churn charges-drift: monthly_charges drifted"
        assert lines[0].startswith("failing") and lines[2].startswith("rejected") and "does not match" in lines[3]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert verify(SECRET, body, signature(SECRET, int(time.time()), body)) is None


def test_the_receiver_says_who_resolved_or_acknowledged_an_alert_and_why() -> None:
    """An alert's `message` is the one it opened with: a resolved or acknowledged event says who and why."""
    alert = {"rule": "charges-drift", "message": "monthly_charges drifted (PSI 0.41 ≥ 0.25)", "resolved_by": "system",
             "note": "cleared: monthly_charges within bounds", "acknowledged_by": "alice"}
    assert summary({"event": "alert.resolved", "model": "churn", "data": alert}) == \
        "alert.resolved churn charges-drift by system: cleared: monthly_charges within bounds"
    assert summary({"event": "alert.acknowledged", "model": "churn", "data": alert}) == \
        "alert.acknowledged churn charges-drift by alice: monthly_charges drifted (PSI 0.41 ≥ 0.25)"


class Redirect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(307)
        self.send_header("Location", self.server.target)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_redirect_is_not_followed_and_a_silent_receiver_times_out(tmp_path: Path, receiver: Receiver) -> None:
    redirect = HTTPServer(("127.0.0.1", 0), Redirect)
    redirect.target = receiver.url  # type: ignore[attr-defined]
    threading.Thread(target=redirect.serve_forever, daemon=True).start()
    silent = socket.socket()  # listens (the kernel completes the connection) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    db = Database(tmp_path / "mlops.db")
    try:
        for url in (f"http://127.0.0.1:{redirect.server_address[1]}/", f"http://127.0.0.1:{silent.getsockname()[1]}/"):
            notify.notify(db, NotifyEvent.TEST, None, {})
            Deliverer(db, settings(tmp_path, url, webhook_timeout_seconds=0.5)).run_once(T0)
        silent_one, redirected = store.listed(db)
        assert redirected.last_status_code == 307 and "not followed" in (redirected.last_error or "")
        assert receiver.received == []
        assert silent_one.last_status_code is None and "no answer within 0.5 s" in (silent_one.last_error or "")
        assert silent_one.status == DeliveryStatus.PENDING and silent_one.attempts == 1
    finally:
        db.close()
        silent.close()
        redirect.shutdown()
        redirect.server_close()
