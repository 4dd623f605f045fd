"""The same MLflow workload, logged by the real `mlflow` client, against this backend and against a real
`mlflow server` on a SQLite file, on this machine, in one run.

    .venv/bin/python bench/mlflow_compat.py [--runs 500] [--points 100000] [--mlflow-bin PATH]

The phases, each run against one server then the other (alternating which goes first, so load drifting
on a shared machine falls on both alike), with the client this project's tests use (`.venv`'s mlflow):
- log: `mlflow.set_experiment`, then per run `with mlflow.start_run(run_name=...)`: `mlflow.log_params`
  (10 params: one log-batch request), `mlflow.log_metrics` (10 metrics: one log-batch request), and the
  block's exit (`end_run`: one runs/update); start_run itself is a runs/create. 4 requests a run.
- history log: `MlflowClient.log_batch` of one 100,000-point metric (the client sends 1,000 a request).
- search: `MlflowClient.search_runs` with a filter on a metric and a param and an order_by, 30 times.
- history read: `MlflowClient.get_metric_history` of the 100,000 points (pages of 25,000), 3 times.
- raw HTTP: the same requests again without the client (bodies built with orjson, answers read as
  bytes): the servers' own share. The client's own work (protobuf to and from JSON, about 2 s per
  100,000 points read) is the same against both servers, so it caps the ratio seen through it.
Both servers must answer the same: the same runs matched in the same order, every point read back.
Memory: the resident set of this backend's process tree vs the sum over `mlflow server`'s, and how many
processes each runs.

The peer is not a dependency of this project. Build it once (a few minutes):
    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, live_backend, wait_until_healthy  # noqa: E402

DEFAULT_MLFLOW = "/tmp/mlflow-venv/bin/mlflow"
FILTER = "metrics.m0 > 0.5 and params.p0 = '3'"
ORDER_BY = ["metrics.m1 DESC"]
SEARCHES = 30
HISTORY_READS = 3
BATCH = 1000
"""Metrics per log-batch request, as the client splits them (`MAX_METRICS_PER_BATCH`)."""
WARM_UP = 40
"""Untimed requests to each server before the phases (see `warm_up`)."""
TARGET = 5.0
"""The issue's target: this backend at least 5x faster than `mlflow server` through MLflow's protocol."""


@dataclass
class Server:
    """One server under test: its tracking URL, its root process, what it answered, how long it took."""
    name: str
    url: str
    pid: int
    seconds: dict[str, float] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)


@contextmanager
def mlflow_server(binary: str) -> Iterator[Server]:
    """`mlflow server` on a SQLite file and an artifacts folder in a temp dir, with its default workers;
    its whole process group is stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="mlflow-compat-") as folder:
        port = free_port()
        process = subprocess.Popen(
            [binary, "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
             "--artifacts-destination", f"{folder}/art", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(f"{url}/health", process, "mlflow server", seconds=180)
            yield Server("mlflow server", url, process.pid)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def our_backend() -> Iterator[Server]:
    with live_backend() as (url, home):
        yield Server("mlops-tui", url, _backend_pid(url))


def _backend_pid(url: str) -> int:
    """The pid of the backend listening on `url`'s port (bench.common's `live_backend` yields no process)."""
    port = int(url.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid is not None:
                return connection.pid
    raise RuntimeError(f"no process listens on port {port}")


def memory(pid: int) -> tuple[float, int]:
    """(resident MB summed over the process and its descendants, how many processes)."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20, len(processes)


def warm_up(server: Server) -> None:
    """Untimed requests until `WARM_UP` in a row succeed, then a few runs logged and ended in a `warm-up`
    experiment: `mlflow server` answers its health check while its workers still start (a request reaching
    one then is dropped), each worker opens its store on its first request and starts its job scheduler
    on its first run (seconds each on a busy machine), all of which a long-running server has long done."""
    deadline = time.monotonic() + 180
    in_a_row = 0
    with httpx.Client(base_url=f"{server.url}/api/2.0/mlflow", timeout=300) as http:
        while in_a_row < WARM_UP:
            try:
                http.post("/experiments/search", json={"max_results": 1}).raise_for_status()
                in_a_row += 1
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                in_a_row = 0
                time.sleep(0.5)
        experiment = _post(http, "/experiments/create", name="warm-up")["experiment_id"]
        for _ in range(WARM_UP // 4):
            now = int(time.time() * 1000)
            run_id = _post(http, "/runs/create", experiment_id=experiment, start_time=now)["run"]["info"]["run_id"]
            _post(http, "/runs/log-batch", run_id=run_id, params=[{"key": "p", "value": "1"}],
                  metrics=[{"key": "m", "value": 1.0, "timestamp": now, "step": 0}])
            _post(http, "/runs/update", run_id=run_id, status="FINISHED")


def _point_to(server: Server) -> None:
    import mlflow

    mlflow.set_tracking_uri(server.url)


def log_runs(server: Server, runs: int) -> None:
    """A typical training script's logging, `runs` times (the same seeded values on both servers)."""
    import mlflow

    _point_to(server)
    rng = random.Random(12)
    started = time.perf_counter()
    mlflow.set_experiment("compat-runs")
    for index in range(runs):
        with mlflow.start_run(run_name=f"run-{index:04d}"):
            mlflow.log_params({f"p{k}": str(rng.randrange(10)) for k in range(10)})
            mlflow.log_metrics({f"m{k}": rng.random() for k in range(10)})
    server.seconds["log"] = time.perf_counter() - started


def log_history(server: Server, points: int) -> None:
    import mlflow
    from mlflow.entities import Metric

    _point_to(server)
    client = mlflow.MlflowClient(server.url)
    experiment = mlflow.set_experiment("compat-history")
    run = client.create_run(experiment.experiment_id, run_name="history")
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (step + 1), now + step, step) for step in range(points)]
    started = time.perf_counter()
    client.log_batch(run.info.run_id, metrics=metrics)
    server.seconds["history log"] = time.perf_counter() - started
    client.set_terminated(run.info.run_id)
    server.answers["history run"] = run.info.run_id


def search(server: Server) -> None:
    import mlflow

    client = mlflow.MlflowClient(server.url)
    experiment = client.get_experiment_by_name("compat-runs")
    assert experiment is not None
    started = time.perf_counter()
    for _ in range(SEARCHES):
        found = client.search_runs([experiment.experiment_id], FILTER, order_by=ORDER_BY)
    server.seconds["search"] = time.perf_counter() - started
    server.answers["search"] = [run.info.run_name for run in found]


def read_history(server: Server) -> None:
    import mlflow

    client = mlflow.MlflowClient(server.url)
    run_id = str(server.answers["history run"])
    started = time.perf_counter()
    for _ in range(HISTORY_READS):
        history = client.get_metric_history(run_id, "loss")
    server.seconds["history read"] = time.perf_counter() - started
    server.answers["history"] = sorted((point.step, point.value) for point in history)


def raw_requests(server: Server, runs: int, points: int) -> None:
    """The server's own share: the requests the client sends in each phase, by raw HTTP (bodies built
    with orjson, answers read as bytes), so no client library's work is measured."""
    with httpx.Client(base_url=f"{server.url}/api/2.0/mlflow", timeout=300) as http:
        server.seconds["raw log"] = _raw_log(http, runs)
        run_id = _raw_history_log(http, server, points)
        runs_experiment = _get(http, "/experiments/get-by-name", experiment_name="compat-runs")
        query = {"experiment_ids": [runs_experiment["experiment"]["experiment_id"]], "filter": FILTER,
                 "order_by": ORDER_BY, "max_results": 1000, "run_view_type": "ACTIVE_ONLY"}
        started = time.perf_counter()
        for _ in range(SEARCHES):
            _post(http, "/runs/search", **query)
        server.seconds["raw search"] = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(HISTORY_READS):
            read, token = 0, None
            while True:
                page = orjson.loads(http.get("/metrics/get-history", params={
                    "run_id": run_id, "metric_key": "loss", "max_results": 25_000,
                    **({"page_token": token} if token else {})}).raise_for_status().content)
                read += len(page.get("metrics", []))
                token = page.get("next_page_token")
                if not token:
                    break
        server.seconds["raw history read"] = time.perf_counter() - started
        server.answers["raw history"] = read


def _get(http: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    return orjson.loads(http.get(path, params=params).raise_for_status().content)  # type: ignore[no-any-return]


def _post(http: httpx.Client, path: str, **body: object) -> dict[str, Any]:
    response = http.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    return orjson.loads(response.raise_for_status().content)  # type: ignore[no-any-return]


def _raw_log(http: httpx.Client, runs: int) -> float:
    """`runs` runs as `log_runs` logs them: create (with the tags the fluent client sets), the params'
    log-batch, the metrics' log-batch, update to FINISHED. Seconds taken."""
    rng = random.Random(12)
    experiment = _post(http, "/experiments/create", name="compat-raw-runs")["experiment_id"]
    started = time.perf_counter()
    for index in range(runs):
        name = f"raw-{index:04d}"
        now = int(time.time() * 1000)
        run_id = _post(http, "/runs/create", experiment_id=experiment, run_name=name, start_time=now, tags=[
            {"key": "mlflow.runName", "value": name}, {"key": "mlflow.user", "value": "bench"},
            {"key": "mlflow.source.name", "value": "bench/mlflow_compat.py"},
            {"key": "mlflow.source.type", "value": "LOCAL"}])["run"]["info"]["run_id"]
        _post(http, "/runs/log-batch", run_id=run_id,
              params=[{"key": f"p{k}", "value": str(rng.randrange(10))} for k in range(10)])
        _post(http, "/runs/log-batch", run_id=run_id, metrics=[
            {"key": f"m{k}", "value": rng.random(), "timestamp": now, "step": 0} for k in range(10)])
        _post(http, "/runs/update", run_id=run_id, status="FINISHED", end_time=int(time.time() * 1000))
    return time.perf_counter() - started


def _raw_history_log(http: httpx.Client, server: Server, points: int) -> str:
    """The long metric again, into a new run, in requests of 1,000 points built beforehand; its run id."""
    experiment = _get(http, "/experiments/get-by-name", experiment_name="compat-history")
    run_id = str(_post(http, "/runs/create", experiment_id=experiment["experiment"]["experiment_id"],
                       run_name="history-raw", start_time=int(time.time() * 1000))["run"]["info"]["run_id"])
    now = int(time.time() * 1000)
    bodies = [orjson.dumps({"run_id": run_id, "metrics": [
        {"key": "loss", "value": 1.0 / (step + 1), "timestamp": now + step, "step": step}
        for step in range(start, min(points, start + BATCH))]}) for start in range(0, points, BATCH)]
    started = time.perf_counter()
    for body in bodies:
        http.post("/runs/log-batch", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
    server.seconds["raw history log"] = time.perf_counter() - started
    return run_id


def check_same(ours: Server, theirs: Server, points: int) -> list[str]:
    """What the two servers answered differently (nothing, when this backend speaks MLflow correctly)."""
    problems = []
    if ours.answers["search"] != theirs.answers["search"]:
        problems.append(f"search: mlops-tui matched {ours.answers['search']}, mlflow {theirs.answers['search']}")
    for server in (ours, theirs):
        history = server.answers["history"]
        assert isinstance(history, list)
        if len(history) != points:
            problems.append(f"history: {server.name} read {len(history)} points of {points}")
    for server in (ours, theirs):
        if server.answers["raw history"] != points:
            problems.append(f"raw history: {server.name} read {server.answers['raw history']} points of {points}")
    if ours.answers["history"] != theirs.answers["history"]:
        problems.append("history: the two servers read different points back")
    return problems


def print_table(ours: Server, theirs: Server, labels: dict[str, str]) -> list[str]:
    """The table: each phase through the mlflow client, then the server's share of it by raw HTTP where
    there is one; the phases whose server share misses the target (the client's work is the same for both)."""
    missed = []
    width = max(len(label) for label in labels.values())
    print(f"\n{'':<{width}}  {'through the mlflow client':^30}  {'the same requests, raw HTTP':^30}")
    header = f"{'mlops-tui':>9} {'mlflow':>9} {'ratio':>9}"
    print(f"{'phase':<{width}}  {header}  {header}")
    for phase, label in labels.items():
        cells = []
        for key in (phase, f"raw {phase}"):
            if key not in ours.seconds:
                cells.append(f"{'':>9} {'':>9} {'':>9}")
                continue
            mine, peer = ours.seconds[key], theirs.seconds[key]
            cells.append(f"{mine:>8.3f}s {peer:>8.3f}s {peer / mine:>8.1f}x")
        server_key = f"raw {phase}" if f"raw {phase}" in ours.seconds else phase
        if theirs.seconds[server_key] / ours.seconds[server_key] < TARGET:
            missed.append(phase)
        print(f"{label:<{width}}  {cells[0]}  {cells[1]}")
    (our_mb, our_count), (peer_mb, peer_count) = memory(ours.pid), memory(theirs.pid)
    print(f"{'memory, resident':<{width}}  {our_mb:>7.0f}MB {peer_mb:>7.0f}MB {peer_mb / our_mb:>8.1f}x")
    print(f"{'processes':<{width}}  {our_count:>9} {peer_count:>9}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="runs logged in the first phase (default 500)")
    parser.add_argument("--points", type=int, default=100_000, help="points of the one long metric")
    parser.add_argument("--mlflow-bin", default=DEFAULT_MLFLOW, help=f"the peer's `mlflow` (default {DEFAULT_MLFLOW})")
    args = parser.parse_args()
    if not Path(args.mlflow_bin).exists():
        print(f"no mlflow at {args.mlflow_bin}. Build the peer once (a few minutes), then run this again:\n"
              f"  python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow\n"
              f"or pass --mlflow-bin PATH_TO_mlflow", file=sys.stderr)
        return 2
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"  # each call measured as the script waits for it
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    labels = {
        "log": f"log {args.runs} runs x (10 params, 10 metrics)",
        "history log": f"log_batch {args.points:,} points",
        "search": f"search_runs x{SEARCHES} (filter, order_by)",
        "history read": f"get_metric_history {args.points:,} x{HISTORY_READS}",
    }
    phases: list[Callable[[Server], None]] = [
        lambda server: log_runs(server, args.runs),
        lambda server: log_history(server, args.points),
        search,
        read_history,
        lambda server: raw_requests(server, args.runs, args.points),
    ]
    print(f"starting this backend and `{args.mlflow_bin} server` (default workers) ...", flush=True)
    with our_backend() as ours, mlflow_server(args.mlflow_bin) as theirs:
        for server in (ours, theirs):
            warm_up(server)
        for index, phase in enumerate(phases):
            for server in (ours, theirs) if index % 2 == 0 else (theirs, ours):
                print(f"  {(list(labels) + ['raw HTTP'])[index]} on {server.name} ...", flush=True)
                phase(server)
        problems = check_same(ours, theirs, args.points)
        missed = print_table(ours, theirs, labels)
    for problem in problems:
        print(f"DIFFERENT: {problem}")
    if missed:
        print(f"under the {TARGET:.0f}x target: {', '.join(missed)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
