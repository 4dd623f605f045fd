"""Training jobs end to end on a real server: worker processes, CLI exit codes, cancel, retry,
restart recovery, and a sweep on a Dask LocalCluster."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, LiveServer, base_env, free_port, start_backend, stop_process, unique

from backend import Settings
from backend.db import Database
from backend.jobs.manager import JobManager, Tracked
from backend.services import jobs as jobs_service
from backend.store import jobs as store_jobs
from mlops_tui import Client
from mlops_tui.contract import Job

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
FAST_THEN_SLOW = '[[models]]\nestimator = "LogisticRegression"\nparams = { max_iter = 300 }\ncv = 2\n' + SLOW
ADOPTED = '[[models]]\nestimator = "RandomForestClassifier"\nparams = { n_estimators = [60], max_depth = [8], ' \
          'random_state = [0, 1] }\ncv = 2\n'
"""A few seconds of training (the restart test pauses it while the server restarts)."""
DASK_PORT = free_port()
"""The scheduler port of the Dask test's LocalCluster: the module's server allows exactly this one."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own, with a warm worker as in production (the other tests' servers run without)."""
    home = tmp_path_factory.mktemp("jobs-home")
    os.environ["MLOPS_WARM_WORKER"] = "1"
    os.environ["MLOPS_DASK_SCHEDULERS"] = f"tcp://127.0.0.1:{DASK_PORT}"
    try:
        live = start_backend(home, home.parent / "jobs-server.log")
    finally:
        os.environ["MLOPS_WARM_WORKER"] = "0"
        del os.environ["MLOPS_DASK_SCHEDULERS"]
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
    # chosen by the cross-validation mean; its holdout score is reported as the estimate
    assert best[0].metrics["cv_roc_auc_mean"] == max(c.metrics["cv_roc_auc_mean"] for c in children)
    assert job.report["selected_by"] == parent.tags["mlops.selected_by"] == "cv_roc_auc_mean"
    assert job.report["best_score"] == best[0].metrics["cv_roc_auc_mean"]
    assert job.report["holdout_score"] == best[0].metrics["test_roc_auc"] == parent.metrics["best_roc_auc"]
    assert job.report["pos_label"] == 1 and parent.tags["mlops.pos_label"] == "1"
    assert {"cv_roc_auc_mean", "cv_roc_auc_std", "fit_time_s", "model_size_bytes"} <= set(children[0].metrics)
    assert parent.tags["mlops.dataset"] == "churn@1" and parent.tags["mlops.register_name"] == "m"
    for run in (parent, *children):  # the environment, as the SDK records it
        assert run.tags["mlops.python"].count(".") == 2 and run.tags["mlops.platform"]
        assert "scikit-learn" in json.loads(run.tags["mlops.packages"])
        assert len(run.tags["mlops.git.commit"]) == 40
    for child, item in zip(sorted(children, key=lambda c: c.start_time), job.report["candidates"], strict=False):
        assert child.end_time is not None and child.end_time - child.start_time >= item["fit_seconds"] * 1000 - 1
        assert child.start_time >= job.started_at
    files = {f.path for f in client.list_artifacts(parent.id, "model")}
    assert files == {"model/model.skops", "model/signature.json", "model/reference.json", "model/profile.json"}
    reference = json.loads(client.download_artifact(parent.id, "model/reference.json"))
    assert reference["target"]["churned"]["kind"] == "categorical"
    assert set(reference["target"]["churned"]["frequencies"]) == {"0", "1", "__other__"}
    signature = json.loads(client.download_artifact(parent.id, "model/signature.json"))
    assert [c["name"] for c in signature["inputs"]] == job.report["features"]
    log = client.job_logs(job.id).text
    assert "validation: passed" in log and "done: best" in log and "chosen by cv_roc_auc_mean" in log
    first = next(line for line in log.splitlines() if " candidate 1/4 " in line)
    assert first.split(" candidate 1/4 ")[1].startswith("roc_auc cv 0.")  # the score before the params


def churn_with(tmp_path: Path, change: str) -> str:
    """The churn table with a broken target, as a `data.path` line."""
    import pandas as pd

    frame = pd.read_csv(CHURN)
    if change == "nan":
        frame.loc[[3, 10, 40], "churned"] = None
    else:  # a third class with two rows
        frame.loc[[3, 10], "churned"] = 7
    path = tmp_path / f"churn-{change}.csv"
    frame.to_csv(path, index=False)
    return f'path = "{path}"'


