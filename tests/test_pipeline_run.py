"""`mlops pipeline run FILE` against a live backend: the readable steps of a run whose gates refuse the
model, a submission that does not wait, and what is refused before anything runs (tests/test_ci_examples.py
runs the CI examples' command through every other exit code)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, LiveServer, unique
from test_jobs import wait_for
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli import output
from mlops_tui.cli.main import app
from mlops_tui.cli.pipeline import _validation_line

runner = CliRunner()
SAMPLE = ROOT / "sample_data"


@pytest.fixture(autouse=True)
def _terminal_of_100_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "width", 100)
    monkeypatch.setattr(output.errors, "width", 100)
    monkeypatch.setenv("MLOPS_USER", "ci-bot")


def sample(tmp_path: Path, name: str, model: str, *replace: tuple[str, str]) -> Path:
    """A sample pipeline copied next to a copy of its data, its model renamed (and text replaced)."""
    text = (SAMPLE / name).read_text().replace('name = "churn-classifier"', f'name = "{model}"')
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "churn.csv").write_bytes((SAMPLE / "churn.csv").read_bytes())
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def run(*args: str) -> Result:
    return runner.invoke(app, ["pipeline", "run", *args])


def test_a_run_prints_each_step_and_the_gates_that_refused_the_model(live_env: LiveServer, tmp_path: Path) -> None:
    model = unique("worse")
    done = run(str(sample(tmp_path, "churn_worse_pipeline.toml", model, ("cv = 3", "cv = 2"))), "--promote", "staging")
    assert done.exit_code == 9, f"{done.stdout} {done.stderr}"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("data: churn.csv → dataset churn@")
    assert lines[1].startswith("job ") and lines[1].endswith("(churn) queued")
    assert lines[2] == "validation: passed"
    assert lines[3].startswith("succeeded: best DecisionTreeClassifier")
    assert f"registered: {model}/1" in lines
    assert any(line.startswith("threshold") and "min_roc_auc" in line and line.rstrip().endswith("FAIL")
               for line in lines)
    assert any(line.startswith("FAIL threshold: roc_auc") for line in lines), done.stdout
    assert "not moved: 1 gate failed: min_roc_auc; staging still points at nothing" in done.stderr
    with Client(url=live_env.url, token="") as client:
        assert [v.version for v in client.get_model(model).versions] == [1]
        events = client.model_events(model).events
        assert [event.action for event in events] == ["register"]  # the refused move left no event


def test_without_wait_the_job_is_submitted_and_the_document_says_so(live_env: LiveServer, tmp_path: Path) -> None:
    path = sample(tmp_path, "churn_loop_pipeline.toml", unique("nowait"), ("min_rows = 1000\n", "min_rows = 99999\n"))
    done = run(str(path), "--json")
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["job"]["status"] in ("QUEUED", "RUNNING") and document["dataset"].startswith("churn@")
    assert (document["version"], document["promotion"], document["exit_code"]) == (None, None, 0)
    with Client(url=live_env.url, token="") as client:
        job = wait_for(client, document["job"]["id"], ("FAILED", "SUCCEEDED"), timeout=120)
    assert job.error_kind == "validation"
    assert _validation_line(job) == "validation: [red]failed[/] (1 problem)"


def test_promote_without_a_register_table_is_refused_before_anything_runs(live_env: LiveServer,
                                                                          tmp_path: Path) -> None:
    path = sample(tmp_path, "churn_loop_pipeline.toml", "unused", ('[register]\nname = "unused"\n', ""))
    with Client(url=live_env.url, token="") as client:
        before = [job.id for job in client.list_jobs(None, 1000)]
        done = run(str(path), "--promote", "staging", "--json")
        assert done.exit_code == 3
        assert "--promote staging needs a [register] table" in done.stderr
        assert json.loads(done.stdout)["error"].startswith("--promote staging needs a [register] table")
        assert [job.id for job in client.list_jobs(None, 1000)] == before

    bad_alias = run(str(path), "--promote", "9lives")
    assert bad_alias.exit_code == 2 and "'9lives' is not an alias name" in bad_alias.stderr
    assert "Traceback" not in bad_alias.stderr + bad_alias.stdout
