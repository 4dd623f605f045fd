"""Load and crash bench: many clients mixing the product's everyday traffic against one real backend.

    python -m bench.load [--seconds 60] [--clients 16] [--crash N] [--crash-interval 4]

The home is fresh and seeded the way a user seeds one: `sample_data/churn_pipeline.toml` trained by a
real job (its data, validation and features, with one LogisticRegression candidate instead of its
sweep, which is not what is measured here), the version promoted to `production`, and `SEED_RUNS` runs
with params and metrics to search. The server runs with the product's defaults (the warm job worker
included, unless `--no-warm-worker`). Then `--clients` threads, each one user of one kind (client i
is kind i % 4), send requests back to back for `--seconds`:

- log: a training script: one run, SDK-style batches (2 metrics x 10 steps as series, with timestamps)
  through `Client.log_batch` with the SDK's retry (one idempotency key per batch, kept across its
  retries); every acknowledged point is remembered.
- search: a runs search with a filter and an order, and the experiments list, in turn.
- predict: one row through the alias predict route.
- console: one refresh of `mlops tui`'s overview plus the header's health check (9 requests at once
  through `AsyncClient`, as the console sends them).

Figures, one JSON line each (`bench.common.report`): requests/s overall, operations/s and p50/p99 per
kind, errors by status (target: no 5xx), lost and duplicated points (every acknowledged point read
back through the API: target 0), the server's peak memory (RSS of the server plus its children,
sampled every 100 ms: target <= 500 MB) and `PRAGMA integrity_check` of the database, opened read-only
once the server stopped.

`--crash N`: afterwards the same load runs on while the server is SIGKILLed N times, each at a random
moment (uniform, up to `--crash-interval` s after it answered again), and restarted on the same home
and port. Then: kills, acknowledged points, lost, duplicated, integrity, restart times, and the
server's children still alive at the end (a killed server's workers must not pile up). The points
checked then are all those acknowledged since the start, the steady load's included.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench.common import Backend, percentile, report
from mlops_tui.client import AsyncClient, Client, MlopsError
from mlops_tui.contract import JobStatus
from mlops_tui.submit import Pipeline, submit_pipeline

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "sample_data" / "churn_pipeline.toml"
ONE_CANDIDATE = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [1.0], max_iter = 500 }\ncv = 0\n'
MODEL = "churn-classifier"  # the pipeline's [register] name
SEED_EXPERIMENT, LOAD_EXPERIMENT = "load-seed", "load"
SEED_RUNS = 50
KEYS = ("loss", "accuracy")
STEPS_PER_BATCH = 10
RETRY_SECONDS = 60.0  # the SDK's default: a logging script waits this long through an outage
PANEL_ROWS = 8  # mlops_tui/screens/overview.py
KINDS = ("log", "search", "predict", "console")
UNREACHABLE = "unreachable"


# --- what the clients saw --------------------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies, requests and errors per kind of operation, shared by the client threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, requests: int, error: MlopsError | None = None) -> None:
        with self.lock:
            self.requests[kind] += requests
            if error is None:
                self.latencies[kind].append(seconds)
            else:
                self.errors[str(error.status) if error.status else UNREACHABLE] += 1

    def fives(self) -> int:
        return sum(count for status, count in self.errors.items() if status.startswith("5"))


@dataclass
class Logger:
    """One training script's run and the batches the server acknowledged (their first steps)."""

    run_id: str
    acked: list[int] = field(default_factory=list)
    given_up: int = 0


@dataclass
class Seed:
    predict_body: dict[str, Any]
    job_seconds: float


# --- seeding -----------------------------------------------------------------------------------------------


def one_candidate(text: str) -> str:
    """The pipeline file with its `[[models]]` tables replaced by one quick candidate."""
    return re.sub(r"(?ms)^\[\[models\]\].*?(?=^\[(?!\[models)|\Z)", "", text) + "\n" + ONE_CANDIDATE