@pytest.mark.parametrize(("case", "code", "kind"), [
    ("validation", 5, "validation"), ("training", 6, "training"), ("data", 4, "data"), ("config", 3, None),
    ("target-nan", 5, "validation"), ("rare-class", 5, "validation"),
])
def test_train_wait_exit_code_per_cause(server: LiveServer, client: Client, tmp_path: Path, case: str, code: int,
                                        kind: str | None) -> None:
    name = unique(case)
    text = {
        "validation": lambda: pipeline(name, FAST, "[validation]\nmin_rows = 1000000"),
        "training": lambda: pipeline(name, '[[models]]\nestimator = "LogisticRegression"\nparams = { C = -1.0 }\n'),
        "data": lambda: pipeline(name, FAST, data='dataset = "no-such-data@7"'),
        "config": lambda: pipeline(name, '[[models]]\nestimator = "subprocess.Popen"\n'),
        "target-nan": lambda: pipeline(name, FAST, data=churn_with(tmp_path, "nan")),
        "rare-class": lambda: pipeline(name, FAST, data=churn_with(tmp_path, "rare")),
    }[case]()
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
    problems = " ".join((client.get_job(mine[0].id).report or {}).get("validation", []))
    says = {"validation": "min_rows", "target-nan": "target column 'churned' has 3 missing value(s)",
            "rare-class": "class '7' has 2 row(s)"}.get(case, "")
    assert says in problems and says in done.stderr


