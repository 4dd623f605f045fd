"""`mlops monitor replay|status` end to end on a backend of its own (a real uvicorn server, a real
SQLite file): a real churn model trained by a job (so its version carries a monitoring profile),
normal traffic replayed through `@production` and drifted traffic through `@canary`, labels as
feedback; then the monitor, the health lines and /metrics are checked against what was sent."""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, LiveServer, start_backend, stop_process, unique
from prometheus_client.parser import text_string_to_metric_families
from registry_support import train
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli.main import app

NORMAL = ROOT / "sample_data" / "churn_traffic.csv"
DRIFTED = ROOT / "sample_data" / "churn_traffic_drift.csv"
SHIFTED = {"monthly_charges", "support_calls", "contract"}
"""The features sample_data/churn_traffic_drift.csv shifts."""
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Every row keeps its inputs however fast the replay goes (the sampling rate is the serving's to test)."""
    home = tmp_path_factory.mktemp("monitor-cli-home")
    os.environ["MLOPS_MONITOR_FULL_RATE"] = "1000000"
    try:
        server = start_backend(home, home.parent / f"{home.name}.log")
    finally:
        os.environ.pop("MLOPS_MONITOR_FULL_RATE", None)
    yield server
    stop_process(server.process)


@pytest.fixture(scope="module")
def model(server: LiveServer) -> Iterator[str]:
    """A churn model trained by a real job: version 1 at `production` (and `shadow`, for the pacing test),
    the same model registered again as version 2 at `canary` (drift is a version's: each gets its own)."""
    with Client(server.url, token="", timeout=120) as client:
        dataset = unique("churn")
        client.add_dataset_version(dataset, "churn.csv", (ROOT / "sample_data" / "churn.csv").read_bytes())
        name = unique("churn-watched")
        job = train(client, dataset, f'[register]\nname = "{name}"')
        assert job.run_id and client.register_version(name, job.run_id).version == 2
        for version, alias in ((1, "production"), (2, "canary"), (1, "shadow")):
            client.promote(name, version, alias, force=True, reason="monitor cli test")
        yield name


@pytest.fixture
def env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("MLOPS_URL", server.url)
    return server


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["monitor", *args])


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    return json.loads(result.stdout)


