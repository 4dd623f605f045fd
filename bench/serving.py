"""Serving figures: single-row latency and throughput of the backend's predict route and of a replica
(`mlops serve`), with monitoring on and off, beside `mlflow models serve` in the same run; then failed
requests while an alias moves 20 times under load.

    python -m bench.serving [--mlflow /tmp/mlflow-venv/bin/mlflow] [--seconds 5] [--requests 500]

The model: a scikit-learn Pipeline (scaler + logistic regression) on 30 numeric features, registered the
way any client registers one (a run's model files, `register_version`, `promote`); MLflow serves the
same pipeline fitted on the same rows (`mlflow.sklearn.save_model`, `--env-manager local`). Every
server gets the same one-row body from the same load generator: raw HTTP/1.1 keep-alive connections
on one asyncio loop (cheap, so the generator takes as little of the 2 cores from the servers as it
can). Latency: `--requests` one-row requests one after another. Throughput: 16 connections for
`--seconds`. Figures are printed as JSON lines (`bench.common.report`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from backend.pipelines import model_io
from bench.common import free_port, live_backend, percentile, report, wait_until_healthy
from mlops_tui.client import Client

FEATURES = [f"f{i}" for i in range(30)]
CLIENTS = 16
PROMOTIONS = 20
FIT = """
import sys, pandas as pd, mlflow.sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
frame = pd.read_csv(sys.argv[1])
target = frame.pop("target")
pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))]).fit(frame, target)
mlflow.sklearn.save_model(pipeline, sys.argv[2])
"""


# --- the model -----------------------------------------------------------------------------------------


def training_rows(seed: int = 0, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame["target"] = (frame[FEATURES[:5]].sum(axis=1) + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return frame


def register(client: Client, folder: Path, name: str, seed: int) -> None:
    """Fit the pipeline on `seed`'s rows and register it as `name`'s next version."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    frame = training_rows(seed)
    target = frame.pop("target")
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    model_io.save(pipeline.fit(frame, target), folder / f"v{seed}", model_io.signature(frame), {"features": {}})
    run = client.create_run("bench-serving", name=f"{name}-{seed}")
    for path in sorted((folder / f"v{seed}").iterdir()):
        client.upload_artifact(run.id, f"model/{path.name}", path.read_bytes())
    client.register_version(name, run.id)


def one_row_body() -> bytes:
    row = training_rows(seed=7, rows=1).drop(columns="target")
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": row.values.tolist()}}).encode()


# --- the load generator --------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def request_bytes(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one response; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1])


