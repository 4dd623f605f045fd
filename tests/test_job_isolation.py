"""Training jobs kept in their box: a job's whole process tree dies on cancel and on timeout, its log is
capped, its processes never see the server's secrets, no name reaches a shell, the queue is bounded, and
the warm worker leaves when idle. Real server, real worker processes, real joblib (loky) pools."""
from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import CLIENT_HEADERS, ROOT, LiveServer, base_env, start_backend, stop_process, unique

from backend import Settings
from backend.db import Database
from backend.jobs.environment import worker_environment
from backend.jobs.manager import JobManager, Tracked
from backend.store import jobs as store_jobs
from mlops_tui import Client
from mlops_tui.client import MlopsError
from mlops_tui.contract import Job

CHURN = ROOT / "sample_data" / "churn.csv"
TOKEN = "tok-" + "s3cr3t" * 6
SECRETS = {"MLOPS_TOKEN": TOKEN, "MLOPS_WEBHOOK_SECRET": "whsec-" + "h1dd3n" * 5,
           "AWS_SECRET_ACCESS_KEY": "aws-" + "k3y" * 8, "SOME_APP_SETTING": "not-for-jobs-" + "z" * 9}
"""What the server is started with and no job process may see (the last is no secret, but not allowlisted)."""
LOG_CAP = 16 * 1024
SERVER_ENV = {"MLOPS_WARM_WORKER": "1", "MLOPS_MAX_JOBS": "1", "MLOPS_MAX_QUEUED_JOBS": "2",
              "MLOPS_JOB_LOG_MAX_BYTES": str(LOG_CAP), "MLOPS_JOB_TIMEOUT": "600"}
SHELL_BAIT = "d; touch PWNED1 $(touch PWNED2) `touch PWNED3` | touch PWNED4 && touch PWNED5"
PARALLEL = '[executor]\nn_jobs = 2\n'
"""Candidates trained by a joblib (loky) pool: the worker's children, the job's grandchildren processes."""
SLOW = '[[models]]\nestimator = "RandomForestClassifier"\nparams = { n_estimators = [400], max_depth = [12], ' \
       'random_state = [0, 1, 2, 3, 4, 5] }\ncv = 5\n'
CHATTY = '[[models]]\nestimator = "GradientBoostingClassifier"\nparams = { n_estimators = 250, max_depth = 1, ' \
         'verbose = 2 }\ncv = 2\n'
"""Prints a line per boosting iteration: about 40 KB of log, over the server's 16 KiB cap."""


