"""Alert rules evaluated against real traffic (records with past timestamps, on the in-process app with
a real SQLite file): each kind opens on a breach and resolves when it clears; "N of the last M"
windows; the cooldown; never a duplicate when evaluators race; the lifecycle through the routes
(ack, resolve, 404/409/422) with what webhooks are told."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alerts_support import START, WINDOW, alerts_of, inputs, register, rule, traffic
from conftest import CLIENT_HEADERS
from fastapi.testclient import TestClient
from monitoring_support import MINUTE

from backend import Settings, create_app
from backend.automation.alerting import evaluate, spans
from backend.db import Database


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app without its own timer: the tests drive the evaluator with an explicit `now`."""
    home = tmp_path_factory.mktemp("alerts-home")
    app = create_app(Settings(home=home, token=None, automation=False))
    with TestClient(app, raise_server_exceptions=False, headers=CLIENT_HEADERS) as client:
        yield client


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model")


def db_of(client: TestClient) -> Database:
    return client.app.state.db  # type: ignore[attr-defined, no-any-return]


def at(minutes: int) -> int:
    return START + minutes * MINUTE


def run(client: TestClient, minutes: int) -> None:
    evaluate(db_of(client), at(minutes))


def only(client: TestClient, name: str) -> dict[str, Any]:
    found = alerts_of(client, name)
    assert len(found) == 1, found
    return found[0]


# --- windows ---------------------------------------------------------------------------------------


def test_windows_lie_back_to_back_the_latest_ending_now() -> None:
    found = spans(at(15), WINDOW, 3)
    assert [(s.start, s.end) for s in found] == [(at(10), at(15) + 1), (at(5), at(10)), (at(0), at(5))]
    assert spans(at(15) + 30_000, 90_000, 1)[0].start == at(13), "a window is whole minutes (90s → 2m)"


# --- each kind opens on a breach and resolves when it clears -----------------------------------


KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    # kind: (rule fields, breaching traffic, clearing traffic)
    "drift": ({"feature": "age", "threshold": 0.25},
              {"inputs": inputs(200, 1, shifted=True)}, {"inputs": inputs(200, 2)}),
    "drift_monitor_status": ({},  # no feature, no threshold: any feature the monitor calls `drift`
                             {"inputs": inputs(200, 3, shifted=True)}, {"inputs": inputs(200, 4)}),
    "prediction_drift": ({"threshold": 0.5}, {"inputs": inputs(200, 5), "outputs": [1]},
                         {"inputs": inputs(200, 6), "outputs": [0, 0, 0, 1]}),
    "latency_p95": ({"threshold": 250}, {"latency_ms": 800.0}, {"latency_ms": 12.0}),
    "error_rate": ({"threshold": 0.2}, {"failed": True}, {}),
}


@pytest.mark.parametrize("case", list(KINDS))
def test_each_traffic_kind_opens_on_a_breach_and_resolves_when_it_clears(client: TestClient, folder: Path,
                                                                         case: str) -> None:
    fields, breaching, clearing = KINDS[case]
    kind = "drift" if case.startswith("drift") else case
    name = register(client, folder, [rule("watch", kind, **fields)])
    traffic(client, name, at(0), 5, **breaching)
    run(client, 5)
    alert = only(client, name)
    assert (alert["status"], alert["kind"], alert["rule"], alert["alias"], alert["version"]) == \
        ("open", kind, "watch", "production", 1)
    assert alert["window_start"] == at(0) and alert["opened_at"] == at(5)
    assert "in 1 of the last 1 5m window" in alert["message"], alert["message"]
    if kind == "drift":
        assert alert["message"].startswith("age drifted (PSI "), alert["message"]
        assert alert["value"] >= alert["threshold"] >= 0.25
    traffic(client, name, at(5), 5, **clearing)
    run(client, 10)
    alert = only(client, name)
    assert (alert["status"], alert["resolved_by"], alert["resolved_at"]) == ("resolved", "system", at(10))
    assert alert["note"].startswith("cleared: "), alert["note"]


