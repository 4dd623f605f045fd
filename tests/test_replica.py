"""The scale-out replica (`mlops serve NAME@ALIAS`) on real processes: a real backend (uvicorn, SQLite),
two replicas beside it that serve every protocol, follow a promotion (one by long poll, one by polling
with two workers) and ship their records to the backend; integrity of the downloaded model; the backend
going away while a replica keeps serving and buffering. (The backend's side: tests/test_replica_backend.py.)"""
from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import NOWHERE, ROOT, LiveServer, free_port, start_backend, stop_process
from replica_support import ROWS, Model, register_model

from backend.replica.app import create_replica_app
from backend.replica.config import ReplicaConfig
from backend.replica.download import ModelMismatch, cached_path
from backend.replica.service import Replica as ReplicaService
from mlops_tui import Client
from mlops_tui.contract.monitoring import IGNORED_COLUMNS_HEADER, MODEL_VERSION_HEADER, RecordBatch

FAST = {"MLOPS_REPLICA_SHIP_SECONDS": "0.1", "MLOPS_REPLICA_POLL_SECONDS": "0.2"}
"""Replicas in tests ship every 0.1 s and poll every 0.2 s."""
TOKEN = "s3cret"
pytestmark = pytest.mark.timeout(600)  # real processes started on a shared 2-core machine


# --- models and processes ---------------------------------------------------------------------------


@dataclass
class ReplicaProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()  # type: ignore[no-any-return]


def spawn_replica(backend_url: str, ref: str, folder: Path, *, cli: bool = False, workers: int = 1,
                  env: dict[str, str] | None = None) -> ReplicaProcess:
    """`mlops serve` (cli) or `python -m backend.replica` on a free port (`ready` waits for it)."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    arguments = [ref, "--port", str(port), "--url", backend_url, "--workers", str(workers),
                 "--cache-dir", str(folder / "cache")]
    command = ([sys.executable, "-m", "mlops_tui.cli.main", "serve", *arguments] if cli
               else [sys.executable, "-m", "backend.replica", *arguments])
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **FAST, **(env or {})}
    environment.pop("MLOPS_ALLOWED_HOSTS", None)
    log = folder / "replica.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return ReplicaProcess(f"http://127.0.0.1:{port}", process, log)


def ready(*replicas: ReplicaProcess) -> None:
    """Wait until each replica answers `/ping` (stopping them all if one does not start)."""
    deadline = time.monotonic() + 240  # a loaded 2-core machine takes long to start a few Pythons
    for replica in replicas:
        while time.monotonic() < deadline and replica.process.poll() is None:
            try:
                if httpx.get(f"{replica.url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            for each in replicas:
                stop_process(each.process)
            raise AssertionError(f"replica did not start:\n{replica.log.read_text(errors='replace')}")


def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stored_sources(db_path: Path, name: str) -> dict[str, int]:
    """Prediction rows the backend stored for `name`, by source."""
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT source, count(*) FROM predictions WHERE name = ? GROUP BY source", (name,)))


def split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}


def to_csv(frame: pd.DataFrame) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(frame.columns)
    writer.writerows(frame.values.tolist())
    return out.getvalue().encode()


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A backend of this module's own: its predictions table is read by source."""
    home = tmp_path_factory.mktemp("replica-backend")
    server = start_backend(home, home.parent / f"{home.name}.log")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="module")
def client(backend: LiveServer) -> Iterator[Client]:
    with Client(backend.url, token="", timeout=60) as found:
        yield found


@pytest.fixture(scope="module")
def model(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Model:
    return register_model(client, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def replicas(backend: LiveServer, model: Model,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaProcess, ReplicaProcess]]:
    """Replica A: `mlops serve`, following by long poll. Replica B: `python -m backend.replica` with two
    workers, polling (a long poll's wait of 0: the backend answers at once)."""
    folder = tmp_path_factory.mktemp("replicas")
    ref = f"{model.name}@production"
    first = spawn_replica(backend.url, ref, folder / "a", cli=True, env={"MLOPS_REPLICA_SOURCE": "replica-a"})
    second = spawn_replica(backend.url, ref, folder / "b", workers=2,
                           env={"MLOPS_REPLICA_SOURCE": "replica-b", "MLOPS_REPLICA_WAIT_SECONDS": "0"})
    ready(first, second)
    yield first, second
    for replica in (first, second):
        assert stop_process(replica.process) in (0, -signal.SIGTERM), replica.log.read_text(errors="replace")


# --- serving every protocol --------------------------------------------------------------------------


def native(url: str, name: str, body: dict[str, Any], **params: Any) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/models/{name}/aliases/production/predict", json=body, params=params,
                      timeout=30)


