"""Webhook delivery end to end: a real backend (`python -m backend.server`) sends its events to real
HTTP receivers (`scripts/webhook_receiver.py`'s `Receiver`, in threads of the test) that verify every
signature.

- `hub` is the server's `MLOPS_WEBHOOK_URL` (every event); `team` and `impostor` are allowed `[notify]`
  hosts (`impostor` checks signatures with another secret, so it refuses every request); `stranger`'s
  host is not allowed.
- Events come from the live API (registrations, promotions, a rollback, the test route) and from
  `services.alerts.open_alert` run in this process on the server's database file (as a job's worker
  process would): the server's deliverer picks both up from the outbox.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from conftest import LiveServer, start_backend, stop_process, unique
from registry_support import tiny_model_files
from typer.testing import CliRunner

from backend.automation.webhooks import signature
from backend.db import Database
from backend.services.alerts import open_alert
from mlops_tui import Client
from mlops_tui.cli.main import app
from mlops_tui.contract.alerts import AlertKind, Delivery, DeliveryStatus
from scripts.webhook_receiver import Received, Receiver, verify

SECRET = "hub-secret"
ATTEMPTS = 3
BACKOFF = 0.1
T = TypeVar("T")


def until(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy (the deadline is generous: two busy cores)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


@dataclass
class Setup:
    server: LiveServer
    client: Client
    hub: Receiver
    team: Receiver
    impostor: Receiver
    stranger: Receiver
    files: dict[str, bytes]

    def register(self, name: str, notify: dict[str, Any] | None = None) -> int:
        """A new version of `name` from a run holding a real tiny model and a pipeline file with `notify`."""
        run = self.client.create_run("webhook-tests", name=unique("run"))
        pipeline = {"name": name, "notify": notify} if notify else {"name": name}
        for path, content in {**self.files, "pipeline.json": json.dumps(pipeline).encode()}.items():
            self.client.upload_artifact(run.id, path, content)
        return self.client.register_version(name, run.id).version

    def deliveries(self, name: str | None = None) -> list[Delivery]:
        return self.client.list_deliveries(model=name, limit=1000).deliveries

    def settled(self, name: str | None = None, count: int = 0) -> list[Delivery]:
        """The log (of `name`) once it holds `count` deliveries at least and none is pending (an event
        not fanned out yet has none)."""
        def done() -> tuple[list[Delivery]] | None:
            found = self.deliveries(name)
            finished = all(d.status != DeliveryStatus.PENDING for d in found)
            return (found,) if finished and len(found) >= count else None
        return until(done, what=f"{count} deliveries of {name} to finish")[0]


def start(receiver: Receiver) -> Receiver:
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    receivers = [start(Receiver(("127.0.0.1", 0), secret)) for secret in (SECRET, SECRET, "not-the-secret", SECRET)]
    hub, team, impostor, stranger = receivers
    home = tmp_path_factory.mktemp("webhooks-home")
    allowed = ",".join(f"127.0.0.1:{r.server_address[1]}" for r in (team, impostor))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"MLOPS_WEBHOOK_URL": hub.url, "MLOPS_WEBHOOK_SECRET": SECRET, "MLOPS_WEBHOOK_HOSTS": allowed,
                           "MLOPS_WEBHOOK_ATTEMPTS": str(ATTEMPTS), "MLOPS_WEBHOOK_BACKOFF": str(BACKOFF),
                           "MLOPS_WEBHOOK_TIMEOUT": "5", "MLOPS_CONTROL_INTERVAL": "0.2"}.items():
            patch.setenv(key, value)
        server = start_backend(home, home.parent / f"{home.name}.log")
    try:
        with Client(server.url, token="", timeout=60) as client:
            yield Setup(server, client, hub, team, impostor, stranger, tiny_model_files(home / "model"))
    finally:
        stop_process(server.process)
        for receiver in receivers:
            receiver.shutdown()
            receiver.server_close()


def seen(receiver: Receiver, model: str | None = None, event: str | None = None) -> list[Received]:
    with receiver.lock:
        found = list(receiver.received)
    return [r for r in found if (model is None or json.loads(r.body).get("model") == model)
            and (event is None or r.event == event)]


def test_an_alert_reaches_the_receiver_on_the_third_attempt_after_two_failures(setup: Setup) -> None:
    setup.settled()  # nothing of another test is pending: the hub's next two requests are this alert's
    with setup.hub.lock:
        setup.hub.fail_first = 2
    name = unique("alerted")
    db = Database(setup.server.db_path)
    try:
        alert = open_alert(db, model=name, rule="charges-drift", kind=AlertKind.DRIFT,
                           message="monthly_charges drifted (PSI 0.41 >= 0.25) in 3 of the last 3 15m windows")
    finally:
        db.close()
    assert alert is not None
    [delivery] = setup.settled(name, 1)
    tries = seen(setup.hub, name)
    assert [r.answered for r in tries] == [500, 500, 200]
    assert {r.delivery for r in tries} == {delivery.id}  # one delivery, retried
    assert len({r.body for r in tries}) == 1  # the same body (and so the same event id) every time
    body = json.loads(tries[0].body)
    assert body["event"] == "alert.opened" and body["id"] == delivery.event_id and body["model"] == name
    assert body["data"]["id"] == alert.id and body["data"]["rule"] == "charges-drift"
    assert all(verify(SECRET, r.body, r.signature) is None for r in tries)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert delivery.last_status_code == 200 and delivery.delivered_at is not None
    # the backoff doubles: BACKOFF after the first failure, 2 x BACKOFF after the second
    first, second, third = (r.at for r in tries)
    assert BACKOFF <= second - first < 10 * BACKOFF, second - first
    assert 2 * BACKOFF <= third - second < 20 * BACKOFF, third - second


def test_registrations_and_alias_moves_are_delivered_to_the_hub_and_to_the_models_notify_events(
        setup: Setup) -> None:
    name = unique("moved")
    notify = {"url": setup.team.url, "events": ["alias.moved"]}
    assert setup.register(name, notify) == 1
    setup.client.promote(name, 1, "production", force=True, reason="webhook test")
    assert setup.register(name, notify) == 2
    setup.client.promote(name, 2, "production", force=True, reason="webhook test")
    setup.client.rollback(name, "production", reason="webhook test")
    log = setup.settled(name, 8)
    assert len(log) == 8 and all(d.status == DeliveryStatus.DELIVERED for d in log), log
    hub = [json.loads(r.body) for r in seen(setup.hub, name)]
    assert [b["event"] for b in hub] == ["model.registered", "alias.moved", "model.registered", "alias.moved",
                                         "alias.moved"]
    assert [b["data"]["version"] for b in hub if b["event"] == "model.registered"] == [1, 2]
    moves = [(b["data"]["action"], b["data"]["from_version"], b["data"]["to_version"])
             for b in hub if b["event"] == "alias.moved"]
    assert moves == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]
    # the model's [notify] target gets only the events it asked for, signed as well
    team = seen(setup.team, name)
    assert [json.loads(r.body) for r in team] == [b for b in hub if b["event"] == "alias.moved"]
    assert all(r.answered == 200 for r in team)
    assert {d.url for d in log} == {setup.hub.url, setup.team.url}


def test_a_notify_url_whose_host_is_not_allowed_is_never_contacted(setup: Setup) -> None:
    name = unique("stranger")
    setup.register(name, {"url": setup.stranger.url})
    log = setup.settled(name, 2)
    refused = [d for d in log if d.url == setup.stranger.url]
    assert len(refused) == 1 and refused[0].status == DeliveryStatus.FAILED and refused[0].attempts == 0
    assert "MLOPS_WEBHOOK_HOSTS" in (refused[0].last_error or "")
    assert [d.status for d in log if d.url == setup.hub.url] == [DeliveryStatus.DELIVERED]
    assert seen(setup.stranger) == []


def test_a_receiver_that_always_refuses_ends_failed_after_the_last_attempt(setup: Setup) -> None:
    """The impostor checks signatures with another secret: every request is refused (401)."""
    name = unique("refused")
    setup.register(name, {"url": setup.impostor.url, "events": ["model.registered"]})
    log = setup.settled(name, 2)
    [failed] = [d for d in log if d.url == setup.impostor.url]
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == ATTEMPTS
    assert failed.last_status_code == 401 and failed.next_attempt_at is None
    tries = seen(setup.impostor, name)
    assert len(tries) == ATTEMPTS and all(r.answered == 401 for r in tries)
    assert all(r.problem and "does not match" in r.problem for r in tries)
    assert all(verify(SECRET, r.body, r.signature) is None for r in tries)  # signed, with the server's secret
    assert [d.status for d in log if d.url == setup.hub.url] == [DeliveryStatus.DELIVERED]


def test_the_cli_sends_a_test_event_and_shows_the_log(setup: Setup) -> None:
    runner = CliRunner()
    sent = runner.invoke(app, ["webhooks", "test", "--json", "--url", setup.server.url])
    assert sent.exit_code == 0, sent.output
    answer = json.loads(sent.stdout)
    assert answer["delivery"]["status"] == "delivered" and answer["delivery"]["event_id"] == answer["event"]["id"]
    [received] = [r for r in seen(setup.hub, event="webhook.test") if json.loads(r.body)["id"] == answer["event"]["id"]]
    assert received.answered == 200 and received.delivery == answer["delivery"]["id"]
    shown = runner.invoke(app, ["webhooks", "deliveries", "--status", "failed", "--json", "--url", setup.server.url])
    assert shown.exit_code == 0, shown.output
    assert all(d["status"] == "failed" for d in json.loads(shown.stdout)["deliveries"])
    table = runner.invoke(app, ["webhooks", "deliveries", "--url", setup.server.url], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "webhook.test" in table.stdout and "delivered" in table.stdout
    assert SECRET not in table.stdout and SECRET not in json.dumps(setup.client.list_deliveries().model_dump())
    bad = runner.invoke(app, ["webhooks", "deliveries", "--status", "lost", "--url", setup.server.url])
    assert bad.exit_code == 2 and "lost" in bad.output


def test_the_test_route_needs_a_configured_webhook(app_client: Any) -> None:
    answer = app_client.post("/api/v1/webhooks/test")
    assert answer.status_code == 409 and answer.json()["field"] == "webhook_url"
    assert app_client.get("/api/v1/webhooks/deliveries", params={"status": "lost"}).status_code == 422


def test_a_signature_verifies_only_with_its_secret_body_and_a_recent_timestamp() -> None:
    body = b'{"id":"e1","event":"alert.opened","time":1,"model":"m","data":{}}'
    now = int(time.time())
    header = signature(SECRET, now, body)
    assert verify(SECRET, body, header) is None
    assert verify("another-secret", body, header) is not None
    assert verify(SECRET, body.replace(b"m", b"n"), header) is not None  # a tampered body
    assert verify(SECRET, body, signature(SECRET, now - 301, body)) is not None  # replayed after 5 minutes
    assert verify(SECRET, body, header.replace(f"t={now}", f"t={now + 1}")) is not None  # another timestamp
    assert verify(SECRET, body, None) is not None
