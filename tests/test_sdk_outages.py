"""The SDK through backend outages, and heartbeats: a real server stopped and restarted on the same
port and home while a run logs; a server that stays down; runs whose heartbeat stops."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port, stop_process, unique, wait_healthy

from mlops_tui import Client, MlopsError, start_run

HEARTBEAT_TIMEOUT = 3.0
"""Seconds: short for the tests, yet 15 heartbeats (every 0.2 s) long, so a loaded machine that
delays a beat by a second does not fail a live run."""


class Backend:
    """`python -m backend.server` on a fixed port and home, that a test can stop and start again."""

    def __init__(self, home: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **(env or {})}
        self.env.pop("MLOPS_TOKEN", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.home.parent / f"{self.home.name}.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend.server", "--port", str(self.port), "--home", str(self.home)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        assert wait_healthy(self.url, self.process), "the backend did not start"

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{self.url}/healthz", timeout=1)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    server = Backend(tmp_path / "home", free_port(), {"MLOPS_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT)})
    server.start()
    yield server
    if server.process is not None:
        stop_process(server.process)


def test_a_run_logs_through_a_backend_restart_and_loses_no_point(backend: Backend) -> None:
    with start_run(experiment=unique("outage"), url=backend.url, retry_seconds=60, heartbeat_seconds=0.2) as run:
        for step in range(300):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_param("phase", "before")
        run.flush()
        backend.stop()
        for step in range(300, 600):  # buffered while the backend is down; the sender keeps retrying
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.set_tag("during", "outage")
        time.sleep(1.0)  # several flush intervals pass with the backend down
        backend.start()  # same port, same home
        for step in range(600, 900):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run_id = run.id
    with Client(url=backend.url) as client:
        finished = client.get_run(run_id)
        assert finished.status == "FINISHED"
        assert finished.params == {"phase": "before"} and finished.tags["during"] == "outage"
        history = client.metric_history(run_id, "loss")
        assert history.steps == list(range(900))  # every point, each once
        assert finished.metric_stats["loss"].count == 900


def test_an_outage_longer_than_the_retry_window_is_reported_and_still_loses_no_point(backend: Backend) -> None:
    """The sender gives up after the window: its batch goes back into the buffer, the next log call
    raises the error once, and the points are sent when the backend is back."""
    with start_run(experiment=unique("long-outage"), url=backend.url, retry_seconds=0.3) as run:
        for step in range(100):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.flush()
        backend.stop()
        for step in range(100, 200):
            run.log_metric("loss", 1 / (step + 1), step=step)
        deadline = time.monotonic() + 30
        while run._error is None and time.monotonic() < deadline:  # the sender's round failed
            time.sleep(0.05)
        backend.start()
        with pytest.raises(MlopsError) as caught:
            run.log_metric("loss", 1 / 201, step=200)  # logged, then the outage is reported
        assert caught.value.unreachable
        for step in range(201, 300):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run_id = run.id
    with Client(url=backend.url) as client:
        assert client.metric_history(run_id, "loss").steps == list(range(300))
        assert client.get_run(run_id).status == "FINISHED"


def test_an_outage_that_ended_before_the_block_did_does_not_fail_the_run(backend: Backend) -> None:
    """The sender gave up during an outage nobody logged through; the backend is back when the block
    ends: the buffered points are sent and the run ends FINISHED, no stale error raised."""
    with start_run(experiment=unique("outage-over"), url=backend.url, retry_seconds=0.3) as run:
        run.log_metric("loss", 0.5, step=0)
        run.flush()
        backend.stop()
        run.log_metric("loss", 0.4, step=1)
        deadline = time.monotonic() + 30
        while run._error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        backend.start()
        run_id = run.id
    with Client(url=backend.url) as client:
        assert client.metric_history(run_id, "loss").steps == [0, 1]
        assert client.get_run(run_id).status == "FINISHED"


KILLED_SCRIPT = """
import sys, time
from mlops_tui import start_run
with start_run(experiment=sys.argv[1], url=sys.argv[2], heartbeat_seconds=0.2) as run:
    run.log_metric("loss", 0.5)
    run.flush()
    print(run.id, flush=True)
    time.sleep(120)
"""


def test_a_killed_training_script_leaves_its_run_failed_not_running(backend: Backend, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(KILLED_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), unique("killed"), backend.url], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        with Client(url=backend.url) as client:
            time.sleep(HEARTBEAT_TIMEOUT + 0.5)  # beyond the timeout while the script lives: still RUNNING
            assert client.get_run(run_id).status == "RUNNING"
            process.kill()  # SIGKILL: no `finally`, no end()
            process.wait(timeout=10)
            deadline = time.monotonic() + 30
            while client.get_run(run_id).status == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.1)
            run = client.get_run(run_id)
            assert run.status == "FAILED" and run.tags["mlops.failure_reason"] == "heartbeat lost"
            assert run.metrics == {"loss": 0.5}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_scripts_own_error_surfaces_when_the_backend_stays_down(backend: Backend) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match="the script's own error") as caught:
        with start_run(experiment=unique("down"), url=backend.url, retry_seconds=1, heartbeat_seconds=0.2) as run:
            run.log_metric("loss", 0.5)
            run.flush()
            backend.stop()
            run.log_metric("loss", 0.4)
            raise ValueError("the script's own error")
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert f"run {run.id} could not be ended" in notes and "cannot reach the backend" in notes
    assert time.monotonic() - started < 30  # the retry window is what the script waits, not more


def test_a_run_whose_heartbeat_stops_is_marked_failed(backend: Backend) -> None:
    """MLOPS_HEARTBEAT_TIMEOUT=3 on this backend. A run that sent heartbeats and stopped is FAILED with
    a reason; one that never sent any (as job workers' runs) and one still beating stay RUNNING."""
    experiment = unique("heartbeat")
    with Client(url=backend.url) as client:
        silent = client.create_run(experiment=experiment, name="silent").id
        client.heartbeat(silent)
        never = client.create_run(experiment=experiment, name="no-heartbeat").id
        with start_run(experiment=experiment, name="alive", url=backend.url, heartbeat_seconds=0.2) as alive:
            deadline = time.monotonic() + 30
            while client.get_run(silent).status == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.1)
            failed = client.get_run(silent)
            assert failed.status == "FAILED" and failed.end_time is not None
            assert failed.tags["mlops.failure_reason"] == "heartbeat lost"
            time.sleep(HEARTBEAT_TIMEOUT + 0.5)  # longer than the timeout: a beating run is never failed
            assert client.get_run(alive.id).status == "RUNNING"
        assert client.get_run(alive.id).status == "FINISHED"
        assert client.get_run(never).status == "RUNNING"
        back = client.heartbeat(silent)  # its script came back after all: RUNNING again, reason gone
        assert back["status"] == "RUNNING"
        revived = client.get_run(silent)
        assert revived.status == "RUNNING" and "mlops.failure_reason" not in revived.tags


def test_retry_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLOPS_RETRY_SECONDS bounds how long an unreachable backend is waited for."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_RETRY_SECONDS", "0.5")
    started = time.monotonic()
    with pytest.raises(MlopsError) as caught:
        with start_run(experiment="x", url=url):
            pass
    elapsed = time.monotonic() - started
    assert caught.value.unreachable and 0.5 <= elapsed < 5
    monkeypatch.setenv("MLOPS_RETRY_SECONDS", "soon")
    with pytest.raises(ValueError, match="MLOPS_RETRY_SECONDS"):
        with start_run(experiment="x", url=url):
            pass
