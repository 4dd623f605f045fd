"""The `mlops` CLI, in process (Typer's CliRunner) and as a real subprocess, against the live server."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, base_env, unique
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process output at a known width, whatever terminal pytest runs in (narrow output is
    checked on a real process below)."""
    monkeypatch.setenv("COLUMNS", "200")


@dataclass(frozen=True)
class Dataset:
    experiment: str
    a: str
    b: str
    c: str


@pytest.fixture(scope="module")
def dataset(live_server: LiveServer) -> Dataset:
    """Three runs the read-only tests share: a and b differ only in `lr` (and their metrics)."""
    experiment = unique("cli")
    ids = []
    with Client(url=live_server.url) as client:
        for name, params, metrics in [
            ("run-a", {"model": "rf", "lr": "0.1", "seed": "1"}, {"acc": 0.9, "loss": 0.2}),
            ("run-b", {"model": "rf", "lr": "0.2", "seed": "1"}, {"acc": 0.95, "loss": 0.3}),
            ("run-c", {"model": "xgb", "lr": "0.1", "seed": "2"}, {"acc": 0.8}),
        ]:
            run = client.create_run(experiment=experiment, name=name)
            client.log_batch(run.id, params=params,
                             metrics=[{"key": k, "value": v, "step": 0} for k, v in metrics.items()])
            client.update_run(run.id, status="FINISHED")
            ids.append(run.id)
    return Dataset(experiment, *ids)


def invoke(args: list[str]) -> Result:
    return runner.invoke(app, args)


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr} {result.exception!r}"
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


