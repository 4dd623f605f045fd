"""examples/ci: the GitHub Actions and GitLab CI files run when the pipeline file or the data changes, and
the `mlops` command lines their steps run do what their comments promise, run here as a CI job would run
them (a checkout with `pipelines/churn.toml` and `data/`, `MLOPS_URL` pointing at a real backend, real
training jobs): 0 and `staging` moved, 9 for a worse model, 10 for an approval-gated alias, 5 for data
that fails validation, 4 for a missing data file, 3 for a bad pipeline file; `result.json` each time."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, LiveServer, unique

from mlops_tui import Client

EXAMPLES = ROOT / "examples" / "ci"
SAMPLE = ROOT / "sample_data"
PIPELINE = "pipelines/churn.toml"
"""Where the examples expect the pipeline file, in the team's repository."""
DATA = "data/churn.csv"
SMALLER = {"C = [0.1, 1.0]": "C = [1.0]", "cv = 3": "cv = 2", "max_size_mb = 50": "max_size_mb = 50\nlatency_rows = 5"}
"""The sample pipelines with fewer candidates and folds, and fewer rows timed by the latency gate: the same
steps and gates, a smaller bill for the test suite."""


def _github() -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / "github-actions.yml").read_text()))


def _gitlab() -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text()))


def _mlops_lines(scripts: list[str]) -> list[str]:
    """The `mlops ...` command lines among a CI job's shell lines (comments and other tools left out)."""
    lines = [line.strip() for script in scripts for line in script.splitlines()]
    return [line for line in lines if line.startswith("mlops ")]


def github_commands() -> list[str]:
    steps = [step for job in _github()["jobs"].values() for step in job["steps"]]
    return _mlops_lines([step["run"] for step in steps if "run" in step])


def gitlab_commands() -> list[str]:
    jobs = [job for key, job in _gitlab().items() if isinstance(job, dict) and "script" in job]
    return _mlops_lines([line for job in jobs for line in job.get("before_script", []) + job["script"]])


def test_both_examples_run_on_changes_to_the_pipeline_file_or_the_data_and_keep_the_result() -> None:
    github = _github()
    trigger = github.get("on", github.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(trigger["push"]["paths"]) == {PIPELINE, "data/**"}
    job = next(iter(github["jobs"].values()))
    assert job["env"]["MLOPS_URL"] == "${{ secrets.MLOPS_URL }}"
    assert job["env"]["MLOPS_TOKEN"] == "${{ secrets.MLOPS_TOKEN }}"
    upload = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "result.json" and upload["if"] == "always()"

    gitlab = _gitlab()["churn-model"]
    assert gitlab["rules"][0]["changes"] == [PIPELINE, "data/**/*"]
    assert gitlab["artifacts"]["paths"] == ["result.json"] and gitlab["artifacts"]["when"] == "always"

    expected = [f"mlops pipeline run {PIPELINE} --promote staging --json > result.json"]
    assert github_commands() == expected
    assert gitlab_commands() == expected
    for text in ((EXAMPLES / "github-actions.yml").read_text(), (EXAMPLES / "gitlab-ci.yml").read_text()):
        assert "9: a gate failed" in text and "10: staging needs an approval" in text


class Checkout:
    """A CI runner's checkout of the team's repository: `pipelines/churn.toml` and `data/churn.csv`."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        (root / "pipelines").mkdir(parents=True)
        (root / "data").mkdir()
        shutil.copy(SAMPLE / "churn.csv", root / DATA)

    def pipeline(self, sample: str, model: str, extra: str = "") -> None:
        """A sample pipeline as the team would keep it: its data under data/, its model named `model`."""
        text = (SAMPLE / sample).read_text()
        text = text.replace('path = "churn.csv"', 'path = "../data/churn.csv"')
        text = text.replace('name = "churn-classifier"', f'name = "{model}"')
        for long, short in SMALLER.items():
            text = text.replace(long, short)
        (self.root / PIPELINE).write_text(text + extra)

    def run_ci(self) -> tuple[int, dict[str, Any], str]:
        """Run the example's `mlops` lines in order, as its shell would (stdout redirected to the file named
        after `>`); the last line's exit code, its result.json and its stderr."""
        code, stderr = 0, ""
        for line in github_commands():
            words = shlex.split(line)
            target = words[words.index(">") + 1] if ">" in words else None
            args = words[1:words.index(">")] if target else words[1:]
            with open(self.root / (target or "stdout.txt"), "w") as out:
                done = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], cwd=self.root,
                                      env=self.env, stdout=out, stderr=subprocess.PIPE, text=True, timeout=600)
            code, stderr = done.returncode, done.stderr
            assert "Traceback" not in stderr, stderr
        return code, json.loads((self.root / "result.json").read_text()), stderr


