"""The logging SDK against the live server: buffering, flushing, run status, environment tags."""
from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from conftest import LiveServer, unique

from mlops_tui import Client, MlopsError, sdk, start_run
from mlops_tui.sdk import MAX_BATCH_POINTS, ActiveRun


def history_length(client: Client, run_id: str, key: str) -> int:
    try:
        return len(client.metric_history(run_id, key).points)
    except MlopsError as error:
        if error.status == 404 and error.field == "key":
            return 0
        raise


def make_git_repo(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    (folder / "README").write_text("hello\n")
    subprocess.run([*git, "add", "README"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=folder, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's interval timer never fires: only a full buffer or the end sends, so the number of
    calls is exact whatever the machine's speed."""
    monkeypatch.setattr(sdk, "FLUSH_SECONDS", 3600.0)


def batch_paths(run: ActiveRun) -> list[str]:
    paths: list[str] = []
    run.client._http.event_hooks["request"].append(
        lambda request: paths.append(request.url.path) if request.url.path.endswith("/batch") else None)
    return paths


def test_buffers_25000_points_into_three_batches_and_flushes_on_exit(live_env: LiveServer, live_client: Client,
                                                                     no_timer: None) -> None:
    """Two full batches sent in the background as the buffer fills, the rest (and the param) at the end."""
    with start_run(experiment=unique("sdk-buffer")) as run:
        batches = batch_paths(run)
        for index in range(25_000):
            run.log_metric("loss", 1.0 / (index + 1))
        run.log_param("points", 25_000)
        run_id = run.id
    assert len(batches) == 3
    history = live_client.metric_history(run_id, "loss")
    assert [p.step for p in history.points] == list(range(25_000))
    assert history.points[-1].value == 1.0 / 25_000
    finished = live_client.get_run(run_id)
    assert finished.status == "FINISHED" and finished.end_time is not None
    assert finished.params == {"points": "25000"}
    assert finished.metric_stats["loss"].count == 25_000


def test_steady_logging_makes_no_call_per_round_trip(live_env: LiveServer, live_client: Client,
                                                     no_timer: None) -> None:
    """A loop that keeps logging (some work between points) for a while: the sender does not send a
    small batch after every round trip; without its timer, everything goes in the final flush."""
    points = 0
    with start_run(experiment=unique("sdk-steady")) as run:
        batches = batch_paths(run)
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            for _ in range(20):
                run.log_metric("loss", 1.0 / (points + 1))
                points += 1
            time.sleep(0.01)  # the "training step" between bursts of logging
        assert batches == [] and points < MAX_BATCH_POINTS
        run_id = run.id
    assert len(batches) == 1
    assert live_client.get_run(run_id).metric_stats["loss"].count == points


def test_the_timer_sends_one_partial_batch_per_interval(live_server: LiveServer, live_client: Client) -> None:
    run_id = live_client.create_run(experiment=unique("sdk-timer")).id
    with Client(url=live_server.url) as client:
        run = ActiveRun(client, run_id, flush_interval=0.2)
        batches = batch_paths(run)
        for step in range(5):
            run.log_metric("acc", step / 10, step=step)
        deadline = time.monotonic() + 30
        while history_length(live_client, run_id, "acc") < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert history_length(live_client, run_id, "acc") == 5  # sent without flush() or end()
        time.sleep(0.5)  # more intervals pass with nothing buffered: no more calls
        assert len(batches) == 1
        run.end()


def test_points_wait_in_the_buffer_until_flush_or_a_full_batch(live_server: LiveServer,
                                                                live_client: Client) -> None:
    run_id = live_client.create_run(experiment=unique("sdk-internals")).id
    with Client(url=live_server.url) as client:
        run = ActiveRun(client, run_id, flush_interval=3600)  # the timer never fires in this test
        for step in range(100):
            run.log_metric("acc", step / 100, step=step)
        run.log_param("lr", 0.1)
        run.set_tag("phase", "warmup")
        assert run._buffered == 100
        assert history_length(live_client, run_id, "acc") == 0  # nothing sent yet
        assert live_client.get_run(run_id).params == {}

        run.flush()
        assert run._buffered == 0 and run._series == {}
        assert history_length(live_client, run_id, "acc") == 100
        fetched = live_client.get_run(run_id)
        assert fetched.params == {"lr": "0.1"} and fetched.tags["phase"] == "warmup"

        # a full batch wakes the sender thread without any flush()
        for step in range(100, 100 + MAX_BATCH_POINTS):
            run.log_metric("acc", 0.5, step=step)
        deadline = time.monotonic() + 30
        while history_length(live_client, run_id, "acc") < 100 + MAX_BATCH_POINTS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert history_length(live_client, run_id, "acc") == 100 + MAX_BATCH_POINTS
        assert run._buffered == 0

        run.log_metric("acc", 1.0, step=99_999)
        run.end("FINISHED")
    final = live_client.get_run(run_id)
    assert final.status == "FINISHED" and final.metrics["acc"] == 1.0
    assert final.metric_stats["acc"].count == 101 + MAX_BATCH_POINTS


def test_log_metric_steps_count_per_key(live_env: LiveServer, live_client: Client) -> None:
    with start_run(experiment=unique("sdk-steps")) as run:
        for index in range(3):
            run.log_metrics({"a": float(index), "b": float(index * 10)})
        run.log_metric("a", 99.0, step=10)
        run.log_metric("a", 100.0)  # continues after the explicit step
        run_id = run.id
    assert [p.step for p in live_client.metric_history(run_id, "a").points] == [0, 1, 2, 10, 11]
    assert [p.value for p in live_client.metric_history(run_id, "b").points] == [0.0, 10.0, 20.0]


def test_failed_status_when_the_block_raises(live_env: LiveServer, live_client: Client) -> None:
    boom = RuntimeError("boom")
    with pytest.raises(RuntimeError) as caught:
        with start_run(experiment=unique("sdk-fail")) as run:
            run.log_metric("loss", 0.5)
            run_id = run.id
            raise boom
    assert caught.value is boom
    failed = live_client.get_run(run_id)
    assert failed.status == "FAILED" and failed.end_time is not None
    assert failed.metrics == {"loss": 0.5}  # what was logged before the error is kept


def test_killed_status_on_keyboard_interrupt(live_env: LiveServer, live_client: Client) -> None:
    with pytest.raises(KeyboardInterrupt):
        with start_run(experiment=unique("sdk-kill")) as run:
            run_id = run.id
            raise KeyboardInterrupt
    assert live_client.get_run(run_id).status == "KILLED"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf, "nan"])
def test_non_finite_metric_raises_at_the_call(live_env: LiveServer, live_client: Client, value: object) -> None:
    with start_run(experiment=unique("sdk-nan")) as run:
        run.log_metric("m", 1.0)
        with pytest.raises(ValueError, match="finite"):
            run.log_metric("m", value)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            run.log_metrics({"m": value})  # type: ignore[dict-item]
        run_id = run.id
    finished = live_client.get_run(run_id)
    assert finished.status == "FINISHED"
    assert [p.value for p in live_client.metric_history(run_id, "m").points] == [1.0]


def test_changed_param_in_the_buffer_raises_at_the_call(live_env: LiveServer, live_client: Client) -> None:
    with start_run(experiment=unique("sdk-param")) as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", "0.1")  # the same text is fine
        with pytest.raises(MlopsError) as caught:
            run.log_param("lr", 0.2)
        assert caught.value.status == 409
        run_id = run.id
    assert live_client.get_run(run_id).params == {"lr": "0.1"}
    assert live_client.get_run(run_id).status == "FINISHED"


def test_changed_param_after_a_flush_raises_at_the_call(live_env: LiveServer, live_client: Client) -> None:
    """A param sent in an earlier batch is as immutable as one still in the buffer."""
    raised: MlopsError | None = None
    on_exit: MlopsError | None = None
    try:
        with start_run(experiment=unique("sdk-param-flushed")) as run:
            run_id = run.id
            run.log_param("lr", 0.1)
            run.flush()
            try:
                run.log_param("lr", 0.2)
            except MlopsError as error:
                raised = error
    except MlopsError as error:  # the conflict surfaced only when the block ended
        on_exit = error
    assert raised is not None and raised.status == 409, (
        f"log_param did not raise; the conflict surfaced later as: {on_exit!r}")
    assert live_client.get_run(run_id).params == {"lr": "0.1"}


def test_log_artifact_uploads_files_and_folders(live_env: LiveServer, live_client: Client, tmp_path: Path) -> None:
    model = tmp_path / "model.skops"
    model.write_bytes(b"\x00model bytes\xff" * 100)
    folder = tmp_path / "reports"
    (folder / "inner").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "inner" / "cm.csv").write_text("1,2\n3,4\n")
    with start_run(experiment=unique("sdk-artifact")) as run:
        run.log_artifact(model)
        run.log_artifact(folder, artifact_path="eval/")
        with pytest.raises(FileNotFoundError):
            run.log_artifact(tmp_path / "missing.bin")
        run_id = run.id
    assert live_client.download_artifact(run_id, "model.skops") == model.read_bytes()
    assert live_client.download_artifact(run_id, "eval/inner/cm.csv") == b"1,2\n3,4\n"
    assert live_client.download_artifact(run_id, "eval/summary.txt") == b"ok"
    assert [(f.path, f.is_dir) for f in live_client.list_artifacts(run_id)] == [("eval", True), ("model.skops", False)]


