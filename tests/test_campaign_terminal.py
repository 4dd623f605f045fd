"""Hostile names on a terminal (campaign class "names with unicode and terminal escape sequences").

Names, tags, params, descriptions, dataset columns, an actor and a promotion's reason that set the window
title, clear the screen, open an 8-bit CSI or reverse the text that follows are stored and answered
byte-exact by the backend (both APIs and `--json`), and every human listing of the CLI shows them escaped
(`\\x1b`, `\\x9b`, `\\u202e`): nothing reaches the terminal raw. The TUI side is tested in
`tests/tui/test_console_real.py`.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import LiveServer, unique
from registry_support import run_with_files, tiny_model_files
from test_cli_output import strings
from typer.testing import CliRunner

from mlops_tui import Client
from mlops_tui.cli.main import app
from mlops_tui.formatting import safe_text

TITLE_AND_CLEAR = "\x1b]0;pwned\x07\x1b[2J"
"""The brief's name: sets the window title, then clears the screen, when printed raw."""
C1_AND_BIDI = "\x9b2J\u202egpj.exe"
"""The 8-bit CSI (clears the screen on terminals that take C1 controls), then a right-to-left override
that makes `exe.jpg` read as `gpj.exe`."""
RAW = ("\x1b", "\x07", "\x9b", "\u202e")
runner = CliRunner()


@dataclass(frozen=True)
class World:
    experiment: str
    run_id: str
    dataset: str
    model: str


@pytest.fixture(scope="module")
def world(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Every kind of user text the CLI lists, hostile, put there through the typed client (an actor's name
    cannot be: HTTP refuses control characters in a header; `tests/test_registry.py` sends one in-process)."""
    with Client(url=live_server.url, token="") as client:
        experiment = f"{TITLE_AND_CLEAR}{unique('x')}{C1_AND_BIDI}"
        run = client.create_run(experiment=experiment, name=TITLE_AND_CLEAR + C1_AND_BIDI,
                                tags={"note": TITLE_AND_CLEAR, "other": C1_AND_BIDI})
        client.log_batch(run.id, params={"p": C1_AND_BIDI}, metrics=[{"key": "acc", "value": 0.5, "step": 0}])
        dataset = f"d{C1_AND_BIDI}{unique('')}"
        client.add_dataset_version(dataset, "x.csv", f'id,"col{TITLE_AND_CLEAR}"\n1,{C1_AND_BIDI}\n'.encode())
        model = unique("esc")
        source = run_with_files(client, tiny_model_files(tmp_path_factory.mktemp("esc-model")))
        client.register_version(model, source, description=TITLE_AND_CLEAR + C1_AND_BIDI)
        client.promote(model, 1, "production", reason=f"because{TITLE_AND_CLEAR}", force=True)
        yield World(experiment, run.id, dataset, model)


COMMANDS = {
    "experiments list": lambda w: ["experiments", "list"],
    "runs list": lambda w: ["runs", "list", "-e", w.experiment],
    "runs show": lambda w: ["runs", "show", w.run_id],
    "data list": lambda w: ["data", "list"],
    "data show": lambda w: ["data", "show", f"{w.dataset}@1"],
    "models show version": lambda w: ["models", "show", f"{w.model}/1"],
    "models history": lambda w: ["models", "history", w.model],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_human_output_escapes_what_json_keeps_exact(world: World, live_server: LiveServer,
                                                    monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.setenv("MLOPS_URL", live_server.url)
    monkeypatch.setenv("COLUMNS", "400")  # long names stay on one line, so the escapes are found whole
    args = COMMANDS[command](world)
    human = runner.invoke(app, args)
    assert human.exit_code == 0, human.output
    raw = [char for char in RAW if char in human.output]
    assert raw == [], f"{command} sent {raw!r} to the terminal:\n{human.output}"
    # a narrow table wraps a long cell over lines: its last column, read down, holds it whole
    flat = human.output + "".join(line.rsplit("│", 1)[-1].strip() for line in human.output.splitlines())
    assert safe_text(TITLE_AND_CLEAR) in flat or safe_text(C1_AND_BIDI) in flat, human.output
    document = runner.invoke(app, [*args, "--json"])
    assert document.exit_code == 0, document.output
    assert any(TITLE_AND_CLEAR in text or C1_AND_BIDI in text for text in strings(json.loads(document.stdout)))


def test_errors_that_echo_a_hostile_name_escape_it(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_URL", live_server.url)
    for args in (["runs", "list", "-e", f"nope{C1_AND_BIDI}"], ["models", "show", f"nope{TITLE_AND_CLEAR}"],
                 ["data", "show", f"nope{C1_AND_BIDI}@1"]):
        result = runner.invoke(app, args)
        assert result.exit_code in (1, 2), result.output
        assert not any(char in result.output for char in RAW), result.output
        assert "Traceback" not in result.output


def test_the_backend_stores_and_answers_hostile_text_byte_exact(world: World, live_server: LiveServer) -> None:
    """The same bytes back through the native API and MLflow's: nothing stripped, normalized or escaped."""
    with Client(url=live_server.url, token="") as client:
        run = client.get_run(world.run_id)
        assert run.name == TITLE_AND_CLEAR + C1_AND_BIDI
        assert run.tags["note"] == TITLE_AND_CLEAR and run.tags["other"] == C1_AND_BIDI
        assert run.params["p"] == C1_AND_BIDI
        assert client.get_experiment(run.experiment_id).name == world.experiment
    found = httpx.get(f"{live_server.url}/api/2.0/mlflow/runs/get", params={"run_id": world.run_id}).json()
    tags = {tag["key"]: tag["value"] for tag in found["run"]["data"]["tags"]}
    assert tags["note"] == TITLE_AND_CLEAR and found["run"]["info"]["run_name"] == TITLE_AND_CLEAR + C1_AND_BIDI


@pytest.mark.parametrize("name", ["é", "e\u0301", "数据", "🙂🙂", "a\u200db", "x\u202ey", "tab\tname", "O'Brien"])
def test_unicode_names_are_distinct_and_exact(live_server: LiveServer, name: str) -> None:
    """Precomposed and combining accents are two names (no normalization); each reads back as sent."""
    suffix = unique("")
    with Client(url=live_server.url, token="") as client:
        created = client.create_experiment(f"{name}{suffix}")
        assert client.get_experiment(created.id).name == f"{name}{suffix}"
        assert [e.id for e in client.list_experiments() if e.name == f"{name}{suffix}"] == [created.id]
