"""The model registry end to end on a real server: versions registered from real training jobs, aliases
moved by compare-and-set, archive/delete refusals, rollback, the hash-chained audit trail."""
from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer, unique
from registry_racer import GATES_SECONDS
from registry_support import CHURN, clone_run, run_with_files, train

from backend import Settings
from mlops_tui import Client
from mlops_tui.client import MlopsError
from mlops_tui.contract import Job

TRIGGERS = {
    "model_events_no_update": "CREATE TRIGGER model_events_no_update BEFORE UPDATE ON model_events "
                              "BEGIN SELECT RAISE(ABORT, 'model_events is append-only'); END",
    "model_events_no_delete": "CREATE TRIGGER model_events_no_delete BEFORE DELETE ON model_events "
                              "BEGIN SELECT RAISE(ABORT, 'model_events is append-only'); END",
}


@pytest.fixture(scope="module")
def alice(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, token="", user="alice", timeout=GATES_SECONDS) as client:
        yield client


@pytest.fixture(scope="module")
def bob(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, token="", user="bob", timeout=GATES_SECONDS) as client:
        yield client


@pytest.fixture(scope="module")
def trained(alice: Client) -> tuple[Job, str]:
    """One real job whose pipeline names its dataset without a version and asks `[register]`."""
    dataset = unique("churn")
    alice.add_dataset_version(dataset, "churn.csv", CHURN.read_bytes())
    model = unique("churn-model")
    return train(alice, dataset, f'[register]\nname = "{model}"'), model


@pytest.fixture
def model_name() -> str:
    return unique("m")


def artifact(server: LiveServer, run_id: str, path: str, client: Client) -> Path:
    run = client.get_run(run_id)
    return Settings(home=server.home).artifacts_root / run.experiment_id / run_id / path


def register_clones(client: Client, trained: tuple[Job, str], name: str, count: int) -> list[str]:
    runs = [clone_run(client, trained[0].run_id or "") for _ in range(count)]
    for run_id in runs:
        client.register_version(name, run_id)
    return runs


def test_register_at_job_success_records_the_version_on_the_job_and_its_run(alice: Client, trained: tuple[Job, str],
                                                                          live_server: LiveServer) -> None:
    job, model = trained
    assert job.report["registered"] == {"name": model, "version": 1}
    parent = alice.get_run(job.run_id or "")
    assert parent.tags["mlops.model_version"] == f"{model}/1"
    version = alice.get_version(model, 1)
    file = artifact(live_server, parent.id, "model/model.skops", alice)
    assert version.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    assert version.size_bytes == file.stat().st_size and version.model_path == "model/model.skops"
    assert version.run_id == parent.id and version.job_id == job.id
    assert version.best_run_id == parent.tags["mlops.best_run_id"]
    assert version.dataset == job.dataset == parent.tags["mlops.dataset"] and version.dataset.endswith("@1")
    assert version.pipeline_hash == job.config_hash
    assert version.primary_metric == "roc_auc" and version.primary_value == parent.metrics["best_roc_auc"]
    assert version.metrics["roc_auc"] == parent.metrics["best_roc_auc"] and "accuracy" in version.metrics
    assert [c["name"] for c in version.signature["inputs"]] == job.report["features"]
    assert version.reference is not None and "features" in version.reference
    assert version.created_by == f"job:{job.id}" and version.status == "READY"
    events = alice.model_events(model).events
    assert [(e.action, e.actor, e.version) for e in events] == [("register", f"job:{job.id}", 1)]
    # candidate runs record the dataset version they trained on, as the parent does (not the bare name)
    assert {child.tags["mlops.dataset"] for child in alice.run_children(parent.id)} == {version.dataset}


def test_manual_register_is_refused_without_a_model_file(alice: Client, model_name: str) -> None:
    run = alice.create_run("registry-tests")
    with pytest.raises(MlopsError) as caught:
        alice.register_version(model_name, run.id)
    assert caught.value.status == 422 and caught.value.field == "run_id"
    assert caught.value.message == f"run {run.id} has no model/model.skops"
    with pytest.raises(MlopsError) as missing:
        alice.register_version(model_name, "f" * 32)
    assert missing.value.status == 404 and missing.value.field == "run_id"
    with pytest.raises(MlopsError) as absent:
        alice.get_model(model_name)
    assert absent.value.status == 404  # nothing half-written