async def _connection(port: int, request: bytes, until: float, limit: int, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        sent = 0
        while time.perf_counter() < until and sent < limit:
            started = time.perf_counter()
            writer.write(request)
            try:
                status = await _answer(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                load.failed += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            load.latencies.append(time.perf_counter() - started)
            load.failed += status != 200
            sent += 1
    finally:
        writer.close()


def generate(port: int, path: str, body: bytes, clients: int, seconds: float = 3600,
             limit: int = 10**9, stop: threading.Event | None = None) -> Load:
    """`clients` keep-alive connections sending `body` for `seconds` (or `limit` requests each, or until
    `stop` is set)."""
    request = request_bytes(port, path, body)
    load = Load()

    async def run() -> None:
        until = time.perf_counter() + seconds
        if stop is not None:
            asyncio.get_running_loop().call_soon(_watch, stop, asyncio.current_task())
        await asyncio.gather(*(_connection(port, request, until, limit, load) for _ in range(clients)))

    started = time.perf_counter()
    try:
        asyncio.run(run())
    except asyncio.CancelledError:
        pass
    load.seconds = time.perf_counter() - started
    return load


def _watch(stop: threading.Event, task: asyncio.Task[None] | None) -> None:
    if stop.is_set() and task is not None:
        task.cancel()
        return
    asyncio.get_running_loop().call_later(0.05, _watch, stop, task)


def measure(label: str, port: int, path: str, body: bytes, args: argparse.Namespace) -> float:
    """Warm up, then one-by-one latency and 16-client throughput; returns requests/s."""
    generate(port, path, body, 1, limit=50)
    single = generate(port, path, body, 1, limit=args.requests)
    report(f"{label}: single-row p50", percentile(single.latencies, 0.5) * 1000, "ms", "<= 3 ms")
    report(f"{label}: single-row p99", percentile(single.latencies, 0.99) * 1000, "ms")
    loaded = generate(port, path, body, CLIENTS, seconds=args.seconds)
    report(f"{label}: throughput, {CLIENTS} clients", loaded.rate, "req/s", ">= 500 req/s",
           p50_ms=round(percentile(loaded.latencies, 0.5) * 1000, 2),
           p99_ms=round(percentile(loaded.latencies, 0.99) * 1000, 2), failed=loaded.failed + single.failed)
    return loaded.rate


# --- servers -------------------------------------------------------------------------------------------


@contextmanager
def replica(url: str, ref: str, cache: Path, workers: int, env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "backend.replica", ref, "--port", str(port), "--url", url,
                                "--workers", str(workers), "--cache-dir", str(cache)],
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/ping", process, "replica")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def mlflow_serving(binary: str, folder: Path, data: Path) -> Iterator[int]:
    python = str(Path(binary).parent / "python")
    model = folder / "mlflow-model"
    subprocess.run([python, "-c", FIT, str(data), str(model)], check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([binary, "models", "serve", "-m", str(model), "--env-manager", "local", "--host",
                                "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PATH": f"{Path(binary).parent}:{os.environ.get('PATH', '')}"})
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/ping", process, "mlflow models serve", seconds=240)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def promotions_under_load(label: str, port: int, path: str, body: bytes, client: Client, name: str,
                          follows: bool = False) -> None:
    """16 clients send requests while the alias moves 20 times (v2, v1, v2, ...); every request must answer
    200. `follows`: the server is a replica, which must serve the last promoted version afterwards."""
    stop = threading.Event()
    result: list[Load] = []
    worker = threading.Thread(target=lambda: result.append(generate(port, path, body, CLIENTS, stop=stop)))
    worker.start()
    time.sleep(1)
    last = 0
    for move in range(PROMOTIONS):
        last = 2 - move % 2
        client.promote(name, last, "production", force=True, reason="bench: promotion under load")
        time.sleep(0.25)
    time.sleep(1)
    stop.set()
    worker.join()
    extra: dict[str, object] = {"requests": len(result[0].latencies)}
    if follows:
        deadline = time.monotonic() + 30
        while (served := httpx.get(f"http://127.0.0.1:{port}/healthz").json()["model_version"]) != last:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        extra["serves_last_promoted"] = served == last
    report(f"{label}: failed requests during {PROMOTIONS} promotions under load", result[0].failed, "requests",
           "0", **extra)


# --- the run -------------------------------------------------------------------------------------------


def backend_rates(args: argparse.Namespace, folder: Path, body: bytes, monitoring: bool) -> tuple[float, float]:
    """The backend's route and a replica of it, with monitoring on or off: their requests/s."""
    flag = "1" if monitoring else "0"
    env = {"MLOPS_MONITORING": flag}
    previous = os.environ.get("MLOPS_MONITORING")
    os.environ["MLOPS_MONITORING"] = flag
    try:
        with live_backend() as (url, _home), Client(url, timeout=120) as client:
            name = "bench-lr30"
            register(client, folder / f"models-{flag}", name, seed=0)
            register(client, folder / f"models-{flag}", name, seed=1)
            client.promote(name, 1, "production", force=True, reason="bench")
            path = f"/api/v1/models/{name}/aliases/production/predict"
            port = int(url.rsplit(":", 1)[1])
            state = "monitoring on" if monitoring else "monitoring off"
            ours = measure(f"backend predict route, {state}", port, path, body, args)
            with replica(url, f"{name}@production", folder / "cache", 1, env) as replica_port:
                served = measure(f"mlops serve (1 worker), {state}", replica_port, path, body, args)
                if monitoring:
                    promotions_under_load("mlops serve", replica_port, path, body, client, name, follows=True)
                    promotions_under_load("backend predict route", port, path, body, client, name)
            if monitoring and args.replica_workers > 1:
                with replica(url, f"{name}@production", folder / "cache", args.replica_workers, env) as replica_port:
                    measure(f"mlops serve ({args.replica_workers} workers), {state}", replica_port, path, body, args)
            return ours, served
    finally:
        if previous is None:
            os.environ.pop("MLOPS_MONITORING", None)
        else:
            os.environ["MLOPS_MONITORING"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving")
    parser.add_argument("--mlflow", default=shutil.which("mlflow"), help="The mlflow executable (its venv's python "
                        "must import mlflow and scikit-learn).")
    parser.add_argument("--seconds", type=float, default=5.0, help="Each throughput measurement's length.")
    parser.add_argument("--requests", type=int, default=500, help="One-by-one requests for the latency figures.")
    parser.add_argument("--replica-workers", type=int, default=2, help="Also measure a replica with this many "
                        "workers (1: skip).")
    args = parser.parse_args()
    report("load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())
    body = one_row_body()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        folder = Path(name)
        backend_on, replica_on = backend_rates(args, folder, body, monitoring=True)
        backend_off, replica_off = backend_rates(args, folder, body, monitoring=False)
        report("monitoring's cost: backend predict route", (1 - backend_on / backend_off) * 100, "% of throughput",
               "<= 15 %")
        report("monitoring's cost: mlops serve", (1 - replica_on / replica_off) * 100, "% of throughput", "<= 15 %")
        if not args.mlflow:
            print("mlflow not found: pass --mlflow PATH to compare with `mlflow models serve`", file=sys.stderr)
            return
        data = folder / "train.csv"
        training_rows(0).to_csv(data, index=False)
        with mlflow_serving(args.mlflow, folder, data) as port:
            theirs = measure("mlflow models serve", port, "/invocations", body, args)
        report("backend predict route / mlflow models serve", backend_on / theirs, "x", ">= 4x")
        report("mlops serve / mlflow models serve", replica_on / theirs, "x", ">= 4x")
    report("load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())


if __name__ == "__main__":
    main()
