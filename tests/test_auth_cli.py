"""`mlops auth` and what every command says when the backend refuses it (401/403), against a live server
with auth on (its own `MLOPS_TOKEN`), in process (Typer's CliRunner); and the SDK's `start_run` as an
operator (logs) and as a viewer (a clear 403 at the first call)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import LiveServer, start_backend, stop_process
from typer.testing import CliRunner, Result

import mlops_tui
from mlops_tui import Client, MlopsError
from mlops_tui.cli import output
from mlops_tui.cli.main import app
from mlops_tui.contract.auth import Role

SERVER_TOKEN = "cli-root-s3cret"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("auth-cli")
    live = start_backend(home, home.parent / f"{home.name}.log", token=SERVER_TOKEN)
    yield live
    stop_process(live.process)


@pytest.fixture(scope="module")
def tokens(server: LiveServer) -> dict[Role, str]:
    """A token per role; an experiment; a model `churn` with a version 1 (registered through MLflow's API)."""
    with Client(server.url, token=SERVER_TOKEN) as root:
        made = {role: root.create_token(f"cli-{role.value}", role).token for role in Role}
        root.create_experiment("auth-cli")
        run = root.create_run("auth-cli", name="model")
        root.upload_artifact(run.id, "model/MLmodel", b"flavors: {}\n")
    headers = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    for route, body in (("registered-models/create", {"name": "churn"}),
                        ("model-versions/create", {"name": "churn", "source": f"runs:/{run.id}/model",
                                                   "run_id": run.id})):
        answer = httpx.post(f"{server.url}/api/2.0/mlflow/{route}", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
    return made


def mlops(monkeypatch: pytest.MonkeyPatch, server: LiveServer, token: str | None, *args: str) -> Result:
    monkeypatch.setenv("MLOPS_URL", server.url)
    monkeypatch.setattr(output.console, "width", 200)  # wide, also under xdist (no terminal)
    monkeypatch.setattr(output.errors, "width", 400)  # a one-line error stays one line
    if token is None:
        monkeypatch.delenv("MLOPS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLOPS_TOKEN", token)
    return runner.invoke(app, list(args))


def refused(result: Result, *words: str) -> str:
    """The one-line error of a refused command: exit 1, no traceback, nothing on stdout."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    line = " ".join(result.stderr.split())
    assert line.startswith("error: "), result.stderr
    for word in words:
        assert word in line, line
    return line


def test_token_create_shows_it_once_with_how_to_use_it(monkeypatch: pytest.MonkeyPatch, server: LiveServer,
                                                         tokens: dict[Role, str]) -> None:
    made = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "create", "--name", "carol", "--role", "operator")
    assert made.exit_code == 0, made.stderr
    secret = next(word for word in made.stdout.split() if word.startswith("mlops_"))
    assert f"export MLOPS_TOKEN={secret}" in made.stdout and f'token = "{secret}"' in made.stdout
    assert "chmod 600" in made.stdout and "cannot be shown again" in made.stdout
    as_carol = mlops(monkeypatch, server, secret, "auth", "whoami")
    assert as_carol.exit_code == 0 and as_carol.stdout.strip() == f"carol (operator) on {server.url}"

    listed = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "list")
    assert listed.exit_code == 0 and "carol" in listed.stdout and "operator" in listed.stdout
    assert "server-token" in listed.stdout  # created by
    as_json = orjson.loads(mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "list", "--json").stdout)
    assert {"id", "name", "role", "created_at", "created_by", "revoked_at"} == set(as_json["tokens"][0])
    for text in (listed.stdout, orjson.dumps(as_json).decode()):  # never a secret
        assert secret not in text and secret.split("_", 2)[2] not in text
        assert not any(token.split("_", 2)[2] in text for token in tokens.values())

    revoked = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "revoke", "carol")  # by name
    assert revoked.exit_code == 0 and "revoked token" in revoked.stdout and "carol" in revoked.stdout
    refused(mlops(monkeypatch, server, secret, "auth", "whoami"), "not valid", "revoked", "MLOPS_TOKEN")
    again = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "revoke", "carol")  # no active carol
    refused(again, "no active token has that name")


def test_token_create_json_and_revoke_by_id(monkeypatch: pytest.MonkeyPatch, server: LiveServer,
                                            tokens: dict[Role, str]) -> None:
    made = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "create", "--name", "dave", "--role", "viewer",
                 "--json")
    document = orjson.loads(made.stdout)
    assert document["name"] == "dave" and document["role"] == "viewer"
    assert document["token"].startswith(f"mlops_{document['id']}_")
    gone = orjson.loads(mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "revoke", document["id"],
                              "--json").stdout)
    assert gone["id"] == document["id"] and gone["revoked_at"] is not None and "token" not in gone
    bad_role = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "create", "--name", "x", "--role", "root")
    assert bad_role.exit_code == 2 and "viewer, operator, admin" in bad_role.stderr
    taken = mlops(monkeypatch, server, SERVER_TOKEN, "auth", "token", "create", "--name", "cli-viewer",
                  "--role", "viewer")
    refused(taken, "cli-viewer")


def test_whoami_json_and_with_auth_off(monkeypatch: pytest.MonkeyPatch, server: LiveServer,
                                       tokens: dict[Role, str], live_server: LiveServer) -> None:
    me = orjson.loads(mlops(monkeypatch, server, tokens[Role.viewer], "auth", "whoami", "--json").stdout)
    assert me["name"] == "cli-viewer" and me["role"] == "viewer" and me["auth"] is True
    monkeypatch.setenv("MLOPS_USER", "ann")
    local = mlops(monkeypatch, live_server, None, "auth", "whoami")
    assert local.exit_code == 0, local.stderr
    assert local.stdout.startswith(f"ann (admin): auth is off on {live_server.url}")


def test_refusals_name_the_role_needed_and_how_to_get_a_token(monkeypatch: pytest.MonkeyPatch, server: LiveServer,
                                                              tokens: dict[Role, str], tmp_path: Path) -> None:
    viewer, operator = tokens[Role.viewer], tokens[Role.operator]
    refused(mlops(monkeypatch, server, viewer, "auth", "token", "list"), "cli-viewer is viewer", "admin role",
            "MLOPS_TOKEN")
    refused(mlops(monkeypatch, server, operator, "auth", "token", "create", "--name", "e", "--role", "admin"),
            "cli-operator is operator", "admin role")
    refused(mlops(monkeypatch, server, viewer, "experiments", "create", "nope"), "viewer", "operator role")
    refused(mlops(monkeypatch, server, operator, "models", "promote", "churn", "1", "--to", "production"),
            "cli-operator is operator", "admin role")

    (tmp_path / "table.csv").write_text("a,b\n1,0\n2,1\n3,0\n4,1\n")
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text('name = "auth"\ntask = "classification"\n[data]\npath = "table.csv"\ntarget = "b"\n'
                        '[[models]]\nestimator = "LogisticRegression"\n')
    refused(mlops(monkeypatch, server, viewer, "train", str(pipeline)), "viewer", "operator role")  # not exit 4

    config = tmp_path / "config.toml"
    monkeypatch.setenv("MLOPS_CONFIG", str(config))
    none = refused(mlops(monkeypatch, server, None, "experiments", "list"), "needs a token", "none is set",
                   "export MLOPS_TOKEN=", "chmod 600", "mlops auth token create")
    assert str(config) in none
    refused(mlops(monkeypatch, server, "mlops_000000000000_forged", "experiments", "list"),
            "from MLOPS_TOKEN is not valid")
    config.write_text('[auth]\ntoken = "mlops_000000000000_forged"\n')
    config.chmod(0o600)
    refused(mlops(monkeypatch, server, None, "experiments", "list"), f"[auth] token in {config} is not valid")
    config.write_text(f'[auth]\ntoken = "{viewer}"\n')
    listed = mlops(monkeypatch, server, None, "experiments", "list", "--json")
    assert listed.exit_code == 0 and "auth-cli" in listed.stdout  # the config file's token is used


def test_the_sdk_logs_as_an_operator_and_a_viewer_fails_at_the_first_call(
        monkeypatch: pytest.MonkeyPatch, server: LiveServer, tokens: dict[Role, str]) -> None:
    monkeypatch.setenv("MLOPS_URL", server.url)
    monkeypatch.setenv("MLOPS_TOKEN", tokens[Role.operator])
    with mlops_tui.start_run(experiment="auth-sdk", name="by-operator") as run:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 0.5, step=1)
    with Client(server.url, token=tokens[Role.viewer]) as reader:
        logged = reader.get_run(run.id)
    assert logged.params == {"lr": "0.1"} and logged.status == "FINISHED"

    monkeypatch.setenv("MLOPS_TOKEN", tokens[Role.viewer])
    reached = []
    with pytest.raises(MlopsError) as refusal:
        with mlops_tui.start_run(experiment="auth-sdk", name="by-viewer"):
            reached.append(True)
    assert refusal.value.status == 403 and "operator" in refusal.value.message
    assert reached == []  # refused when the run is created, before the script's body runs