def test_environment_tags_in_a_git_repo(live_env: LiveServer, live_client: Client, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "project"
    commit = make_git_repo(repo)
    monkeypatch.chdir(repo)
    with start_run(experiment=unique("sdk-git"), tags={"extra": "yes"}) as run:
        run_id = run.id
    tags = live_client.get_run(run_id).tags
    assert tags["mlops.git.commit"] == commit
    assert tags["mlops.python"] == platform.python_version()
    packages = json.loads(tags["mlops.packages"])
    assert packages["numpy"] == metadata.version("numpy")
    assert packages["mlops-tui"] == metadata.version("mlops-tui")
    assert tags["mlops.source.command"]
    assert tags["extra"] == "yes"


def test_no_git_commit_tag_outside_a_repo(live_env: LiveServer, live_client: Client, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with start_run(experiment=unique("sdk-nogit")) as run:
        run_id = run.id
    tags = live_client.get_run(run_id).tags
    assert "mlops.git.commit" not in tags
    assert "mlops.python" in tags


TRAIN_SCRIPT = """
import sys
from mlops_tui import start_run

with start_run(experiment=sys.argv[sys.argv.index("--experiment") + 1]) as run:
    run.log_param("epochs", 3)
    for epoch in range(3):
        run.log_metric("loss", 1.0 / (epoch + 1))
    print(run.id)
"""


def test_script_run_records_command_commit_and_environment(subprocess_env: dict[str, str], live_client: Client,
                                                            tmp_path: Path) -> None:
    repo = tmp_path / "trainer"
    commit = make_git_repo(repo)
    (repo / "train.py").write_text(TRAIN_SCRIPT)
    experiment = unique("sdk-script")
    result = subprocess.run([sys.executable, "train.py", "--experiment", experiment, "--lr", "0.1"], cwd=repo,
                            env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    run = live_client.get_run(result.stdout.strip())
    assert run.status == "FINISHED"
    assert run.tags["mlops.source.command"] == f"train.py --experiment {experiment} --lr 0.1"
    assert run.tags["mlops.git.commit"] == commit
    assert run.tags["mlops.python"] == platform.python_version()
    assert json.loads(run.tags["mlops.packages"])["numpy"] == metadata.version("numpy")
    assert run.params == {"epochs": "3"} and run.metric_stats["loss"].count == 3
