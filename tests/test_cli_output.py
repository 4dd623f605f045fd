"""What the CLI prints and how it exits: escaped control characters, usage errors (exit 2), the
runs table (experiment column, ★ on a job's best candidate, parent ids), `data diff` refs, hints
for unknown filter keys. Real `mlops` processes against the live server."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, LiveServer, base_env, unique

from mlops_tui import Client, MlopsError, api
from mlops_tui.contract import Run

ESC_NAME = "evil\x1b[2Jname\x1b]0;pwned\x07"
"""Clears the screen and sets the window title when printed raw."""


def mlops(env: dict[str, str], *args: str, columns: int = 200, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], env={**env, "COLUMNS": str(columns)},
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def env(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return base_env(tmp_path_factory.mktemp("cli-output-home"), live_server.url)


def assert_usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    flat = " ".join(result.stderr.replace("│", " ").split())
    for word in words:
        assert word in flat, flat


# --- 2. terminal escapes --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evil_run(live_server: LiveServer) -> Run:
    with Client(url=live_server.url) as client:
        experiment = f"{ESC_NAME}-{unique('x')}"
        run = client.create_run(experiment=experiment, name=ESC_NAME, tags={"note": "\x1b]0;title\x07"})
        client.log_batch(run.id, params={"p": ESC_NAME}, metrics=[{"key": "acc", "value": 0.5, "step": 0}])
        return client.get_run(run.id)


@pytest.mark.parametrize("command", ["experiments list", "runs list", "runs show"])
def test_control_characters_are_escaped_in_human_output_and_exact_in_json(env: dict[str, str], evil_run: Run,
                                                                           live_client: Client, command: str) -> None:
    experiment = live_client.get_experiment(evil_run.experiment_id).name
    extra = {"experiments list": [], "runs list": ["-e", experiment], "runs show": [evil_run.id]}[command]
    human = mlops(env, *command.split(), *extra)
    assert human.returncode == 0, human.stderr
    assert "\x1b" not in human.stdout and "\x07" not in human.stdout
    assert "evil\\x1b[2Jname\\x1b]0;pwned\\x07" in human.stdout  # shown, escaped, not dropped
    document = json.loads(mlops(env, *command.split(), *extra, "--json").stdout)
    assert any(ESC_NAME in text for text in strings(document))  # --json stays exact


def strings(document: object) -> list[str]:
    """Every string (keys and values) in a JSON document, recursively."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [text for key, value in document.items() for text in (key, *strings(value))]
    if isinstance(document, list):
        return [text for item in document for text in strings(item)]
    return []


def test_escapes_in_error_messages_and_data_columns(env: dict[str, str], tmp_path: Path) -> None:
    missing = mlops(env, "runs", "list", "-e", f"nope{ESC_NAME}")
    assert missing.returncode == 1 and "\x1b" not in missing.stderr and "nope" in missing.stderr
    data = tmp_path / "escapes.csv"
    data.write_text(f"id,\"col{ESC_NAME}\"\n1,a\n2,b\n")
    added = mlops(env, "data", "add", str(data), "--name", unique("esc"))
    assert added.returncode == 0, added.stderr
    ref = added.stdout.split()[1]
    shown = mlops(env, "data", "show", ref)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "colevil\\x1b[2Jname" in shown.stdout


# --- 4. exit codes and messages -------------------------------------------------------------------

def test_limit_out_of_range_is_a_usage_error(env: dict[str, str]) -> None:
    assert_usage_error(mlops(env, "runs", "list", "--limit", "0"), "--limit")
    assert_usage_error(mlops(env, "runs", "list", "--limit", "5001"), "--limit")
    assert_usage_error(mlops(env, "jobs", "list", "--limit", "0"), "--limit")


def test_jobs_list_unknown_status_names_the_allowed_ones(env: dict[str, str]) -> None:
    assert_usage_error(mlops(env, "jobs", "list", "--status", "NOPE"), "'NOPE'", "QUEUED", "RUNNING", "SUCCEEDED",
                       "FAILED", "CANCELLED")
    lower = mlops(env, "jobs", "list", "--status", "succeeded", "--json")
    assert lower.returncode == 0, lower.stderr
    assert all(job["status"] == "SUCCEEDED" for job in json.loads(lower.stdout)["jobs"])


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1:5055", "not a url"])
def test_a_malformed_backend_url_is_a_clean_usage_error(env: dict[str, str], url: str) -> None:
    result = mlops({**env, "MLOPS_URL": url}, "experiments", "list")
    assert_usage_error(result, "MLOPS_URL", "not valid" if "[" in url else "http")


