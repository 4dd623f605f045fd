"""Users and roles: deny by default, on every route of the app.

- Every route of the app declares its role in `backend.access.ROLE_OF` (and no entry names a route that
  does not exist); every route checks it.
- Walking every route with no token, a bad or revoked token, and a token of each role: only `/healthz`
  answers without a token, and a route answers a role only when that role is allowed.
- On a live server: tokens are made (shown once), listed without secrets, stored only as hashes,
  revoked at once; the audit trail records the token's name; the real `mlflow` client and the SDK carry
  tokens; the server refuses to start with auth on and no one able to manage tokens.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import LiveServer, free_port, start_backend, stop_process

from backend import Settings, create_app, server
from backend.access import ROLE_OF, GuardedRoute
from mlops_tui import Client, MlopsError
from mlops_tui.contract.auth import Role
from mlops_tui.credentials import configured_token

SERVER_TOKEN = "root-s3cret"
ROLES = list(Role)


def _api_routes() -> list[APIRoute]:
    with tempfile.TemporaryDirectory() as temp:
        app = create_app(Settings(home=Path(temp), token=None, run_jobs=False))
        app.state.db.close()

    def walk(routes: list) -> Iterator[APIRoute]:  # type: ignore[type-arg]
        for route in routes:
            nested = getattr(route, "effective_route_contexts", None)
            if nested is not None:
                yield from walk([context.original_route for context in nested()])
            elif isinstance(route, APIRoute):
                yield route
    return list(walk(app.routes))


API_ROUTES = _api_routes()
EVERY_ROUTE = sorted({(method, route.path) for route in API_ROUTES for method in route.methods})


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_declares_its_role_and_every_entry_is_a_route() -> None:
    declared = set(ROLE_OF)
    routed = {f"{method} {path}" for method, path in EVERY_ROUTE}
    assert not routed - declared, f"routes with no role in backend/access.py ROLE_OF: {sorted(routed - declared)}"
    assert not declared - routed, f"ROLE_OF entries that name no route: {sorted(declared - routed)}"
    unguarded = [route.path for route in API_ROUTES if not isinstance(route, GuardedRoute)]
    assert not unguarded, f"routes that do not check roles (route_class=GuardedRoute): {unguarded}"
    assert [key for key, role in ROLE_OF.items() if role is None] == ["GET /healthz"]
    assert len(EVERY_ROUTE) >= 130  # the native API, the MLflow API, the auth routes


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[Role, str], str]]:
    settings = Settings(home=tmp_path_factory.mktemp("roles-home"), token=SERVER_TOKEN, run_jobs=False,
                        automation=False)
    with TestClient(create_app(settings), base_url="http://localhost", raise_server_exceptions=False) as client:
        admin = {"Authorization": f"Bearer {SERVER_TOKEN}", "X-Mlops-Client": "test"}
        tokens = {role: client.post("/api/v1/auth/tokens", json={"name": f"{role.value}-1", "role": role.value},
                                    headers=admin).json()["token"] for role in ROLES}
        revoked = client.post("/api/v1/auth/tokens", json={"name": "gone", "role": "admin"}, headers=admin).json()
        assert client.delete(f"/api/v1/auth/tokens/{revoked['id']}", headers=admin).status_code == 200
        yield client, tokens, revoked["token"]


def _send(client: TestClient, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"X-Mlops-Client": "test", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, _filled(path), headers=headers,
                          content=b"{}" if method in ("POST", "PUT", "PATCH", "DELETE") else None)


def _refused_for_role(response: httpx.Response) -> bool:
    """A 403 from the role check (native or MLflow shape), not from a route's own rule."""
    if response.status_code != 403:
        return False
    body = response.json()
    return body.get("field") == "authorization" or (
        body.get("error_code") == "PERMISSION_DENIED" and "role" in body.get("message", ""))


@pytest.mark.parametrize(("method", "path"), EVERY_ROUTE)
def test_a_route_answers_exactly_the_roles_it_allows(guarded_app: tuple[TestClient, dict[Role, str], str],
                                                     method: str, path: str) -> None:
    client, tokens, revoked = guarded_app
    needed = ROLE_OF[f"{method} {path}"]
    forged = tokens[Role.admin][:-4] + "AAAA"  # a real token's id with another secret
    for token in (None, "wrong", "mlops_0123456789ab_wrong", forged, revoked, SERVER_TOKEN + "x"):
        response = _send(client, method, path, token)
        if needed is None:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 401, f"{method} {path} with token {token!r}: {response.status_code}"
    for role in ROLES:
        response = _send(client, method, path, tokens[role])
        allowed = needed is None or role.allows(needed)
        assert response.status_code != 401, response.text
        assert _refused_for_role(response) != allowed, (
            f"{method} {path} as {role.value} (needs {needed}): {response.status_code} {response.text[:200]}")


