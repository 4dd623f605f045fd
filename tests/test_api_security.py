"""What a web page can make a browser send to a loopback backend, and the bearer token on every route.

- DNS rebinding: only `Host` values naming this server are answered (421 otherwise).
- Cross-site writes: "simple requests" (text/plain or form bodies, empty POSTs) are refused: JSON routes
  need a JSON content type (415), empty POSTs and raw uploads need `X-Mlops-Client` or the token (403).
- With a token, every route but `/healthz` answers 401 without it: the app's routes are walked.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import ROOT, LiveServer, app_routes, filled, free_port, start_backend, stop_process, wait_healthy

from backend import Settings, create_app
from backend.guards import is_raw_upload
from mlops_tui import Client, MlopsError


def assert_error(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"
    if response.request.method == "HEAD":  # no body to read
        return {}
    body = response.json()
    assert body["field"] == field and isinstance(body["detail"], str) and body["code"], body
    return body  # type: ignore[no-any-return]


def assert_unauthenticated(response: httpx.Response, path: str) -> None:
    """401, in MLflow's error shape on its paths (its client reads `error_code`), else ours."""
    if path.startswith("/api/2.0/"):
        assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHENTICATED", response.text
    else:
        assert_error(response, 401, "authorization")


def browser(settings: Settings, base_url: str = "http://testserver") -> TestClient:
    """A client sending only what a page's simple request carries: no X-Mlops-Client, no token."""
    return TestClient(create_app(settings), base_url=base_url, raise_server_exceptions=False)


def experiment_names(client: TestClient) -> list[str]:
    listed = client.get("/api/v1/experiments").json()["experiments"]
    return sorted(e["name"] for e in listed)


# --- Host allowlist (DNS rebinding) ------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "localhost:5055", "127.0.0.1", "127.0.0.1:80", "[::1]",
                                  "[::1]:5055", "LOCALHOST:5055"])
def test_loopback_hosts_are_answered(home: Path, host: str) -> None:
    with browser(Settings(home=home, token=None, allowed_hosts=())) as client:
        response = client.get("/api/v1/experiments", headers={"Host": host})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5055", "127.0.0.1.evil.example", "localhost.evil",
                                  "127.0.0.1:abc", "[::1]x", "", "testserver"])
def test_other_hosts_get_421_before_any_handler(home: Path, host: str) -> None:
    with browser(Settings(home=home, token=None, allowed_hosts=())) as client:
        headers = {"Host": host, "X-Mlops-Client": "page"}
        created = client.post("/api/v1/experiments", json={"name": "rebound"}, headers=headers)
        body = assert_error(created, 421, "host")
        assert body["code"] == "wrong_host" and "MLOPS_ALLOWED_HOSTS" in body["detail"]
        assert_error(client.get("/healthz", headers={"Host": host}), 421, "host")
        assert experiment_names(client.__class__(client.app, base_url="http://localhost")) == ["Default"]


def test_allowlist_and_bind_address_are_answered(home: Path) -> None:
    settings = Settings(home=home, token="t", allowed_hosts=("mlops.example.org",), bind_host="192.0.2.7")
    auth = {"Authorization": "Bearer t"}
    with browser(settings) as client:
        for host in ("mlops.example.org", "MLOPS.example.org:443", "192.0.2.7:5055", "192.0.2.7"):
            assert client.get("/api/v1/experiments", headers={"Host": host, **auth}).status_code == 200
        assert_error(client.get("/api/v1/experiments", headers={"Host": "192.0.2.8", **auth}), 421, "host")


def test_ipv6_bind_address_and_star(home: Path) -> None:
    with browser(Settings(home=home, token="t", bind_host="2001:db8::5")) as client:
        response = client.get("/healthz", headers={"Host": "[2001:db8::5]:5055"})
        assert response.status_code == 200
    with browser(Settings(home=home, token=None, allowed_hosts=("*",))) as client:
        assert client.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


def test_allowed_hosts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("MLOPS_ALLOWED_HOSTS", " a.example, b.example:1 ,,")
    assert Settings(home=home).allowed_hosts == ("a.example", "b.example:1")
    monkeypatch.delenv("MLOPS_ALLOWED_HOSTS")
    assert Settings(home=home).allowed_hosts == ()


def test_live_server_on_default_settings_refuses_other_hosts(tmp_path: Path) -> None:
    server = start_backend(tmp_path / "home", tmp_path / "server.log")
    try:
        for host in ("evil.example", f"evil.example:{server.port}", "attacker.test:80"):
            assert_error(httpx.get(f"{server.url}/healthz", headers={"Host": host}), 421, "host")
            refused = httpx.post(f"{server.url}/api/v1/experiments", json={"name": "rebound"},
                                 headers={"Host": host})
            assert_error(refused, 421, "host")
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "localhost"):
            assert httpx.get(f"{server.url}/healthz", headers={"Host": host}).status_code == 200
        with Client(url=server.url, token="") as client:
            assert [e.name for e in client.list_experiments()] == ["Default"]
    finally:
        stop_process(server.process)


