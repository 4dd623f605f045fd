"""Shared fixtures: a live backend per test session (one per xdist worker), fresh in-process apps,
and environments that point the CLI and the SDK at the live backend (never at the default 5055)."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

with warnings.catch_warnings():  # starlette's notice about its httpx-based test client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from backend import Settings, create_app
from mlops_tui import Client

ROOT = Path(__file__).resolve().parent.parent
# Servers started by tests keep no warm job worker (tests/test_jobs.py turns it on for its own).
os.environ["MLOPS_WARM_WORKER"] = "0"
# In-process apps are reached as http://testserver (TestClient, httpx.ASGITransport); live servers
# started by `start_backend` drop this and run with the default Host allowlist.
os.environ["MLOPS_ALLOWED_HOSTS"] = "testserver"
# A URL nothing listens on: a test that forgets to point at a live server fails fast instead of
# starting the embedded default on port 5055.
NOWHERE = "http://127.0.0.1:9"
# What the typed client sends on every request (tests/test_api_security.py checks requests without it).
CLIENT_HEADERS = {"X-Mlops-Client": "tests"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


def base_env(home: Path, url: str) -> dict[str, str]:
    """The environment for a CLI/SDK subprocess: the live backend, a temporary home, no token."""
    env = os.environ.copy()
    env.pop("MLOPS_TOKEN", None)
    env.pop("FORCE_COLOR", None)
    env.update({"MLOPS_URL": url, "MLOPS_HOME": str(home), "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
                "COLUMNS": "200", "PYTHONUTF8": "1"})
    return env


@dataclass
class LiveServer:
    url: str
    port: int
    home: Path
    process: subprocess.Popen[bytes]

    @property
    def db_path(self) -> Path:
        return self.home / "mlops.db"


def start_backend(home: Path, log_path: Path, token: str | None = None,
                  extra_env: dict[str, str] | None = None) -> LiveServer:
    """`python -m backend.server` on a free port; retried when the port was taken in between.
    `extra_env`: settings for this server (`MLOPS_TRUSTED_PROXIES`...)."""
    env = os.environ.copy()
    env.pop("MLOPS_TOKEN", None)
    env.pop("MLOPS_ALLOWED_HOSTS", None)  # live servers run with the default Host allowlist
    env.pop("MLOPS_AUTH", None)
    if token:
        env["MLOPS_TOKEN"] = token
    env.update(extra_env or {})
    for _ in range(3):
        port = free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend.server", "--host", "127.0.0.1", "--port", str(port),
                 "--home", str(home)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        if wait_healthy(url, process):
            return LiveServer(url, port, home, process)
        stop_process(process)
    raise RuntimeError(f"backend did not start; see {log_path}:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("live-home")
    server = start_backend(home, home.parent / f"{home.name}.log")
    yield server
    code = stop_process(server.process)
    # uvicorn shuts down gracefully, then re-raises the signal: 0 or -SIGTERM are both clean
    assert code in (0, -signal.SIGTERM), f"backend exited with {code} on SIGTERM"


@pytest.fixture(scope="session")
def live_client(live_server: LiveServer) -> Iterator[Client]:
    with Client(url=live_server.url, token="") as client:
        yield client


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never reach the embedded default or the user's real home, whatever a test forgets."""
    monkeypatch.setenv("MLOPS_URL", NOWHERE)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path_factory.getbasetemp() / "unused-home"))
    monkeypatch.delenv("MLOPS_TOKEN", raising=False)


@pytest.fixture
def live_env(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LiveServer:
    """Point this process's CLI and SDK at the live server, with a temporary MLOPS_HOME."""
    monkeypatch.setenv("MLOPS_URL", live_server.url)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    return live_server


@pytest.fixture
def subprocess_env(live_server: LiveServer, tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path / "home", live_server.url)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app_client(home: Path) -> Iterator[TestClient]:
    """A fresh in-process app on a temporary home; 5xx come back as responses, not exceptions."""
    app = create_app(Settings(home=home, token=None))
    with TestClient(app, raise_server_exceptions=False, headers=CLIENT_HEADERS) as client:
        yield client


def make_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False, headers=CLIENT_HEADERS)


@pytest.fixture(scope="module")
def mlflow_fluent(live_server: LiveServer) -> Iterator[str]:
    """MLflow's fluent API (`mlflow.start_run`, `mlflow.log_artifact`...) pointed at the live backend for
    a module's tests. Afterwards no run is left active, and what `set_tracking_uri` and `set_experiment`
    changed (module globals and the `MLFLOW_TRACKING_URI` / `MLFLOW_EXPERIMENT_ID` variables) is back."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils

    saved_env = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")}
    previous_uri, previous_experiment = utils._tracking_uri, fluent._active_experiment_id
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous_uri)  # type: ignore[arg-type]  # None: unset, as before
    fluent._active_experiment_id = previous_experiment
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def app_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route of `app`, descending into included routers (FastAPI keeps
    them nested): security walks derive their lists from the app, so a new route cannot be missed."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                yield from walk(included.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Route):
                for method in sorted(route.methods or {"GET"}):
                    yield method, prefix + route.path

    return list(walk(app.routes, ""))


def filled(path: str, value: str = "x") -> str:
    """`/runs/{run_id}/metrics/{key}` -> `/runs/x/metrics/x`."""
    return re.sub(r"\{[^}]+\}", value, path)