def test_parallel_registrations_get_distinct_consecutive_numbers(live_server: LiveServer, alice: Client,
                                                                 trained: tuple[Job, str], model_name: str) -> None:
    run_id = trained[0].run_id or ""
    users = [f"user{i}" for i in range(12)]

    def register(user: str) -> int:
        with Client(live_server.url, token="", user=user, timeout=GATES_SECONDS) as client:
            return client.register_version(model_name, run_id).version

    with ThreadPoolExecutor(len(users)) as pool:
        numbers = list(pool.map(register, users))
    assert sorted(numbers) == list(range(1, len(users) + 1))
    detail = alice.get_model(model_name)
    assert [v.version for v in detail.versions] == list(range(len(users), 0, -1))  # newest first
    assert detail.latest_version == detail.version_count == len(users)
    events = alice.model_events(model_name).events
    assert [e.seq for e in events] == list(range(1, len(users) + 1))
    assert {e.actor for e in events} == set(users)
    assert alice.verify_model(model_name).ok


def test_list_and_show_carry_aliases_per_model_and_per_version(alice: Client, trained: tuple[Job, str],
                                                               model_name: str) -> None:
    register_clones(alice, trained, model_name, 2)
    alice.promote(model_name, 2, "production")
    alice.promote(model_name, 2, "staging")
    listed = {m.name: m for m in alice.list_models().models}[model_name]
    assert listed.aliases == {"production": 2, "staging": 2} and listed.latest_version == 2
    assert listed.primary_metric == "roc_auc" and listed.latest_value is not None
    detail = alice.get_model(model_name)
    assert [(v.version, v.aliases) for v in detail.versions] == [(2, ["production", "staging"]), (1, [])]
    assert all(v.reference is None for v in detail.versions)  # only when one version is asked for
    held = alice.get_alias(model_name, "production")
    assert held.version == 2 and held.reference is not None and held.last_report is not None
    assert held.last_report.alias == "staging"  # its last promotion
    with pytest.raises(MlopsError) as nowhere:
        alice.get_alias(model_name, "canary")
    assert nowhere.value.status == 404 and nowhere.value.field == "alias"


def test_archive_and_delete_are_refused_naming_the_alias(alice: Client, trained: tuple[Job, str],
                                                         model_name: str) -> None:
    register_clones(alice, trained, model_name, 2)
    alice.promote(model_name, 1, "production", expected_version=None)
    alice.promote(model_name, 1, "shadow")
    for attempt in (lambda: alice.archive_version(model_name, 1, "old"), lambda: alice.delete_version(model_name, 1)):
        with pytest.raises(MlopsError) as caught:
            attempt()
        assert caught.value.status == 409 and "production" in caught.value.message
        assert "shadow" in caught.value.message
    assert alice.get_version(model_name, 1).status == "READY"
    archived = alice.archive_version(model_name, 2, "superseded")
    assert archived.status == "ARCHIVED"
    with pytest.raises(MlopsError) as not_ready:
        alice.promote(model_name, 2, "staging")
    assert not_ready.value.status == 409 and "ARCHIVED" in not_ready.value.message
    alice.delete_version(model_name, 2)
    with pytest.raises(MlopsError) as gone:
        alice.get_version(model_name, 2)
    assert gone.value.status == 404
    actions = [(e.action, e.version, e.reason) for e in alice.model_events(model_name).events
               if e.action in ("archive", "delete")]
    assert actions == [("archive", 2, "superseded"), ("delete", 2, "")]
    assert alice.verify_model(model_name).ok


def test_a_model_file_changed_on_disk_is_refused_for_promotion_and_rollback(
        live_server: LiveServer, alice: Client, trained: tuple[Job, str], model_name: str) -> None:
    first, _ = register_clones(alice, trained, model_name, 2)
    alice.promote(model_name, 1, "production")
    alice.promote(model_name, 2, "production")
    file = artifact(live_server, first, "model/model.skops", alice)
    file.write_bytes(file.read_bytes() + b"tampered")
    result = alice.promote(model_name, 1, "staging")
    assert result.outcome == "gates_failed" and result.report is not None
    integrity = [g for g in result.report.gates if g.gate == "integrity"]
    assert not integrity[0].passed and "changed on disk" in integrity[0].detail
    with pytest.raises(MlopsError) as caught:
        alice.rollback(model_name, "production")
    assert caught.value.status == 409 and "changed on disk" in caught.value.message
    assert alice.get_model(model_name).aliases == {"production": 2}