def test_missing_data_file_is_exit_4_before_submitting(server: LiveServer, tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text(pipeline(unique("nofile"), FAST, data='path = "absent.csv"'))
    done = mlops(server, tmp_path, "train", str(file))
    assert done.returncode == 4 and "no such file" in done.stderr


def test_submitting_a_raw_path_over_the_api_is_refused(client: Client) -> None:
    with pytest.raises(Exception) as caught:
        client.submit_job(pipeline(unique("raw"), FAST, data='path = "/etc/passwd"'))
    assert getattr(caught.value, "status", None) == 422 and caught.value.field == "data.path"


def wait_until(check: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def test_cancel_stops_the_worker_keeps_the_finished_candidates_and_retry_queues_a_new_job(
        client: Client, churn_ref: str) -> None:
    job = client.submit_job(pipeline(unique("slow"), FAST_THEN_SLOW), churn_ref)
    running = wait_for(client, job.id, ("RUNNING",))
    # the report grows live: the first (fast) candidate shows while the second still trains
    live = wait_until(lambda: (j := client.get_job(job.id)).report and j.report.get("candidates") and j,
                      "the first candidate in the live report")
    assert live.status == "RUNNING" and live.report["selected_by"] == "cv_roc_auc_mean"  # type: ignore[union-attr]
    parent = live.run_id or ""  # type: ignore[union-attr]
    # the manager samples the worker: CPU and memory series on the parent run while it trains
    sampled = wait_until(lambda: {"system/cpu_percent", "system/memory_mb"} <= set(client.get_run(parent).metrics),
                         "system metrics on the parent run", timeout=60)
    assert sampled
    pid = client.get_job(job.id).pid
    client.cancel_job(job.id)
    cancelled = wait_for(client, job.id, ("CANCELLED",), timeout=30)
    assert cancelled.error_kind == "cancelled" and running.status == "RUNNING"
    assert [c["estimator"] for c in cancelled.report["candidates"]] == ["LogisticRegression"]  # type: ignore[index]
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert client.get_run(cancelled.run_id or "").status == "KILLED"
    again = client.retry_job(job.id)
    assert again.id != job.id and again.retry_of == job.id and again.status == "QUEUED"
    client.cancel_job(again.id)
    with pytest.raises(Exception) as caught:
        client.cancel_job(job.id)
    assert getattr(caught.value, "status", None) == 409


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, token=None, warm_worker=False, cancel_grace_seconds=0.5)
    db = Database(settings.db_path)
    job = store_jobs.create(db, "stubborn", "{}", "h", None, None, "local", None)
    assert store_jobs.claim(db, job["id"])
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                               "print('ready', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        manager = JobManager(settings, db)
        manager.tracked[job["id"]] = Tracked(psutil.Process(stubborn.pid), stubborn)
        jobs_service.cancel(db, job["id"])
        started = time.monotonic()
        while stubborn.poll() is None and time.monotonic() - started < 15:
            manager.tick()
            time.sleep(0.05)
        assert stubborn.returncode == -signal.SIGKILL  # SIGTERM was ignored; SIGKILL after the grace period
        assert time.monotonic() - started >= 0.5
        manager.tick()
        assert store_jobs.get(db, job["id"])["status"] == "CANCELLED"
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()


def test_the_worker_runs_the_handler_of_the_jobs_kind_and_fails_a_kind_it_does_not_know(tmp_path: Path) -> None:
    """The worker dispatches on the job's kind; an unknown kind is a FAILED job (error kind `config`)
    naming the kind, never an attempt to run it as a training job."""
    settings = Settings(home=tmp_path, token=None, warm_worker=False)
    db = Database(settings.db_path)
    job = store_jobs.create(db, "rollup", "{}", "h", None, None, "local", None, kind="rollup")
    assert store_jobs.claim(db, job["id"])
    worker = subprocess.run([sys.executable, "-m", "backend.jobs.worker", job["id"], "--home", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert worker.returncode == 0, worker.stderr
    failed = store_jobs.get(db, job["id"])
    assert (failed["status"], failed["error_kind"]) == ("FAILED", "config")
    assert "unknown job kind 'rollup'" in (failed["error"] or "") and "train" in (failed["error"] or "")


def wait_for_pid(client: Client, job_id: str) -> int:
    """The job's worker pid, once it runs and has its parent run."""
    found = wait_until(lambda: (j := client.get_job(job_id)).pid and j.run_id and j.pid, "a worker pid", 60)
    return int(found)  # type: ignore[arg-type]


def test_after_a_restart_a_live_worker_is_adopted_a_lost_one_interrupted_and_queued_jobs_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    os.environ["MLOPS_MAX_JOBS"] = "2"
    try:
        first = start_backend(home, tmp_path / "first.log")
    finally:
        del os.environ["MLOPS_MAX_JOBS"]
    with Client(first.url, token="") as client:
        ref = client.add_dataset_version("churn", "churn.csv", CHURN.read_bytes()).ref
        survivor = client.submit_job(pipeline(unique("survivor"), ADOPTED), ref)
        lost = client.submit_job(pipeline(unique("lost"), SLOW), ref)
        queued = client.submit_job(pipeline(unique("queued"), FAST), ref)
        survivor_pid = wait_for_pid(client, survivor.id)
        os.killpg(survivor_pid, signal.SIGSTOP)  # paused, so it is surely still training after the restart
        lost_pid = wait_for_pid(client, lost.id)
        assert client.get_job(queued.id).status == "QUEUED"
    stop_process(first.process)
    os.killpg(lost_pid, signal.SIGKILL)  # this worker dies while no backend watches it; the other lives on
    assert psutil.pid_exists(survivor_pid) and psutil.Process(survivor_pid).status() != psutil.STATUS_ZOMBIE
    os.environ["MLOPS_MAX_JOBS"] = "1"
    try:
        second = start_backend(home, tmp_path / "second.log")
    finally:
        del os.environ["MLOPS_MAX_JOBS"]
    try:
        with Client(second.url, token="") as client:
            adopted = client.get_job(survivor.id)
            assert adopted.status == "RUNNING" and adopted.pid == survivor_pid, adopted
            gone = client.get_job(lost.id)
            assert gone.status == "FAILED" and gone.error_kind == "interrupted"
            assert client.get_run(gone.run_id or "").status == "FAILED"
            # the adopted worker counts against MLOPS_MAX_JOBS = 1: the queued job waits for it
            time.sleep(1)
            assert client.get_job(queued.id).status == "QUEUED"
            os.killpg(survivor_pid, signal.SIGCONT)
            done = wait_for(client, survivor.id, ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=300)
            assert done.status == "SUCCEEDED" and len(done.report["candidates"]) == 2  # type: ignore[index]
            assert wait_for(client, queued.id, ("SUCCEEDED", "FAILED"), timeout=180).status == "SUCCEEDED"
    finally:
        stop_process(second.process)
        try:
            os.killpg(survivor_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def run_train(server: LiveServer, tmp_path: Path, text: str) -> subprocess.Popen[str]:
    file = tmp_path / "p.toml"
    file.write_text(text)
    return subprocess.Popen([sys.executable, "-m", "mlops_tui.cli.main", "train", str(file), "--wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=base_env(tmp_path / "home", server.url), cwd=tmp_path)


def job_named(client: Client, name: str) -> Job:
    found = wait_until(lambda: [j for j in client.list_jobs(limit=50) if j.name == name], f"job {name}", 60)
    return found[0]  # type: ignore[index]


@pytest.mark.parametrize(("how", "code"), [("cancel", 7), ("kill", 8)])
def test_train_wait_exits_7_when_cancelled_and_8_when_the_worker_dies(server: LiveServer, client: Client,
                                                                       churn_ref: str, tmp_path: Path, how: str,
                                                                       code: int) -> None:
    name = unique(how)
    following = run_train(server, tmp_path, pipeline(name, SLOW, data=f'dataset = "{churn_ref}"'))
    try:
        job = job_named(client, name)
        pid = wait_for_pid(client, job.id)
        if how == "cancel":
            client.cancel_job(job.id)
        else:
            os.killpg(pid, signal.SIGKILL)
        _, err = following.communicate(timeout=120)
    finally:
        if following.poll() is None:
            following.kill()
    assert following.returncode == code, err
    assert "Traceback" not in err
    assert ("cancelled" if how == "cancel" else "crash") in err


def test_the_mlops_jobs_commands_and_log_offset_and_tail(server: LiveServer, client: Client, churn_ref: str,
                                                         tmp_path: Path) -> None:
    done = wait_for(client, client.submit_job(pipeline(unique("cli"), FAST), churn_ref).id, ("SUCCEEDED",))
    whole = client.job_logs(done.id)
    size = len(whole.text.encode())
    assert whole.offset == size and whole.status == "SUCCEEDED" and whole.text.count("\n") > 5
    later = client.job_logs(done.id, 10)
    assert later.text.encode() == whole.text.encode()[10:] and later.offset == size
    assert client.job_logs(done.id, size + 99).text == "" and client.job_logs(done.id, size + 99).offset == size
    lines = whole.text.splitlines()
    assert client.job_logs(done.id, tail=2).text == "\n".join(lines[-2:]) + "\n"
    assert client.job_logs(done.id, tail=10_000).text == whole.text

    listed = mlops(server, tmp_path, "jobs", "list", "--json")
    assert listed.returncode == 0 and done.id in [j["id"] for j in json.loads(listed.stdout)["jobs"]]
    table = mlops(server, tmp_path, "jobs", "list", "--status", "SUCCEEDED")
    assert done.id in table.stdout and "SUCCEEDED" in table.stdout
    shown = mlops(server, tmp_path, "jobs", "show", done.id[:6])
    assert shown.returncode == 0 and done.id in shown.stdout and "★" in shown.stdout
    assert "cv_roc_auc_mean" in shown.stdout  # which score chose the best
    assert json.loads(mlops(server, tmp_path, "jobs", "show", done.id, "--json").stdout)["report"]["best_run_id"]
    tail = mlops(server, tmp_path, "jobs", "logs", done.id, "--tail", "1")
    assert tail.returncode == 0 and tail.stdout.startswith(client.job_logs(done.id, tail=1).text.strip())
    assert "done: best" in tail.stdout
    slow = client.submit_job(pipeline(unique("cli-slow"), SLOW), churn_ref)
    cancelled = mlops(server, tmp_path, "jobs", "cancel", slow.id)
    assert cancelled.returncode == 0 and f"cancel requested for job {slow.id}" in cancelled.stdout
    wait_for(client, slow.id, ("CANCELLED",), timeout=60)
    retried = mlops(server, tmp_path, "jobs", "retry", slow.id, "--json")
    again = json.loads(retried.stdout)
    assert retried.returncode == 0 and again["retry_of"] == slow.id and again["status"] == "QUEUED"
    client.cancel_job(again["id"])
    refused = mlops(server, tmp_path, "jobs", "retry", done.id)
    assert refused.returncode != 0 and "only a failed or cancelled job" in refused.stderr


def test_a_job_sweeps_on_a_dask_local_cluster(server: LiveServer, client: Client, churn_ref: str,
                                              tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    file = tmp_path / "p.toml"
    file.write_text(pipeline(unique("dask"), FAST))
    refused = mlops(server, tmp_path, "train", str(file), "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1")
    assert refused.returncode == 3 and "scheduler 'tcp://127.0.0.1:1' is not one this server allows" in refused.stderr
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  scheduler_port=DASK_PORT, dashboard_address=None) as cluster:
        assert cluster.scheduler_address == f"tcp://127.0.0.1:{DASK_PORT}"
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
