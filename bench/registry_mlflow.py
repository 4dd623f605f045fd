"""The registry's single calls against `mlflow server`'s model registry, on the same machine in the
same run, in alternating rounds (load on the shared machine drifts over both alike).

    python -m bench.registry_mlflow [--calls 200] [--rounds 4] [--mlflow PATH_TO_mlflow]

Compared, call for call over HTTP (raw httpx, so neither client library is measured):
- register a version from a run's model (ours also hashes the file and reads its signature and
  reference statistics; MLflow writes a row);
- read the version an alias points at;
- read a model with its versions (MLflow needs two calls: the model, then a version search);
- move an alias: MLflow moves it unconditionally; ours computes the gates first (file hash, size,
  signature, champion vs challenger scored now, p95 latency), so it does more work, and says so.
Memory: the resident set of each server (its whole process tree) after the calls.

MLflow is not a dependency of this project: pass `--mlflow` (or put `mlflow` on PATH), e.g. from
`python -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow`.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import free_port, live_backend, report, wait_until_healthy
from mlops_tui.client import Client
from mlops_tui.contract.defaults import PidFile, pid_file_path

Call = Callable[[int], httpx.Response]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo.extend(int(child) for child in children)
    return total_kb / 1024


@contextmanager
def mlflow_server(binary: str) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as folder:
        port = free_port()
        process = subprocess.Popen(
            [binary, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--default-artifact-root", f"{folder}/artifacts"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(f"{url}/health", process, "mlflow server")
        try:
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def ours_calls(url: str, home: Path) -> dict[str, Call]:
    """A model trained by a real pipeline job (so its version has data for the champion gate),
    registered twice more by hand: the calls, each taking a round-trip index."""
    churn = Path(__file__).resolve().parents[1] / "sample_data"
    with Client(url) as client:
        data = client.add_dataset_version("churn", "churn.csv", (churn / "churn.csv").read_bytes())
        job = client.submit_job((churn / "churn_pipeline.toml").read_text(), data.ref)
        while not job.finished:
            time.sleep(0.5)
            job = client.get_job(job.id)
        if job.run_id is None or not (job.report or {}).get("registered"):
            raise RuntimeError(f"the churn job did not register a model: {job.status} {job.error}")
        name = str(job.report["registered"]["name"]) if job.report else ""
        client.promote(name, 1, "production", expected_version=None)
    http = httpx.Client(base_url=url, headers={"X-Mlops-Client": "bench", "X-Mlops-User": "bench"}, timeout=60)
    run_id = job.run_id

    def register(i: int) -> httpx.Response:
        return http.post(f"/api/v1/models/bench-{i}/versions", json={"run_id": run_id})

    def move(i: int) -> httpx.Response:
        return http.post(f"/api/v1/models/{name}/promote",
                         json={"version": 1, "alias": f"bench{i}", "reason": "bench", "force": True})

    return {"register": register,
            "get alias": lambda i: http.get(f"/api/v1/models/{name}/aliases/production"),
            "get model+versions": lambda i: http.get(f"/api/v1/models/{name}"),
            "move alias": move}


def mlflow_calls(url: str) -> dict[str, Call]:
    http = httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=60)
    run = http.post("/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
    run_id = run["run_id"]
    source = f"runs:/{run_id}/model"
    http.post("/registered-models/create", json={"name": "churn-classifier"}).raise_for_status()
    http.post("/model-versions/create", json={"name": "churn-classifier", "source": source,
                                              "run_id": run_id}).raise_for_status()
    http.post("/registered-models/alias", json={"name": "churn-classifier", "alias": "production",
                                                "version": "1"}).raise_for_status()

    def register(i: int) -> httpx.Response:
        http.post("/registered-models/create", json={"name": f"bench-{i}"})
        return http.post("/model-versions/create", json={"name": f"bench-{i}", "source": source, "run_id": run_id})

    def get_model(i: int) -> httpx.Response:
        http.get("/registered-models/get", params={"name": "churn-classifier"}).raise_for_status()
        return http.get("/model-versions/search", params={"filter": "name='churn-classifier'"})

    return {"register": register,
            "get alias": lambda i: http.get("/registered-models/alias",
                                            params={"name": "churn-classifier", "alias": "production"}),
            "get model+versions": get_model,
            "move alias": lambda i: http.post("/registered-models/alias", json={
                "name": "churn-classifier", "alias": f"bench{i}", "version": "1"})}


def timed(call: Call, start: int, count: int) -> list[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter()
        response = call(i)
        samples.append((time.perf_counter() - began) * 1000)
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} "
                               f"{response.text[:300]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per figure and server, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--mlflow", default=shutil.which("mlflow") or "/tmp/mlflow-venv/bin/mlflow")
    args = parser.parse_args()
    if not Path(args.mlflow).exists():
        print(f"mlflow not found at {args.mlflow}: pass --mlflow (see this script's docstring)")
        return
    with live_backend() as (ours_url, home), mlflow_server(args.mlflow) as (mlflow_url, mlflow_pid):
        peers = {"mlops": ours_calls(ours_url, home), "mlflow": mlflow_calls(mlflow_url)}
        samples: dict[tuple[str, str], list[float]] = {}
        per_round = max(1, args.calls // args.rounds)
        for round_index in range(args.rounds):
            order = list(peers) if round_index % 2 == 0 else list(reversed(peers))  # A-B, B-A, ...
            for figure in peers["mlops"]:
                count = max(1, per_round // 10) if figure == "move alias" else per_round
                for peer in order:
                    start = 100_000 * round_index
                    samples.setdefault((figure, peer), []).extend(timed(peers[peer][figure], start, count))
        for figure in peers["mlops"]:
            ours, theirs = (statistics.median(samples[(figure, peer)]) for peer in ("mlops", "mlflow"))
            report(f"registry {figure} p50", ours, "ms", mlflow_ms=round(theirs, 3),
                   mlflow_over_ours=round(theirs / ours, 2), calls=len(samples[(figure, "mlops")]))
        pid_file = PidFile.load(pid_file_path(home))
        mlflow_mb = tree_rss_mb(mlflow_pid)
        if pid_file is not None:
            ours_mb = tree_rss_mb(pid_file.pid)
            report("registry server memory", ours_mb, "MB", mlflow_mb=round(mlflow_mb, 1),
                   mlflow_over_ours=round(mlflow_mb / ours_mb, 2))


if __name__ == "__main__":
    main()