def assert_cli_error(result: Result, *words: str) -> None:
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.stdout} {result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error:")
    for word in words:
        assert word in result.stderr
    assert result.stdout == ""


# --- experiments -------------------------------------------------------------------------------

def test_experiments_create_list_delete_json(live_env: LiveServer) -> None:
    name = unique("cli-exp")
    created = json_of(invoke(["experiments", "create", name, "--json"]))
    assert created["name"] == name and created["lifecycle_stage"] == "active"
    listed = json_of(invoke(["experiments", "list", "--json"]))
    assert [e["id"] for e in listed["experiments"] if e["name"] == name] == [created["id"]]
    deleted = json_of(invoke(["experiments", "delete", name, "--json"]))
    assert deleted["id"] == created["id"] and deleted["lifecycle_stage"] == "deleted"
    assert name not in [e["name"] for e in json_of(invoke(["experiments", "list", "--json"]))["experiments"]]
    everything = json_of(invoke(["experiments", "list", "--all", "--json"]))["experiments"]
    assert [e["lifecycle_stage"] for e in everything if e["name"] == name] == ["deleted"]


def test_experiments_human_output(live_env: LiveServer) -> None:
    name = unique("cli-human")
    result = invoke(["experiments", "create", name])
    assert result.exit_code == 0 and name in result.stdout
    listed = invoke(["experiments", "list"])
    assert listed.exit_code == 0 and name in listed.stdout and "Default" in listed.stdout


def test_experiment_errors(live_env: LiveServer) -> None:
    name = unique("cli-dup")
    invoke(["experiments", "create", name])
    assert_cli_error(invoke(["experiments", "create", name]), "already exists")
    assert_cli_error(invoke(["experiments", "delete", unique("missing")]), "not found")


@pytest.mark.parametrize("name", ["sweep[lr=0.1]", "[/oops]", "grid [bold]x"])
def test_names_with_brackets_are_shown_verbatim(live_env: LiveServer, name: str) -> None:
    """User text is data, not console markup: it is printed as given and never crashes the command."""
    name = f"{name} {unique('m')}"
    created = invoke(["experiments", "create", name])
    assert created.exit_code == 0, repr(created.exception)
    assert name in created.stdout
    listed = invoke(["experiments", "list"])
    assert listed.exit_code == 0, repr(listed.exception)
    assert_cli_error(invoke(["runs", "list", "--experiment", f"missing {name}"]), "not found", f"missing {name}")
    invoke(["experiments", "delete", name, "--json"])


# --- runs list -----------------------------------------------------------------------------------

def test_runs_list_json_filter_order_limit(live_env: LiveServer, dataset: Dataset) -> None:
    page = json_of(invoke(["runs", "list", "--experiment", dataset.experiment, "--json"]))
    assert {r["id"] for r in page["runs"]} == {dataset.a, dataset.b, dataset.c}
    page = json_of(invoke(["runs", "list", "-e", dataset.experiment, "--filter", "metrics.acc > 0.85",
                           "--order-by", "metrics.acc DESC", "--json"]))
    assert [r["id"] for r in page["runs"]] == [dataset.b, dataset.a]
    page = json_of(invoke(["runs", "list", "-e", dataset.experiment, "--order-by", "metrics.acc ASC",
                           "--limit", "2", "--json"]))
    assert [r["id"] for r in page["runs"]] == [dataset.c, dataset.a] and page["next_page_token"]
    page = json_of(invoke(["runs", "list", "-e", dataset.experiment, "-f", "params.model = 'rf'",
                           "-o", "params.lr DESC", "-n", "5", "--json"]))
    assert [r["id"] for r in page["runs"]] == [dataset.b, dataset.a] and page["next_page_token"] is None
    page = json_of(invoke(["runs", "list", "-e", dataset.experiment, "-o", "params.seed DESC",
                           "-o", "metrics.loss ASC", "--json"]))
    assert [r["id"] for r in page["runs"]] == [dataset.c, dataset.a, dataset.b]


def test_runs_list_human(live_env: LiveServer, dataset: Dataset) -> None:
    result = invoke(["runs", "list", "-e", dataset.experiment, "--filter", "params.model = 'rf'"])
    assert result.exit_code == 0
    assert "run-a" in result.stdout and "run-b" in result.stdout and "run-c" not in result.stdout
    assert dataset.a[:8] in result.stdout and "FINISHED" in result.stdout


@pytest.mark.parametrize(("text", "position"), [("metrics.acc >> 1", 13), ("params.model = 'rf' or x", 20)])
def test_runs_list_bad_filter(live_env: LiveServer, dataset: Dataset, text: str, position: int) -> None:
    assert_cli_error(invoke(["runs", "list", "-e", dataset.experiment, "--filter", text]),
                     f"position {position}", "filter")


def test_runs_list_unknown_experiment_and_bad_limit(live_env: LiveServer) -> None:
    assert_cli_error(invoke(["runs", "list", "--experiment", unique("nope")]), "not found")
    for bad in ("0", "many"):
        usage = invoke(["runs", "list", "--limit", bad])
        assert usage.exit_code == 2 and "--limit" in usage.stderr, (usage.exit_code, usage.stderr)


# --- runs show / compare / delete --------------------------------------------------------------

def test_runs_show_json_and_prefix(live_env: LiveServer, dataset: Dataset) -> None:
    shown = json_of(invoke(["runs", "show", dataset.a, "--json"]))
    assert shown["id"] == dataset.a and shown["params"] == {"model": "rf", "lr": "0.1", "seed": "1"}
    assert shown["metrics"] == {"acc": 0.9, "loss": 0.2} and shown["status"] == "FINISHED"
    by_prefix = json_of(invoke(["runs", "show", dataset.a[:8], "--json"]))
    assert by_prefix["id"] == dataset.a


def test_runs_show_human(live_env: LiveServer, dataset: Dataset) -> None:
    result = invoke(["runs", "show", dataset.b])
    assert result.exit_code == 0
    for text in ("run-b", dataset.b, "lr", "0.2", "acc", "0.95", "FINISHED"):
        assert text in result.stdout


def test_runs_show_unknown(live_env: LiveServer) -> None:
    assert_cli_error(invoke(["runs", "show", "f" * 32]), "not found", "run_id")
    assert_cli_error(invoke(["runs", "show", "f" * 32, "--json"]), "not found")


def test_runs_compare_only_diff_json(live_env: LiveServer, dataset: Dataset) -> None:
    diff = json_of(invoke(["runs", "compare", dataset.a, dataset.b, "--only-diff", "--json"]))
    assert [r["id"] for r in diff["runs"]] == [dataset.a, dataset.b]
    assert diff["params"] == [{"key": "lr", "values": ["0.1", "0.2"], "differs": True}]
    metrics = {m["key"]: m for m in diff["metrics"]}
    assert metrics["acc"]["values"] == [0.9, 0.95] and metrics["acc"]["best"] == 1
    assert metrics["loss"]["values"] == [0.2, 0.3] and metrics["loss"]["best"] == 0  # lower loss is better
    full = json_of(invoke(["runs", "compare", dataset.a, dataset.b, "--json"]))
    assert {p["key"]: p["differs"] for p in full["params"]} == {"lr": True, "model": False, "seed": False}


def test_runs_compare_only_diff_human(live_env: LiveServer, dataset: Dataset) -> None:
    diff = invoke(["runs", "compare", dataset.a, dataset.b, "--only-diff"])
    assert diff.exit_code == 0
    assert "lr" in diff.stdout and "0.1" in diff.stdout and "0.2" in diff.stdout
    assert "seed" not in diff.stdout and "model" not in diff.stdout
    full = invoke(["runs", "compare", dataset.a[:8], dataset.b[:8]])
    assert full.exit_code == 0 and "seed" in full.stdout and "model" in full.stdout


def test_runs_compare_errors(live_env: LiveServer, dataset: Dataset) -> None:
    assert_cli_error(invoke(["runs", "compare", dataset.a]), "two")
    assert_cli_error(invoke(["runs", "compare", dataset.a, "e" * 32]), "not found")


def test_runs_delete(live_env: LiveServer, live_client: Client) -> None:
    experiment = unique("cli-del")
    keep = live_client.create_run(experiment=experiment).id
    drop = live_client.create_run(experiment=experiment).id
    deleted = json_of(invoke(["runs", "delete", drop[:10], "--json"]))
    assert deleted == {"deleted": [drop]}
    page = json_of(invoke(["runs", "list", "-e", experiment, "--json"]))
    assert [r["id"] for r in page["runs"]] == [keep]
    assert_cli_error(invoke(["runs", "delete", "d" * 32]), "not found")
    assert live_client.count_runs(experiment) == 1


# --- as a real process -------------------------------------------------------------------------

def mlops(env: dict[str, str], *args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    if columns is not None:
        env = {**env, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def process_env(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return base_env(tmp_path_factory.mktemp("cli-home"), live_server.url)


@pytest.mark.parametrize("command", ["experiments list", "runs list", "runs show", "runs compare", "runs delete"])
def test_process_json_is_one_document(process_env: dict[str, str], dataset: Dataset, live_client: Client,
                                      command: str) -> None:
    victim = live_client.create_run(experiment=unique("proc-del")).id if command == "runs delete" else ""
    extra = {"experiments list": [], "runs list": ["-e", dataset.experiment, "-o", "metrics.acc DESC"],
             "runs show": [dataset.c], "runs compare": [dataset.a, dataset.c, "--only-diff"],
             "runs delete": [victim]}[command]
    result = mlops(process_env, *command.split(), *extra, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    if command == "runs list":
        assert [r["id"] for r in document["runs"]] == [dataset.b, dataset.a, dataset.c]
    elif command == "runs show":
        assert document["params"]["model"] == "xgb"
    elif command == "runs compare":
        assert {p["key"] for p in document["params"]} == {"model", "seed"}
    elif command == "runs delete":
        assert document == {"deleted": [victim]}
        assert live_client.get_run(victim).lifecycle_stage == "deleted"
    else:
        assert dataset.experiment in [e["name"] for e in document["experiments"]]


def test_process_experiments_create_and_delete(process_env: dict[str, str]) -> None:
    name = unique("proc")
    created = mlops(process_env, "experiments", "create", name, "--json")
    assert created.returncode == 0 and json.loads(created.stdout)["name"] == name
    deleted = mlops(process_env, "experiments", "delete", name, "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["lifecycle_stage"] == "deleted"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["runs", "list", "--filter", "metrics.acc >> 1"], ["position 13"]),
        (["runs", "show", "0" * 32], ["not found"]),
        (["runs", "list", "--experiment", "nope [/x]"], ["not found"]),
    ],
)
def test_process_errors_exit_1_without_traceback(process_env: dict[str, str], args: list[str],
                                                 words: list[str]) -> None:
    result = mlops(process_env, *args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.startswith("error:")
    for word in words:
        assert word in result.stderr.replace("\n", " ")
    assert result.stdout == ""


@dataclass(frozen=True)
class Narrow:
    ids: list[str]
    at_80: subprocess.CompletedProcess[str]
    at_200: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def narrow(live_server: LiveServer, process_env: dict[str, str]) -> Narrow:
    """`runs list` of long names and metric keys, printed by a real process at 80 and 200 columns."""
    experiment = unique("cli-wide")
    ids = []
    with Client(url=live_server.url) as client:
        for index in range(3):
            run = client.create_run(experiment=experiment,
                                    name=f"a-really-long-run-name-for-the-hyperparameter-sweep-number-{index}")
            client.log_batch(run.id, metrics=[
                {"key": "validation_accuracy_top5_macro_average", "value": 0.123456789 * index, "step": 0},
                {"key": "training_loss_exponential_moving_average", "value": 1234.5678, "step": 0},
                {"key": "throughput_samples_per_second", "value": 99999.5, "step": 0},
            ])
            ids.append(run.id)
    return Narrow(ids, mlops(process_env, "runs", "list", "-e", experiment, columns=80),
                  mlops(process_env, "runs", "list", "-e", experiment, columns=200))


def test_process_human_runs_list_fits_80_columns(narrow: Narrow) -> None:
    assert narrow.at_80.returncode == 0, narrow.at_80.stderr
    lines = narrow.at_80.stdout.splitlines()
    assert len(lines) >= 6  # title, header, three runs
    assert [line for line in lines if len(line) > 80] == []
    assert max(len(line) for line in narrow.at_200.stdout.splitlines()) > 80  # the width really mattered


def test_process_human_runs_list_keeps_the_8_character_id_at_80_columns(narrow: Narrow) -> None:
    """The RUN column is the handle for `runs show/compare/delete` (the store resolves the 8-character
    prefix the CLI shows): it is never cut shorter."""
    assert narrow.at_80.returncode == 0
    assert [run_id[:8] in narrow.at_80.stdout for run_id in narrow.ids] == [True, True, True], narrow.at_80.stdout


def test_entry_point_script(process_env: dict[str, str]) -> None:
    script = Path(sys.executable).parent / "mlops"
    assert script.exists()
    result = subprocess.run([str(script), "version"], env=process_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    from mlops_tui import __version__
    assert result.stdout.strip() == __version__
