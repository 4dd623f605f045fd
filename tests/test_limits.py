"""Slow and numerous clients against a live server with short limits: real sockets that dribble their
headers or body, a reader that stops reading a download, long polls filling the concurrency limit.

Limits of the server here: headers within 3 s, a body within 3 s, answers taken within 3 s, 4 requests
worked on at once.
"""
from __future__ import annotations

import select
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer, make_client, start_backend, stop_process
from replica_support import register_model

from backend import Settings
from mlops_tui import Client

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HEADER_TIMEOUT = 3.0
REQUEST_TIMEOUT = 3.0
MAX_CONCURRENCY = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("limits")
    live = start_backend(home, home / "server.log", extra_env={
        "MLOPS_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "MLOPS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "MLOPS_MAX_CONCURRENCY": str(MAX_CONCURRENCY)})
    yield live
    stop_process(live.process)


@dataclass
class Dribbler:
    """A socket that sends `head` at once, then `drip` one byte every 0.2 s until the server answers."""

    port: int
    head: bytes
    drip: bytes
    answer: bytes = b""
    elapsed: float = 0.0
    answered_at: float = 0.0
    """`time.monotonic()` when the server's answer began to arrive."""
    closed: bool = False
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self, give_up: float = 20.0) -> None:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(self.head)
            for byte in self.drip * 1000:
                if time.monotonic() - start > give_up or select.select([sock], [], [], 0.2)[0]:
                    break
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
            self.answered_at = time.monotonic()
            self.elapsed = self.answered_at - start
            sock.settimeout(5)
            try:
                while chunk := sock.recv(65536):
                    self.answer += chunk
                self.closed = True
            except OSError:
                pass


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_slow_clients_are_cut_off_and_starve_no_one(server: LiveServer) -> None:
    """12 sockets dribble a body and 12 dribble headers (6 times the concurrency limit): meanwhile
    `/healthz` and normal requests answer at once; the dribblers get 408 and are disconnected."""
    body_head = (b"POST /api/v1/experiments HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 b"X-Mlops-Client: tests\r\nContent-Length: 1000\r\n\r\n")
    chunked_head = (b"POST /api/v1/experiments HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    b"X-Mlops-Client: tests\r\nTransfer-Encoding: chunked\r\n\r\n")
    header_head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
    dribblers = ([Dribbler(server.port, body_head, b'{"name": "x' + b"x" * 100) for _ in range(8)]
                 + [Dribbler(server.port, chunked_head, b"1\r\nx\r\n") for _ in range(4)]
                 + [Dribbler(server.port, header_head, b"abcdef") for _ in range(12)])
    time.sleep(0.3)
    with httpx.Client(base_url=server.url, headers=CLIENT_HEADERS, timeout=10) as http:
        for path in ("/healthz", "/api/v1/experiments", "/api/2.0/mlflow/experiments/search?max_results=5"):
            started = time.monotonic()
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text)
            assert time.monotonic() - started < 2, path
        last_answer = time.monotonic()
        for dribbler in dribblers:
            dribbler.thread.join(timeout=30)
        # the answers above came while more dribblers than the concurrency limit were still sending
        assert sum(d.answered_at > last_answer for d in dribblers[:12]) > MAX_CONCURRENCY
        for dribbler in dribblers:
            assert status_of(dribbler.answer) == 408 and dribbler.closed, dribbler.answer[:300]
            limit = HEADER_TIMEOUT if dribbler.head.startswith(b"GET") else REQUEST_TIMEOUT
            assert limit - 0.3 < dribbler.elapsed < limit + 8, (dribbler.elapsed, dribbler.head[:40])
        body = dribblers[0].answer.split(b"\r\n\r\n", 1)[1]
        assert b'"field":"body"' in body and b"MLOPS_REQUEST_TIMEOUT" in body
        assert b"MLOPS_HEADER_TIMEOUT" in dribblers[-1].answer
        names = {e["name"] for e in http.get("/api/v1/experiments").json()["experiments"]}
        assert not any(name.startswith("x") for name in names)  # no half-sent request did anything


def test_a_silent_connection_is_closed(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT + 8) as sock:
        started = time.monotonic()
        answer = sock.recv(65536)
        assert status_of(answer) == 408 and time.monotonic() - started < HEADER_TIMEOUT + 8
        assert sock.recv(65536) == b""  # closed


def test_a_reader_that_stops_reading_is_dropped(server: LiveServer) -> None:
    """A 24 MB download to a socket with a tiny receive buffer that reads nothing for a while: the server
    gives up after the send deadline, so reading afterwards ends early instead of getting every byte."""
    size = 24 * 1024 * 1024
    with Client(url=server.url, token="") as client:
        run = client.create_run(experiment="limits")
        client.upload_artifact(run.id, "big.bin", b"\0" * size)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(f"GET /api/v1/runs/{run.id}/artifacts/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        time.sleep(REQUEST_TIMEOUT + 2)
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except OSError:
            pass
    assert 0 < received < size
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200


def test_beyond_the_concurrency_limit_answers_503(server: LiveServer, tmp_path: Path) -> None:
    """Long polls fill the limit: others get 503 with Retry-After at once; `/healthz` still answers."""
    with Client(url=server.url, token="") as client:
        model = register_model(client, tmp_path)
    poll = f"/api/v1/models/{model.name}/aliases/production?known_version=1&wait_seconds=4"
    answers: list[int] = []

    def wait() -> None:
        with httpx.Client(base_url=server.url, timeout=20) as http:
            answers.append(http.get(poll).status_code)

    waiters = [threading.Thread(target=wait) for _ in range(MAX_CONCURRENCY)]
    for waiter in waiters:
        waiter.start()
    time.sleep(1.0)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        busy = http.get("/api/v1/experiments")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        assert busy.json()["code"] == "busy" and "MLOPS_MAX_CONCURRENCY" in busy.json()["detail"]
        mlflow = http.get("/api/2.0/mlflow/experiments/search", params={"max_results": 1})
        assert mlflow.status_code == 503 and mlflow.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert http.get("/healthz").status_code == 200
        for waiter in waiters:
            waiter.join(timeout=30)
        assert answers == [200] * MAX_CONCURRENCY
        assert http.get("/api/v1/experiments").status_code == 200


# --- caps on sizes, counts and pages, native and MLflow (in-process) ----------------------------------

@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str]]:
    """An app with one experiment and one run: (client, experiment id, run id)."""
    settings = Settings(home=tmp_path_factory.mktemp("caps"), token=None, run_jobs=False, automation=False)
    with make_client(settings) as client:
        experiment = client.post(f"{MLFLOW}/experiments/create", json={"name": "caps"}).json()["experiment_id"]
        run = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]
        yield client, experiment, run