def first_full_row(path: Path) -> dict[str, Any]:
    """The first row of the data file with no empty cell, numbers as numbers, without the target."""
    with path.open(newline="") as source:
        for row in csv.DictReader(source):
            if all(row.values()):
                row.pop("churned")
                return {k: _number(v) for k, v in row.items()}
    raise ValueError(f"{path} has no full row")


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def seed(url: str) -> Seed:
    """Train the churn pipeline with a real job, promote its version, log SEED_RUNS runs to search."""
    started = time.perf_counter()
    with Client(url, token="", timeout=120) as client:
        pipeline = Pipeline(PIPELINE, one_candidate(PIPELINE.read_text()), PIPELINE.parent / "churn.csv")
        job = submit_pipeline(client, pipeline)
        while not job.finished:
            time.sleep(0.2)
            job = client.get_job(job.id)
        if job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"seeding job {job.id} {job.status}: {job.error}")
        job_seconds = time.perf_counter() - started
        client.promote(MODEL, 1, "production", force=True, reason="bench: load")
        rng = random.Random(0)
        for index in range(SEED_RUNS):
            run = client.create_run(SEED_EXPERIMENT, name=f"seed-{index}")
            client.log_batch(run.id, params={"model": rng.choice(["lr", "rf"]), "C": str(rng.random())},
                             metrics=[{"key": "auc", "value": rng.random(), "step": 0}])
    return Seed({"dataframe_records": [first_full_row(pipeline.data_file or PIPELINE)]}, job_seconds)


# --- the clients ---------------------------------------------------------------------------------------------


def timed(tally: Tally, kind: str, requests: int, call: Callable[[], object]) -> MlopsError | None:
    """Run one operation and record it; its error, if any."""
    started = time.perf_counter()
    try:
        call()
    except MlopsError as error:
        tally.record(kind, time.perf_counter() - started, requests, error)
        return error
    tally.record(kind, time.perf_counter() - started, requests)
    return None


def pause_if_down(error: MlopsError | None) -> None:
    """A client that cannot reach the backend waits a little instead of spinning (crash runs)."""
    if error is not None and error.unreachable:
        time.sleep(0.2)


def log_client(url: str, stop: threading.Event, tally: Tally, loggers: list[Logger]) -> None:
    """A training script: create a run (again until one is created), then batches until `stop`."""
    with Client(url, token="", retry_seconds=RETRY_SECONDS) as client:
        logger = None
        while logger is None and not stop.is_set():
            try:
                logger = Logger(client.create_run(LOAD_EXPERIMENT).id)
            except MlopsError:
                time.sleep(0.2)
        if logger is None:
            return
        loggers.append(logger)
        step = 0
        while not stop.is_set():
            steps = list(range(step, step + STEPS_PER_BATCH))
            stamp = int(time.time() * 1000)
            series = [{"key": key, "steps": steps, "values": [s * 0.001 for s in steps],
                       "timestamps": [stamp] * STEPS_PER_BATCH} for key in KEYS]
            if timed(tally, "log", 1, partial(client.log_batch, logger.run_id, series=series)) is None:
                logger.acked.append(step)
            else:
                logger.given_up += 1
            step += STEPS_PER_BATCH


def search_client(url: str, stop: threading.Event, tally: Tally) -> None:
    """Someone comparing runs: a filtered, ordered search and the experiments list, in turn."""
    with Client(url, token="") as client:
        calls: list[Callable[[], object]] = [
            lambda: client.search_runs(SEED_EXPERIMENT, "metrics.auc > 0.5 and params.model = 'lr'",
                                       "metrics.auc DESC", limit=50),
            client.list_experiments,
        ]
        turn = 0
        while not stop.is_set():
            pause_if_down(timed(tally, "search", 1, calls[turn % 2]))
            turn += 1


def predict_client(url: str, stop: threading.Event, tally: Tally, body: dict[str, Any]) -> None:
    """An application scoring one row at a time through the production alias."""
    with Client(url, token="") as client:
        while not stop.is_set():
            pause_if_down(timed(tally, "predict", 1, lambda: client.predict(MODEL, "production", body)))