def check_protocols(url: str, model: Model, version: int, predictions: list[int]) -> None:
    """Every protocol answers the same predictions, those of the pipeline itself."""
    answer = native(url, model.name, split(ROWS.assign(extra="x")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == predictions and body["model_version"] == version
    assert len(set(body["request_ids"])) == len(ROWS)
    assert answer.headers[MODEL_VERSION_HEADER] == f"{model.name}/{version}"
    assert answer.headers[IGNORED_COLUMNS_HEADER] == "extra"
    probabilities = native(url, model.name, split(ROWS), proba="true").json()
    assert probabilities["classes"] == [0, 1] and len(probabilities["probabilities"]) == len(ROWS)

    records = ROWS.to_dict(orient="records")
    for payload in (split(ROWS), {"dataframe_records": records}, {"instances": records},
                    {"instances": ROWS.values.tolist()}, {"inputs": {c: ROWS[c].tolist() for c in ROWS}}):
        scored = httpx.post(f"{url}/invocations", json=payload, timeout=30)
        assert scored.status_code == 200, (payload, scored.text)
        assert scored.json() == {"predictions": predictions}
    scored = httpx.post(f"{url}/invocations", content=to_csv(ROWS), headers={"Content-Type": "text/csv"}, timeout=30)
    assert scored.json() == {"predictions": predictions}
    for probe in ("/ping", "/health", "/version", "/v2/health/live", "/v2/health/ready", "/v2"):
        assert httpx.get(f"{url}{probe}", timeout=5).status_code == 200, probe

    columns = [{"name": c, "shape": [len(ROWS)], "datatype": "FP64", "data": ROWS[c].tolist()} for c in ROWS]
    matrix = [{"name": "input-0", "shape": [len(ROWS), 2], "datatype": "FP64", "data": ROWS.values.tolist()}]
    for tensors in (columns, matrix):
        inferred = httpx.post(f"{url}/v2/models/{model.name}/infer", json={"id": "req-7", "inputs": tensors},
                              timeout=30)
        assert inferred.status_code == 200, inferred.text
        body = inferred.json()
        assert (body["model_name"], body["model_version"], body["id"]) == (model.name, str(version), "req-7")
        assert body["outputs"] == [{"name": "predict", "shape": [len(ROWS)], "datatype": "INT64",
                                    "data": predictions}]
    with_proba = httpx.post(f"{url}/v2/models/{model.name}/infer", timeout=30, json={
        "inputs": columns, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}).json()
    assert with_proba["outputs"][1]["shape"] == [len(ROWS), 2]
    assert with_proba["outputs"][1]["data"] == [p for row in probabilities["probabilities"] for p in row]
    metadata = httpx.get(f"{url}/v2/models/{model.name}", timeout=5).json()
    assert metadata["versions"] == [str(version)]
    assert metadata["inputs"] == [{"name": "a", "datatype": "FP64", "shape": [-1]},
                                  {"name": "b", "datatype": "FP64", "shape": [-1]}]


def serves(url: str, model: Model, version: int, times: int = 1) -> bool:
    """`times` requests in a row, each on a new connection (so every worker is asked), answer `version`."""
    return all(native(url, model.name, split(ROWS)).json().get("model_version") == version for _ in range(times))


def test_two_replicas_serve_every_protocol_follow_a_promotion_and_ship_their_records(
        replicas: tuple[ReplicaProcess, ReplicaProcess], model: Model, client: Client, backend: LiveServer) -> None:
    for replica in replicas:
        check_protocols(replica.url, model, 1, model.first)

    failures: list[str] = []

    def hammer(url: str, stop_at: float) -> int:
        """Requests while the alias moves: none may fail."""
        sent = 0
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop_at:
                answer = http.post(f"{url}/invocations", json=split(ROWS))
                if answer.status_code != 200 or answer.json()["predictions"] not in (model.first, model.second):
                    failures.append(answer.text)
                sent += 1
        return sent

    with ThreadPoolExecutor(2) as pool:
        load = [pool.submit(hammer, r.url, time.monotonic() + 3) for r in replicas]
        client.promote(model.name, 2, "production", force=True, reason="replica tests: the next version")
        for replica in replicas:
            eventually(lambda url=replica.url: serves(url, model, 2, times=10), what=f"{replica.url} to follow")
        assert all(f.result() > 0 for f in load)
    assert failures == []
    for replica in replicas:
        check_protocols(replica.url, model, 2, model.second)
        assert replica.health()["model_version"] == 2

    eventually(lambda: {"replica-a", "replica-b"} <= set(stored_sources(backend.db_path, model.name)),
               what="both replicas' records at the backend")
    for replica in replicas:  # everything served has been shipped (none buffered, none dropped)
        eventually(lambda r=replica: r.health()["records_buffered"] == 0, what="the buffer to drain")
        assert replica.health()["records_dropped"] == 0
    with sqlite3.connect(backend.db_path) as conn:
        versions = dict(conn.execute("SELECT version, count(*) FROM predictions WHERE name = ? AND source = "
                                     "'replica-a' GROUP BY version", (model.name,)))
    assert set(versions) == {1, 2}


def test_each_protocol_refuses_bad_rows_in_its_own_shape_naming_the_column_and_row(
        replicas: tuple[ReplicaProcess, ReplicaProcess], model: Model) -> None:
    url = replicas[0].url
    bad = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.1, 0.2], [0.3, "abc"]]}}
    refused = native(url, model.name, bad)
    assert refused.status_code == 422
    assert refused.json()["field"] == "dataframe_split.data[1][1]" and "row 1, column 'b'" in refused.json()["detail"]
    missing = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"a": 1.0}]}, timeout=30)
    assert missing.status_code == 400 and missing.json()["error_code"] == "BAD_REQUEST"
    assert "column 'b'" in missing.json()["message"] and "row 0" in missing.json()["message"]
    tensors = [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
               {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["1.0", "x"]}]
    oip = httpx.post(f"{url}/v2/models/{model.name}/infer", json={"inputs": tensors}, timeout=30)
    assert oip.status_code == 400 and "row 1, column 'b'" in oip.json()["error"]
    shape = httpx.post(f"{url}/v2/models/{model.name}/infer", timeout=30, json={
        "inputs": [{"name": "a", "shape": [3], "datatype": "FP64", "data": [1.0]}]})
    assert shape.status_code == 400 and "inputs[0]" in shape.json()["error"]
    assert httpx.post(f"{url}/v2/models/other/infer", json={"inputs": tensors}, timeout=30).status_code == 404
    other = httpx.post(f"{url}/api/v1/models/{model.name}/aliases/staging/predict", json=split(ROWS), timeout=30)
    assert other.status_code == 404 and other.json()["field"] == "alias"
    text = httpx.post(f"{url}/invocations", content=b"a=1", headers={"Content-Type": "text/plain"}, timeout=30)
    assert text.status_code == 415 and text.json()["error_code"] == "BAD_REQUEST"


