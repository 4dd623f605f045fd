"""The alert timer on a live server (`MLOPS_CONTROL_INTERVAL=0.3`: a rule opens an alert with no direct
call), and `mlops alerts list|show|ack|resolve` through that real backend: JSON, tables, exit codes
(0 done, 1 an error such as resolving twice, 2 usage such as a missing note)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alerts_support import model_files, rule
from conftest import LiveServer, start_backend, stop_process, unique
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli import output
from mlops_tui.cli.main import app
from mlops_tui.contract.alerts import Alert

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("alerts-live")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_CONTROL_INTERVAL", "0.3")
        live = start_backend(home, home.parent / f"{home.name}.log")
    yield live
    stop_process(live.process)


@pytest.fixture(scope="module")
def quiet(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model served by nobody, whose pipeline file pages when production sees no request for 1m."""
    name = unique("quiet")
    with Client(url=server.url, token="") as client:
        run = client.create_run(unique("alerts-cli"))
        for path, content in model_files(tmp_path_factory.mktemp("model"),
                                         [rule("idle", "no_traffic", window="1m", cooldown="1h")],
                                         with_profile=False).items():
            client.upload_artifact(run.id, path, content)
        client.register_version(name, run.id)
        client.promote(name, 1, "production", force=True, reason="alerts cli test")
    return name


@pytest.fixture(autouse=True)
def _cli_env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_URL", server.url)
    monkeypatch.setenv("MLOPS_USER", "alice")
    monkeypatch.setattr(output.console, "width", 120)
    monkeypatch.setattr(output.errors, "width", 120)


def wait_for_alert(url: str, name: str, timeout: float = 30.0) -> Alert:
    deadline = time.monotonic() + timeout
    with Client(url=url, token="") as client:
        while time.monotonic() < deadline:
            found = client.list_alerts(model=name).alerts
            if found:
                return found[0]
            time.sleep(0.1)
    raise AssertionError(f"no alert opened for {name} within {timeout} s")


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["alerts", *args])


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    return json.loads(result.stdout)


def assert_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == ""
    for word in words:
        assert word in result.stderr, result.stderr


def test_the_timer_opens_an_alert_without_a_direct_call(server: LiveServer, quiet: str) -> None:
    alert = wait_for_alert(server.url, quiet)
    assert (alert.rule, alert.kind, alert.status, alert.version) == ("idle", "no_traffic", "open", 1)
    assert alert.message == "no requests through production in 1 of the last 1 1m window"


def test_the_cli_lists_shows_acknowledges_and_resolves(server: LiveServer, quiet: str) -> None:
    alert = wait_for_alert(server.url, quiet)
    listed = json_of(invoke("list", "--model", quiet, "--json"))
    assert [a["id"] for a in listed["alerts"]] == [alert.id]
    table = invoke("list", "--status", "open")
    assert table.exit_code == 0 and alert.id in table.stdout and "no requests through production" in table.stdout
    assert json_of(invoke("show", alert.id, "--json"))["rule"] == "idle"
    assert_error(invoke("list", "--status", "closed"), 2, "--status 'closed' is not an alert status")

    acked = json_of(invoke("ack", alert.id, "--note", "on it", "--json"))
    assert (acked["status"], acked["acknowledged_by"], acked["note"]) == ("acknowledged", "alice", "on it")
    assert invoke("list", "--status", "open", "--model", quiet).stdout.strip() == "no alerts open"

    missing_note = invoke("resolve", alert.id)
    assert missing_note.exit_code == 2 and "--note" in missing_note.stderr
    assert_error(invoke("resolve", alert.id, "--note", "  "), 2, "--note is required")
    done = invoke("resolve", alert.id, "--note", "nobody calls it on weekends")
    assert done.exit_code == 0 and done.stdout.strip() == f"{alert.id} resolved by alice", done.stdout
    shown = invoke("show", alert.id)
    assert "status   resolved" in shown.stdout and "note     nobody calls it on weekends" in shown.stdout

    assert_error(invoke("resolve", alert.id, "--note", "again"), 1, "resolved already", "(status)")
    assert_error(invoke("ack", alert.id), 1, "resolved already")
    assert_error(invoke("show", "nope"), 1, "not found", "(alert_id)")