def test_empty_run_id_is_refused_before_any_request(env: dict[str, str]) -> None:
    assert_usage_error(mlops(env, "runs", "show", ""), "cannot be empty")
    assert_usage_error(mlops(env, "runs", "compare", "abcdef12", " "), "cannot be empty")


def test_the_client_never_parses_a_redirect_as_a_model(live_client: Client) -> None:
    """`GET /api/v1/runs/` answers a redirect; it used to be parsed as a run ("1 validation error")."""
    with pytest.raises(MlopsError) as caught:
        live_client.send(api.Call("GET", "/api/v1/runs/", Run.model_validate))
    assert caught.value.status is not None and 300 <= caught.value.status < 400
    assert "unexpected answer" in caught.value.message


def test_train_a_binary_pipeline_file_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    pipeline = tmp_path / "binary.toml"
    pipeline.write_bytes(b"\x00\xff\xfe\xcc binary")
    assert_usage_error(mlops(env, "train", str(pipeline)), "UTF-8", "binary.toml")


def test_train_data_path_that_is_not_csv_or_parquet_exits_4(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "table.txt").write_text("a,b\n1,2\n")
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text('name = "txt"\ntask = "classification"\n[data]\npath = "table.txt"\ntarget = "b"\n'
                        '[[models]]\nestimator = "LogisticRegression"\n')
    result = mlops(env, "train", str(pipeline))
    assert result.returncode == 4, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "table.txt" in result.stderr and ".csv" in result.stderr


def test_data_diff_takes_name_at_version_refs(env: dict[str, str], tmp_path: Path) -> None:
    name = unique("diffref")
    for version, rows in enumerate(["1,a\n2,b\n", "1,a\n2,b\n3,c\n"], start=1):
        path = tmp_path / f"v{version}.csv"
        path.write_text("x,y\n" + rows)
        assert mlops(env, "data", "add", str(path), "--name", name).returncode == 0
    by_ref = mlops(env, "data", "diff", f"{name}@1", f"{name}@2", "--json")
    by_numbers = mlops(env, "data", "diff", name, "1", "2", "--json")
    assert by_ref.returncode == 0, by_ref.stderr
    assert json.loads(by_ref.stdout) == json.loads(by_numbers.stdout)
    assert json.loads(by_ref.stdout)["rows_b"] == 3
    assert_usage_error(mlops(env, "data", "diff", f"{name}@1", "other@2"), "one dataset")
    assert_usage_error(mlops(env, "data", "diff", f"{name}@1"), "NAME@A NAME@B")


def test_a_filter_on_an_unknown_key_says_so_on_stderr(env: dict[str, str], evil_run: Run,
                                                      live_client: Client) -> None:
    experiment = live_client.get_experiment(evil_run.experiment_id).name
    unknown = mlops(env, "runs", "list", "-e", experiment, "-f", "metrics.accuracy > 0.1 and params.p = 'x'",
                    "--json")
    assert unknown.returncode == 0, unknown.stderr
    assert json.loads(unknown.stdout)["runs"] == []  # stdout stays one JSON document
    assert "metric 'accuracy'" in unknown.stderr and "acc" in unknown.stderr
    assert "param 'p'" not in unknown.stderr  # p exists: only the unknown key is named
    known = mlops(env, "runs", "list", "-e", experiment, "-f", "metrics.acc > 0.9")
    assert known.returncode == 0 and known.stderr == ""  # no match, but every key exists: no hint


# --- 3. the runs and jobs tables ------------------------------------------------------------------

