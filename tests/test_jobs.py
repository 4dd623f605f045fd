"""Training jobs end to end on a real server: worker processes, CLI exit codes, cancel, retry,
restart recovery, and a sweep on a Dask LocalCluster."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mlops_tui import Client
from mlops_tui.models import Job

from conftest import ROOT, LiveServer, base_env, start_backend, stop_process, unique

CHURN = ROOT / "sample_data" / "churn.csv"


def pipeline(name: str, models: str, extra: str = "", data: str = f'path = "{CHURN}"') -> str:
    return f"""
name = "{name}"
task = "classification"
[data]
{data}
target = "churned"
[data.split]
test_size = 0.25
seed = 5
[features]
drop = ["customer_id", "monthly_spend_next"]
{extra}
{models}
"""


FAST = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [0.5, 1.0], max_iter = 300 }\ncv = 2\n' \
       '[[models]]\nestimator = "DecisionTreeClassifier"\nparams = { max_depth = [2, 4], random_state = 0 }\ncv = 2\n'
SLOW = '[[models]]\nestimator = "RandomForestClassifier"\nparams = { n_estimators = [400], max_depth = [12], ' \
       'random_state = [0, 1, 2, 3, 4, 5] }\ncv = 5\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own, with a warm worker as in production (the other tests' servers run without)."""
    home = tmp_path_factory.mktemp("jobs-home")
    os.environ["MLOPS_WARM_WORKER"] = "1"
    try:
        live = start_backend(home, home.parent / "jobs-server.log")
    finally:
        os.environ["MLOPS_WARM_WORKER"] = "0"
    yield live
    stop_process(live.process)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token="") as live:
        yield live


@pytest.fixture(scope="module")
def churn_ref(client: Client) -> str:
    return client.add_dataset_version("churn", "churn.csv", CHURN.read_bytes()).ref


def mlops(server: LiveServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], capture_output=True, text=True,
                          env=base_env(tmp_path / "home", server.url), timeout=300, cwd=tmp_path)


