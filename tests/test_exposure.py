"""Exposure: CORS (none unless configured), forwarded headers (believed only from a configured proxy),
generic 500 bodies (the traceback only in the server log, under the answer's id) and tokens never in logs.

The live servers here fail for real: a column renamed under a running server makes its queries raise an
error no handler expects (as a hand edit of the database would), and renaming it back heals the server.
"""
from __future__ import annotations

import io
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import CLIENT_HEADERS, ROOT, LiveServer, app_routes, filled, free_port, start_backend, stop_process

from backend import Settings, create_app
from backend.internal_errors import REDACTED, Redacting, configure_logging

UI = "https://ui.example"
EVIL = "https://evil.example"


def preflight(client: TestClient, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": "authorization, content-type"})


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


# --- CORS ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def default_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("cors-off"), token=None, run_jobs=False)
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=CLIENT_HEADERS) as client:
        yield client


def test_no_cors_header_on_any_route_by_default(default_app: TestClient) -> None:
    """Every route of the app: the preflight is refused and no answer carries `Access-Control-*`."""
    routes = app_routes(default_app.app)  # type: ignore[arg-type]
    assert len(routes) > 100 and any(path.startswith("/api/2.0/mlflow/") for _, path in routes)
    for method, path in routes:
        answer = preflight(default_app, filled(path), EVIL, method)
        assert answer.status_code >= 400 and not cors_headers(answer), (method, path, answer.headers)
    for path in ("/healthz", "/api/v1/experiments", "/api/2.0/mlflow/experiments/search?max_results=1"):
        answer = default_app.get(path, headers={"Origin": EVIL})
        assert answer.status_code == 200 and not cors_headers(answer), path