def labels_of(path: Path) -> list[int]:
    with path.open() as file:
        return [int(row["churned"]) for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def replayed(server: LiveServer, model: str) -> dict[str, Any]:
    """Normal traffic to @production (50 rows a request), drifted traffic to @canary (row by row, at a rate)."""
    previous = os.environ.get("MLOPS_URL")
    os.environ["MLOPS_URL"] = server.url
    try:
        normal = json_of(invoke("replay", f"{model}@production", str(NORMAL), "--label-column", "churned",
                                "--batch", "50", "--json"))
        drifted = json_of(invoke("replay", f"{model}@canary", str(DRIFTED), "--label-column", "churned",
                                 "--batch", "100", "--rate", "3000", "--proba", "--json"))
    finally:
        os.environ.pop("MLOPS_URL", None) if previous is None else os.environ.__setitem__("MLOPS_URL", previous)
    return {"normal": normal, "drifted": drifted}


@pytest.mark.timeout(600)
def test_replay_sends_the_file_and_its_labels(replayed: dict[str, Any]) -> None:
    normal, drifted = replayed["normal"], replayed["drifted"]
    assert (normal["rows"], normal["requests"], normal["failed_rows"]) == (3000, 60, 0)
    assert (normal["labels_sent"], normal["labels_accepted"], normal["labels_unknown"]) == (3000, 3000, 0)
    assert (drifted["rows"], drifted["requests"], drifted["labels_accepted"]) == (3000, 30, 3000)
    assert drifted["seconds"] >= 2900 / 3000  # paced: the last batch was due at 0.97 s


@pytest.mark.timeout(600)
def test_status_shows_the_replayed_traffic_and_its_performance(env: LiveServer, model: str,
                                                               replayed: dict[str, Any]) -> None:
    found = json_of(invoke("status", model, "--window", "15m", "--json"))
    assert (found["model"], found["alias"], found["version"]) == (model, "production", 1)
    assert (found["requests"], found["errors"], found["rows"], found["sampled_rows"]) == (60, 0, 3000, 3000)
    assert set(found["latency_ms"]) == {"p50", "p95", "p99"} and 0 < found["latency_ms"]["p50"] < 5000
    with Client(env.url, token="") as client:  # the same rows through the version route: its own traffic
        predicted = client.predict_csv(model, 1, _without_label(NORMAL)).predictions
    truth = labels_of(NORMAL)
    performance = found["performance"]
    assert performance["labeled"] == 3000 and performance["task"] == "classification"
    assert performance["actual"]["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    assert performance["actual"]["f1"] == pytest.approx(f1_score(truth, predicted), abs=1e-12)
    assert {"accuracy"} <= set(performance["training"])
    assert performance["estimated"] == {}  # served without probabilities: nothing to estimate from
    assert {d["feature"] for d in found["drift"]} >= SHIFTED
    assert not [d for d in found["drift"] if d["feature"] in SHIFTED and d["status"] == "drift"]


@pytest.mark.timeout(600)
def test_drifted_traffic_is_flagged_in_status_health_and_metrics(env: LiveServer, model: str,
                                                                 replayed: dict[str, Any]) -> None:
    found = json_of(invoke("status", f"{model}@canary", "--window", "1h", "--json"))
    drifting = {d["feature"] for d in found["drift"] if d["status"] == "drift"}
    assert SHIFTED <= drifting, found["drift"]
    assert [d["status"] for d in found["drift"]][:len(SHIFTED)] == ["drift"] * len(SHIFTED)  # worst first
    human = invoke("status", f"{model}@canary", "--window", "1h")
    assert human.exit_code == 0 and "▲ drift" in human.stdout and "monthly_charges" in human.stdout
    assert "requests 30" in human.stdout
    estimated = found["performance"]["estimated"]  # replayed with --proba: estimated before labels are read
    assert found["performance"]["estimated_rows"] == 3000 and 0 < estimated["accuracy"] <= 1
    with Client(env.url, token="") as client:
        lines = {(h.model, h.alias): h for h in client.monitoring_health().models}
        metrics = client.prometheus_metrics().decode()
    assert lines[(model, "canary")].drifting >= len(SHIFTED)
    psi = {s.labels["feature"]: s.value for family in text_string_to_metric_families(metrics)
           if family.name == "mlops_drift_psi" for s in family.samples
           if s.labels["model"] == model and s.labels["alias"] == "canary"}
    by_feature = {d["feature"]: d for d in found["drift"]}
    for feature in SHIFTED:
        assert psi[feature] >= by_feature[feature]["drift_at"]


def test_replay_paces_the_rows_at_the_rate(env: LiveServer, model: str, tmp_path: Path) -> None:
    few = tmp_path / "few.csv"
    few.write_text("\n".join(NORMAL.read_text().splitlines()[:41]) + "\n")
    done = json_of(invoke("replay", f"{model}@shadow", str(few), "--rate", "20", "--batch", "10", "--json"))
    assert (done["rows"], done["requests"], done["labels_sent"]) == (40, 4, 0)
    assert done["seconds"] >= 30 / 20  # the last batch's first row (the 31st) was due at 1.5 s


def test_a_prediction_is_answered_while_the_database_is_locked(env: LiveServer, model: str) -> None:
    """Another process holds SQLite's write lock: predictions are still answered at once (their records
    wait in the recorder's queue, written once the lock is gone)."""
    locker = sqlite3.connect(env.db_path, timeout=30)  # waits out a write of the server's own
    with Client(env.url, token="") as client:
        client.predict_csv(model, "production", _without_label(NORMAL, rows=1))  # the model is loaded
        locker.execute("BEGIN IMMEDIATE")
        try:
            started = time.perf_counter()
            answer = client.predict_csv(model, "production", _without_label(NORMAL, rows=5))
            took = time.perf_counter() - started
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    assert len(answer.request_ids) == 5 and took < 10.0, took  # a write would wait for the 30 s busy timeout


def test_replay_and_status_refuse_bad_arguments(env: LiveServer, model: str, tmp_path: Path) -> None:
    missing = invoke("replay", f"{unique('nope')}@production", str(NORMAL))
    assert missing.exit_code == 1 and "error:" in missing.stderr and "Traceback" not in missing.stderr
    column = invoke("replay", f"{model}@production", str(NORMAL), "--label-column", "nope")
    assert column.exit_code == 2 and "--label-column" in column.stderr
    window = invoke("status", model, "--window", "15x")
    assert window.exit_code == 2 and "--window" in window.stderr
    version = invoke("status", f"{model}/1")
    assert version.exit_code == 2 and "alias" in version.stderr
    alias = invoke("status", f"{model}@nowhere")
    assert alias.exit_code == 1 and "nowhere" in alias.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    nothing = invoke("replay", f"{model}@production", str(empty))
    assert nothing.exit_code == 1 and "header" in nothing.stderr


def _without_label(path: Path, rows: int | None = None) -> bytes:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    index = header.index("churned")
    kept = lines[1:] if rows is None else lines[1:rows + 1]
    return "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != index)
                     for line in [lines[0], *kept]).encode() + b"\n"