def pipeline(name: str, models: str, dataset: str, extra: str = "") -> str:
    """A pipeline file's text, training on `dataset` (a registered version)."""
    return (f'name = "{name}"\ntask = "classification"\n[data]\ndataset = "{dataset}"\ntarget = "churned"\n'
            f'[data.split]\n'
            f'test_size = 0.25\nseed = 5\n[features]\ndrop = ["customer_id", "monthly_spend_next"]\n{models}\n{extra}')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server holding secrets (auth on), with a warm worker, one job at a time, two queued at most."""
    home = tmp_path_factory.mktemp("isolation-home")
    saved = {name: os.environ.get(name) for name in (*SECRETS, *SERVER_ENV)}
    os.environ.update({name: value for name, value in SECRETS.items() if name != "MLOPS_TOKEN"})
    os.environ.update(SERVER_ENV)
    try:
        live = start_backend(home, home.parent / "isolation-server.log", token=TOKEN)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield live
    stop_process(live.process)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=TOKEN) as live:
        yield live


@pytest.fixture(scope="module")
def churn_ref(client: Client) -> str:
    return client.add_dataset_version(SHELL_BAIT, "churn.csv", CHURN.read_bytes()).ref


def wait_until(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def process_tree(client: Client, job_id: str, at_least: int) -> list[psutil.Process]:
    """The job's worker and its descendants, once it has `at_least` descendants (its loky pool)."""
    def tree() -> list[psutil.Process] | None:
        pid = client.get_job(job_id).pid
        if not pid:
            return None
        try:
            worker = psutil.Process(pid)
            found = [worker, *worker.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        return found if len(found) > at_least else None
    return wait_until(tree, f"job {job_id}'s worker with {at_least} descendants", 90)  # type: ignore[return-value]


def gone(processes: list[psutil.Process]) -> bool:
    """Every one of `processes` has exited (a zombie not yet reaped by its parent counts as exited)."""
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def assert_no_secrets(process: psutil.Process) -> None:
    try:
        env = process.environ()
    except psutil.NoSuchProcess:
        return
    leaked = {name for name in SECRETS if name in env} | {name for name, value in env.items()
                                                          if value in SECRETS.values()}
    assert not leaked, f"pid {process.pid} ({' '.join(process.cmdline()[:4])}) sees {sorted(leaked)}"
    assert "PATH" in env, env


def mlops(server: LiveServer, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**base_env(tmp_path / "home", server.url), "MLOPS_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "mlops_tui.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_no_job_process_sees_a_secret_the_queue_is_bounded_and_cancel_kills_the_whole_tree(
        server: LiveServer, client: Client, churn_ref: str, tmp_path: Path) -> None:
    warm = wait_until(lambda: [p for p in psutil.Process(server.process.pid).children()
                               if "--wait-for-job" in p.cmdline()], "the warm worker")
    assert_no_secrets(warm[0])  # type: ignore[index]
    assert warm[0].environ()["MLOPS_JOB_LOG_MAX_BYTES"] == str(LOG_CAP)  # type: ignore[index]  # settings pass
    running = client.submit_job(pipeline(unique("tree"), SLOW, churn_ref, PARALLEL))
    tree = process_tree(client, running.id, at_least=2)
    for process in tree:
        assert_no_secrets(process)
    # MLOPS_MAX_JOBS=1: these two wait; MLOPS_MAX_QUEUED_JOBS=2: a third is refused
    waiting = [client.submit_job(pipeline(unique("queued"), SLOW, churn_ref)) for _ in range(2)]
    assert {client.get_job(job.id).status for job in waiting} == {"QUEUED"}
    refused = httpx.post(f"{server.url}/api/v1/jobs", json={"pipeline": pipeline("over", SLOW, churn_ref)},
                         headers={**CLIENT_HEADERS, "Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30", refused.text
    body = refused.json()
    assert body["field"] == "pipeline" and "MLOPS_MAX_QUEUED_JOBS" in body["detail"] and "limit is 2" in body["detail"]
    file = tmp_path / "p.toml"
    file.write_text(pipeline(unique("cli-over"), SLOW, churn_ref))
    cli = mlops(server, tmp_path, "train", str(file))
    _, err = cli.communicate(timeout=120)
    assert cli.returncode == 1 and "the job queue is full" in err and "Traceback" not in err, err
    client.cancel_job(waiting[0].id)
    client.retry_job(waiting[0].id)  # a retry takes the freed place...
    with pytest.raises(MlopsError) as caught:  # ...and is refused like a submit once the queue is full again
        client.retry_job(waiting[0].id)
    assert caught.value.status == 429
    assert len(client.list_jobs(status="QUEUED")) == 2  # nothing refused was stored
    for job in client.list_jobs(status="QUEUED"):
        client.cancel_job(job.id)
    client.cancel_job(running.id)
    wait_until(lambda: client.get_job(running.id).status == "CANCELLED", "the job cancelled", 60)
    wait_until(lambda: gone(tree), f"every process of the job's tree gone: {[p.pid for p in tree]}", 30)


def test_a_job_past_its_time_limit_fails_as_timeout_and_train_wait_exits_11(
        server: LiveServer, client: Client, churn_ref: str, tmp_path: Path) -> None:
    with pytest.raises(MlopsError) as caught:  # never more than the server's MLOPS_JOB_TIMEOUT (600 s)
        client.submit_job(pipeline(unique("long"), SLOW, churn_ref, PARALLEL + "timeout_seconds = 900\n"))
    assert caught.value.status == 422 and caught.value.field == "executor.timeout_seconds"
    assert "MLOPS_JOB_TIMEOUT" in caught.value.message
    name = unique("timeout")
    file = tmp_path / "p.toml"
    file.write_text(pipeline(name, SLOW, churn_ref, PARALLEL + "timeout_seconds = 5\n"))
    following = mlops(server, tmp_path, "train", str(file), "--wait")
    try:
        job = wait_until(lambda: [j for j in client.list_jobs(limit=20) if j.name == name], "the job", 60)[0]  # type: ignore[index]
        seen = watch_tree(client, job.id)
        _, err = following.communicate(timeout=120)
    finally:
        if following.poll() is None:
            following.kill()
    assert following.returncode == 11, err
    assert "timed out" in err and "Traceback" not in err
    ended = client.get_job(job.id)
    assert (ended.status, ended.error_kind) == ("FAILED", "timeout") and "limit of 5 s" in (ended.error or "")
    assert ended.ended_at and ended.started_at and 5000 <= ended.ended_at - ended.started_at < 60_000
    if ended.run_id:  # (a loaded machine may reach the limit before the job's parent run exists)
        assert client.get_run(ended.run_id).status == "FAILED"
    assert seen
    wait_until(lambda: gone(seen), f"every process of the job's tree gone: {[p.pid for p in seen]}", 30)


def watch_tree(client: Client, job_id: str) -> list[psutil.Process]:
    """Every process of the job's tree seen until it ends."""
    seen: dict[int, psutil.Process] = {}
    while not client.get_job(job_id).finished:
        pid = client.get_job(job_id).pid
        try:
            worker = psutil.Process(pid) if pid else None
            for process in [worker, *worker.children(recursive=True)] if worker else []:
                seen.setdefault(process.pid, process)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    return list(seen.values())


TREE = """
import subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
stays = subprocess.Popen(sleeper)  # in the worker's process group
leaves = subprocess.Popen(sleeper, start_new_session=True)  # a descendant that left the group
print(stays.pid, leaves.pid, flush=True)
time.sleep(120)
"""


def test_at_its_time_limit_a_worker_its_group_and_a_descendant_that_left_the_group_are_killed(
        tmp_path: Path) -> None:
    """The manager's timeout on a real process tree, without waiting on a training job's pace."""
    settings = Settings(home=tmp_path, token=None, warm_worker=False, cancel_grace_seconds=0.5,
                        job_timeout_seconds=600)
    db = Database(settings.db_path)
    job = store_jobs.create(db, "tree", json.dumps({"executor": {"timeout_seconds": 0.5}}), "h", None, None,
                            "local", None)
    assert store_jobs.claim(db, job["id"])
    worker = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert worker.stdout is not None
        tree = [psutil.Process(worker.pid), *(psutil.Process(int(pid)) for pid in worker.stdout.readline().split())]
        manager = JobManager(settings, db)
        manager.tracked[job["id"]] = manager._limited(Tracked(tree[0], worker), job["id"], None)
        assert manager.tracked[job["id"]].limit_seconds == 0.5
        wait_until(lambda: (manager.tick(), not manager.tracked)[1], "the worker reaped", 30)
        ended = store_jobs.get(db, job["id"])
        assert (ended["status"], ended["error_kind"]) == ("FAILED", "timeout"), ended
        assert "limit of 0.5 s" in (ended["error"] or "")
        wait_until(lambda: gone(tree), f"every process gone: {[p.pid for p in tree]}", 10)
    finally:
        for process in tree:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        worker.wait()


def test_a_chatty_job_keeps_a_capped_log_and_names_made_for_a_shell_run_nothing(
        server: LiveServer, client: Client, churn_ref: str) -> None:
    job = client.submit_job(pipeline(SHELL_BAIT, CHATTY, churn_ref))
    done = wait_until(lambda: (j := client.get_job(job.id)).finished and j, "the job's end", 180)
    assert isinstance(done, Job) and done.status == "SUCCEEDED", done.error
    log = client.job_logs(job.id).text
    assert len(log.encode()) <= LOG_CAP
    head, marker, tail = log.partition(" bytes cut: a job's log keeps its first ")
    assert marker, log[:2000]
    assert f"job {job.id} started" in head and "data: " in head and "Iter" in head  # the head, whole lines
    assert "done: best GradientBoostingClassifier" in tail.splitlines()[-1]  # the latest output
    cut = int(head.rsplit("[... ", 1)[1])
    assert cut > 10_000  # about 40 KB printed
    for found in (ROOT, server.home, Path.cwd(), Path("/tmp")):  # the server's working folder, its home, ours
        assert not list(found.glob("PWNED*")), found
    assert client.get_job(job.id).name == SHELL_BAIT.strip()


def test_the_log_cap_keeps_head_marker_and_tail_of_a_process_and_its_children(tmp_path: Path) -> None:
    """The cap itself, exactly: 1 MB through a 64 KiB log, part of it from a child process."""
    path, cap = tmp_path / "job.log", 64 * 1024
    script = f"""
import subprocess, sys
from pathlib import Path
from backend.jobs.logcap import CappedLog
log = CappedLog(Path({str(path)!r}), {cap})
print("first", flush=True)
for i in range(20000):
    print(f"line {{i:05d}} " + "x" * 40)
sys.stdout.flush()
subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)
print("last", flush=True)
log.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
    text = path.read_text()
    assert len(text) <= cap
    head, marker, tail = text.partition(" bytes cut: a job's log keeps its first ")
    assert head.startswith("first\nline 00000 ") and tail.endswith("from a child\nlast\n")
    cut = int(head.rsplit("[... ", 1)[1])
    kept = head.rsplit("\n[... ", 1)[0] + tail.split("]\n", 1)[1]
    numbered = [int(line[5:10]) for line in kept.splitlines() if line.startswith("line ")]
    assert numbered == sorted(numbered) and numbered[-1] == 19999  # whole lines, in order, the last kept
    assert all(line == f"line {n:05d} " + "x" * 40 for n, line in zip(numbered, kept.splitlines()[1:], strict=False))
    printed = len("first\n") + 20000 * len("line 00000 " + "x" * 40 + "\n") + len("from a child\nlast\n")
    assert printed - cut == len(kept)  # every byte not counted as cut is in the file


def test_the_warm_worker_leaves_when_idle_and_comes_back_after_a_job(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, token=None, warm_worker=True, warm_worker_idle_seconds=60)
    db = Database(settings.db_path)
    manager = JobManager(settings, db, poll_seconds=0.05)
    try:
        manager.tick()
        first = manager.warm
        assert first is not None and first.poll() is None
        manager.last_job -= 61  # a minute without a job
        manager.tick()
        assert manager.warm is None and first.returncode in (143, -signal.SIGTERM)  # asked to go, not killed
        manager.tick()
        assert manager.warm is None  # and stays away while nothing runs
        job = store_jobs.create(db, "rollup", "{}", "h", None, None, "local", None, kind="rollup")
        manager.tick()  # the job starts cold (no warm worker to hand it to)...
        assert job["id"] in manager.tracked and manager.warm is None
        wait_until(lambda: (manager.tick(), not manager.tracked)[1], "the job's end", 60)
        assert store_jobs.get(db, job["id"])["error_kind"] == "config"  # an unknown kind: it ran and failed
        assert manager.warm is not None and manager.warm.poll() is None  # ...and brings the warm worker back
    finally:
        manager.stop()


def test_the_worker_environment_is_an_allowlist_with_the_servers_own_settings(tmp_path: Path) -> None:
    """What passes and what stays out, exactly; settings given to the server in code reach the worker."""
    settings = Settings(home=tmp_path, token="t0ken", webhook_secret="wh", dask_schedulers=("tcp://a:1", "tcp://b:2"),
                        job_log_max_bytes=5000)
    parent = {"PATH": "/bin", "HOME": "/root", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "DASK_DISTRIBUTED__X": "1",
              "DASK_TLS_PRIVATE_KEY": "k", "DASK_AUTH_TOKEN": "k", "MLOPS_TOKEN": "t0ken", "MLOPS_WEBHOOK_SECRET": "wh",
              "MLOPS_URL": "http://x", "GITHUB_TOKEN": "g", "LD_PRELOAD": "/tmp/evil.so", "PYTHONSTARTUP": "/tmp/x.py"}
    env = worker_environment(settings, parent)
    assert {name: env[name] for name in ("PATH", "HOME", "LC_ALL", "OMP_NUM_THREADS", "DASK_DISTRIBUTED__X")} == \
        {name: parent[name] for name in ("PATH", "HOME", "LC_ALL", "OMP_NUM_THREADS", "DASK_DISTRIBUTED__X")}
    for name in ("DASK_TLS_PRIVATE_KEY", "DASK_AUTH_TOKEN", "MLOPS_TOKEN", "MLOPS_WEBHOOK_SECRET", "MLOPS_URL",
                 "GITHUB_TOKEN", "LD_PRELOAD", "PYTHONSTARTUP"):
        assert name not in env, name
    assert "t0ken" not in env.values() and "wh" not in env.values()
    assert env["MLOPS_DASK_SCHEDULERS"] == "tcp://a:1,tcp://b:2" and env["MLOPS_JOB_LOG_MAX_BYTES"] == "5000"
    os_env = dict(os.environ)
    try:  # the worker reads them back as the server had them
        os.environ.clear()
        os.environ.update(env)
        again = Settings(home=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(os_env)
    assert (again.dask_schedulers, again.job_log_max_bytes, again.token) == (settings.dask_schedulers, 5000, None)


SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("asyncio", "create_subprocess_shell")}
SPAWN_CALLS = {"Popen", "run", "call", "check_call", "check_output", "create_subprocess_exec"}


def test_no_code_of_ours_starts_a_process_through_a_shell() -> None:
    """Every process the backend, the CLI or the console starts takes an argument list: no `shell=True`,
    no `os.system`/`os.popen`, no command built as one string (`os.execv` takes a list and no shell)."""
    found = []
    for path in sorted([*(ROOT / "backend").rglob("*.py"), *(ROOT / "mlops_tui").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            func = node.func
            name = (func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else "",
                    func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
            if name in SHELL_CALLS:
                found.append(f"{where} {'.'.join(name)}")
            if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                   for k in node.keywords):
                found.append(f"{where} shell=")
            one_string = bool(node.args) and isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp))
            if name[0] in ("subprocess", "asyncio", "") and name[1] in SPAWN_CALLS and one_string:
                found.append(f"{where} a command as one string")
    assert not found, found