async def console_refresh(client: AsyncClient) -> None:
    """What the console sends on each refresh of its overview, with the header's health check and
    alert count (mlops_tui/screens/overview.py `fetch`, mlops_tui/app.py `_health_cycle`)."""
    await asyncio.gather(
        client.list_experiments(),
        client.search_runs(limit=PANEL_ROWS),
        client.search_runs(filter="status = 'FAILED'", limit=PANEL_ROWS),
        client.list_jobs(status=JobStatus.RUNNING, limit=PANEL_ROWS),
        client.list_jobs(status=JobStatus.QUEUED, limit=PANEL_ROWS),
        client.list_models(),
        client.monitoring_health(),
        client.health(),
        client.alert_summary(),
    )


CONSOLE_REQUESTS = 9


def console_client(url: str, stop: threading.Event, tally: Tally) -> None:
    """A console left open, refreshing back to back (many consoles' polling in one)."""
    async def loop() -> None:
        client = AsyncClient(url, token="")
        try:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    await console_refresh(client)
                except MlopsError as error:
                    tally.record("console", time.perf_counter() - started, CONSOLE_REQUESTS, error)
                    if error.unreachable:
                        await asyncio.sleep(0.2)
                    continue
                tally.record("console", time.perf_counter() - started, CONSOLE_REQUESTS)
        finally:
            await client.aclose()

    asyncio.run(loop())


@dataclass
class Load:
    """The client threads of one phase, started together and stopped together."""

    url: str
    clients: int
    body: dict[str, Any]
    tally: Tally = field(default_factory=Tally)
    loggers: list[Logger] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0

    def start(self) -> None:
        targets: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {
            "log": (log_client, (self.loggers,)),
            "search": (search_client, ()),
            "predict": (predict_client, (self.body,)),
            "console": (console_client, ()),
        }
        for index in range(self.clients):
            target, extra = targets[KINDS[index % len(KINDS)]]
            thread = threading.Thread(target=target, args=(self.url, self.stop, self.tally, *extra),
                                      name=f"client-{index}", daemon=True)
            self.threads.append(thread)
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=RETRY_SECONDS + 30)
        self.seconds = time.perf_counter() - self.started


class PeakMemory:
    """Samples the server's memory (itself plus its children) every 100 ms in a thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.peak = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            own, children = self.backend.memory()
            if own + children > sum(self.peak):
                self.peak = (own, children)


# --- checks afterwards ----------------------------------------------------------------------------------------


def read_back(url: str, loggers: list[Logger]) -> tuple[int, int, int]:
    """Every acknowledged point read back through the API: (acknowledged, lost, duplicated)."""
    acknowledged = lost = duplicated = 0
    with Client(url, token="", timeout=120) as client:
        for logger in loggers:
            for key in KEYS:
                stored = Counter(stored_steps(client, logger.run_id, key))
                duplicated += sum(count - 1 for count in stored.values() if count > 1)
                for first in logger.acked:
                    for step in range(first, first + STEPS_PER_BATCH):
                        acknowledged += 1
                        lost += step not in stored
    return acknowledged, lost, duplicated


def stored_steps(client: Client, run_id: str, key: str) -> list[int]:
    """The steps of the run's points for `key` (none when the server knows no such metric)."""
    try:
        return client.metric_history(run_id, key).steps
    except MlopsError as error:
        if error.status == 404:
            return []
        raise