def test_no_traffic_opens_on_a_quiet_window_and_resolves_when_requests_come(client: TestClient,
                                                                             folder: Path) -> None:
    name = register(client, folder, [rule("quiet", "no_traffic", severity="critical")])
    traffic(client, name, at(0), 5, per_minute=2)
    run(client, 5)
    assert alerts_of(client, name) == []
    run(client, 11)  # nothing since minute 5
    alert = only(client, name)
    assert (alert["status"], alert["severity"], alert["value"]) == ("open", "critical", 0.0)
    assert alert["message"] == "no requests through production in 1 of the last 1 5m window"
    traffic(client, name, at(11), 1, per_minute=1)
    run(client, 12)
    assert only(client, name)["status"] == "resolved"


def test_live_accuracy_from_feedback_labels_opens_and_resolves(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("accurate", "accuracy", threshold=0.8, min_rows=10)])
    wrong = traffic(client, name, at(0), 5, per_minute=4, outputs=[1])
    client.post(f"/api/v1/models/{name}/feedback",
                json={"labels": [{"request_id": i, "label": 0 if n % 2 else 1} for n, i in enumerate(wrong)]}
                ).raise_for_status()
    run(client, 5)
    alert = only(client, name)
    assert alert["message"].startswith("live accuracy 0.500 < 0.8"), alert["message"]
    assert alert["value"] == pytest.approx(0.5)
    right = traffic(client, name, at(5), 5, per_minute=4, outputs=[1])
    client.post(f"/api/v1/models/{name}/feedback", json={"labels": [{"request_id": i, "label": 1} for i in right]}
                ).raise_for_status()
    run(client, 10)
    alert = only(client, name)
    assert alert["status"] == "resolved" and alert["last_value"] == pytest.approx(1.0)


def test_estimated_accuracy_before_labels_opens_and_resolves(client: TestClient, folder: Path) -> None:
    """Without labels, the accuracy is the one estimated from the served probabilities: unsure ones
    (0.5 / 0.5) estimate a low accuracy, confident ones a high one."""
    name = register(client, folder, [rule("estimated", "accuracy", threshold=0.7, min_rows=20)])
    traffic(client, name, at(0), 5, inputs=inputs(100, 7), outputs=[1], probabilities=[[0.5, 0.5]])
    run(client, 5)
    alert = only(client, name)
    assert alert["message"].startswith("estimated accuracy "), alert["message"]
    assert alert["value"] < 0.7
    traffic(client, name, at(5), 5, inputs=inputs(100, 8), outputs=[0], probabilities=[[0.99, 0.01]])
    run(client, 10)
    assert only(client, name)["status"] == "resolved"


def test_live_rmse_of_a_regressor_opens_and_resolves(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("rmse", "rmse", threshold=2.0, min_rows=5)], task="regression",
                    with_profile=False)
    far = traffic(client, name, at(0), 5, per_minute=2, outputs=[10.5])
    client.post(f"/api/v1/models/{name}/feedback", json={"labels": [{"request_id": i, "label": 4.5} for i in far]}
                ).raise_for_status()
    run(client, 5)
    alert = only(client, name)
    assert alert["value"] == pytest.approx(6.0) and alert["message"].startswith("live RMSE 6 > 2")
    near = traffic(client, name, at(5), 5, per_minute=2, outputs=[10.5])
    client.post(f"/api/v1/models/{name}/feedback", json={"labels": [{"request_id": i, "label": 10.0} for i in near]}
                ).raise_for_status()
    run(client, 10)
    assert only(client, name)["status"] == "resolved"


def test_too_few_rows_never_breach(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("slow", "latency_p95", threshold=100, min_rows=50),
                                     rule("drifting", "drift", threshold=0.25)])  # [monitor] min_rows = 50
    traffic(client, name, at(0), 5, per_minute=4, latency_ms=900.0, inputs=inputs(20, 9, shifted=True))
    run(client, 5)
    assert alerts_of(client, name) == []


def test_silence_does_not_clear_an_alert_traffic_that_does_not_breach_does(client: TestClient,
                                                                             folder: Path) -> None:
    """A window with too few rows cannot tell: the alert stays open (a retrain triggered by it, or the
    operator, still sees it) until windows with enough rows stop breaching."""
    name = register(client, folder, [rule("drifting", "drift", feature="age", threshold=0.25)])
    traffic(client, name, at(0), 5, inputs=inputs(200, 10, shifted=True))
    run(client, 5)
    assert only(client, name)["status"] == "open"
    traffic(client, name, at(5), 5, per_minute=2, inputs=inputs(10, 11))  # 10 rows < [monitor] min_rows
    run(client, 10)
    assert only(client, name)["status"] == "open"
    traffic(client, name, at(10), 5, inputs=inputs(200, 12))
    run(client, 15)
    assert only(client, name)["status"] == "resolved"