# --- integrity --------------------------------------------------------------------------------------------


def test_a_model_file_that_is_not_the_registered_one_is_refused_and_never_cached(
        backend: LiveServer, model: Model, client: Client, tmp_path: Path) -> None:
    """The bytes come from the real backend; a byte flipped on the way (what a tampering proxy or a
    corrupted download does) must be caught before anything is written or loaded."""

    def tampered(request: httpx.Request) -> httpx.Response:
        answer = httpx.request(request.method, str(request.url), headers=request.headers, content=request.content)
        body = answer.content
        if request.url.path.endswith("/model"):
            body = body[:-1] + bytes([body[-1] ^ 1])
        return httpx.Response(answer.status_code, headers={"Content-Type": answer.headers["content-type"]},
                              content=body)

    config = ReplicaConfig(name=model.name, alias="production", backend_url=backend.url, cache_dir=tmp_path)
    replica = ReplicaService(config)
    replica.backend = Client(backend.url, token="", transport=httpx.MockTransport(tampered))
    version = client.get_alias(model.name, "production")
    with pytest.raises(ModelMismatch, match="not the registered"):
        replica.load(version)
    assert list(tmp_path.iterdir()) == []

    replica.backend = Client(backend.url, token="")  # the real answer loads, and is cached
    assert replica.load(version).version == version.version
    path = cached_path(tmp_path, version)
    path.write_bytes(path.read_bytes()[:-1])  # a cached copy changed on disk is not used: downloaded again
    assert replica.load(version).version == version.version
    assert path.read_bytes() == client.download_model(model.name, version.version)