def test_the_bind_address_is_answered_on_a_live_server(tmp_path: Path) -> None:
    """`--host 127.0.0.2` (loopback, but not one of the fixed names): its own address is answered."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TOKEN", "MLOPS_ALLOWED_HOSTS")}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "backend.server", "--host", "127.0.0.2", "--port", str(port),
                                    "--home", str(tmp_path / "home")], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.2:{port}"
        assert wait_healthy(url, process), (tmp_path / "server.log").read_text()
        assert httpx.get(f"{url}/api/v1/experiments").status_code == 200  # Host: 127.0.0.2:<port>
        assert_error(httpx.get(f"{url}/healthz", headers={"Host": "127.0.0.3"}), 421, "host")
    finally:
        stop_process(process)


# --- cross-site writes ---------------------------------------------------------------------------

def _route_table() -> list[tuple[str, str]]:
    """(method, path with every parameter filled) for each route of the app, as built by `create_app`;
    checked against the OpenAPI document so that no router is missed."""
    with tempfile.TemporaryDirectory() as temp:
        app = create_app(Settings(home=Path(temp), token=None, run_jobs=False))
        app.state.db.close()
    walked = [(method, filled(path)) for method, path in app_routes(app)]
    documented = {(method.upper(), filled(path)) for path, item in app.openapi()["paths"].items() for method in item}
    assert documented <= set(walked), documented - set(walked)
    return walked


EVERY_ROUTE = _route_table()
UNSAFE = [(method, path) for method, path in EVERY_ROUTE if method in ("POST", "PUT", "PATCH")]
SIMPLE_BODIES = [({"Content-Type": "text/plain"}, b'{"name": "from-a-page"}'),
                 ({"Content-Type": "application/x-www-form-urlencoded"}, b"name=from-a-page"),
                 ({"Content-Type": "multipart/form-data; boundary=b"}, b"--b\r\n\r\nx\r\n--b--\r\n")]


def test_the_walk_covers_the_routes_a_page_attacked() -> None:
    paths = {path for _, path in UNSAFE}
    assert {"/api/v1/runs/x/batch", "/api/v1/datasets/x/versions", "/api/v1/jobs/x/cancel",
            "/api/v1/jobs/x/retry", "/api/v1/data/schema", "/api/v1/runs/x/artifacts/x"} <= paths


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the walks below (no jobs, no timers: nothing writes but the requests)."""
    settings = Settings(home=tmp_path_factory.mktemp("page"), token=None, run_jobs=False, automation=False)
    with browser(settings) as client:
        yield client


def stored(client: TestClient) -> str:
    """Everything the database holds, to compare before and after a request."""
    with sqlite3.connect(client.app.state.settings.db_path) as db:  # type: ignore[attr-defined]
        return "\n".join(db.iterdump())


def test_the_walk_covers_every_part_of_the_api() -> None:
    """The walk is the app's routes: registry, serving, monitoring, alerts, shadow, webhooks, retrain,
    imports and the MLflow API are all in it (a route added later is walked without a change here)."""
    for prefix in ("/api/v1/models/x/versions", "/api/v1/models/x/aliases/x/predict", "/api/v1/models/x/requests",
                   "/api/v1/monitoring", "/api/v1/alerts", "/api/v1/models/x/shadow", "/api/v1/webhooks",
                   "/api/v1/models/x/retrain", "/api/v1/import/", "/api/2.0/mlflow/runs/log-batch",
                   "/api/2.0/mlflow/registered-models/create", "/api/2.0/mlflow-artifacts/artifacts/x"):
        assert any(path.startswith(prefix) for _, path in EVERY_ROUTE), prefix


def test_every_route_checks_the_host(page: TestClient) -> None:
    before = stored(page)
    for method, path in EVERY_ROUTE:
        headers = {"Host": "evil.example", "X-Mlops-Client": "page", "Content-Type": "application/json"}
        response = page.request(method, path, headers=headers, content=b"{}" if method in ("POST", "PUT") else None)
        assert_error(response, 421, "host")
    assert stored(page) == before


