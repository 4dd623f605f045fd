"""Crashes: a writer logs batches while the server is SIGKILLed at random moments and restarted on the same
home, many times; afterwards every acknowledged point is stored exactly once and the database is intact.
Also: a batch sent again under its `Idempotency-Key` is stored once, and the durability setting applies."""
from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, free_port, make_client, unique
from crash_support import BATCH, CrashingServer, Zygote

from backend import Settings
from backend.home_lock import HomeLock
from backend.server import main as server_main
from mlops_tui import Client

KILLS = 12
"""SIGKILLs in the crash test (the 50-kill run under load is `bench/load.py`'s)."""


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    forker = Zygote(tmp_path_factory.mktemp("crash") / "servers.log")
    yield forker
    forker.close()


def test_every_acknowledged_batch_survives_repeated_sigkills_exactly_once(zygote: Zygote, tmp_path: Path) -> None:
    server = CrashingServer(zygote, tmp_path / "home", free_port())
    server.start()
    try:
        with Client(server.url) as client:
            run_id = client.create_run(unique("crash")).id
        acked, stop = tmp_path / "acked.txt", tmp_path / "stop"
        writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_support.py"), "writer", server.url,
                                   run_id, str(acked), str(stop)], cwd=ROOT)
        chance = random.Random()
        with sqlite3.connect(server.home / "mlops.db", isolation_level=None) as watcher:
            for kill in range(KILLS):
                if kill % 2:
                    time.sleep(chance.uniform(0.05, 0.3))  # the writer is mid-batch most of the time
                else:
                    _await_commit(watcher)  # the worst moment: stored, not yet answered
                server.kill()
                server.start()  # same home, same port: the kernel freed the dead server's lock
        time.sleep(0.3)
        stop.touch()
        assert writer.wait(timeout=120) == 0
        with Client(server.url) as client:
            history = client.metric_history(run_id, "m")
            stats = client.get_run(run_id).metric_stats["m"]
    finally:
        server.kill()

    done = [int(line) for line in acked.read_text().split()]
    assert len(done) > KILLS, "the writer made too little progress to mean anything"
    repeated = [step for step, times in Counter(history.steps).items() if times > 1]
    assert not repeated, f"{len(repeated)} steps stored more than once, e.g. {repeated[:5]}"
    stored = set(history.steps)
    lost = [batch for batch in done if not stored.issuperset(range(batch * BATCH, (batch + 1) * BATCH))]
    assert not lost, f"acknowledged batches missing after the crashes: {lost}"
    assert stats.count == len(history.steps)  # the series' own count agrees: nothing half-applied
    with sqlite3.connect(server.home / "mlops.db") as db:  # opening replays the WAL, as a restart does
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _await_commit(watcher: sqlite3.Connection, timeout: float = 5.0) -> None:
    """Return as soon as another batch is committed (a reader beside the server, as WAL allows)."""
    def stored() -> int:
        return int(watcher.execute("SELECT coalesce(sum(count), 0) FROM series").fetchone()[0])

    before, deadline = stored(), time.monotonic() + timeout
    while stored() == before and time.monotonic() < deadline:
        pass


def test_a_batch_sent_again_under_its_key_is_stored_once(home: Path) -> None:
    with make_client(Settings(home=home)) as http:
        run_id = http.post("/api/v1/runs", json={"experiment": "again"}).json()["id"]
        body = {"series": [{"key": "loss", "steps": [0, 1, 2], "values": [0.3, 0.2, 0.1]}]}
        key = {"Idempotency-Key": "batch-0001"}
        first = http.post(f"/api/v1/runs/{run_id}/batch", json=body, headers=key)
        time.sleep(0.002)  # server-stamped points: a second store would differ by timestamp
        again = http.post(f"/api/v1/runs/{run_id}/batch", json=body, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() == {"params": 0, "metrics": 3, "tags": 0}
        points = http.get(f"/api/v1/runs/{run_id}/metrics/loss").json()["points"]
        assert [p["step"] for p in points] == [0, 1, 2]

        other = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"a": 1}}, headers=key)
        assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
        assert http.get(f"/api/v1/runs/{run_id}").json()["params"] == {}

        bad = http.post(f"/api/v1/runs/{run_id}/batch", json=body, headers={"Idempotency-Key": "x" * 129})
        assert bad.status_code == 422 and bad.json()["field"] == "Idempotency-Key"

        unkeyed = [http.post(f"/api/v1/runs/{run_id}/batch", json=body) for _ in range(2)]
        assert [r.status_code for r in unkeyed] == [200, 200]  # no key: each call is a new batch


@pytest.mark.parametrize(("given", "level"), [(None, 1), ("full", 2), ("NORMAL", 1)])
def test_the_durability_setting_takes_effect(home: Path, monkeypatch: pytest.MonkeyPatch, given: str | None,
                                             level: int) -> None:
    """`PRAGMA synchronous`: 1 is NORMAL, 2 FULL; MLOPS_SYNCHRONOUS chooses, NORMAL by default."""
    if given is not None:
        monkeypatch.setenv("MLOPS_SYNCHRONOUS", given)
    with make_client(Settings(home=home)) as http:
        assert http.app.state.db.conn.execute("PRAGMA synchronous").fetchone()[0] == level  # type: ignore[attr-defined]


def test_a_bad_durability_setting_stops_the_server_with_a_message(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLOPS_SYNCHRONOUS", "sometimes")
    assert server_main(["--port", str(free_port()), "--home", str(home)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "MLOPS_SYNCHRONOUS" in error and "Traceback" not in error
    assert not (home / "mlops.db").exists()


def test_a_second_server_on_the_same_home_is_refused_naming_the_first(zygote: Zygote, tmp_path: Path) -> None:
    first = CrashingServer(zygote, tmp_path / "home", free_port())
    first.start()
    try:
        second = CrashingServer(zygote, first.home, free_port())
        with pytest.raises(RuntimeError, match="exited while starting"):
            second.start()
        log = zygote.log.read_text()
        assert f"error: {first.home} is already served by pid {first.pid} on 127.0.0.1:{first.port}" in log
        with Client(first.url) as client:
            assert client.health().pid == first.pid  # the first one serves on, untouched
    finally:
        first.kill()
    second.start()  # the first one died (SIGKILL): its lock went with it
    second.kill()


def test_the_lock_refusal_names_the_holder(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with HomeLock(home).acquire("127.0.0.1", 5999):
        assert server_main(["--port", str(free_port()), "--home", str(home)]) == 1
    assert f"error: {home} is already served by pid {os.getpid()} on 127.0.0.1:5999" in capsys.readouterr().err
    assert not (home / "mlops.db").exists()


def test_an_mlflow_log_batch_sent_twice_stores_its_points_once(home: Path) -> None:
    """MLflow's client re-sends a POST whose answer was lost (connection errors, 5xx); a log-batch carries each
    point's own step and timestamp, and a point is stored once per (step, timestamp, value)."""
    with make_client(Settings(home=home)) as http:
        run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        body = {"run_id": run_id, "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "t", "value": "v"}],
                "metrics": [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_000 + s, "step": s}
                            for s in range(50)]}
        for _ in range(2):
            assert http.post("/api/2.0/mlflow/runs/log-batch", json=body).status_code == 200
        run = http.get(f"/api/v1/runs/{run_id}").json()
        assert run["metric_stats"]["loss"]["count"] == 50 and run["params"] == {"lr": "0.1"}
        steps = [p["step"] for p in http.get(f"/api/v1/runs/{run_id}/metrics/loss").json()["points"]]
        assert steps == list(range(50))