def test_racing_promotions_one_wins_the_other_gets_409_naming_the_winner(alice: Client, bob: Client,
                                                                        trained: tuple[Job, str],
                                                                        model_name: str) -> None:
    register_clones(alice, trained, model_name, 3)
    won = alice.promote(model_name, 1, "production", expected_version=None, reason="first")
    assert won.outcome == "moved" and won.from_version is None and won.event is not None
    assert won.event.actor == "alice" and won.event.reason == "first"
    with pytest.raises(MlopsError) as lost:
        bob.promote(model_name, 2, "production", expected_version=None)
    assert lost.value.status == 409 and lost.value.field == "expected_version"
    assert "now holds version 1, moved by alice" in lost.value.message
    assert bob.promote(model_name, 2, "production", expected_version=1).from_version == 1
    assert bob.promote(model_name, 3, "production").from_version == 2  # omitted: no check
    assert alice.get_model(model_name).aliases == {"production": 3}


def test_force_needs_a_reason_and_is_recorded_forced_with_the_failed_gates(
        live_server: LiveServer, alice: Client, trained: tuple[Job, str], model_name: str) -> None:
    run_id = clone_run(alice, trained[0].run_id or "")
    pipeline = artifact(live_server, run_id, "pipeline.json", alice)
    pipeline.write_text(pipeline.read_text().replace('"promote":null', '"promote":{"max_size_mb":0.000001}')
                        .replace('"promote": null', '"promote": {"max_size_mb": 0.000001}'))
    alice.register_version(model_name, run_id)
    assert alice.model_policy(model_name).default.max_size_mb == 0.000001
    failed = alice.promote(model_name, 1, "production")
    assert failed.outcome == "gates_failed" and failed.report is not None and not failed.report.passed
    assert [g.gate for g in failed.report.failed] == ["size"]
    with pytest.raises(MlopsError) as no_reason:
        alice.promote(model_name, 1, "production", force=True, reason="  ")
    assert no_reason.value.status == 422 and no_reason.value.field == "reason"
    assert alice.get_model(model_name).aliases == {}  # nothing moved
    assert [e.action for e in alice.model_events(model_name).events] == ["register"]  # failures are no events
    forced = alice.promote(model_name, 1, "production", force=True, reason="hotfix, size checked by hand")
    assert forced.outcome == "moved" and forced.event is not None and forced.event.forced
    assert forced.event.report is not None and [g.gate for g in forced.event.report.failed] == ["size"]
    assert forced.event.reason == "hotfix, size checked by hand"
    assert alice.get_model(model_name).aliases == {"production": 1}


def test_rollback_walks_back_and_refuses_a_target_that_would_not_serve(
        live_server: LiveServer, alice: Client, trained: tuple[Job, str], model_name: str) -> None:
    register_clones(alice, trained, model_name, 3)
    for version in (1, 2, 3):
        alice.promote(model_name, version, "production")
    first = alice.rollback(model_name, "production", reason="3 is bad")
    assert (first.outcome, first.from_version, first.version) == ("moved", 3, 2)
    assert first.event is not None and first.event.action == "rollback" and first.event.to_version == 2
    assert alice.rollback(model_name, "production").version == 1  # repeated rollbacks walk back
    with pytest.raises(MlopsError) as bottom:
        alice.rollback(model_name, "production")
    assert bottom.value.status == 409 and "nothing to roll back to" in bottom.value.message
    # a target that was deleted
    alice.promote(model_name, 2, "staging")
    alice.promote(model_name, 1, "staging")
    alice.delete_version(model_name, 2)
    with pytest.raises(MlopsError) as deleted:
        alice.rollback(model_name, "staging")
    assert deleted.value.status == 409 and "deleted" in deleted.value.message
    # a target whose file matches its hash but does not load
    broken = run_with_files(alice, {"model/model.skops": b"not a skops file"})
    alice.register_version(model_name, broken)
    alice.promote(model_name, 4, "canary", force=True, reason="test a broken file")
    alice.promote(model_name, 1, "canary")
    with pytest.raises(MlopsError) as unloadable:
        alice.rollback(model_name, "canary")
    assert unloadable.value.status == 409 and "does not load" in unloadable.value.message
    assert alice.get_model(model_name).aliases == {"production": 1, "staging": 1, "canary": 1}