@pytest.mark.parametrize(("method", "path"), UNSAFE)
@pytest.mark.parametrize(("headers", "content"), SIMPLE_BODIES)
def test_simple_requests_with_a_body_are_refused(page: TestClient, method: str, path: str, headers: dict[str, str],
                                                 content: bytes) -> None:
    before = stored(page)
    response = page.request(method, path, content=content, headers=headers)
    if method == "PUT" and path.startswith("/api/2.0/mlflow-artifacts/"):
        # MLflow's client PUTs a file with the file's own type and no header of ours; a page cannot
        # send a PUT at all without a CORS preflight (never granted), so the proxy's route answers.
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    elif is_raw_upload(method, path):
        assert_error(response, 403, "x-mlops-client")
    else:
        assert_error(response, 415, "content-type")
    assert stored(page) == before


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Another app for requests that pass the guard (their work, some of it in the background, must not
    touch `page`'s database)."""
    settings = Settings(home=tmp_path_factory.mktemp("tool"), token=None, run_jobs=False, automation=False)
    with browser(settings) as client:
        yield client


@pytest.mark.parametrize("path", [path for method, path in UNSAFE if method == "POST"])
def test_empty_posts_without_the_header_are_refused(page: TestClient, tool: TestClient, path: str) -> None:
    before = stored(page)
    assert_error(page.post(path), 403, "x-mlops-client")
    assert stored(page) == before
    with_header = tool.post(path, headers={"X-Mlops-Client": "cli"})
    assert with_header.status_code not in (403, 415), with_header.text


def test_a_page_cannot_write_to_a_real_run_or_job(home: Path) -> None:
    with browser(Settings(home=home, token=None)) as page:
        run = page.post("/api/v1/runs", json={"experiment": "target"}).json()  # JSON: not a simple request
        forged = page.post(f"/api/v1/runs/{run['id']}/batch", content=b'{"params": {"p": "evil"}}',
                           headers={"Content-Type": "text/plain"})
        assert_error(forged, 415, "content-type")
        dataset = page.post("/api/v1/datasets/filled/versions", params={"filename": "d.csv"},
                            content=b"a\n1\n", headers={"Content-Type": "text/plain"})
        assert_error(dataset, 403, "x-mlops-client")
        assert page.get(f"/api/v1/runs/{run['id']}").json()["params"] == {}
        assert page.get("/api/v1/datasets").json()["datasets"] == []


def test_the_token_stands_in_for_the_header(home: Path) -> None:
    with browser(Settings(home=home, token="s3cret")) as client:
        auth = {"Authorization": "Bearer s3cret"}
        response = client.post("/api/v1/jobs/nope/cancel", headers=auth)
        assert_error(response, 404, "job_id")
        upload = client.post("/api/v1/data/schema", params={"filename": "d.csv"}, content=b"a,b\n1,2\n",
                             headers={**auth, "Content-Type": "text/csv"})
        assert upload.status_code == 200, upload.text


def test_the_typed_client_still_works(live_client: Client) -> None:
    run = live_client.create_run(experiment="security-live")
    assert live_client.log_batch(run.id, params={"p": 1})["params"] == 1
    assert live_client.upload_artifact(run.id, "a.txt", b"x") == {"path": "a.txt", "size": 1}
    version = live_client.add_dataset_version("security-live", "d.csv", b"a,b\n1,2\n3,4\n")
    assert version.version >= 1
    assert "validation" in live_client.infer_data_schema("d.csv", b"a,b\n1,2\n3,4\n").model_dump()
    for call in (live_client.cancel_job, live_client.retry_job):
        with pytest.raises(MlopsError) as caught:
            call("0000000000000000")
        assert (caught.value.status, caught.value.field) == (404, "job_id")  # past the guard, to the route


# --- the bearer token on every route -------------------------------------------------------------

PROTECTED = [(method, path) for method, path in EVERY_ROUTE if path != "/healthz"]


def test_the_walk_covers_jobs_datasets_and_data() -> None:
    prefixes = {"/api/v1/jobs", "/api/v1/datasets", "/api/v1/data/", "/api/v1/runs", "/api/v1/experiments",
                "/openapi.json", "/docs"}
    for prefix in prefixes:
        assert any(path.startswith(prefix) for _, path in PROTECTED), prefix
    assert len(PROTECTED) >= 30


@pytest.fixture(scope="module")
def token_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("token-home"), token="s3cret")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_needs_the_token_in_process(token_app: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Mlops-Client": "cli"}):
        response = token_app.request(method, path, headers={**headers, "Content-Type": "application/json"},
                                     content=b"{}" if method in ("POST", "PUT", "PATCH") else None)
        assert_unauthenticated(response, path)
    good = token_app.request(method, path, headers={"Authorization": "Bearer s3cret"})
    assert good.status_code != 401


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("token-live")
    server = start_backend(home, home.parent / f"{home.name}.log", token="s3cret")
    yield server
    stop_process(server.process)


def test_every_route_needs_the_token_on_a_live_server(token_server: LiveServer) -> None:
    with httpx.Client(base_url=token_server.url, timeout=10) as http:
        for method, path in PROTECTED:
            response = http.request(method, path, headers={"X-Mlops-Client": "cli"})
            assert_unauthenticated(response, path)
        assert http.get("/healthz").status_code == 200
        assert http.get("/api/v1/experiments", headers={"Authorization": "Bearer s3cret"}).status_code == 200
