"""The console's tests run against the REAL backend: `create_app` on a temporary home, reached by the
real `AsyncClient` over httpx's ASGITransport, and seeded through the API with fixed data (names,
params, metrics, start and end times, datasets uploaded as CSV files, jobs submitted as pipelines).

What only a stand-in can do is done here, and nothing more:
- `Switch` sits between the client and the app: it makes the backend go away (`down`), slows its
  answers (`delay`) and records each request, so a test can see what the console asked for;
- the backend's clock (`now_ms`) and its random ids are fixed while seeding, so ids and times, and
  with them the snapshot images, are the same on every run;
- `Worker` moves a job through its states with the store functions the real job worker calls
  (training is left out: its timings and scores cannot be made deterministic).
"""
from __future__ import annotations

import asyncio
import importlib
import json
import math
import os
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import Settings, create_app
from backend.jobs.joblog import log_path
from backend.store import jobs as job_store
from mlops_tui import api
from mlops_tui.client import AsyncClient, MlopsError
from mlops_tui.contract import Job, Run, now_ms
from mlops_tui.contract import tags as tag

T0 = int(datetime(2025, 3, 14, 9, 0, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MINUTE = 60_000
DAY = 86_400_000
URL = "http://127.0.0.1:5099"
"""What the console's header shows; the requests never leave the process."""
CONSOLE_USER = "carol"
"""Who the console acts as (the registry records it): neither of the seed's actors, alice and bob."""


def fixed_clock() -> datetime:
    """The console's clock in every test: the times it shows do not depend on when the test runs."""
    return NOW


# -- the backend, behind a switch -----------------------------------------------------------------
class Switch(httpx.AsyncBaseTransport):
    """The real app behind a switch: `down` refuses every request as a stopped server would,
    `delay` slows every answer, `requests` holds `METHOD /path` of each request sent."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.inner = transport
        self.down = False
        self.delay = 0.0
        self.requests: list[str] = []
        self.after: Callable[[str], None] | None = None
        """Called with `METHOD /path` once the app answered a request with a 2xx."""
        self.hold: asyncio.Event | None = None
        """While set to an Event, every request waits for it (a test looks at a screen mid-request,
        whatever the machine's load, then sets the event)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = f"{request.method} {request.url.path}"
        self.requests.append(sent)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold is not None:
            await self.hold.wait()
        response = await self.inner.handle_async_request(request)
        if self.after is not None and 200 <= response.status_code < 300:
            self.after(sent)
        return response

    def count(self, method: str, path: str, exact: bool = False) -> int:
        """Requests sent so far with this method whose path is `path` (`exact`) or contains it."""
        return sum(r == f"{method} {path}" if exact else r.startswith(f"{method} ") and path in r
                   for r in self.requests)


SEED_ALERT_IDS = 0x8000
"""Where the ids the alerts' seed makes (notifications) start: past those of the seeds before it."""
TEST_IDS = 0x10000
"""Where the ids a test's backend makes start: past every seed's."""


class Ids:
    """The backend's `uuid.uuid4` while seeding: the ids queued with `next`, else a counter."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.counter = 0

    def uuid4(self) -> uuid.UUID:
        if self.queued:
            return uuid.UUID(hex=self.queued.pop(0).ljust(32, "0"))
        self.counter += 1
        return uuid.UUID(hex=f"f{self.counter:011x}".ljust(32, "0"))  # a job keeps the first 12 characters

    def next(self, *ids: str) -> None:
        self.queued.extend(ids)


@dataclass
class BackendClock:
    """The backend's `now_ms` while seeding (epoch milliseconds; `None`: the real time)."""

    ms: int | None = T0

    def __call__(self) -> int:
        return now_ms() if self.ms is None else self.ms


@dataclass
class Backend:
    settings: Settings
    app: Any
    client: AsyncClient
    """The console's client: through the switch."""
    seeder: AsyncClient
    """The tests' own client: straight to the app, so seeding works while the console's is cut off."""
    switch: Switch
    clock: BackendClock
    ids: Ids
    worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.worker = Worker(self)

    @property
    def db(self) -> Any:
        return self.app.state.db


class SteadyTimer:
    """The `time` module of the latency gate (`backend.pipelines.holdout`): each reading of its clock
    is 1.5 ms after the one before, so the p95 it measures, and the pictures showing it, never vary."""

    STEP = 0.0015

    def __init__(self) -> None:
        self.now = 0.0

    def process_time(self) -> float:
        self.now += self.STEP
        return self.now

    perf_counter = process_time


def _patch_backend(monkeypatch: pytest.MonkeyPatch, clock: BackendClock, ids: Ids) -> None:
    """Every backend module's `now_ms` and `uuid` (imported by name) answer from these (the backend
    opened last, when a test opens two); the latency gate's timer is steady."""
    holdout = sys.modules.get("backend.pipelines.holdout")
    if holdout is not None and getattr(holdout, "time", None) is not None:
        monkeypatch.setattr(holdout, "time", SteadyTimer())
    for name, module in list(sys.modules.items()):
        if not name.startswith("backend.") or module is None:
            continue
        if getattr(module, "now_ms", None) is now_ms or isinstance(getattr(module, "now_ms", None), BackendClock):
            monkeypatch.setattr(module, "now_ms", clock)
        if getattr(module, "uuid", None) is uuid or isinstance(getattr(module, "uuid", None), Ids):
            monkeypatch.setattr(module, "uuid", ids)


def open_backend(home: Path, monkeypatch: pytest.MonkeyPatch, **settings_fields: Any) -> Backend:
    """A fresh backend (no job manager: `Worker` runs the jobs) and the client the console uses;
    `close_backend` when done."""
    settings = Settings(home=home, token=None, run_jobs=False, **settings_fields)
    app = create_app(settings)
    clock, ids = BackendClock(), Ids()
    _patch_backend(monkeypatch, clock, ids)
    switch = Switch(httpx.ASGITransport(app=app))
    return Backend(settings, app, AsyncClient(url=URL, transport=switch, user=CONSOLE_USER),
                   AsyncClient(url=URL, transport=httpx.ASGITransport(app=app)), switch, clock, ids)


def close_backend(backend: Backend) -> None:
    backend.app.state.db.close()  # the client holds no connection: the transport is the app itself


# -- runs -----------------------------------------------------------------------------------------
ENV_TAGS = {
    "mlops.git.commit": "4be1c0ffee5e7a1d2c3b4a5f6e7d8c9b0a1f2e3d",
    "mlops.python": "3.11.9",
    "mlops.platform": "Linux-6.1-x86_64",
    "mlops.source.command": "train.py --epochs 20",
    "mlops.packages": '{"numpy": "2.1.0", "scikit-learn": "1.5.2"}',
}
STEPS = 20
"""Points logged per metric."""


def run_id(index: int) -> str:
    """Run number `index`'s id: its first 6 characters differ from every other's (a bijection mod 2**24)."""
    return f"{(index * 0x2F3D1B + 0x3A91C7) & 0xFFFFFF:06x}" + "ab" * 13


def run_start(index: int) -> int:
    return T0 + index * MINUTE


def final_metrics(index: int) -> dict[str, float]:
    acc = round(0.70 + (index * 37 % 29) / 100, 4)
    return {"acc": acc, "loss": round(1.0 - acc + 0.05, 4)}


def history(final: float, start: int) -> list[dict[str, Any]]:
    """A learning curve that ends on `final`: half of it at step 0."""
    values = [final * (1 - 0.5 * math.exp(-step / 4)) for step in range(STEPS - 1)] + [final]
    return [{"step": step, "value": round(value, 4), "timestamp": start + step * 1000}
            for step, value in enumerate(values)]


async def experiments(backend: Backend, *names: str) -> None:
    """Only these experiments (the backend's `Default` deleted), ids 1, 2, … in order."""
    client = backend.seeder
    await client.send(api.delete_experiment("0"))
    for name in names:
        await client.send(api.create_experiment(name))


async def add_run(backend: Backend, index: int, experiment: str, status: str = "FINISHED", *,
                  parent: int | None = None, tags: dict[str, str] | None = None, name: str | None = None,
                  metrics: bool = True) -> Run:
    """Run number `index`: id `run_id(index)`, started `index` minutes after T0, params and a
    20-point history of `acc` and `loss` derived from `index`."""
    client = backend.seeder
    start = run_start(index)
    backend.ids.next(run_id(index))
    run = await client.send(api.create_run(
        experiment=experiment, name=name or f"run-{index:03d}", start_time=start,
        parent_id=run_id(parent) if parent is not None else None,
        tags={"team": "vision", **ENV_TAGS, **(tags or {})}))
    series = [{"key": key, "steps": [p["step"] for p in points], "values": [p["value"] for p in points],
               "timestamps": [p["timestamp"] for p in points]}
              for key, final in (final_metrics(index) if metrics else {}).items()
              for points in [history(final, start)]]
    params = {"model": ("rf", "gbm", "logreg")[index % 3], "lr": str((0.1, 0.05, 0.01, 0.2)[index % 4]),
              "depth": str(3 + index % 5)}
    await client.send(api.log_batch(run.id, params=params, series=series))
    if status != "RUNNING":
        run = await client.send(api.update_run(run.id, status=status, end_time=start + 45_000 + index * 1000))
    return run


async def add_artifacts(backend: Backend, run: str) -> None:
    await backend.seeder.send(api.upload_artifact(run, "model/model.skops", b"\x00skops" * 2048))
    await backend.seeder.send(api.upload_artifact(run, "confusion.png", b"\x89PNG" * 512))


async def add_plain_runs(backend: Backend, experiment: str, count: int) -> None:
    """`count` bare runs numbered 0… (ids `run_id(i)`), started a minute apart from T0."""
    for index in range(count):
        backend.ids.next(run_id(index))
        await backend.seeder.send(api.create_run(experiment=experiment, name=f"run-{index:03d}",
                                                 start_time=run_start(index)))


async def all_runs(backend: Backend) -> dict[str, Run]:
    """Every run the backend holds, by id, as the API answers it."""
    page = await backend.seeder.search_runs(limit=1000)
    assert page.next_page_token is None
    return {run.id: run for run in page.runs}


DONE_PARENT, DONE_CANDIDATES, DONE_BEST = 9, (5, 6, 7, 10), 7
"""The succeeded job's parent run and candidate runs (run numbers)."""
RUNNING_JOB, QUEUED_JOB, DONE_JOB, FAILED_JOB, CANCELLED_JOB = (
    "a1b2c3d4e5f6", "b2c3d4e5f6a1", "c3d4e5f6a1b2", "d4e5f6a1b2c3", "e5f6a1b2c3d4")
JOB_RUNS: dict[int, tuple[str, str]] = {
    DONE_PARENT: (DONE_JOB, "churn@2"), **{i: (DONE_JOB, "churn@2") for i in DONE_CANDIDATES},
    3: (FAILED_JOB, "churn@3"), 11: (RUNNING_JOB, "churn@3"),
}
"""Runs made by a job: run number → (job id, dataset ref), as its tags say."""


def run_status(index: int, count: int) -> str:
    return "FAILED" if index % 5 == 3 else "RUNNING" if index == count - 1 else "FINISHED"


async def seed_runs(backend: Backend, count: int = 12, artifacts: bool = False) -> list[Run]:
    """Experiments churn (1) and fraud (2) and `count` runs, oldest first: run i is in fraud when
    i % 4 == 0, FAILED when i % 5 == 3, the newest RUNNING; runs 5, 6, 7 and 10 are candidates of
    the succeeded job under its parent run 9 (7 tagged best); runs 3, 9, 11 name their job."""
    await experiments(backend, "churn", "fraud")
    order = sorted(range(count), key=lambda i: (i not in (DONE_PARENT,), i))  # a parent before its children
    made: dict[int, Run] = {}
    for index in order:
        tags: dict[str, str] = {}
        if index in JOB_RUNS:
            tags = {"mlops.job_id": JOB_RUNS[index][0], "mlops.dataset": JOB_RUNS[index][1]}
        if index == DONE_BEST:
            tags["mlops.best"] = "true"
        parent = DONE_PARENT if index in DONE_CANDIDATES and DONE_PARENT < count else None
        made[index] = await add_run(backend, index, "fraud" if index % 4 == 0 else "churn",
                                    run_status(index, count), parent=parent, tags=tags)
        if artifacts:
            await add_artifacts(backend, made[index].id)
    return [made[i] for i in range(count)]


# -- datasets -------------------------------------------------------------------------------------
CHURN_ROWS = {1: 4000, 2: 5000, 3: 5200}
PLANS = {1: ["basic", "standard", "premium"], 2: ["basic", "standard", "premium"], 3: ["basic", "premium", "gold"]}


def churn_csv(version: int) -> bytes:
    """churn@1: 7 columns; @2 adds usage_gb; @3 drops contract, adds region, tenure_months turns
    float, monthly_charges moves up and a new plan, gold, takes a third of the customers."""
    rng = random.Random(7)  # the same draws in every version: only what changes on purpose shifts
    columns = ["customer_id", "tenure_months", "monthly_charges", "support_calls", "plan"]
    columns += {1: ["contract"], 2: ["contract", "usage_gb"], 3: ["region", "usage_gb"]}[version] + ["churned"]
    lines = [",".join(columns)]
    for row in range(CHURN_ROWS[version]):
        tenure = rng.randint(0, 72)
        values = {
            "customer_id": f"C{row:05d}",
            "tenure_months": f"{tenure}.5" if version == 3 else str(tenure),
            "monthly_charges": f"{rng.gauss(60 + (70 if version == 3 else 0), 12):.2f}",
            "support_calls": str(rng.randint(0, 6)),
            "plan": rng.choices(PLANS[version], weights=(5, 3, 2) if version < 3 else (5, 4, 1))[0],
            "contract": rng.choice(["monthly", "yearly", "two-year"]),
            "region": rng.choice(["north", "south", "east", "west"]),
            "usage_gb": f"{rng.uniform(0, 40):.2f}",
            "churned": str(int(rng.random() < 0.27)),
        }
        lines.append(",".join(values[c] for c in columns))
    return ("\n".join(lines) + "\n").encode()


def spend_csv() -> bytes:
    rng = random.Random(11)
    lines = ["customer_id,monthly_spend,plan,tenure_months"]
    lines += [f"C{row:05d},{rng.uniform(10, 200):.2f},{rng.choice(['basic', 'standard', 'premium'])},"
              f"{rng.randint(0, 72)}" for row in range(3000)]
    return ("\n".join(lines) + "\n").encode()


async def seed_datasets(backend: Backend) -> None:
    """churn@1..3 (uploaded 3, 2 and 1 days before T0) and spend@1 (3 days before)."""
    for version in (1, 2, 3):
        backend.clock.ms = T0 - (4 - version) * DAY
        await backend.seeder.add_dataset_version("churn", "churn.csv", churn_csv(version))
    backend.clock.ms = T0 - 3 * DAY
    await backend.seeder.add_dataset_version("spend", "spend.csv", spend_csv())
    backend.clock.ms = T0


# -- jobs -----------------------------------------------------------------------------------------
def pipeline(name: str, dataset: str, target: str = "churned") -> str:
    return (f'name = "{name}"\ntask = "classification"\n[data]\ndataset = "{dataset}"\ntarget = "{target}"\n'
            '[[models]]\nestimator = "LogisticRegression"\n')


class Worker:
    """Moves a job through its states as the job worker does, with the same store functions and
    the same log file; the clock says when (`at` in epoch ms)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def submit(self, job_id: str, name: str, dataset: str, at: int) -> Job:
        self.backend.ids.next(job_id)
        self.backend.clock.ms = at
        target = "monthly_spend" if name == "spend" else "churned"
        return await self.backend.seeder.submit_job(pipeline(name, dataset, target), dataset=dataset)

    def start(self, job_id: str, at: int, total: int, run: str | None = None) -> None:
        self.backend.clock.ms = at
        assert job_store.claim(self.backend.db, job_id)
        job_store.update(self.backend.db, job_id, progress_done=0, progress_total=total,
                         **({"run_id": run, "experiment_id": 1} if run else {}))

    def progress(self, job_id: str, done: int, report: dict[str, Any] | None = None) -> None:
        job_store.update(self.backend.db, job_id, progress_done=done,
                         **({"report_json": json.dumps(report)} if report is not None else {}))

    def finish(self, job_id: str, status: str, at: int, error: str | None = None, error_kind: str | None = None,
               report: dict[str, Any] | None = None) -> None:
        self.backend.clock.ms = at
        job_store.finish(self.backend.db, job_id, status, error, error_kind, report)

    def stop_when_cancelled(self) -> None:
        """Answer a cancel request as the job manager does: the running job's worker is stopped and
        the job ends CANCELLED (the manager does it from its thread; here, as the request returns)."""
        def stop(request: str) -> None:
            method, path = request.split(" ", 1)
            if method == "POST" and path.endswith("/cancel"):
                job_id = path.split("/")[-2]
                job = job_store.get(self.backend.db, job_id)
                if job["status"] == "RUNNING":
                    self.finish(job["id"], "CANCELLED", NOW_MS, "cancelled by request", "cancelled")

        self.backend.switch.after = stop

    def log(self, job_id: str, text: str) -> None:
        path = log_path(self.backend.settings.home, job_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as file:
            file.write(text)

    def log_text(self, job_id: str) -> str:
        with open(log_path(self.backend.settings.home, job_id), encoding="utf-8") as file:
            return file.read()


def candidates() -> list[dict[str, Any]]:
    """The succeeded job's four candidates (runs 5, 6, 7, 10); 7 scores best."""
    specs = [("LogisticRegression", {"C": 0.1, "max_iter": 500}), ("LogisticRegression", {"C": 1.0, "max_iter": 500}),
             ("RandomForestClassifier", {"n_estimators": 100, "max_depth": 8}),
             ("HistGradientBoostingClassifier", {"learning_rate": 0.081, "max_depth": 3})]
    found = []
    for (estimator, params), index, auc, fit in zip(specs, DONE_CANDIDATES, (0.801, 0.874, 0.912, 0.897),
                                                    (0.42, 0.51, 3.87, 2.15), strict=True):
        found.append({"run_id": run_id(index), "estimator": estimator, "params": params,
                      "holdout": {"roc_auc": auc, "accuracy": round(auc - 0.06, 3)},
                      "cv": {"roc_auc": {"mean": round(auc - 0.01, 3), "std": 0.012}},
                      "fit_seconds": fit, "model_bytes": 40_000 + index * 1000})
    return found


def done_log() -> str:
    lines = ["09:30:00 job c3d4e5f6a1b2 started (pid 4242)", "09:30:01 data: churn@2 (5000 rows, 8 columns)",
             "09:30:01 validation: passed",
             "09:30:01 sweep: 4 candidate(s) on 3750 train / 1250 holdout rows; primary metric roc_auc (maximize)"]
    for number, candidate in enumerate(candidates(), start=1):
        lines.append(f"09:30:{10 + number * 10} candidate {number}/4 {candidate['estimator']} {candidate['params']}: "
                     f"roc_auc={candidate['holdout']['roc_auc']} fit {candidate['fit_seconds']:.2f}s")
    lines.append("09:31:05 done: best RandomForestClassifier {'n_estimators': 100, 'max_depth': 8} roc_auc=0.9120")
    return "\n".join(lines) + "\n"


def running_log() -> str:
    lines = ["11:58:00 job a1b2c3d4e5f6 started (pid 4343)", "11:58:01 data: churn@3 (5200 rows, 8 columns)",
             "11:58:01 validation: passed",
             "11:58:02 sweep: 8 candidate(s) on 3900 train / 1300 holdout rows; primary metric roc_auc (maximize)"]
    lines += [f"11:58:{10 + i * 10} candidate {i}/8 LogisticRegression {{'C': {0.1 * i:.1f}}}: roc_auc=0.8{i}"
              for i in (1, 2, 3)]
    return "\n".join(lines) + "\n"


FAILED_PROBLEMS = ["column 'tenure_months': 3 value(s) above max 200", "column 'plan': value 'gold' is not allowed"]


async def seed_jobs(backend: Backend) -> None:
    """Five jobs, one per status, created at NOW minus 90, 50, 30, 3 and 1 minutes: SUCCEEDED
    (churn@2, four candidates, parent run 9), CANCELLED (spend@1, 1 of 6 done), FAILED
    (churn@3, validation, run 3), RUNNING (churn@3, 3 of 8 done, run 11), QUEUED (spend@1)."""
    worker = backend.worker
    done = candidates()
    best = next(c for c in done if c["run_id"] == run_id(DONE_BEST))
    await worker.submit(DONE_JOB, "churn", "churn@2", NOW_MS - 90 * MINUTE)
    worker.start(DONE_JOB, NOW_MS - 90 * MINUTE, 4, run_id(DONE_PARENT))
    worker.progress(DONE_JOB, 4)
    worker.log(DONE_JOB, done_log())
    worker.finish(DONE_JOB, "SUCCEEDED", NOW_MS - 90 * MINUTE + 65_000, report={
        "primary_metric": "roc_auc", "direction": "maximize", "best_run_id": best["run_id"], "best": best,
        "candidates": done, "registered": {"name": MODEL, "version": 1}})

    await worker.submit(CANCELLED_JOB, "spend", "spend@1", NOW_MS - 50 * MINUTE)
    worker.start(CANCELLED_JOB, NOW_MS - 50 * MINUTE, 6)
    worker.progress(CANCELLED_JOB, 1)
    await backend.seeder.cancel_job(CANCELLED_JOB)  # asked through the API; the worker stops
    worker.log(CANCELLED_JOB, "10:10:00 stopped by a signal\n")
    worker.finish(CANCELLED_JOB, "CANCELLED", NOW_MS - 48 * MINUTE, "cancelled by request", "cancelled")

    await worker.submit(FAILED_JOB, "churn", "churn@3", NOW_MS - 30 * MINUTE)
    worker.start(FAILED_JOB, NOW_MS - 30 * MINUTE, 0, run_id(3))
    worker.log(FAILED_JOB, "11:30:00 job d4e5f6a1b2c3 started (pid 4141)\n"
               "11:30:01 data: churn@3 (5200 rows, 8 columns)\n"
               + "".join(f"11:30:02 validation: {problem}\n" for problem in FAILED_PROBLEMS)
               + "11:30:02 FAILED (validation): data validation failed: 2 problem(s)\n")
    worker.finish(FAILED_JOB, "FAILED", NOW_MS - 30 * MINUTE + 4_200,
                  "data validation failed: 2 problem(s): " + FAILED_PROBLEMS[0], "validation",
                  {"validation": FAILED_PROBLEMS})

    await worker.submit(RUNNING_JOB, "churn", "churn@3", NOW_MS - 3 * MINUTE)
    worker.start(RUNNING_JOB, NOW_MS - 2 * MINUTE, 8, run_id(11))
    worker.progress(RUNNING_JOB, 3)
    worker.log(RUNNING_JOB, running_log())

    await worker.submit(QUEUED_JOB, "spend", "spend@1", NOW_MS - MINUTE)
    backend.clock.ms = NOW_MS


async def seed_everything(backend: Backend, count: int = 12, artifacts: bool = False,
                          models: bool = True) -> list[Run]:
    """The runs, the datasets, the jobs and the registered models the console's flows and snapshots
    are drawn from."""
    runs = await seed_runs(backend, count, artifacts)
    await seed_datasets(backend)
    await seed_jobs(backend)
    if models:
        await seed_models(backend)
    return runs


# -- models ---------------------------------------------------------------------------------------
MODEL = "churn-classifier"
MODEL_DATASET = "churn@2"


MODEL_EXPERIMENT = "churn-models"
"""Where the registered versions' runs are (a day before T0: the runs views of churn and fraud, and
the overview's latest runs, stay as they were)."""


def model_run(version: int) -> str:
    """The id of the run version `version` was registered from."""
    return run_id(100 + version)


@dataclass(frozen=True)
class ModelSpec:
    """A version the seed registers: trained for real on churn@2 (fixed seeds: the same model, file
    and scores every time) and saved as a job saves its best model, in its run's artifacts."""

    version: int
    estimator: str
    params: dict[str, Any]
    promote: str = ""
    """More of the pipeline's `[promote]` table (the policy kept with the version): its keys, then
    `[promote.ALIAS]` tables."""


MODEL_SPECS = [
    ModelSpec(1, "LogisticRegression", {"C": 1.0, "max_iter": 500}),
    ModelSpec(2, "DecisionTreeClassifier", {"max_depth": 1, "random_state": 0}, "min_roc_auc = 0.6\n"),
    ModelSpec(3, "RandomForestClassifier", {"n_estimators": 15, "max_depth": 4, "random_state": 0},
              "[promote.production]\napproval = true\n"),
]
"""v1 (the succeeded job's model: its `[register]` registered it), v2 a one-split tree whose policy asks
roc_auc ≥ 0.6 (its gates fail), v3 a small forest whose policy sends production moves for approval."""


def model_pipeline(spec: ModelSpec) -> str:
    return (f'name = "churn"\ntask = "classification"\n[data]\ndataset = "{MODEL_DATASET}"\ntarget = "churned"\n'
            '[data.split]\nseed = 7\n[features]\ndrop = ["customer_id"]\n'
            f'[[models]]\nestimator = "{spec.estimator}"\ncv = 0\n[register]\nname = "{MODEL}"\n'
            f'[promote]\nlatency_rows = 5\n{spec.promote}')  # a few timed rows: the timer is steady anyway


async def add_model_run(backend: Backend, spec: ModelSpec) -> None:
    """The spec's run: its model trained, saved with `model_io.save` (skops, signature, reference
    statistics) beside its monitoring profile, and uploaded with the pipeline; the run records the
    primary metric and the holdout scores and its dataset version, as a job's parent run does (v1's
    names the succeeded job)."""
    import tempfile

    from backend.datasets.stats import categorical_stats, column_stats
    from backend.monitoring import profile as monitoring_profile
    from backend.pipelines import model_io, sweep
    from backend.pipelines.config import parse
    from backend.services.datasets import load_frame

    config = parse(model_pipeline(spec))
    frame, _ = load_frame(backend.db, backend.settings, MODEL_DATASET)
    data = sweep.split(config, frame)
    result = sweep.evaluate(config, sweep.Candidate(0, 0, spec.estimator, spec.params), data)
    metric, _ = sweep.primary(config, len(data.classes))
    reference = {"features": column_stats(data.x_train), "target": {"churned": categorical_stats(data.y_train)}}
    start = T0 - DAY + spec.version * MINUTE
    backend.ids.next(model_run(spec.version))
    tags = {tag.DATASET: MODEL_DATASET, tag.RUN_KIND: "sweep", **({tag.JOB_ID: DONE_JOB} if spec.version == 1 else {})}
    run = (await backend.seeder.send(api.create_run(experiment=MODEL_EXPERIMENT, name=f"churn-train-{spec.version}",
                                                    start_time=start, tags=tags))).id
    with tempfile.TemporaryDirectory() as folder:
        saved = model_io.save(result.model, Path(folder), model_io.signature(data.x_train), reference)
        found = monitoring_profile.build(data.x_train, data.x_test, data.y_test, result.model, config.task,
                                         config.data.split.seed)
        saved.append(monitoring_profile.save(Path(folder), found, model_io.PROFILE_FILE))
        for path in saved:
            content = fixed_zip_times(path.read_bytes()) if path.name == model_io.MODEL_FILE else path.read_bytes()
            await backend.seeder.send(api.upload_artifact(run, f"model/{path.name}", content))
    await backend.seeder.send(api.upload_artifact(run, "pipeline.json", config.snapshot().encode()))
    scores = {f"best_{key}": round(value, 4) for key, value in result.holdout.items()}
    await backend.seeder.send(api.log_batch(run, params={"primary_metric": metric}, series=[
        {"key": key, "steps": [0], "values": [value], "timestamps": [start]} for key, value in scores.items()]))
    await backend.seeder.send(api.update_run(run, status="FINISHED", end_time=start + 30_000))


def fixed_zip_times(content: bytes) -> bytes:
    """A skops file (a zip) with every entry dated T0: the same model gives the same bytes, sha256 and
    size on every run (skops dates the entries when it writes them)."""
    import io
    import zipfile

    moment = datetime.fromtimestamp(T0 / 1000, tz=UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=moment)
            fixed.compress_type, fixed.external_attr = entry.compress_type, entry.external_attr
            target.writestr(fixed, source.read(entry))
    return out.getvalue()


def actor(backend: Backend, name: str) -> AsyncClient:
    """A client of the seeded app that acts as `name` (the registry records who did what)."""
    return AsyncClient(url=URL, transport=httpx.ASGITransport(app=backend.app), user=name)


async def seed_models(backend: Backend) -> None:
    """churn-classifier v1..v3 (MODEL_SPECS). alice promotes v1 to production (gates pass); bob forces
    v2 there (its roc_auc floor fails) and alice rolls production back to v1; bob moves v3 to staging,
    then asks for production → v3, which waits for approval. v1's run and the succeeded job point at v1,
    as the training hook leaves them."""
    await backend.seeder.send(api.create_experiment(MODEL_EXPERIMENT))
    for spec in MODEL_SPECS:
        await add_model_run(backend, spec)
    alice, bob = actor(backend, "alice"), actor(backend, "bob")
    steps: list[tuple[int, Callable[[], Awaitable[Any]]]] = [
        (NOW_MS - 88 * MINUTE, lambda: actor(backend, f"job:{DONE_JOB}").register_version(
            MODEL, model_run(1), description=f"registered by job {DONE_JOB}")),
        (NOW_MS - 80 * MINUTE, lambda: alice.promote(MODEL, 1, "production", expected_version=None,
                                                     reason="first release")),
        (NOW_MS - 60 * MINUTE, lambda: bob.register_version(MODEL, model_run(2))),
        (NOW_MS - 55 * MINUTE, lambda: bob.promote(MODEL, 2, "production", expected_version=1, force=True,
                                                   reason="hotfix: the tree ignores the broken usage_gb feed")),
        (NOW_MS - 40 * MINUTE, lambda: alice.rollback(MODEL, "production", reason="tree is below the roc_auc floor")),
        (NOW_MS - 20 * MINUTE, lambda: bob.register_version(MODEL, model_run(3))),
        (NOW_MS - 18 * MINUTE, lambda: bob.promote(MODEL, 3, "staging", expected_version=None,
                                                   reason="forest for the shadow test")),
        (NOW_MS - 15 * MINUTE, lambda: bob.promote(MODEL, 3, "production", expected_version=1,
                                                   reason="forest beats v1 on holdout")),
    ]
    for at, step in steps:
        backend.clock.ms = at
        await step()
    await backend.seeder.send(api.log_batch(model_run(1), tags={tag.MODEL_VERSION: f"{MODEL}/1"}))
    backend.clock.ms = NOW_MS


# -- traffic: predictions through the real route, then feedback labels ----------------------------
class LatencyTimer:
    """The `time` module of the predict route and of its records: each reading of `perf_counter` is
    `step` seconds after the one before, so a request (read when it arrives and when it is answered)
    takes exactly `step`, and the latencies the monitor shows are the same on every run."""

    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.002

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


TRAFFIC_ROWS = 5
"""Rows per prediction request."""
SHIFTED_FROM = 15
"""Minutes before NOW from which the traffic's monthly_charges and support_calls are shifted."""


def traffic_plan() -> list[tuple[int, int]]:
    """(minutes before NOW, requests in that minute): quiet until 50 minutes ago, a few requests a
    minute, then a burst in the last 5 minutes (the overview's health covers those)."""
    return [(ago, 10 if ago < 5 else 3 if ago < SHIFTED_FROM else 2) for ago in range(49, -1, -1)]


def traffic_rows() -> list[dict[str, Any]]:
    """The training data's rows (churn@2 as seeded), in order: traffic drawn like the training."""
    lines = churn_csv(2).decode().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


def shifted(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose customers pay 70 more a month and call support 3 more times (both drift), and use
    a little more data (7 GB more: a warning over the hour)."""
    return {**row, "monthly_charges": f"{float(row['monthly_charges']) + 70:.2f}",
            "support_calls": str(int(row["support_calls"]) + 3), "usage_gb": f"{float(row['usage_gb']) + 7:.2f}"}


async def seed_traffic(backend: Backend, timer: LatencyTimer) -> None:
    """churn-classifier@production (v1) answers `traffic_plan()` through the predict route (with
    probabilities), its rows drawn from the training data and shifted in the last SHIFTED_FROM minutes;
    every 7th minute a request misses a column (a 422, an error). Every row's true label is sent back
    as feedback. Latencies: 2 ms, longer every 6th minute (`timer`)."""
    rows, labels = traffic_rows(), []
    taken = 0
    for ago, requests in traffic_plan():
        backend.clock.ms = NOW_MS - ago * MINUTE - 30_000
        timer.step = (0.002 + 0.0005 * (ago % 4)) * (3 if ago % 6 == 0 else 1)
        for _ in range(requests):
            batch = rows[taken:taken + TRAFFIC_ROWS]
            taken += TRAFFIC_ROWS
            sent = [shifted(row) if ago < SHIFTED_FROM else row for row in batch]
            records = [{k: v for k, v in row.items() if k not in ("customer_id", "churned")} for row in sent]
            answer = await backend.seeder.predict(MODEL, "production", {"dataframe_records": records}, proba=True)
            labels += [{"request_id": rid, "label": int(row["churned"])}
                       for rid, row in zip(answer.request_ids, batch, strict=True)]
        if ago % 7 == 0:
            with pytest.raises(MlopsError) as refused:
                await backend.seeder.predict(MODEL, "production", {"dataframe_records": [{"tenure_months": 1}]})
            assert refused.value.status == 422
    backend.app.state.recorder.flush()
    await backend.seeder.send_feedback(MODEL, labels)
    backend.clock.ms = NOW_MS


def open_traffic_backend(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Backend, LatencyTimer]:
    """A backend whose prediction latencies follow a `LatencyTimer` and that keeps every row's inputs
    (no sampling, whatever the rate), with its recorder running (`close_traffic_backend` stops it)."""
    monkeypatch.setenv("MLOPS_MONITOR_FULL_RATE", "1000000000")
    opened = open_backend(home, monkeypatch)
    timer = LatencyTimer()
    for module in ("backend.routers.predict", "backend.serving.records"):
        monkeypatch.setattr(importlib.import_module(module), "time", timer)
    opened.app.state.recorder.start()
    return opened, timer


def close_traffic_backend(opened: Backend) -> None:
    opened.app.state.recorder.stop()
    close_backend(opened)


# -- alerts and retrains (the Alerts view, the header's count, the Monitor view's panels) -----------
ALERT_IDS = {"charges-drift": "a1e700000001", "accuracy-floor": "a1e700000002", "latency-p95": "a1e700000003",
             "error-rate": "a1e700000004", "no-traffic": "a1e700000005"}


@dataclass(frozen=True)
class AlertSpec:
    """An alert the seed opens (at `opened` minutes before NOW), then maybe acknowledges or resolves."""

    rule: str
    kind: str
    severity: str
    opened: int
    window: int
    """Minutes between the start of the earliest breaching window and the opening."""
    value: float
    threshold: float | None
    message: str
    acked_by: str = ""
    resolved_by: str = ""
    note: str = ""


ALERT_SPECS = [
    AlertSpec("charges-drift", "drift", "critical", 12, 15, 1.224, 0.25,
              "monthly_charges drifted (PSI 1.22 ≥ 0.25) in 3 of the last 3 5m windows"),
    AlertSpec("accuracy-floor", "accuracy", "warning", 4, 15, 0.7307, 0.75,
              "accuracy 0.731 < 0.75 in 1 of the last 1 15m windows"),
    AlertSpec("latency-p95", "latency_p95", "warning", 40, 15, 9.61, 8.0,
              "p95 latency 9.61 ms > 8 ms in 2 of the last 3 5m windows", acked_by="bob"),
    AlertSpec("error-rate", "error_rate", "warning", 180, 15, 0.051, 0.02,
              "error rate 5.1% > 2% in 1 of the last 1 15m windows", resolved_by="alice",
              note="the 422s come from a client still sending the old schema"),
    AlertSpec("no-traffic", "no_traffic", "info", 3 * 24 * 60, 60, 0.0, None,
              "no request through production for 1h", resolved_by="alice", note="weekend"),
]
"""Two open (one critical), one acknowledged, one resolved two hours ago, one resolved three days ago (the
Alerts view leaves it out)."""

RETRAIN_ROWS: list[dict[str, Any]] = [
    {"id": "7e7a00000001", "trigger": "schedule", "detail": "0 3 * * *", "status": "rejected", "actor": "system",
     "job_id": "b0b0cafe0001", "dataset": "churn@2", "version": 2, "promoted": [],
     "reason": "gates refused staging: roc_auc 0.52 < 0.6", "ago": 21 * 60},
    {"id": "7e7a00000002", "trigger": "manual", "detail": "by alice", "status": "awaiting_approval",
     "actor": "alice", "job_id": "b0b0cafe0002", "dataset": "churn@2", "version": 3, "promoted": ["staging"],
     "reason": "every gate passed; production waits for approval", "ago": 20},
    {"id": "7e7a00000003", "trigger": "new_data", "detail": "churn@3", "status": "skipped", "actor": "system",
     "job_id": None, "dataset": "churn@3", "version": None, "promoted": [],
     "reason": "cooldown: the last retrain started 8m ago (min_interval 1h)", "ago": 12},
    {"id": "7e7a00000004", "trigger": "drift", "detail": "alert charges-drift", "status": "running",
     "actor": "system", "job_id": RUNNING_JOB, "dataset": "churn@3", "version": None, "promoted": [],
     "reason": "", "ago": 2},
]
"""The model's retrain history as the retrain policy leaves it (rows of the `retrains` table)."""


async def seed_alerts(backend: Backend) -> None:
    """churn-classifier's ALERT_SPECS opened through the backend's `open_alert` at fixed times and ids,
    acknowledged and resolved through the API by their actors; RETRAIN_ROWS written to the table."""
    from backend.services.alerts import open_alert
    from mlops_tui.contract.alerts import AlertKind, Severity

    backend.ids.counter = SEED_ALERT_IDS

    for spec in ALERT_SPECS:
        opened = NOW_MS - spec.opened * MINUTE
        backend.ids.next(ALERT_IDS[spec.rule])
        alert = open_alert(backend.db, model=MODEL, rule=spec.rule, kind=AlertKind(spec.kind),
                           severity=Severity(spec.severity), message=spec.message, alias="production", version=1,
                           value=spec.value, threshold=spec.threshold, window_start=opened - spec.window * MINUTE,
                           now=opened)
        assert alert is not None and alert.id == ALERT_IDS[spec.rule]
        if spec.acked_by:
            backend.clock.ms = opened + 5 * MINUTE
            await actor(backend, spec.acked_by).ack_alert(alert.id)
        if spec.resolved_by:
            backend.clock.ms = opened + 60 * MINUTE
            await actor(backend, spec.resolved_by).resolve_alert(alert.id, spec.note)
    with backend.db.write() as conn:
        for row in RETRAIN_ROWS:
            created = NOW_MS - row["ago"] * MINUTE
            ended = None if row["status"] == "running" else created + 3 * MINUTE
            conn.execute(
                "INSERT INTO retrains (id, name, trigger, detail, status, reason, actor, job_id, dataset, version, "
                "promoted_json, created_at, updated_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["id"], MODEL, row["trigger"], row["detail"], row["status"], row["reason"], row["actor"],
                 row["job_id"], row["dataset"], row["version"], json.dumps(row["promoted"]), created,
                 ended or created, ended))
    backend.clock.ms = NOW_MS