def test_a_route_missing_from_the_table_is_refused_to_admins(
        guarded_app: tuple[TestClient, dict[Role, str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens, _ = guarded_app
    monkeypatch.delitem(ROLE_OF, "GET /api/v1/experiments")
    response = _send(client, "GET", "/api/v1/experiments", tokens[Role.admin])
    assert response.status_code == 403 and "declares no role" in response.json()["detail"]


def test_auth_off_everyone_is_a_local_admin(home: Path) -> None:
    with TestClient(create_app(Settings(home=home, token=None)), base_url="http://localhost") as client:
        me = client.get("/api/v1/auth/whoami", headers={"X-Mlops-User": "ann"}).json()
        assert me == {"name": "ann", "role": "admin", "auth": False, "token_id": None}
        assert client.get("/healthz").json()["home"] == str(home)
        made = client.post("/api/v1/auth/tokens", json={"name": "later", "role": "viewer"},
                           headers={"X-Mlops-Client": "t"})
        assert made.status_code == 201  # tokens can be made before auth is turned on


# --- a live server --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("roles-live")
    server = start_backend(home, home.parent / f"{home.name}.log", token=SERVER_TOKEN)
    yield server
    stop_process(server.process)


def test_tokens_on_a_live_server(auth_server: LiveServer) -> None:
    with Client(auth_server.url, token=SERVER_TOKEN) as root:
        made = {role: root.create_token(f"live-{role.value}", role) for role in ROLES}
        with pytest.raises(MlopsError) as taken:
            root.create_token("live-viewer", Role.admin)
        assert (taken.value.status, taken.value.field) == (409, "name")
        listed = root.list_tokens().tokens
    assert {t.name for t in listed} >= {f"live-{r.value}" for r in ROLES}
    secrets = [created.token for created in made.values()]
    assert not any(secret in Client.__name__ + repr(listed) for secret in secrets)  # never listed
    stored = b"".join(path.read_bytes() for path in auth_server.home.glob("mlops.db*"))
    for created in made.values():
        secret = created.token.removeprefix(f"mlops_{created.id}_")
        assert secret.encode() not in stored  # only the digest is kept
        assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored

    viewer, operator = made[Role.viewer].token, made[Role.operator].token
    with Client(auth_server.url, token=viewer) as as_viewer:
        assert as_viewer.whoami().model_dump() == {"name": "live-viewer", "role": "viewer", "auth": True,
                                                   "token_id": made[Role.viewer].id}
        assert as_viewer.list_experiments()
        with pytest.raises(MlopsError) as refused:
            as_viewer.create_experiment("viewers-cannot")
        assert refused.value.status == 403 and "operator" in str(refused.value)
    with Client(auth_server.url, token=operator) as as_operator:
        assert as_operator.create_experiment("operators-can").name == "operators-can"
        with pytest.raises(MlopsError) as refused:
            as_operator.list_tokens()
        assert refused.value.status == 403
    with Client(auth_server.url, token=SERVER_TOKEN) as root:
        assert root.revoke_token(made[Role.operator].id).revoked_at is not None
    with Client(auth_server.url, token=operator) as as_operator:
        with pytest.raises(MlopsError) as gone:
            as_operator.list_experiments()
        assert gone.value.status == 401


def test_healthz_is_open_but_tells_no_pid_or_home_without_a_token(auth_server: LiveServer) -> None:
    anonymous = httpx.get(f"{auth_server.url}/healthz").json()
    assert anonymous["status"] == "ok" and "home" not in anonymous and "pid" not in anonymous
    known = httpx.get(f"{auth_server.url}/healthz", headers={"Authorization": f"Bearer {SERVER_TOKEN}"}).json()
    assert known["home"] == str(auth_server.home) and known["pid"] == auth_server.process.pid


def test_the_mlflow_client_carries_a_token_and_the_audit_trail_names_it(
        auth_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    with Client(auth_server.url, token=SERVER_TOKEN) as root:
        viewer = root.create_token("mlflow-viewer", Role.viewer).token
        admin = root.create_token("mlflow-admin", Role.admin).token
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", viewer)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(tracking_uri=auth_server.url)
    assert client.search_experiments()
    with pytest.raises(MlflowException) as refused:
        client.create_registered_model("by-a-viewer")
    assert refused.value.error_code == "PERMISSION_DENIED"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", admin)
    client.create_registered_model("by-an-admin")
    with Client(auth_server.url, token=admin) as as_admin:
        run = as_admin.create_run("roles", name="mlflow-model")
        as_admin.upload_artifact(run.id, "model/MLmodel", b"flavors: {}\n")
    client.create_model_version("by-an-admin", f"runs:/{run.id}/model", run_id=run.id)
    client.set_registered_model_alias("by-an-admin", "production", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "not-a-token")
    with pytest.raises(MlflowException) as unknown:
        client.search_experiments()
    assert "401" in str(unknown.value) or unknown.value.error_code == "UNAUTHENTICATED"
    with Client(auth_server.url, token=admin, user="someone-else") as as_admin:
        events = as_admin.model_events("by-an-admin").events
    assert len(events) == 2 and {event.actor for event in events} == {"mlflow-admin"}  # the token's name


def test_the_client_takes_its_token_from_the_config_file(auth_server: LiveServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with Client(auth_server.url, token=SERVER_TOKEN) as root:
        token = root.create_token("from-config", Role.viewer).token
    config = tmp_path / "config.toml"
    config.write_text(f'[auth]\ntoken = "{token}"\n')
    config.chmod(0o600)
    monkeypatch.delenv("MLOPS_TOKEN", raising=False)
    monkeypatch.setenv("MLOPS_CONFIG", str(config))
    with Client(auth_server.url) as client:
        assert client.whoami().name == "from-config"
    config.chmod(0o644)
    assert configured_token() is None
    assert "other users can read" in capsys.readouterr().err
    monkeypatch.setenv("MLOPS_TOKEN", SERVER_TOKEN)
    assert configured_token() == SERVER_TOKEN  # the environment wins


def test_auth_on_with_no_one_to_manage_tokens_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLOPS_TOKEN", raising=False)
    monkeypatch.setenv("MLOPS_AUTH", "1")
    assert server.main(["--port", str(free_port()), "--home", str(tmp_path / "home")]) == 1
    assert "no token can manage tokens" in capsys.readouterr().err
    monkeypatch.setenv("MLOPS_AUTH", "0")
    assert server.main(["--host", "0.0.0.0", "--port", str(free_port()), "--home", str(tmp_path / "home")]) == 1
    assert "turn auth on" in capsys.readouterr().err