def test_history_at_a_time_says_which_version_held_each_alias(alice: Client, trained: tuple[Job, str],
                                                              model_name: str) -> None:
    register_clones(alice, trained, model_name, 2)
    alice.promote(model_name, 1, "production")
    time.sleep(0.01)
    alice.promote(model_name, 1, "staging")
    time.sleep(0.01)
    alice.promote(model_name, 2, "production")
    events = alice.model_events(model_name).events
    first_move = events[2]
    assert (first_move.action, first_move.to_version) == ("promote", 1)
    then = alice.model_events(model_name, at=first_move.time)
    assert then.aliases_at == {"production": 1} and [e.seq for e in then.events] == [1, 2, 3]
    later = alice.model_events(model_name, at=events[3].time)
    assert later.aliases_at == {"production": 1, "staging": 1}
    now = alice.model_events(model_name, at=events[-1].time)
    assert now.aliases_at == {"production": 2, "staging": 1}
    assert alice.model_events(model_name, at=events[0].time - 1).aliases_at == {}
    production = alice.model_events(model_name, alias="production").events
    assert [(e.from_version, e.to_version) for e in production] == [(None, 1), (1, 2)]


def test_verify_finds_the_first_altered_or_removed_event(live_server: LiveServer, alice: Client,
                                                         trained: tuple[Job, str]) -> None:
    names = [unique("chain") for _ in range(3)]
    for name in names:
        register_clones(alice, trained, name, 2)
        alice.promote(name, 1, "production")
        alice.promote(name, 2, "production")
        assert alice.verify_model(name).ok and alice.verify_model(name).events == 4
    altered, removed, last_removed = names
    with sqlite3.connect(live_server.db_path, timeout=30) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE model_events SET reason = 'x' WHERE name = ?", (altered,))
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM model_events WHERE name = ?", (removed,))
    tamper(live_server.db_path, "UPDATE model_events SET actor = 'mallory' WHERE name = ? AND seq = 3", altered)
    tamper(live_server.db_path, "DELETE FROM model_events WHERE name = ? AND seq = 2", removed)
    tamper(live_server.db_path, "DELETE FROM model_events WHERE name = ? AND seq = 4", last_removed)
    found = {name: alice.verify_model(name) for name in names}
    assert (found[altered].ok, found[altered].first_bad) == (False, 3) and "altered" in found[altered].detail
    assert (found[removed].ok, found[removed].first_bad) == (False, 2) and "removed" in found[removed].detail
    assert (found[last_removed].ok, found[last_removed].first_bad) == (False, 4)
    assert "removed" in found[last_removed].detail


def tamper(db_path: Path, sql: str, name: str) -> None:
    """What an attacker with the file could do: drop a trigger, change the log, put the trigger back."""
    trigger = "model_events_no_update" if sql.startswith("UPDATE") else "model_events_no_delete"
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(sql, (name,))
        conn.execute(TRIGGERS[trigger])
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_the_actor_header_and_path_names_are_checked(live_server: LiveServer, alice: Client,
                                                     trained: tuple[Job, str], model_name: str) -> None:
    with httpx.Client(base_url=live_server.url, headers=CLIENT_HEADERS) as http:
        too_long = http.post(f"/api/v1/models/{model_name}/versions", json={"run_id": trained[0].run_id},
                             headers={"X-Mlops-User": "x" * 201})
        assert too_long.status_code == 422 and too_long.json()["field"] == "X-Mlops-User"
        anonymous = http.post(f"/api/v1/models/{model_name}/versions", json={"run_id": trained[0].run_id})
        assert anonymous.status_code == 201 and anonymous.json()["created_by"] == "anonymous"
        bad_name = http.get("/api/v1/models/-bad")
        assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"
        bad_alias = http.get(f"/api/v1/models/{model_name}/aliases/9lives")
        assert bad_alias.status_code == 422 and bad_alias.json()["field"] == "alias"
        bad_version = http.get(f"/api/v1/models/{model_name}/versions/0")
        assert bad_version.status_code == 422 and bad_version.json()["field"] == "version"
    assert alice.get_model(model_name).version_count == 1


def test_an_actor_with_control_characters_is_refused(app_client: httpx.Client) -> None:
    answer = app_client.post("/api/v1/models/m/versions", json={"run_id": "r"}, headers={"X-Mlops-User": "eve\x1b[2J"})
    assert answer.status_code == 422 and answer.json()["field"] == "X-Mlops-User"