@pytest.fixture(scope="module")
def cors_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("cors-on"), token="s3cret", run_jobs=False, cors_origins=(UI,))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_a_configured_origin_gets_cors_and_others_do_not(cors_app: TestClient) -> None:
    allowed = preflight(cors_app, "/api/v1/experiments", UI)  # no token: a preflight never carries one
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == UI
    assert {"authorization", "content-type", "x-mlops-client"} <= {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    listed = cors_app.get("/api/v1/experiments", headers={"Origin": UI, "Authorization": "Bearer s3cret"})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == UI
    for origin in (EVIL, "https://ui.example.evil", "http://ui.example", "null"):
        refused = preflight(cors_app, "/api/v1/experiments", origin)
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers, origin
        read = cors_app.get("/api/v1/experiments", headers={"Origin": origin, "Authorization": "Bearer s3cret"})
        assert "access-control-allow-origin" not in read.headers, origin
    assert cors_app.get("/api/v1/experiments", headers={"Origin": UI}).status_code == 401  # CORS is no login


def test_cors_origins_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("MLOPS_CORS_ORIGINS", f" {UI}, http://localhost:3000 ,,")
    assert Settings(home=home).cors_origins == (UI, "http://localhost:3000")
    for bad in ("*", "https://*.example", "https://ui.example/app"):
        monkeypatch.setenv("MLOPS_CORS_ORIGINS", bad)
        with pytest.raises(ValueError, match="exact origins"):
            Settings(home=home)


# --- one live server; the test reaches it from 127.0.0.1 (a stranger) and 127.0.0.2 (its proxy) -----

TOKEN = f"tok-{uuid.uuid4().hex}"
PROXIED_HOST = "mlops.example.org"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Mlops-Client": "tests"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A token, and a trusted proxy at 127.0.0.2 (and a network of others) answering as mlops.example.org."""
    home = tmp_path_factory.mktemp("exposure")
    live = start_backend(home, home / "server.log", token=TOKEN, extra_env={
        "MLOPS_TRUSTED_PROXIES": "127.0.0.2, 10.9.0.0/16", "MLOPS_ALLOWED_HOSTS": PROXIED_HOST})
    yield live
    stop_process(live.process)


def client_from(server: LiveServer, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x address is this machine)."""
    return httpx.Client(base_url=server.url, headers=AUTH, timeout=10,
                        transport=httpx.HTTPTransport(local_address=address))


def server_log(server: LiveServer) -> str:
    return (server.home / "server.log").read_text(errors="replace")


@contextmanager
def broken_database(server: LiveServer) -> Iterator[None]:
    """A column of `experiments` renamed under the running server (its queries then fail), then restored."""
    with sqlite3.connect(server.db_path) as db:
        db.execute("ALTER TABLE experiments RENAME COLUMN name TO name_gone")
    try:
        yield
    finally:
        with sqlite3.connect(server.db_path) as db:
            db.execute("ALTER TABLE experiments RENAME COLUMN name_gone TO name")


FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(server: LiveServer) -> None:
    with client_from(server, "127.0.0.1") as http:
        moved = http.get("/api/v1/experiments/", headers=FORGED)  # the slash redirect shows scheme and host
        assert moved.status_code == 307 and moved.headers["location"] == f"{server.url}/api/v1/experiments"
        with broken_database(server):
            failed = http.get("/api/v1/experiments", headers=FORGED)
        assert failed.status_code == 500
        assert re.search(rf"internal error id={failed.json()['id']} GET /api/v1/experiments from 127\.0\.0\.1\n",
                         server_log(server))


def test_forwarded_headers_from_a_trusted_proxy_are_believed(server: LiveServer) -> None:
    with client_from(server, "127.0.0.2") as http:
        moved = http.get("/api/v1/experiments/", headers={**FORGED, "X-Forwarded-Host": PROXIED_HOST})
        assert moved.status_code == 307 and moved.headers["location"] == f"https://{PROXIED_HOST}/api/v1/experiments"
        rebound = http.get("/healthz", headers=FORGED)  # DNS rebinding through the proxy
        assert rebound.status_code == 421 and rebound.json()["field"] == "host"
        assert http.get("/healthz").status_code == 200  # no X-Forwarded-Host: the proxy's own Host
        with broken_database(server):
            # the caller wrote "198.51.100.1, 10.9.4.4"; our proxy appended the address it saw (10.9.4.4
            # is another trusted proxy), so the caller is the rightmost untrusted hop
            hops = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.9.4.4", "X-Forwarded-Host": PROXIED_HOST}
            failed = http.get("/api/v1/experiments", headers=hops)
        assert failed.status_code == 500
        assert f"internal error id={failed.json()['id']} GET /api/v1/experiments from 203.0.113.9\n" in server_log(
            server)


def test_trusted_proxies_must_be_addresses(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("MLOPS_TRUSTED_PROXIES", "10.0.0.1, fd00::/8")
    assert Settings(home=home).trusted_proxies == ("10.0.0.1", "fd00::/8")
    monkeypatch.setenv("MLOPS_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(ValueError, match="MLOPS_TRUSTED_PROXIES"):
        Settings(home=home)
    monkeypatch.delenv("MLOPS_TRUSTED_PROXIES")
    for name in ("MLOPS_MAX_CONCURRENCY", "MLOPS_REQUEST_TIMEOUT", "MLOPS_HEADER_TIMEOUT"):
        monkeypatch.setenv(name, "0")
        with pytest.raises(ValueError, match=name):
            Settings(home=home)
        monkeypatch.delenv(name)


# --- generic 500 bodies ----------------------------------------------------------------------------

def test_an_internal_failure_answers_a_generic_body_and_logs_the_traceback(server: LiveServer) -> None:
    with client_from(server, "127.0.0.1") as http:
        with broken_database(server):
            native = http.get("/api/v1/experiments")
            created = http.post("/api/v1/experiments", json={"name": "during-failure"})
            mlflow = http.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "Default"})
        assert native.status_code == 500 and created.status_code == 500 and mlflow.status_code == 500
        ids = []
        for answer in (native, created):
            body = answer.json()
            assert set(body) == {"detail", "code", "id"} and body["detail"] == "internal error", body
            assert body["code"] == "internal" and re.fullmatch(r"[0-9a-f]{12}", body["id"])
            ids.append(body["id"])
        mlflow_body = mlflow.json()
        assert mlflow_body["error_code"] == "INTERNAL_ERROR" and set(mlflow_body) == {"error_code", "message"}
        ids.append(re.fullmatch(r"internal error \(id ([0-9a-f]{12})\)", mlflow_body["message"]).group(1))  # type: ignore[union-attr]
        for answer in (native, created, mlflow):
            for leak in ("no such column", "Traceback", "sqlite", str(server.home), ".py", "name_gone"):
                assert leak not in answer.text, (leak, answer.text)
        log = server_log(server)
        for ident in ids:
            entry = log[log.index(f"internal error id={ident}"):]
            assert "Traceback" in entry and "OperationalError" in entry.split("internal error id=")[1]
        assert http.get("/api/v1/experiments").status_code == 200  # healed: nothing else was touched
        assert "during-failure" not in {e["name"] for e in http.get("/api/v1/experiments").json()["experiments"]}


# --- tokens never in logs --------------------------------------------------------------------------

def raw_request(server: LiveServer, data: bytes) -> bytes:
    """Bytes straight to the server's socket (what httpx would refuse to send)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_the_token_never_reaches_the_server_log(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for given in (TOKEN + "x", TOKEN[:-1], f"Bearer {TOKEN}", "wrong"):
            refused = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {given}"})
            assert refused.status_code == 401 and TOKEN not in refused.text
        with broken_database(server):  # a 500 mid-request, whose logged path holds the token
            failed = http.get(f"/api/v1/experiments/{TOKEN}", headers=AUTH)
            assert failed.status_code == 500 and TOKEN not in failed.text
        assert raw_request(server, f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n"
                                  f"Bad Header {TOKEN}\r\n\r\n".encode()).startswith(b"HTTP/1.1 400")
    log = server_log(server)
    assert f"internal error id={failed.json()['id']} GET /api/v1/experiments/{REDACTED}" in log
    assert TOKEN not in log and TOKEN[4:20] not in log


def test_log_lines_and_tracebacks_are_redacted() -> None:
    """The formatter `configure_logging` puts on every handler: messages and tracebacks both."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.exposure.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        handler.setFormatter(Redacting(None, ("the-server-token",)))
        try:
            raise RuntimeError("header was Authorization: Bearer abc.def-123 and the-server-token")
        except RuntimeError:
            logger.exception("failed with bearer xyz789 for %s", "the-server-token")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "Traceback" in written and "RuntimeError" in written
    for secret in ("the-server-token", "abc.def-123", "xyz789"):
        assert secret not in written
    assert written.count(REDACTED) >= 4


def test_configure_logging_wraps_every_handler_once() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        configure_logging(("secret-value",))
        configure_logging(("secret-value",))
        assert isinstance(handler.formatter, Redacting) and not isinstance(handler.formatter.inner, Redacting)
    finally:
        root.removeHandler(handler)


def test_a_bad_setting_stops_the_server_with_a_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    for name, value in (("MLOPS_CORS_ORIGINS", "*"),):  # the others: as settings load, in-process above
        started = subprocess.run([sys.executable, "-m", "backend.server", "--port", str(free_port()),
                                  "--home", str(tmp_path / "home")], cwd=ROOT, env={**env, name: value},
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 1 and started.stderr.startswith(f"error: {name}: "), started.stderr
        assert "Traceback" not in started.stderr