def integrity(home: Path) -> str:
    """`PRAGMA integrity_check` of the stopped server's database, opened read-only."""
    with sqlite3.connect(f"file:{home / 'mlops.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows)


def report_load(load: Load, label: str) -> None:
    tally = load.tally
    total = sum(tally.requests.values())
    report(f"{label}: requests/s", total / load.seconds, "req/s", clients=load.clients,
           seconds=round(load.seconds, 1), requests=total)
    for kind in KINDS:
        samples = tally.latencies.get(kind, [])
        if not samples:
            report(f"{label}: {kind}", 0, "ops/s", errors=0)
            continue
        report(f"{label}: {kind}", len(samples) / load.seconds, "ops/s",
               p50_ms=round(1000 * percentile(samples, 0.5), 2), p99_ms=round(1000 * percentile(samples, 0.99), 2),
               requests_per_op=CONSOLE_REQUESTS if kind == "console" else 1)
    report(f"{label}: 5xx answers", tally.fives(), "answers", "0", errors_by_status=dict(tally.errors))


def report_writes(url: str, loggers: list[Logger], label: str) -> None:
    """Read the acknowledged points back while the server is up; the integrity check comes after it stops."""
    acknowledged, lost, duplicated = read_back(url, loggers)
    report(f"{label}: lost writes", lost, "points", "0", acknowledged=acknowledged,
           batches=sum(len(logger.acked) for logger in loggers),
           given_up=sum(logger.given_up for logger in loggers))
    report(f"{label}: duplicated writes", duplicated, "points", "0")


def report_memory(peak: tuple[int, int], label: str) -> None:
    own, children = peak
    report(f"{label}: server peak memory", (own + children) / 2**20, "MB", "<= 500 MB",
           server_mb=round(own / 2**20, 1), children_mb=round(children / 2**20, 1))


# --- the phases ------------------------------------------------------------------------------------------------


def steady(backend: Backend, body: dict[str, Any], clients: int, seconds: float) -> list[Logger]:
    """The mixed load for `seconds` on a server that stays up; its loggers."""
    load = Load(backend.url, clients, body)
    with PeakMemory(backend) as memory:
        load.start()
        time.sleep(seconds)
        load.finish()
    report_load(load, "load")
    report_memory(memory.peak, "load")
    report_writes(backend.url, load.loggers, "load")
    return load.loggers


def crashes(backend: Backend, body: dict[str, Any], clients: int, kills: int, interval: float,
            earlier: list[Logger]) -> None:
    """The mixed load while the server is SIGKILLed `kills` times and restarted on the same home; then
    every point acknowledged so far (`earlier` loggers' too) must be there."""
    rng = random.Random(13)
    load = Load(backend.url, clients, body)
    restarts: list[float] = []
    children: list[psutil.Process] = []
    load.start()
    for kill in range(1, kills + 1):
        time.sleep(rng.uniform(0.2, interval))
        children += backend.kill()
        killed = time.perf_counter()
        backend.start()
        restarts.append(time.perf_counter() - killed)
        print(f"kill {kill}/{kills}: answering again after {restarts[-1]:.1f} s", file=sys.stderr, flush=True)
    time.sleep(1.0)  # some writes after the last restart too
    load.finish()
    report("crash: kills", kills, "SIGKILL", restart_p50_s=round(percentile(restarts, 0.5), 2),
           restart_max_s=round(max(restarts), 2), seconds=round(load.seconds, 1),
           synchronous=os.environ.get("MLOPS_SYNCHRONOUS", "NORMAL (default)"))
    report_load(load, "crash")
    report_writes(backend.url, earlier + load.loggers, "crash")
    _, alive = psutil.wait_procs(children, timeout=10)
    report("crash: killed servers' children still running", len(alive), "processes", "0",
           commands=[" ".join(p.cmdline()[1:4]) for p in alive if p.is_running()])
    for process in alive:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--seconds", type=float, default=60.0, help="How long the steady load runs (0: skip it).")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients (client i is kind i %% 4).")
    parser.add_argument("--crash", type=int, default=0, metavar="N",
                        help="Then SIGKILL the server N times under the same load, restarting it each time.")
    parser.add_argument("--crash-interval", type=float, default=4.0,
                        help="Longest wait (s) between a restart answering and the next kill.")
    parser.add_argument("--no-warm-worker", action="store_true",
                        help="Start the server without its warm job worker (quicker starts for the smoke test; "
                        "the memory figure is then without it).")
    args = parser.parse_args()
    report("machine load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        backend = Backend(Path(folder) / "home", env={"MLOPS_WARM_WORKER": "0"} if args.no_warm_worker else {})
        backend.start()
        try:
            seeded = seed(backend.url)
            report("seed: training job", seeded.job_seconds, "s", runs=SEED_RUNS)
            loggers = steady(backend, seeded.predict_body, args.clients, args.seconds) if args.seconds > 0 else []
            if args.crash > 0:
                crashes(backend, seeded.predict_body, args.clients, args.crash, args.crash_interval, loggers)
        finally:
            backend.stop()
        result = integrity(backend.home)
        report("integrity_check", result != "ok", "failed", "0 (ok)", result=result[:500])
    report("machine load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())


if __name__ == "__main__":
    main()
