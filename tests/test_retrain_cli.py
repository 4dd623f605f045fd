"""`mlops retrain` and `mlops models policy` against a live server whose own timer (every 0.3 s) follows
the retrains and fires the triggers: exit codes 0 promoted, 9 rejected by a gate, 1 held back by a
guard, 5 the job's data validation failed; the plan of a dry run; the lifecycle in the policy."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer, start_backend, stop_process, unique
from retrain_support import add_data, clone, files_fixture, new_model, pipeline, wait_for  # noqa: F401
from typer.testing import CliRunner, Result

from mlops_tui.cli import output
from mlops_tui.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: its timer runs every 0.3 s, a warm worker waits for each job."""
    home = tmp_path_factory.mktemp("retrain-cli-home")
    os.environ.update(MLOPS_WARM_WORKER="1", MLOPS_CONTROL_INTERVAL="0.3")
    try:
        live = start_backend(home, home.parent / "retrain-cli-server.log")
    finally:
        os.environ["MLOPS_WARM_WORKER"] = "0"
        del os.environ["MLOPS_CONTROL_INTERVAL"]
    yield live
    stop_process(live.process)


@pytest.fixture
def http(server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[httpx.Client]:
    """The CLI (run in this process) and an HTTP client both pointed at the server."""
    monkeypatch.setenv("MLOPS_URL", server.url)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_USER", "alice")
    monkeypatch.setattr(output.console, "width", 200)
    monkeypatch.setattr(output.errors, "width", 200)
    with httpx.Client(base_url=server.url, headers=CLIENT_HEADERS, timeout=30) as client:
        yield client


def mlops(*args: str) -> Result:
    return runner.invoke(app, list(args))


def exits(result: Result, code: int) -> Result:
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    return result


def test_retrain_wait_exits_0_promoted_with_job_version_and_gates_in_json(http: httpx.Client, files: Path) -> None:
    model, ref = new_model(http, files, "auto_promote = true")
    answer: dict[str, Any] = json.loads(exits(mlops("retrain", model, "--wait", "--json"), 0).stdout)
    event, job = answer["retrain"], answer["job"]
    assert event["status"] == "promoted" and event["version"] == 2 and event["promoted_to"] == ["staging", "production"]
    assert job["id"] == event["job_id"] and job["status"] == "SUCCEEDED" and job["dataset"] == ref
    assert event["report"]["passed"] and {g["gate"] for g in event["report"]["gates"]} >= {"threshold", "latency"}
    assert answer["plan"]["dataset"] == ref and answer["plan"]["would_start"]


def test_retrain_exits_9_when_a_gate_rejects_then_1_when_the_cooldown_holds(http: httpx.Client, files: Path) -> None:
    model, _ = new_model(http, files, 'auto_promote = true\nmin_interval = "1h"', min_auc=0.99)
    rejected = exits(mlops("retrain", model, "--wait"), 9).stdout
    assert "rejected" in rejected and "FAIL" in rejected and "min_roc_auc" in rejected, rejected
    assert "none moved" in rejected
    held = exits(mlops("retrain", model), 1).stdout
    assert "skipped" in held and "cooldown" in held and "min_interval is 1h" in held, held
    dry = exits(mlops("retrain", model, "--dry-run"), 1).stdout
    assert "held back" in dry and "cooldown" in dry


def test_retrain_exits_5_when_the_jobs_data_validation_fails(http: httpx.Client, files: Path) -> None:
    model, _ = new_model(http, files, "", extra="\n[validation]\nmin_rows = 100000\n")
    answer = json.loads(exits(mlops("retrain", model, "--wait", "--json"), 5).stdout)
    assert answer["retrain"]["status"] == "failed" and "validation" in answer["retrain"]["reason"]
    assert answer["job"]["error_kind"] == "validation"


def test_dry_run_starts_nothing_and_policy_shows_the_lifecycle(http: httpx.Client, files: Path) -> None:
    model, ref = new_model(http, files, 'on_drift = ["drifting"]\nschedule = "0 3 * * 1"\nmin_new_rows = 10')
    bigger = add_data(http, ref.split("@")[0], 3100)
    dry = exits(mlops("retrain", model, "--dry-run"), 0).stdout
    assert "would start" in dry and "from version 1 (config " in dry and "(config -)" not in dry
    assert f"{bigger} (3100 rows; 100 new since {ref})" in dry, dry
    assert http.get(f"/api/v1/models/{model}/retrains").json()["retrains"] == []
    document = json.loads(exits(mlops("models", "policy", model, "--json"), 0).stdout)
    assert {"name", "version", "default", "aliases"} <= set(document)  # the Policy document, unchanged
    lifecycle = document["lifecycle"]
    assert lifecycle["retrain"]["schedule"] == "0 3 * * 1" and lifecycle["state"]["next_schedule_at"]
    assert [rule["name"] for rule in lifecycle["alerts"]] == ["drifting"]
    human = exits(mlops("models", "policy", model), 0).stdout
    assert "drifting" in human and "on_drift drifting" in human and "schedule '0 3 * * 1' UTC" in human, human
    assert "state    active; 0 rejected in a row" in human
    plain, plain_ref = unique("plain"), add_data(http, unique("plain-data"), 3000)
    clone(http, files, plain, pipeline(plain, plain_ref).replace("[retrain]\n", ""), plain_ref)
    without = exits(mlops("models", "policy", plain), 0).stdout
    assert "retrain: no [retrain] policy in the latest version's pipeline file" in without, without
    refused = exits(mlops("retrain", plain), 1)
    assert "no [retrain] policy" in refused.stderr and "(retrain)" in refused.stderr, refused.stderr
    missing = exits(mlops("retrain", "nobody-here"), 1)
    assert "not found" in missing.stderr and missing.stdout == ""


def test_the_servers_timer_retrains_on_new_data(http: httpx.Client, files: Path) -> None:
    model, ref = new_model(http, files, "on_new_data = true\nauto_promote = true")
    newer = add_data(http, ref.split("@")[0], 3300)

    def ended() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = http.get(f"/api/v1/models/{model}/retrains").json()["retrains"]
        return found if found and found[0]["status"] != "running" else []

    [event] = wait_for(ended, timeout=120)
    assert (event["trigger"], event["status"], event["dataset"], event["actor"]) == ("new_data", "promoted", newer,
                                                                                     "retrain")
    assert http.get(f"/api/v1/models/{model}").json()["aliases"] == {"staging": 2, "production": 2}