# --- a backend that goes away -------------------------------------------------------------------------


def restart_backend(server: LiveServer) -> None:
    """The same backend again: its home, its port (the fixture stops whichever process runs last)."""
    env = {**os.environ}
    env.pop("MLOPS_ALLOWED_HOSTS", None)
    with open(server.home.parent / f"{server.home.name}.log", "ab") as out:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "backend.server", "--host", "127.0.0.1", "--port", str(server.port), "--home",
             str(server.home)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    eventually(lambda: _up(server.url), timeout=120, what="the backend to come back")


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_replica_keeps_serving_through_a_backend_outage_and_ships_what_it_buffered(
        backend: LiveServer, model: Model, client: Client, tmp_path: Path) -> None:
    """The module's backend stops (its long polls, this replica's among them, must not hold it), the replica
    serves on and buffers (20 records at most here: the oldest are dropped and counted), the backend
    comes back on its port and gets the buffered records and the dropped count."""
    replica = spawn_replica(backend.url, f"{model.name}@production", tmp_path,
                            env={"MLOPS_REPLICA_SOURCE": "outage", "MLOPS_REPLICA_BUFFER_RECORDS": "20",
                                 "MLOPS_REPLICA_WAIT_SECONDS": "60"})  # a long poll is under way when it stops
    try:
        ready(replica)
        version = client.get_alias(model.name, "production").version
        predictions = model.first if version == 1 else model.second
        one_row = split(ROWS.head(1))
        for _ in range(5):
            assert native(replica.url, model.name, one_row).status_code == 200
        eventually(lambda: stored_sources(backend.db_path, model.name).get("outage") == 5, what="the first records")

        stopping = time.monotonic()
        assert stop_process(backend.process) in (0, -signal.SIGTERM)
        assert time.monotonic() - stopping < 10, "the backend waited for a replica's long poll before stopping"
        for _ in range(30):
            answer = native(replica.url, model.name, one_row)
            assert answer.status_code == 200 and answer.json()["predictions"] == predictions[:1]
        health = replica.health()
        assert (health["records_buffered"], health["records_dropped"]) == (20, 10)

        restart_backend(backend)
        eventually(lambda: stored_sources(backend.db_path, model.name).get("outage") == 25,
                   what="the buffered records")
        eventually(lambda: replica.health()["records_buffered"] == 0, what="an empty buffer")
        # the replica told the backend (restarted: its count starts again) what it dropped
        assert client.send_records(RecordBatch(source="probe", records=[])).dropped_total == 10
    finally:
        stop_process(replica.process)


# --- the command line ------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_URL": NOWHERE}
    environment.pop("MLOPS_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_mlops_serve_refuses_what_it_cannot_serve_without_a_traceback(tmp_path: Path) -> None:
    with ThreadPoolExecutor(3) as pool:
        version, wide, unreachable = pool.map(lambda args: run_cli(*args), [
            ("serve", "churn/3"), ("serve", "churn@production", "--host", "0.0.0.0"),
            ("serve", "churn@production", "--port", str(free_port()), "--cache-dir", str(tmp_path))])
    assert version.returncode == 2 and "NAME@ALIAS" in version.stderr
    assert wide.returncode == 1 and "MLOPS_TOKEN" in wide.stderr
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error:")
    for result in (version, wide, unreachable):
        assert "Traceback" not in result.stderr


def test_a_replica_with_a_token_asks_callers_for_it_but_not_its_probes(backend: LiveServer, model: Model,
                                                                        tmp_path: Path) -> None:
    """The real replica app over httpx's ASGI transport, its model loaded from the real backend."""
    config = ReplicaConfig(name=model.name, alias="production", backend_url=backend.url, cache_dir=tmp_path,
                           token=TOKEN)
    app = create_replica_app(config)
    replica: ReplicaService = app.state.replica
    replica.follower.current = replica.load(replica.backend.get_alias(model.name, "production"))

    async def calls() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return [
                (await http.post("/invocations", json=split(ROWS))).status_code,
                (await http.post("/invocations", json=split(ROWS), headers={"Authorization": f"Bearer {TOKEN}"})
                 ).status_code,
                (await http.get("/v2/health/ready")).status_code,
                (await http.get("/ping", headers={"Host": "evil.example"})).status_code,
            ]

    assert asyncio.run(calls()) == [401, 200, 200, 421]