def test_a_rule_on_an_alias_that_points_nowhere_is_not_evaluated(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("staging-quiet", "no_traffic", alias="staging")])
    run(client, 11)
    assert alerts_of(client, name) == []


# --- N of the last M, cooldown, duplicates ---------------------------------------------------------


def test_one_noisy_window_does_not_open_two_of_three_do(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("slow", "latency_p95", threshold=250, min_breaches=2, of_windows=3)])
    traffic(client, name, at(0), 5, latency_ms=10.0)
    traffic(client, name, at(5), 5, latency_ms=900.0)  # one noisy window
    traffic(client, name, at(10), 5, latency_ms=10.0)
    run(client, 15)
    assert alerts_of(client, name) == [], "1 breaching window of 3 is noise"
    traffic(client, name, at(15), 5, latency_ms=900.0)
    run(client, 20)  # windows: 5-10 breach, 10-15 ok, 15-20 breach
    alert = only(client, name)
    assert "in 2 of the last 3 5m windows" in alert["message"], alert["message"]
    assert alert["window_start"] == at(5), "from the earliest breaching window"
    traffic(client, name, at(20), 5, latency_ms=10.0)
    run(client, 25)  # 10-15 ok, 15-20 breach, 20-25 ok
    assert only(client, name)["status"] == "resolved"


def test_an_active_alert_keeps_its_latest_value(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("slow", "latency_p95", threshold=250)])
    traffic(client, name, at(0), 5, latency_ms=400.0)
    run(client, 5)
    traffic(client, name, at(5), 5, latency_ms=2000.0)
    run(client, 10)
    alert = only(client, name)
    assert alert["status"] == "open" and alert["evaluated_at"] == at(10)
    assert alert["value"] == pytest.approx(400, rel=0.1) and alert["last_value"] == pytest.approx(2000, rel=0.1)


def test_no_new_alert_within_the_cooldown_one_after_it(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("slow", "latency_p95", threshold=250, cooldown="10m")])
    traffic(client, name, at(0), 5, latency_ms=900.0)
    run(client, 5)
    traffic(client, name, at(5), 5, latency_ms=10.0)
    run(client, 10)  # resolved at minute 10
    traffic(client, name, at(10), 5, latency_ms=900.0)
    run(client, 15)
    assert [a["status"] for a in alerts_of(client, name)] == ["resolved"], "5 minutes after: still cooling down"
    traffic(client, name, at(15), 5, latency_ms=900.0)
    run(client, 20)
    assert [a["status"] for a in alerts_of(client, name)] == ["open", "resolved"]


def test_racing_evaluators_open_one_alert(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("slow", "latency_p95", threshold=250)])
    traffic(client, name, at(0), 5, latency_ms=900.0)
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def evaluator() -> None:
        start.wait()
        try:
            for _ in range(3):
                run(client, 5)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=evaluator) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(alerts_of(client, name)) == 1
    with db_of(client).read() as conn:
        told = conn.execute("SELECT count(*) FROM notifications WHERE name = ? AND event = 'alert.opened'",
                            (name,)).fetchone()[0]
    assert told == 1


def test_an_alert_whose_rule_left_the_pipeline_file_resolves(client: TestClient, folder: Path) -> None:
    name = register(client, folder, [rule("quiet", "no_traffic")])
    run(client, 5)
    assert only(client, name)["status"] == "open"
    run_id = client.post("/api/v1/runs", json={"experiment_id": client.post(
        "/api/v1/experiments", json={"name": f"{name}-2"}).json()["id"]}).json()["id"]
    from alerts_support import model_files
    for path, content in model_files(folder, []).items():
        client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).raise_for_status()
    client.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id}).raise_for_status()
    run(client, 6)
    alert = only(client, name)
    assert alert["status"] == "resolved" and "no longer in the model's pipeline file" in alert["note"]


# --- the lifecycle through the routes ------------------------------------------------------------