@pytest.fixture
def checkout(tmp_path: Path, subprocess_env: dict[str, str]) -> Checkout:
    return Checkout(tmp_path / "repo", {**subprocess_env, "MLOPS_USER": "ci-bot"})


def test_the_ci_command_promotes_a_good_model_refuses_a_worse_one_and_waits_for_an_approval(
        checkout: Checkout, live_server: LiveServer) -> None:
    model = unique("ci-churn")
    checkout.pipeline("churn_loop_pipeline.toml", model)
    code, result, stderr = checkout.run_ci()
    assert code == 0, stderr
    assert result["exit_code"] == 0 and result["error"] is None
    assert result["job"]["status"] == "SUCCEEDED" and result["dataset"].startswith("churn@")
    assert result["version"] == 1
    promotion = result["promotion"]
    assert (promotion["outcome"], promotion["alias"], promotion["version"], promotion["from_version"]) == \
        ("moved", "staging", 1, None)
    assert promotion["report"]["passed"] is True and promotion["request"] is None
    with Client(url=live_server.url, token="") as client:
        assert client.get_alias(model, "staging").version == 1
        moved = [event for event in client.model_events(model, alias="staging").events if event.action == "promote"]
        assert [(event.actor, event.to_version) for event in moved] == [("ci-bot", 1)]

    checkout.pipeline("churn_worse_pipeline.toml", model)
    code, result, stderr = checkout.run_ci()
    assert code == 9, stderr
    assert result["exit_code"] == 9 and result["version"] == 2
    promotion = result["promotion"]
    assert (promotion["outcome"], promotion["version"], promotion["from_version"]) == ("gates_failed", 2, 1)
    failed = {gate["gate"] for gate in promotion["report"]["gates"] if not gate["passed"]}
    assert {"threshold", "champion"} <= failed, promotion["report"]
    with Client(url=live_server.url, token="") as client:
        assert client.get_alias(model, "staging").version == 1  # nothing moved

    checkout.pipeline("churn_loop_pipeline.toml", model, "\n[promote.staging]\napproval = true\n")
    code, result, stderr = checkout.run_ci()
    assert code == 10, stderr
    assert result["version"] == 3 and result["promotion"]["outcome"] == "awaiting_approval"
    request = result["promotion"]["request"]
    assert request["status"] == "PENDING" and request["version"] == 3 and request["requester"] == "ci-bot"
    with Client(url=live_server.url, token="") as client:
        assert client.get_alias(model, "staging").version == 1  # waits for the approval


def test_the_ci_command_fails_validation_missing_data_and_a_bad_file_with_their_own_codes(
        checkout: Checkout) -> None:
    model = unique("ci-broken")
    checkout.pipeline("churn_loop_pipeline.toml", model, "")
    text = (checkout.root / PIPELINE).read_text()
    (checkout.root / PIPELINE).write_text(text.replace("min_rows = 1000", "min_rows = 1000000"))
    code, result, stderr = checkout.run_ci()
    assert code == 5, stderr
    assert result["job"]["status"] == "FAILED" and result["job"]["error_kind"] == "validation"
    assert result["version"] is None and result["promotion"] is None and result["exit_code"] == 5

    (checkout.root / PIPELINE).write_text(text.replace('task = "classification"', 'task = "clustering"'))
    code, result, stderr = checkout.run_ci()
    assert code == 3 and "task" in result["error"], stderr
    assert result["job"] is None and result["exit_code"] == 3

    (checkout.root / PIPELINE).write_text(text)
    (checkout.root / DATA).unlink()
    code, result, stderr = checkout.run_ci()
    assert code == 4 and "data.path '../data/churn.csv': no such file" in stderr, stderr
    assert result == {"job": None, "dataset": None, "version": None, "promotion": None, "exit_code": 4,
                      "error": result["error"]} and "no such file" in result["error"]
