"""A fake backend for the console's tests: fixed experiments and runs, the real filter parser.

Everything is deterministic (ids, names, times), so snapshots are stable. `down = True` makes
every call fail as if the backend were unreachable.
"""
from __future__ import annotations

import hashlib
import math
import tomllib
from datetime import UTC, datetime
from typing import Any

from backend.filters import FilterError, parse_filter, parse_order_by
from mlops_tui.client import MlopsError
from mlops_tui.contract import (
    ArtifactFile,
    ColumnShift,
    Dataset,
    DatasetDiff,
    DatasetVersion,
    DatasetVersionSummary,
    DtypeChange,
    Experiment,
    ExperimentKeys,
    Health,
    Job,
    JobLog,
    MetricHistory,
    Run,
    RunPage,
)

T0 = int(datetime(2025, 3, 14, 9, 0, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MINUTE = 60_000


def fixed_clock() -> datetime:
    return NOW


ENV_TAGS = {
    "mlops.git.commit": "4be1c0ffee5e7a1d2c3b4a5f6e7d8c9b0a1f2e3d",
    "mlops.python": "3.11.9",
    "mlops.platform": "Linux-6.1-x86_64",
    "mlops.source.command": "train.py --epochs 20",
    "mlops.packages": '{"numpy": "2.1.0", "scikit-learn": "1.5.2"}',
}


def _run(index: int, experiment_id: str, status: str = "FINISHED", metrics: bool = True) -> Run:
    models = ("rf", "gbm", "logreg")
    model = models[index % 3]
    lr = (0.1, 0.05, 0.01, 0.2)[index % 4]
    acc = round(0.70 + (index * 37 % 29) / 100, 4)
    loss = round(1.0 - acc + 0.05, 4)
    start = T0 + index * 60_000
    params = {"model": model, "lr": str(lr), "depth": str(3 + index % 5)}
    stats = {}
    values = {}
    if metrics:
        values = {"acc": acc, "loss": loss}
        stats = {k: {"value": v, "step": 19, "timestamp": start, "min": round(v * 0.6, 4), "max": v, "count": 20}
                 for k, v in values.items()}
        if status == "RUNNING":
            values["acc"] = acc
    return Run.model_validate({
        "id": f"{index:08x}" + "ab" * 12, "experiment_id": experiment_id, "name": f"run-{index:03d}",
        "status": status, "start_time": start,
        "end_time": None if status == "RUNNING" else start + 45_000 + index * 1000,
        "params": params, "tags": {"team": "vision", **ENV_TAGS}, "metrics": values, "metric_stats": stats,
    })


def default_runs(count: int = 12) -> tuple[list[Experiment], list[Run]]:
    experiments = [
        Experiment(id="1", name="churn", created_at=T0, lifecycle_stage="active"),
        Experiment(id="2", name="fraud", created_at=T0, lifecycle_stage="active"),
    ]
    runs: list[Run] = []
    for index in range(count):
        status = "FAILED" if index % 5 == 3 else "RUNNING" if index == count - 1 else "FINISHED"
        run = _run(index, "1" if index % 4 else "2", status)
        if index in JOB_RUNS:
            job_id, dataset = JOB_RUNS[index]
            run = run.model_copy(update={"tags": {**run.tags, "mlops.job_id": job_id, "mlops.dataset": dataset}})
        if index in DONE_CANDIDATES:  # the succeeded job's candidates, under its parent run
            tags = {**run.tags, "mlops.best": "true"} if index == DONE_BEST else run.tags
            run = run.model_copy(update={"parent_id": _run_id(DONE_PARENT), "tags": tags})
        runs.append(run)
    return experiments, runs


# -- jobs ---------------------------------------------------------------------------------------------

RUNNING_JOB, QUEUED_JOB, DONE_JOB, FAILED_JOB, CANCELLED_JOB = (
    "a1b2c3d4e5f6", "b2c3d4e5f6a1", "c3d4e5f6a1b2", "d4e5f6a1b2c3", "e5f6a1b2c3d4")
DONE_PARENT, DONE_CANDIDATES, DONE_BEST = 9, (5, 6, 7, 10), 7
"""The succeeded job's parent run and candidate runs (indices into `default_runs`)."""
JOB_RUNS: dict[int, tuple[str, str]] = {
    DONE_PARENT: (DONE_JOB, "churn@2"), **{i: (DONE_JOB, "churn@2") for i in DONE_CANDIDATES},
    3: (FAILED_JOB, "churn@3"), 11: (RUNNING_JOB, "churn@3"),
}


def _run_id(index: int) -> str:
    return f"{index:08x}" + "ab" * 12


def _candidates() -> list[dict[str, Any]]:
    specs = [("LogisticRegression", {"C": 0.1, "max_iter": 500}), ("LogisticRegression", {"C": 1.0, "max_iter": 500}),
             ("RandomForestClassifier", {"n_estimators": 100, "max_depth": 8}),
             ("HistGradientBoostingClassifier", {"learning_rate": 0.081, "max_depth": 3})]
    found = []
    for (estimator, params), index, auc, fit in zip(specs, DONE_CANDIDATES, (0.801, 0.874, 0.912, 0.897),
                                                    (0.42, 0.51, 3.87, 2.15), strict=False):
        found.append({"run_id": _run_id(index), "estimator": estimator, "params": params,
                      "holdout": {"roc_auc": auc, "accuracy": round(auc - 0.06, 3)},
                      "cv": {"roc_auc": {"mean": round(auc - 0.01, 3), "std": 0.012}},
                      "fit_seconds": fit, "model_bytes": 40_000 + index * 1000})
    return found


def default_jobs() -> list[Job]:
    """Five jobs, one per status, newest first."""
    candidates = _candidates()
    best = next(c for c in candidates if c["run_id"] == _run_id(DONE_BEST))
    common = {"config_hash": "9f8e7d6c5b4a", "experiment_id": "1", "executor": "local"}
    jobs = [
        {"id": QUEUED_JOB, "status": "QUEUED", "name": "spend", "dataset": "spend@1", "created_at": NOW_MS - MINUTE},
        {"id": RUNNING_JOB, "status": "RUNNING", "name": "churn", "dataset": "churn@3", "run_id": _run_id(11),
         "created_at": NOW_MS - 3 * MINUTE, "started_at": NOW_MS - 2 * MINUTE, "progress_done": 3,
         "progress_total": 8},
        {"id": FAILED_JOB, "status": "FAILED", "name": "churn", "dataset": "churn@3", "run_id": _run_id(3),
         "created_at": NOW_MS - 30 * MINUTE, "started_at": NOW_MS - 30 * MINUTE,
         "ended_at": NOW_MS - 30 * MINUTE + 4_200, "error_kind": "validation",
         "error": "data validation failed: 2 problem(s): column 'tenure_months': 3 value(s) above max 200",
         "report": {"validation": ["column 'tenure_months': 3 value(s) above max 200",
                                   "column 'plan': value 'gold' is not allowed"]}},
        {"id": CANCELLED_JOB, "status": "CANCELLED", "name": "spend", "dataset": "spend@1",
         "created_at": NOW_MS - 50 * MINUTE, "started_at": NOW_MS - 50 * MINUTE,
         "ended_at": NOW_MS - 48 * MINUTE, "progress_done": 1, "progress_total": 6, "error_kind": "cancelled",
         "error": "cancelled by request"},
        {"id": DONE_JOB, "status": "SUCCEEDED", "name": "churn", "dataset": "churn@2", "run_id": _run_id(DONE_PARENT),
         "created_at": NOW_MS - 90 * MINUTE, "started_at": NOW_MS - 90 * MINUTE,
         "ended_at": NOW_MS - 90 * MINUTE + 65_000, "progress_done": 4, "progress_total": 4,
         "report": {"primary_metric": "roc_auc", "direction": "maximize", "best_run_id": best["run_id"],
                    "best": best, "candidates": candidates}},
    ]
    return [Job.model_validate({**common, **job}) for job in jobs]


def default_logs() -> dict[str, str]:
    done = ["09:30:00 job c3d4e5f6a1b2 started (pid 4242)", "09:30:01 data: churn@2 (5000 rows, 8 columns)",
            "09:30:01 validation: passed",
            "09:30:01 sweep: 4 candidate(s) on 3750 train / 1250 holdout rows; primary metric roc_auc (maximize)"]
    for number, candidate in enumerate(_candidates(), start=1):
        done.append(f"09:30:{10 + number * 10} candidate {number}/4 {candidate['estimator']} {candidate['params']}: "
                    f"roc_auc={candidate['holdout']['roc_auc']} fit {candidate['fit_seconds']:.2f}s")
    done.append("09:31:05 done: best RandomForestClassifier {'n_estimators': 100, 'max_depth': 8} roc_auc=0.9120")
    running = ["11:58:00 job a1b2c3d4e5f6 started (pid 4343)", "11:58:01 data: churn@3 (5200 rows, 8 columns)",
               "11:58:01 validation: passed",
               "11:58:02 sweep: 8 candidate(s) on 3900 train / 1300 holdout rows; primary metric roc_auc (maximize)"]
    running += [f"11:58:{10 + i * 10} candidate {i}/8 LogisticRegression {{'C': {0.1 * i:.1f}}}: roc_auc=0.8{i}"
                for i in (1, 2, 3)]
    failed = ["11:30:00 job d4e5f6a1b2c3 started (pid 4141)", "11:30:01 data: churn@3 (5200 rows, 8 columns)",
              "11:30:02 validation: column 'tenure_months': 3 value(s) above max 200",
              "11:30:02 validation: column 'plan': value 'gold' is not allowed",
              "11:30:02 FAILED (validation): data validation failed: 2 problem(s)"]
    return {DONE_JOB: "\n".join(done) + "\n", RUNNING_JOB: "\n".join(running) + "\n",
            FAILED_JOB: "\n".join(failed) + "\n", CANCELLED_JOB: "10:10:00 stopped by a signal\n"}


# -- datasets -----------------------------------------------------------------------------------------

SCHEMAS: dict[str, dict[int, dict[str, str]]] = {
    "churn": {
        1: {"customer_id": "string", "tenure_months": "int", "monthly_charges": "float", "support_calls": "int",
            "plan": "string", "contract": "string", "churned": "int"},
        2: {"customer_id": "string", "tenure_months": "int", "monthly_charges": "float", "support_calls": "int",
            "plan": "string", "contract": "string", "usage_gb": "float", "churned": "int"},
        3: {"customer_id": "string", "tenure_months": "float", "monthly_charges": "float", "support_calls": "int",
            "plan": "string", "region": "string", "usage_gb": "float", "churned": "int"},
    },
    "spend": {1: {"customer_id": "string", "monthly_spend": "float", "plan": "string", "tenure_months": "int"}},
}
ROWS = {("churn", 1): 4000, ("churn", 2): 5000, ("churn", 3): 5200, ("spend", 1): 3000}
CATEGORIES = {"plan": ["basic", "standard", "premium"], "contract": ["monthly", "yearly", "two-year"],
              "region": ["north", "south", "east", "west"]}


def _numeric_stats(column: str, version: int, rows: int) -> dict[str, Any]:
    seed = sum(map(ord, column))
    low, high = float(seed % 7), float(seed % 7 + 20 + seed % 50)
    shift = (version - 1) * (3 if column in ("monthly_charges", "usage_gb") else 0.3)
    mean = round(low + (high - low) * 0.4 + shift, 3)
    peak = 4 + (seed + version * (3 if column == "monthly_charges" else 0)) % 10
    weights = [math.exp(-((b - peak) / 3.5) ** 2) for b in range(20)]
    counts = [int(rows * w / sum(weights)) for w in weights]
    edges = [round(low + (high - low) * i / 20, 4) for i in range(21)]
    nulls = (seed + version) % 4 * 3 if column != "churned" else 0
    return {"kind": "numeric", "count": rows - nulls, "nulls": nulls, "mean": mean,
            "std": round((high - low) / 5, 3), "min": low, "max": high,
            "quantiles": {"p50": round(mean * 0.97, 3)}, "histogram": {"edges": edges, "counts": counts}}


def _categorical_stats(column: str, version: int, rows: int) -> dict[str, Any]:
    if column == "customer_id":
        return {"kind": "categorical", "count": rows, "nulls": 0, "unique": rows,
                "frequencies": {f"C{i:05d}": 1 for i in range(3)} | {"__other__": rows - 3}}
    values = CATEGORIES[column]
    shares = [0.5 - 0.05 * version, 0.3, 0.2 + 0.05 * version, 0.1][:len(values)]
    counts = [int(rows * share / sum(shares)) for share in shares]
    frequencies = dict(sorted(zip(values, counts, strict=False), key=lambda item: -item[1]))
    return {"kind": "categorical", "count": rows, "nulls": 0, "unique": len(values),
            "frequencies": {**frequencies, "__other__": 0}}


def _version(name: str, version: int, with_stats: bool = True) -> DatasetVersion:
    schema = SCHEMAS[name][version]
    rows = ROWS[(name, version)]
    stats = {column: (_numeric_stats(column, version, rows) if dtype in ("int", "float")
                      else _categorical_stats(column, version, rows)) for column, dtype in schema.items()}
    sha = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
    return DatasetVersion.model_validate({
        "name": name, "version": version, "ref": f"{name}@{version}", "sha256": sha, "format": "csv",
        "filename": f"{name}.csv", "size_bytes": rows * 61, "rows": rows, "schema": schema,
        "stats": stats if with_stats else None, "created_at": T0 - (4 - version) * 86_400_000})


def _psi(column: str, a: int, b: int) -> float:
    if column in ("monthly_charges", "plan"):
        return round(0.14 * (b - a) + 0.02, 4)
    return round(0.005 * (b - a) + (sum(map(ord, column)) % 5) / 1000, 4)


def _value(run: Run, entity: str, key: str) -> Any:
    if entity == "metrics":
        return run.metrics.get(key)
    if entity == "params":
        return run.params.get(key)
    if entity == "tags":
        return run.tags.get(key)
    return {"status": run.status, "name": run.name, "run_name": run.name, "id": run.id, "run_id": run.id,
            "start_time": run.start_time, "end_time": run.end_time, "experiment_id": run.experiment_id,
            "parent_id": run.parent_id, "duration": run.duration_ms}[key]


def _matches(run: Run, text: str | None) -> bool:
    for condition in parse_filter(text):
        value = _value(run, condition.entity, condition.key)
        if condition.op in ("IS NULL", "IS NOT NULL"):
            if (value is None) != (condition.op == "IS NULL"):
                return False
            continue
        if value is None:
            return False
        wanted = condition.value
        if isinstance(wanted, float) and not isinstance(value, (int, float)):
            try:
                value = float(value)
            except ValueError:
                return False
        op = condition.op
        if op in ("LIKE", "ILIKE"):
            pattern = str(wanted).replace("%", "")
            ok = pattern.lower() in str(value).lower()
        elif op == "IN":
            ok = value in wanted  # type: ignore[operator]
        elif op == "NOT IN":
            ok = value not in wanted  # type: ignore[operator]
        else:
            ok = {"=": value == wanted, "!=": value != wanted, "<": value < wanted, "<=": value <= wanted,
                  ">": value > wanted, ">=": value >= wanted}[op]
        if not ok:
            return False
    return True


class FakeClient:
    """Answers like the backend from in-memory experiments and runs; counts every call."""

    def __init__(self, experiments: list[Experiment] | None = None, runs: list[Run] | None = None,
                 url: str = "http://127.0.0.1:5099") -> None:
        default_experiments, default = default_runs()
        self.experiments = experiments if experiments is not None else default_experiments
        self.runs = runs if runs is not None else default
        self.url = url
        self.down = False
        self.calls: list[str] = []
        self.jobs: list[Job] = default_jobs()
        self.logs: dict[str, str] = default_logs()
        self.versions: dict[str, list[DatasetVersion]] = {
            name: [_version(name, v) for v in sorted(versions)] for name, versions in SCHEMAS.items()}
        self.uploads: list[tuple[str, str, bytes]] = []
        """(dataset name, filename, content) of every `add_dataset_version`."""
        self.submitted: list[tuple[str, str | None, str | None, str | None]] = []
        """(pipeline text, dataset ref, executor, scheduler) of every accepted `submit_job`."""
        self.cancelled: list[str] = []
        self.retried: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise MlopsError(f"cannot reach the backend at {self.url}: connection refused")

    def _experiment_id(self, ref: str) -> str:
        for experiment in self.experiments:
            if ref in (experiment.id, experiment.name):
                return experiment.id
        raise MlopsError(f"experiment {ref!r} not found", 404, "experiment")

    def _scope(self, experiment: str | list[str] | None, filter: str | None) -> list[Run]:
        try:
            parse_filter(filter)
        except FilterError as error:
            raise MlopsError(error.message, 400, "filter") from None
        ids = None
        if experiment is not None:
            refs = [experiment] if isinstance(experiment, str) else experiment
            ids = {self._experiment_id(ref) for ref in refs}
        return [r for r in self.runs if (ids is None or r.experiment_id in ids) and _matches(r, filter)]

    async def health(self) -> Health:
        self._call("health")
        return Health(status="ok", version="test", schema_version=1, pid=1)

    async def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        self._call("list_experiments")
        result = []
        for experiment in self.experiments:
            mine = [r for r in self.runs if r.experiment_id == experiment.id]
            result.append(experiment.model_copy(update={
                "run_count": len(mine), "last_run_time": max((r.start_time for r in mine), default=None)}))
        return result

    async def experiment_keys(self, ref: str) -> ExperimentKeys:
        self._call("experiment_keys")
        scope = self._scope(ref, None)
        return ExperimentKeys(params=sorted({k for r in scope for k in r.params}),
                              metrics=sorted({k for r in scope for k in r.metrics}),
                              tags=sorted({k for r in scope for k in r.tags}))

    async def get_run(self, run_id: str) -> Run:
        self._call("get_run")
        for run in self.runs:
            if run.id.startswith(run_id):
                return run
        raise MlopsError(f"run {run_id!r} not found", 404, "run_id")

    async def search_runs(self, experiment: str | list[str] | None = None, filter: str | None = None,
                          order_by: list[str] | str | None = None, limit: int = 100,
                          page_token: str | None = None) -> RunPage:
        self._call("search_runs")
        found = self._scope(experiment, filter)
        order = parse_order_by([order_by] if isinstance(order_by, str) else order_by)
        for key in reversed(order or [parse_order_by(["start_time DESC"])[0]]):
            present = [r for r in found if _value(r, key.entity, key.key) is not None]
            missing = [r for r in found if _value(r, key.entity, key.key) is None]

            def sort_key(run: Run, key: Any = key) -> Any:
                value = _value(run, key.entity, key.key)
                try:
                    return (0, float(value), "")
                except (TypeError, ValueError):
                    return (1, math.inf, str(value))

            present.sort(key=sort_key, reverse=key.descending)
            found = present + missing
        offset = int(page_token) if page_token else 0
        page = [run.model_copy(update={"child_count": sum(r.parent_id == run.id for r in self.runs)})
                for run in found[offset:offset + limit]]
        more = offset + limit < len(found)
        return RunPage(runs=page, next_page_token=str(offset + limit) if more else None)

    async def count_runs(self, experiment: str | list[str] | None = None, filter: str | None = None) -> int:
        self._call("count_runs")
        return len(self._scope(experiment, filter))

    async def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        self._call("metric_history")
        run = await self.get_run(run_id)
        final = run.metrics.get(key, 0.5)
        steps = list(range(20))
        return MetricHistory(key=key, steps=steps, values=[round(final * (1 - 0.5 * math.exp(-s / 4)), 4) for s in steps],
                             timestamps=[run.start_time + s * 1000 for s in steps])

    async def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]:
        self._call("list_artifacts")
        if path == "":
            return [ArtifactFile(path="model", is_dir=True), ArtifactFile(path="confusion.png", is_dir=False,
                                                                          size=20480)]
        if path == "model":
            return [ArtifactFile(path="model/model.skops", is_dir=False, size=1_250_000)]
        return []

    # -- jobs ---------------------------------------------------------------------------------------
    def _job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id.startswith(job_id):
                return job
        raise MlopsError(f"job {job_id!r} not found", 404, "job_id")

    def _replace_job(self, job: Job) -> Job:
        self.jobs = [job if j.id == job.id else j for j in self.jobs]
        return job

    def set_job(self, job_id: str, **fields: Any) -> Job:
        """Change a job as the backend would while it runs (tests use it)."""
        return self._replace_job(self._job(job_id).model_copy(update=fields))

    def append_log(self, job_id: str, text: str) -> None:
        self.logs[job_id] = self.logs.get(job_id, "") + text

    async def list_jobs(self, status: str | None = None, limit: int = 100) -> list[Job]:
        self._call("list_jobs")
        found = [j for j in self.jobs if status is None or j.status == status]
        found.sort(key=lambda j: -j.created_at)
        return [j.model_copy(update={"report": None}) for j in found[:limit]]

    async def get_job(self, job_id: str) -> Job:
        self._call("get_job")
        return self._job(job_id)

    async def job_logs(self, job_id: str, offset: int = 0, tail: int | None = None) -> JobLog:
        self._call("job_logs")
        job = self._job(job_id)
        data = self.logs.get(job.id, "").encode()
        if tail:
            lines = data.decode().splitlines()[-tail:]
            return JobLog(text="\n".join(lines) + ("\n" if lines else ""), offset=len(data), status=job.status)
        chunk = data[min(offset, len(data)):min(offset, len(data)) + 65536]
        return JobLog(text=chunk.decode(), offset=min(offset, len(data)) + len(chunk), status=job.status)

    async def cancel_job(self, job_id: str) -> Job:
        self._call("cancel_job")
        job = self._job(job_id)
        if job.finished:
            raise MlopsError(f"job {job.id!r} is already {job.status}", 409, "job_id")
        self.cancelled.append(job.id)
        return self._replace_job(job.model_copy(update={
            "status": "CANCELLED", "cancel_requested": True, "error_kind": "cancelled", "ended_at": NOW_MS,
            "error": "cancelled before it started" if job.status == "QUEUED" else "cancelled by request"}))

    async def retry_job(self, job_id: str) -> Job:
        self._call("retry_job")
        job = self._job(job_id)
        if job.status not in ("FAILED", "CANCELLED"):
            raise MlopsError(f"only a failed or cancelled job can be retried; {job.id!r} is {job.status}", 409,
                             "job_id")
        self.retried.append(job.id)
        new = Job(id=f"{len(self.jobs) + 1:012x}", status="QUEUED", name=job.name, config_hash=job.config_hash,
                  dataset=job.dataset, created_at=NOW_MS, retry_of=job.id)
        self.jobs.insert(0, new)
        return new

    async def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                         scheduler: str | None = None) -> Job:
        self._call("submit_job")
        try:
            document = tomllib.loads(pipeline)
        except tomllib.TOMLDecodeError as error:
            raise MlopsError(f"pipeline: not valid TOML: {error}", 422, "pipeline") from None
        if "name" not in document:
            raise MlopsError("name: field required", 422, "name")
        if "path" in document.get("data", {}) and dataset is None:
            raise MlopsError("data.path: the server reads no local files; register the data first", 422,
                             "data.path")
        self.submitted.append((pipeline, dataset, executor, scheduler))
        job = Job(id=f"{len(self.jobs) + 1:012x}", status="QUEUED", name=str(document["name"]),
                  config_hash="0123456789ab", dataset=dataset, created_at=NOW_MS, executor=executor or "local")
        self.jobs.insert(0, job)
        return job

    # -- datasets -----------------------------------------------------------------------------------
    def _versions(self, name: str) -> list[DatasetVersion]:
        if name not in self.versions:
            raise MlopsError(f"dataset {name!r} not found", 404, "dataset")
        return self.versions[name]

    def _dataset(self, name: str) -> Dataset:
        versions = self._versions(name)
        latest = versions[-1]
        return Dataset(name=name, created_at=versions[0].created_at, version_count=len(versions),
                       latest_version=latest.version, latest_rows=latest.rows, updated_at=latest.created_at)

    async def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion:
        self._call("add_dataset_version")
        self.uploads.append((name, filename, content))
        sha = hashlib.sha256(content).hexdigest()
        versions = self.versions.setdefault(name, [])
        for version in versions:
            if version.sha256 == sha:
                return version.model_copy(update={"created": False})
        lines = content.decode(errors="replace").splitlines()
        columns = lines[0].split(",") if lines else []
        version = DatasetVersion.model_validate({
            "name": name, "version": len(versions) + 1, "ref": f"{name}@{len(versions) + 1}", "sha256": sha,
            "format": "csv", "filename": filename, "size_bytes": len(content), "rows": max(len(lines) - 1, 0),
            "schema": {c: "string" for c in columns}, "stats": {}, "created_at": NOW_MS, "created": True})
        versions.append(version)
        return version

    async def list_datasets(self) -> list[Dataset]:
        self._call("list_datasets")
        return [self._dataset(name) for name in sorted(self.versions)]

    async def get_dataset(self, name: str) -> Dataset:
        self._call("get_dataset")
        versions = [v.model_copy(update={"stats": None}) for v in reversed(self._versions(name))]
        return self._dataset(name).model_copy(update={"versions": versions})

    async def get_dataset_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        self._call("get_dataset_version")
        versions = self._versions(name)
        if version == "latest":
            return versions[-1]
        for found in versions:
            if found.version == int(version):
                return found
        raise MlopsError(f"dataset version {name}@{version} not found", 404, "dataset")

    async def diff_datasets(self, name: str, a: int, b: int) -> DatasetDiff:
        self._call("diff_datasets")
        old, new = await self.get_dataset_version(name, a), await self.get_dataset_version(name, b)
        shared = [c for c in old.columns if c in new.columns]
        shifts = []
        for column in shared:
            sa, sb = (old.stats or {})[column], (new.stats or {})[column]
            score = _psi(column, a, b)
            shift = ColumnShift(column=column, kind=sa["kind"], psi=score, shifted=score > 0.2)
            if sa["kind"] == sb["kind"] == "numeric":
                shift = shift.model_copy(update={"mean_a": sa["mean"], "mean_b": sb["mean"],
                                                 "mean_change": round(sb["mean"] - sa["mean"], 6),
                                                 "std_a": sa["std"], "std_b": sb["std"]})
            elif sa["kind"] == "categorical":
                shift = shift.model_copy(update={"unique_a": sa["unique"], "unique_b": sb["unique"],
                                                 "new_values": ["gold"] if column == "plan" and b > a else []})
            shifts.append(shift)
        return DatasetDiff(
            name=name, a=DatasetVersionSummary(ref=old.ref, version=a, sha256=old.sha256, rows=old.rows,
                                               created_at=old.created_at),
            b=DatasetVersionSummary(ref=new.ref, version=b, sha256=new.sha256, rows=new.rows,
                                    created_at=new.created_at),
            rows_a=old.rows, rows_b=new.rows, rows_change=new.rows - old.rows,
            added_columns=[c for c in new.columns if c not in old.columns],
            removed_columns=[c for c in old.columns if c not in new.columns],
            dtype_changes=[DtypeChange(column=c, a=old.columns[c], b=new.columns[c]) for c in shared
                           if old.columns[c] != new.columns[c]],
            columns=shifts, shifted_columns=[s.column for s in shifts if s.shifted],
            same_content=old.sha256 == new.sha256)

    async def aclose(self) -> None:
        return None