MLFLOW = "/api/2.0/mlflow"
X = "x"


def caps(experiment: str, run: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, JSON body or query, what the refusal names): one over each cap, MLflow's where it has one."""
    many = range(1001)
    return [
        ("POST", f"{MLFLOW}/experiments/create", {"name": X * 251}, "250"),
        ("POST", f"{MLFLOW}/runs/log-parameter", {"run_id": run, "key": X * 251, "value": "v"}, "250"),
        ("POST", f"{MLFLOW}/runs/log-parameter", {"run_id": run, "key": "k", "value": X * 6001}, "6000"),
        ("POST", f"{MLFLOW}/runs/set-tag", {"run_id": run, "key": "k", "value": X * 8001}, "8000"),
        ("POST", f"{MLFLOW}/experiments/set-experiment-tag", {"experiment_id": experiment, "key": "k",
                                                              "value": X * 8001}, "8000"),
        ("POST", f"{MLFLOW}/runs/log-metric", {"run_id": run, "key": X * 251, "value": 1, "timestamp": 1}, "250"),
        ("POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "metrics": [
            {"key": "m", "value": 1, "timestamp": 1, "step": i} for i in many]}, "1000"),
        ("POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "params": [{"key": f"p{i}", "value": "1"}
                                                                        for i in range(101)]}, "100"),
        ("POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "tags": [{"key": f"t{i}", "value": "1"}
                                                                      for i in range(101)]}, "100"),
        ("POST", f"{MLFLOW}/registered-models/create", {"name": "m", "description": X * 5001}, "5000"),
        ("GET", f"{MLFLOW}/experiments/search", {"max_results": 50001}, "50000"),
        ("POST", f"{MLFLOW}/runs/search", {"experiment_ids": [experiment], "max_results": 50001}, "50000"),
        ("GET", f"{MLFLOW}/registered-models/search", {"max_results": 10**6}, "max_results"),
        ("GET", f"{MLFLOW}/model-versions/search", {"max_results": 10**6}, "max_results"),
        ("POST", "/api/v1/experiments", {"name": X * 251}, "250"),
        ("POST", f"/api/v1/runs/{run}/batch", {"params": {X * 251: "v"}}, "250"),
        ("POST", f"/api/v1/runs/{run}/batch", {"params": {"k": X * 6001}}, "6000"),
        ("POST", f"/api/v1/runs/{run}/batch", {"tags": {"k": X * 8001}}, "8000"),
        ("POST", f"/api/v1/runs/{run}/batch", {"metrics": [{"key": "m", "value": 1, "step": i}
                                                           for i in range(10_001)]}, "10000"),
        ("POST", "/api/v1/runs/search", {"limit": 5001}, "5000"),
        ("GET", "/api/v1/jobs", {"limit": 1001}, "1000"),
        ("GET", "/api/v1/alerts", {"limit": 1001}, "1000"),
        ("GET", "/api/v1/webhooks/deliveries", {"limit": 1001}, "1000"),
    ]


def test_every_cap_is_a_4xx_that_names_it(capped: tuple[TestClient, str, str]) -> None:
    client, experiment, run = capped
    for method, path, given, named in caps(experiment, run):
        if method == "GET":
            answer = client.get(path, params=given)
        else:
            answer = client.post(path, json=given)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
        message = answer.json().get("message") or answer.json().get("detail")
        assert named in message, (path, message)
    stored = client.get(f"/api/v1/runs/{run}").json()
    assert stored["params"] == {} and not stored["metrics"], stored  # nothing of a refused batch was kept