def test_runs_list_across_experiments_names_each_experiment_and_counts_runs(env: dict[str, str],
                                                                             live_client: Client) -> None:
    marker = unique("m")
    experiments = [unique("cross-a"), unique("cross-b")]
    for experiment in experiments:
        run = live_client.create_run(experiment=experiment, name=f"run-of-{experiment}")
        live_client.log_batch(run.id, params={"marker": marker})
    listed = mlops(env, "runs", "list", "-f", f"params.marker = '{marker}'")
    assert listed.returncode == 0, listed.stderr
    assert "EXPERIMENT" in listed.stdout
    rows = [line for line in listed.stdout.splitlines() if "run-of-" in line]
    assert len(rows) == 2
    for experiment in experiments:
        assert [row for row in rows if f"run-of-{experiment}" in row and experiment in row.split("run-of-")[0]]
    assert "2 runs" in listed.stdout
    single = mlops(env, "runs", "list", "-e", experiments[0])
    assert "EXPERIMENT" not in single.stdout and "1 run" in single.stdout and "1 runs" not in single.stdout


def test_runs_show_names_the_experiment(env: dict[str, str], live_client: Client) -> None:
    experiment = unique("shown-exp")
    run = live_client.create_run(experiment=experiment, name="named")
    result = mlops(env, "runs", "show", run.id)
    assert result.returncode == 0, result.stderr
    assert f"experiment {experiment} ({run.experiment_id})" in result.stdout


def test_runs_list_at_80_columns_keeps_dates_and_names_whole(env: dict[str, str], live_client: Client) -> None:
    experiment = unique("narrow")
    run = live_client.create_run(experiment=experiment, name="a-rather-long-name-that-wraps-x")
    live_client.update_run(run.id, status="FINISHED")
    result = mlops(env, "runs", "list", "-e", experiment, columns=80)
    assert result.returncode == 0, result.stderr
    started = time.strftime("%m-%d %H:%M", time.localtime(run.start_time / 1000))
    assert started in result.stdout  # on one line, not wrapped
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout  # nothing cut


JOB_PIPELINE = """
name = "{name}"
task = "classification"

[data]
dataset = "{dataset}"
target = "churned"

[features]
drop = ["customer_id", "monthly_spend_next"]

[[models]]
estimator = "LogisticRegression"
params = {{ C = [0.01, 10.0], max_iter = 300, class_weight = "balanced", solver = "liblinear" }}
cv = 2
"""


@pytest.fixture(scope="module")
def finished_job(live_server: LiveServer) -> dict[str, str]:
    """A real two-candidate job on the live server: a parent run, two children, one of them best."""
    with Client(url=live_server.url) as client:
        data = ROOT / "sample_data" / "churn.csv"
        version = client.add_dataset_version("churn-cli-output", data.name, data.read_bytes())
        name = unique("cli-job")
        job = client.submit_job(JOB_PIPELINE.format(name=name, dataset=version.ref))
        deadline = time.monotonic() + 180
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.3)
            job = client.get_job(job.id)
        assert job.status == "SUCCEEDED", (job.status, job.error)
        assert job.report is not None and job.run_id is not None
        return {"id": job.id, "experiment": name, "parent": job.run_id, "best": job.report["best_run_id"]}


def test_jobs_show_prints_params_whole(env: dict[str, str], finished_job: dict[str, str]) -> None:
    result = mlops(env, "jobs", "show", finished_job["id"])
    assert result.returncode == 0, result.stderr
    for value in ("0.01", "10.0"):  # each candidate's params in full (they were cut at 30 characters)
        assert f"C={value}, class_weight=balanced, max_iter=300, solver=liblinear" in result.stdout


def test_runs_list_stars_the_best_candidate_and_shows_its_parent(env: dict[str, str],
                                                                 finished_job: dict[str, str]) -> None:
    result = mlops(env, "runs", "list", "-e", finished_job["experiment"])
    assert result.returncode == 0, result.stderr
    assert "PARENT" in result.stdout
    rows = {line.split()[1]: line for line in result.stdout.splitlines()
            if line.startswith("│ ") and len(line.split()[1]) == 8}
    starred = [run_id for run_id, row in rows.items() if "★" in row]
    assert starred == [finished_job["best"][:8]]
    children = [row for run_id, row in rows.items() if run_id != finished_job["parent"][:8]]
    assert len(children) == 2 and all(finished_job["parent"][:8] in row for row in children)