def wait_for(client: Client, job_id: str, statuses: tuple[str, ...], timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {statuses}: {client.get_job(job_id)}")


def test_train_wait_succeeds_with_child_runs_best_marked_and_a_model(server: LiveServer, client: Client,
                                                                   tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text(pipeline(unique("ok"), FAST, '[register]\nname = "m"'))
    done = mlops(server, tmp_path, "train", str(file), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    job = Job.model_validate_json(done.stdout)
    assert job.status == "SUCCEEDED" and job.progress_done == job.progress_total == 4
    assert job.dataset == "churn@1"
    parent = client.get_run(job.run_id or "")
    children = client.run_children(parent.id)
    assert len(children) == 4 and all(c.status == "FINISHED" for c in children)
    best = [c for c in children if c.tags.get("mlops.best") == "true"]
    assert [b.id for b in best] == [parent.tags["mlops.best_run_id"]] == [job.report["best_run_id"]]
    assert best[0].metrics["test_roc_auc"] == max(c.metrics["test_roc_auc"] for c in children)
    assert {"cv_roc_auc_mean", "cv_roc_auc_std", "fit_time_s", "model_size_bytes"} <= set(children[0].metrics)
    assert parent.tags["mlops.dataset"] == "churn@1" and parent.tags["mlops.register_name"] == "m"
    assert "system/memory_mb" in parent.metrics or job.ended_at - job.started_at < 1500
    files = {f.path for f in client.list_artifacts(parent.id, "model")}
    assert files == {"model/model.skops", "model/signature.json", "model/reference.json"}
    log = client.job_logs(job.id).text
    assert "validation: passed" in log and "done: best" in log


@pytest.mark.parametrize(("case", "code", "kind"), [
    ("validation", 5, "validation"), ("training", 6, "training"), ("data", 4, "data"), ("config", 3, None),
])
def test_train_wait_exit_code_per_cause(server: LiveServer, client: Client, tmp_path: Path, case: str, code: int,
                                        kind: str | None) -> None:
    name = unique(case)
    text = {
        "validation": pipeline(name, FAST, "[validation]\nmin_rows = 1000000"),
        "training": pipeline(name, '[[models]]\nestimator = "LogisticRegression"\nparams = { C = -1.0 }\n'),
        "data": pipeline(name, FAST, data='dataset = "no-such-data@7"'),
        "config": pipeline(name, '[[models]]\nestimator = "subprocess.Popen"\n'),
    }[case]
    file = tmp_path / "p.toml"
    file.write_text(text)
    done = mlops(server, tmp_path, "train", str(file), "--wait")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    if kind is None:
        assert "not allowed" in done.stderr
        return
    job = client.list_jobs(limit=20)
    mine = [j for j in job if j.name == name]
    assert mine and mine[0].status == "FAILED" and mine[0].error_kind == kind
    if case == "validation":
        assert "min_rows" in " ".join(client.get_job(mine[0].id).report["validation"])


def test_missing_data_file_is_exit_4_before_submitting(server: LiveServer, tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text(pipeline(unique("nofile"), FAST, data='path = "absent.csv"'))
    done = mlops(server, tmp_path, "train", str(file))
    assert done.returncode == 4 and "no such file" in done.stderr


def test_submitting_a_raw_path_over_the_api_is_refused(client: Client) -> None:
    with pytest.raises(Exception) as caught:
        client.submit_job(pipeline(unique("raw"), FAST, data='path = "/etc/passwd"'))
    assert getattr(caught.value, "status", None) == 422 and caught.value.field == "data.path"


def test_cancel_stops_the_worker_process_and_retry_queues_a_new_job(client: Client, churn_ref: str) -> None:
    job = client.submit_job(pipeline(unique("slow"), SLOW), churn_ref)
    running = wait_for(client, job.id, ("RUNNING",))
    deadline = time.monotonic() + 30
    while not client.get_job(job.id).run_id and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = client.get_job(job.id).pid
    client.cancel_job(job.id)
    cancelled = wait_for(client, job.id, ("CANCELLED",), timeout=30)
    assert cancelled.error_kind == "cancelled" and running.status == "RUNNING"
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert client.get_run(cancelled.run_id or "").status == "KILLED"
    again = client.retry_job(job.id)
    assert again.id != job.id and again.retry_of == job.id and again.status == "QUEUED"
    client.cancel_job(again.id)
    with pytest.raises(Exception) as caught:
        client.cancel_job(job.id)
    assert getattr(caught.value, "status", None) == 409


def test_after_a_restart_queued_jobs_run_and_a_lost_worker_is_marked_interrupted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    os.environ["MLOPS_MAX_JOBS"] = "1"
    try:
        first = start_backend(home, tmp_path / "first.log")
    finally:
        del os.environ["MLOPS_MAX_JOBS"]
    with Client(first.url, token="") as client:
        ref = client.add_dataset_version("churn", "churn.csv", CHURN.read_bytes()).ref
        slow = client.submit_job(pipeline(unique("slow"), SLOW), ref)
        queued = client.submit_job(pipeline(unique("queued"), FAST), ref)
        wait_for(client, slow.id, ("RUNNING",))
        assert client.get_job(queued.id).status == "QUEUED"
        pid = None
        deadline = time.monotonic() + 20
        while (pid is None or not client.get_job(slow.id).run_id) and time.monotonic() < deadline:
            pid = client.get_job(slow.id).pid
            time.sleep(0.1)
    stop_process(first.process)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the worker dies while no backend watches it
    second = start_backend(home, tmp_path / "second.log")
    try:
        with Client(second.url, token="") as client:
            lost = client.get_job(slow.id)
            assert lost.status == "FAILED" and lost.error_kind == "interrupted"
            assert client.get_run(lost.run_id or "").status == "FAILED"
            assert wait_for(client, queued.id, ("SUCCEEDED", "FAILED")).status == "SUCCEEDED"
    finally:
        stop_process(second.process)


def test_a_job_sweeps_on_a_dask_local_cluster(server: LiveServer, client: Client, churn_ref: str,
                                              tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        file = tmp_path / "p.toml"
        file.write_text(pipeline(unique("dask"), FAST))
        done = mlops(server, tmp_path, "train", str(file), "--wait", "--json", "--executor", "dask",
                     "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    on_dask = Job.model_validate_json(done.stdout)
    assert on_dask.executor == "dask"
    local = client.submit_job(pipeline(unique("local"), FAST), churn_ref)
    local = wait_for(client, local.id, ("SUCCEEDED",))
    scores = lambda job: sorted((c["estimator"], str(c["params"]), c["holdout"]["roc_auc"])  # noqa: E731
                                for c in job.report["candidates"])
    assert scores(on_dask) == scores(local)
