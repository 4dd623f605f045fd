"""Continuous training against a real backend with real jobs: each trigger kind (by hand, a drift alert,
the cron schedule, a new dataset version) starts a training job in a worker process; the registered
version goes to `staging` through the gates, then to `production` (`auto_promote`), to an approval
request, or stays staged. Coalescing, the guards and the circuit breaker too.

The server's timer is driven by the test (`tick(client, now)` with an explicit time); each model starts
from version 1 cloned from one model trained once in this process, so each scenario trains once
(the breaker's, three times).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import unique
from fastapi.testclient import TestClient
from retrain_support import (
    CHURN_CSV,
    HOUR,
    MINUTE,
    add_data,
    backend,
    clone,
    files_fixture,  # noqa: F401  (the session's trained model files: `files`)
    follow,
    new_model,
    pipeline,
    retrains,
    tick,
    wait_for,
)

from backend.services import shadow
from backend.services.alerts import open_alert
from backend.services.retrain import baseline
from backend.store import retrains as retrain_store
from mlops_tui.contract import now_ms
from mlops_tui.contract.alerts import AlertKind
from mlops_tui.contract.cron import next_after
from mlops_tui.contract.retrain import Retrain, RetrainStatus, RetrainTrigger


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with backend(tmp_path_factory.mktemp("retrain-home")) as found:
        yield found


def aliases(client: TestClient, model: str) -> dict[str, int]:
    return client.get(f"/api/v1/models/{model}").raise_for_status().json()["aliases"]  # type: ignore[no-any-return]


def jobs_of(client: TestClient, model: str) -> list[dict[str, Any]]:
    found = client.get("/api/v1/jobs", params={"limit": 1000}).raise_for_status().json()["jobs"]
    return [job for job in found if job["name"] == model]


def outbox(client: TestClient, model: str) -> list[str]:
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.read() as conn:
        return [row[0] for row in conn.execute("SELECT event FROM notifications WHERE name = ? ORDER BY created_at",
                                               (model,))]


def fire(client: TestClient, model: str, **body: Any) -> dict[str, Any]:
    return client.post(f"/api/v1/models/{model}/retrain", json=body).raise_for_status().json()  # type: ignore[no-any-return]


def test_by_hand_auto_promote_moves_staging_and_production_then_the_cooldown_holds(client: TestClient,
                                                                                      files: Path) -> None:
    model, ref = new_model(client, files, 'auto_promote = true\nmin_interval = "1h"')
    answer = fire(client, model)
    event = answer["retrain"]
    assert event["status"] == "running" and event["trigger"] == "manual" and event["job_id"]
    assert answer["plan"]["dataset"] == ref and answer["plan"]["promote"] == ["staging", "production"]
    done = follow(client, model, event["id"], now_ms())
    assert done["status"] == "promoted", done["reason"]
    assert done["version"] == 2 and done["promoted_to"] == ["staging", "production"]
    assert done["report"]["alias"] == "production" and done["report"]["passed"]
    assert aliases(client, model) == {"staging": 2, "production": 2}
    moves = client.get(f"/api/v1/models/{model}/events").json()["events"]
    assert {e["actor"] for e in moves if e["action"] == "promote"} == {f"retrain:{event['id']}"}
    assert outbox(client, model).count("retrain.started") == 1 and "retrain.finished" in outbox(client, model)
    # the cooldown: fired again at once, nothing starts, and the answer names the guard
    again = fire(client, model)
    assert again["retrain"]["status"] == "skipped" and again["retrain"]["reason"].startswith("cooldown:")
    assert not again["plan"]["would_start"] and len(jobs_of(client, model)) == 1


def test_a_drift_alert_fires_once_coalesces_the_others_and_opens_an_approval_request(client: TestClient,
                                                                                        files: Path) -> None:
    model, ref = new_model(client, files, 'on_drift = ["drifting"]\nmin_interval = "1m"')
    client.post(f"/api/v1/models/{model}/promote", json={"version": 1, "alias": "production"}).raise_for_status()
    alert = open_alert(client.app.state.db, model=model, rule="drifting", kind=AlertKind.DRIFT,  # type: ignore[attr-defined]
                       message="plan drifted")
    assert alert is not None
    now = now_ms()
    tick(client, now)
    first = retrains(client, model)
    assert [(r["trigger"], r["status"], r["alert_id"]) for r in first] == [("drift", "running", alert.id)]
    # while it runs: the same alert does not fire again, a retrain by hand is folded into it
    tick(client, now + 1000)
    by_hand = fire(client, model)["retrain"]
    assert by_hand["status"] == "coalesced" and first[0]["id"] in by_hand["reason"]
    assert len(retrains(client, model)) == 2 and len(jobs_of(client, model)) == 1
    done = follow(client, model, first[0]["id"], now + 2000)
    assert done["status"] == "awaiting_approval", done["reason"]
    assert aliases(client, model) == {"staging": 2, "production": 1}
    requests = client.get(f"/api/v1/models/{model}/requests").json()["requests"]
    assert [(r["alias"], r["version"], r["status"], r["requester"]) for r in requests] == [
        ("production", 2, "PENDING", f"retrain:{done['id']}")]
    assert done["request_id"] == requests[0]["id"] and done["dataset"] == ref
    tick(client, now + 2 * MINUTE)  # the alert is still open, but it already triggered
    assert len(retrains(client, model)) == 2 and len(jobs_of(client, model)) == 1


def test_the_schedule_fires_once_for_missed_slots_and_stays_staged_without_production(client: TestClient,
                                                                                         files: Path) -> None:
    model, _ = new_model(client, files, 'schedule = "0 3 * * *"\nmin_interval = "1m"')
    registered = client.get(f"/api/v1/models/{model}/versions/1").json()["created_at"]
    before = client.get(f"/api/v1/models/{model}/lifecycle").json()
    assert before["state"]["next_schedule_at"] == next_after("0 3 * * *", registered)
    tick(client, before["state"]["next_schedule_at"] - 1)  # not due yet
    assert retrains(client, model) == []
    later = registered + 3 * 24 * HOUR  # the server was away for three 03:00 slots: one retrain
    tick(client, later)
    tick(client, later + 1000)
    found = retrains(client, model)
    assert [(r["trigger"], r["status"]) for r in found] == [("schedule", "running")]
    assert "0 3 * * *" in found[0]["detail"] and "+2 missed slots" in found[0]["detail"]
    done = follow(client, model, found[0]["id"], later + 2000)
    assert done["status"] == "staged", done["reason"]
    assert aliases(client, model) == {"staging": 2}
    state = client.get(f"/api/v1/models/{model}/lifecycle").json()["state"]
    assert state["schedule_checked_at"] >= later and state["next_schedule_at"] == next_after("0 3 * * *",
                                                                                              state["schedule_checked_at"])


def test_new_data_below_min_new_rows_is_skipped_once_then_a_bigger_version_trains(client: TestClient,
                                                                                    files: Path) -> None:
    model, ref = new_model(client, files, 'on_new_data = true\nmin_new_rows = 500\nauto_promote = true\n'
                                          'min_interval = "1m"', rows=2000)
    dataset = ref.split("@")[0]
    small = add_data(client, dataset, 2200)
    now = now_ms()
    tick(client, now)
    tick(client, now + 1000)  # still true: not recorded again
    skipped = retrains(client, model)
    assert [(r["trigger"], r["status"], r["detail"]) for r in skipped] == [("new_data", "skipped", small)]
    assert skipped[0]["reason"].startswith("min_new_rows: 200 new rows")
    bigger = add_data(client, dataset, 3000)
    tick(client, now + 2000)
    started = retrains(client, model)[0]
    assert (started["trigger"], started["status"], started["dataset"]) == ("new_data", "running", bigger)
    assert jobs_of(client, model)[0]["dataset"] == bigger
    # data arriving while it runs is folded into it (recorded once), and trained on once it ended
    latest = add_data(client, dataset, 4000)
    tick(client, now + 3000)
    tick(client, now + 4000)
    assert [(r["status"], r["detail"]) for r in retrains(client, model)][:1] == [("coalesced", latest)]
    assert len(retrains(client, model)) == 3 and len(jobs_of(client, model)) == 1
    done = follow(client, model, started["id"], now + 5000)
    assert done["status"] == "promoted", done["reason"]
    version = client.get(f"/api/v1/models/{model}/versions/2").json()
    assert version["dataset"] == bigger and aliases(client, model) == {"staging": 2, "production": 2}
    tick(client, now + 2 * MINUTE)  # past the cooldown: the folded version trains now
    again = retrains(client, model)[0]
    assert (again["trigger"], again["status"], again["dataset"]) == ("new_data", "running", latest)
    assert client.get(f"/api/v1/models/{model}/lifecycle").json()["state"]["last_dataset"] == latest
    # a cancelled job fails its retrain, naming why
    client.post(f"/api/v1/jobs/{again['job_id']}/cancel").raise_for_status()
    failed = follow(client, model, again["id"], now + 3 * MINUTE)
    assert failed["status"] == "failed" and "cancelled" in failed["reason"].lower(), failed["reason"]
    assert aliases(client, model) == {"staging": 2, "production": 2}


def test_rejected_candidates_pause_the_policy_and_a_forced_success_resumes_it(client: TestClient,
                                                                               files: Path) -> None:
    retrain = 'on_drift = ["drifting"]\nmax_rejections = 2\nmin_interval = "1s"\nauto_promote = true'
    model, ref = new_model(client, files, retrain, min_auc=0.99)
    now = now_ms()
    for count in (1, 2):
        event = fire(client, model)["retrain"]
        done = follow(client, model, event["id"], now)
        assert done["status"] == "rejected" and "min_roc_auc" in done["reason"], done["reason"]
        state = client.get(f"/api/v1/models/{model}/lifecycle").json()
        assert state["state"]["consecutive_rejections"] == count
    assert state["state"]["paused"] is True
    paused = [a for a in state["open_alerts"] if a["kind"] == "retrain_paused"]
    assert len(paused) == 1 and paused[0]["severity"] == "critical" and paused[0]["rule"] == "retrain-paused"
    # paused: by hand and by the timer, nothing starts; the timer's trigger is recorded once
    assert fire(client, model)["retrain"]["reason"].startswith("paused:")
    open_alert(client.app.state.db, model=model, rule="drifting", kind=AlertKind.DRIFT,  # type: ignore[attr-defined]
               message="drift while paused")
    tick(client, now_ms())
    tick(client, now_ms())
    held = [r for r in retrains(client, model) if r["trigger"] == "drift"]
    assert [(r["status"], r["reason"].split(":")[0]) for r in held] == [("skipped", "paused")]
    assert len(jobs_of(client, model)) == 2
    # a version whose pipeline passes the gates, then a forced retrain: it passes and un-pauses
    clone(client, files, model, pipeline(model, ref, retrain, min_auc=0.6), ref)
    forced = fire(client, model, force=True)["retrain"]
    assert forced["status"] == "running" and forced["forced"]
    done = follow(client, model, forced["id"], now_ms())
    assert done["status"] == "promoted", done["reason"]
    after = client.get(f"/api/v1/models/{model}/lifecycle").json()
    assert after["state"]["paused"] is False and after["state"]["consecutive_rejections"] == 0
    assert not [a for a in after["open_alerts"] if a["kind"] == "retrain_paused"]
    assert "alert.resolved" in outbox(client, model)


def test_a_shadow_policy_shadows_staging_on_live_traffic_before_production(client: TestClient, files: Path) -> None:
    model, _ = new_model(client, files, 'shadow = "1s"\nshadow_min_rows = 20\nauto_promote = true\n'
                                        'min_interval = "1m"')
    client.post(f"/api/v1/models/{model}/promote", json={"version": 1, "alias": "production"}).raise_for_status()
    event = fire(client, model)["retrain"]
    now = now_ms()
    shadowing = follow(client, model, event["id"], now)
    assert shadowing["status"] == "shadowing", shadowing["reason"]
    assert shadowing["promoted_to"] == ["staging"] and shadowing["shadow_since"] == now
    assert aliases(client, model) == {"staging": 2, "production": 1}
    assert fire(client, model)["retrain"]["status"] == "coalesced"  # a shadowing retrain is still active
    tick(client, now + 5000)  # the period is over, but no request was shadowed yet: it waits
    assert client.get(f"/api/v1/models/{model}/retrains/{event['id']}").json()["status"] == "shadowing"
    rows = pd.read_csv(CHURN_CSV).drop(columns=["churned"]).head(40)
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    client.post(f"/api/v1/models/{model}/aliases/production/predict", json=payload).raise_for_status()

    def judged() -> dict[str, Any] | None:
        tick(client, now + 10_000)
        found: dict[str, Any] = client.get(f"/api/v1/models/{model}/retrains/{event['id']}").json()
        return found if found["status"] != "shadowing" else None

    done = wait_for(judged, timeout=60)
    assert done["status"] == "promoted", done["reason"]
    assert done["promoted_to"] == ["staging", "production"] and aliases(client, model) == {"staging": 2,
                                                                                           "production": 2}


def shadowing_retrain(client: TestClient, files: Path, now: int) -> tuple[str, str]:
    """A model whose version 2 (a retrain's, recorded as such) runs in staging in shadow of version 1."""
    retrain = 'shadow = "1h"\nauto_promote = true'
    model, ref = new_model(client, files, retrain)
    clone(client, files, model, pipeline(model, ref, retrain), ref)
    for version, alias in ((1, "production"), (2, "staging")):
        client.post(f"/api/v1/models/{model}/promote", json={"version": version, "alias": alias}).raise_for_status()
    db = client.app.state.db  # type: ignore[attr-defined]
    event = Retrain(id=unique("r"), model=model, trigger=RetrainTrigger.MANUAL, status=RetrainStatus.SHADOWING,
                    actor="alice", version=2, promoted_to=["staging"], shadow_since=now, created_at=now,
                    updated_at=now)
    with db.write() as conn:
        assert retrain_store.insert(conn, event)
    shadow.start(db, model, 2, retrain_id=event.id)
    return model, event.id


def test_moving_the_aliases_by_hand_during_a_shadow_decides_it(client: TestClient, files: Path) -> None:
    now = now_ms()
    abandoned, first = shadowing_retrain(client, files, now)
    client.post(f"/api/v1/models/{abandoned}/promote", json={"version": 1, "alias": "staging"}).raise_for_status()
    tick(client, now + 1000)
    ended = client.get(f"/api/v1/models/{abandoned}/retrains/{first}").json()
    assert ended["status"] == "failed" and "staging was moved to version 1" in ended["reason"], ended["reason"]
    assert client.get(f"/api/v1/models/{abandoned}/shadow").status_code == 404  # the shadow stopped
    promoted, second = shadowing_retrain(client, files, now)
    client.post(f"/api/v1/models/{promoted}/promote", json={"version": 2, "alias": "production"}).raise_for_status()
    tick(client, now + 1000)
    ended = client.get(f"/api/v1/models/{promoted}/retrains/{second}").json()
    assert ended["status"] == "promoted" and ended["promoted_to"] == ["staging", "production"], ended["reason"]
    assert fire(client, promoted, dry_run=True)["plan"]["reason"].startswith("would run")  # nothing active now


def test_dry_run_names_the_data_and_starts_nothing(client: TestClient, files: Path) -> None:
    model, ref = new_model(client, files, 'min_new_rows = 100')
    bigger = add_data(client, ref.split("@")[0], 3500)
    plan = fire(client, model, dry_run=True)
    assert plan.get("retrain") is None and plan["plan"]["would_start"]
    assert (plan["plan"]["dataset"], plan["plan"]["dataset_rows"], plan["plan"]["last_dataset"],
            plan["plan"]["new_rows"]) == (bigger, 3500, ref, 500)
    assert plan["plan"]["pipeline_version"] == 1 and plan["plan"]["promote"] == ["staging"]
    assert retrains(client, model) == [] and jobs_of(client, model) == []
    labels, _ = new_model(client, files, "min_new_labels = 5")
    held = fire(client, labels, dry_run=True)["plan"]
    assert not held["would_start"] and held["new_labels"] == 0
    assert held["reason"].startswith("min_new_labels: 0 labels since the last retrain started")


def test_errors_name_what_is_wrong(client: TestClient, files: Path) -> None:
    assert client.post("/api/v1/models/nobody-here/retrain", json={}).status_code == 404
    assert client.get("/api/v1/models/nobody-here/lifecycle").status_code == 404
    model = "no-policy-" + now_ms().__str__()
    ref = add_data(client, model, 3000)
    clone(client, files, model, pipeline(model, ref).replace("[retrain]\n", ""), ref)
    refused = client.post(f"/api/v1/models/{model}/retrain", json={"dry_run": True})
    assert refused.status_code == 409 and refused.json()["field"] == "retrain"
    assert "no [retrain] policy" in refused.json()["detail"]
    assert client.get(f"/api/v1/models/{model}/lifecycle").json()["retrain"] is None
    bad = client.post(f"/api/v1/models/{model}/retrain", json={"dry_run": "maybe", "later": 1})
    assert bad.status_code == 422


def test_new_data_counts_from_the_newest_data_either_the_last_retrain_or_the_latest_version_trained_on() -> None:
    assert baseline("churn@3", "churn@5") == "churn@5"  # a version trained by hand on newer data
    assert baseline("churn@5", "churn@3") == "churn@5"
    assert baseline(None, "churn@2") == "churn@2"
    assert baseline("old-name@9", "churn@2") == "churn@2"  # the file now names other data