def opened(client: TestClient, folder: Path, severity: str = "warning") -> tuple[str, dict[str, Any]]:
    name = register(client, folder, [rule("quiet", "no_traffic", cooldown="1h", severity=severity)])
    run(client, 5)
    return name, only(client, name)


def told(client: TestClient, name: str) -> list[tuple[str, dict[str, Any]]]:
    with db_of(client).read() as conn:
        found = conn.execute("SELECT event, body FROM notifications WHERE name = ? AND event LIKE 'alert.%' "
                             "ORDER BY created_at, rowid", (name,)).fetchall()
    return [(event, json.loads(body)["data"]) for event, body in found]


def test_acknowledge_then_resolve_by_hand_with_actor_and_note(client: TestClient, folder: Path) -> None:
    name, alert = opened(client, folder)
    path = f"/api/v1/alerts/{alert['id']}"
    acked = client.post(f"{path}/ack", json={"note": "looking"}, headers={"X-Mlops-User": "bob"})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["acknowledged_by"], acked.json()["note"]) == \
        ("acknowledged", "bob", "looking")
    again = client.post(f"{path}/ack", json={}, headers={"X-Mlops-User": "carol"})
    assert again.status_code == 200 and again.json() == acked.json(), "acknowledging twice changes nothing"
    run(client, 7)  # still quiet: an acknowledged alert stays, the rule opens no other
    assert only(client, name)["status"] == "acknowledged"
    resolved = client.post(f"{path}/resolve", json={"note": "replica restarted"}, headers={"X-Mlops-User": "carol"})
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolved_by"], body["note"]) == ("resolved", "carol", "looking\nreplica restarted")
    assert client.get(path).json() == body
    events = told(client, name)
    assert [event for event, _ in events] == ["alert.opened", "alert.acknowledged", "alert.resolved"]
    assert events[1][1]["acknowledged_by"] == "bob" and events[2][1] == body
    run(client, 9)  # still quiet, but within the 1h cooldown of a resolve by hand
    assert len(alerts_of(client, name)) == 1


def test_lifecycle_errors_name_the_field(client: TestClient, folder: Path) -> None:
    _, alert = opened(client, folder)
    path = f"/api/v1/alerts/{alert['id']}"
    for body in ({}, {"note": "  "}):
        refused = client.post(f"{path}/resolve", json=body)
        assert refused.status_code == 422 and refused.json()["field"] == "note", refused.text
    assert client.post(f"{path}/resolve", json={"note": "done"}).status_code == 200
    for action, body in (("resolve", {"note": "again"}), ("ack", {})):
        refused = client.post(f"{path}/{action}", json=body)
        assert refused.status_code == 409 and refused.json()["field"] == "status", refused.text
    missing = client.get("/api/v1/alerts/nope")
    assert missing.status_code == 404 and missing.json()["field"] == "alert_id"
    assert client.post("/api/v1/alerts/nope/ack", json={}).json()["field"] == "alert_id"
    bad = client.get("/api/v1/alerts", params={"status": "closed"})
    assert bad.status_code == 422 and bad.json()["field"] == "status", bad.text
    bad = client.get("/api/v1/alerts", params={"model": "no/such"})
    assert bad.status_code == 422 and bad.json()["field"] == "model", bad.text


def test_listing_puts_open_first_and_the_summary_counts(client: TestClient, folder: Path) -> None:
    before = client.get("/api/v1/alerts/summary").json()
    first, a = opened(client, folder, "critical")
    second, b = opened(client, folder)
    third, c = opened(client, folder)
    client.post(f"/api/v1/alerts/{a['id']}/ack", json={}).raise_for_status()
    client.post(f"/api/v1/alerts/{b['id']}/resolve", json={"note": "known"}).raise_for_status()
    listed = [x["id"] for x in client.get("/api/v1/alerts").json()["alerts"] if x["model"] in (first, second, third)]
    assert listed == [c["id"], a["id"], b["id"]]
    active = {x["id"] for x in client.get("/api/v1/alerts", params={"status": "active"}).json()["alerts"]}
    assert {a["id"], c["id"]} <= active and b["id"] not in active
    assert [x["id"] for x in alerts_of(client, first, "acknowledged")] == [a["id"]]
    after = client.get("/api/v1/alerts/summary").json()
    assert (after["open"] - before["open"], after["acknowledged"] - before["acknowledged"],
            after["critical"] - before["critical"]) == (1, 1, 1)
