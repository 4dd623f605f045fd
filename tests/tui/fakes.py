"""A fake backend for the console's tests: fixed experiments and runs, the real filter parser.

Everything is deterministic (ids, names, times), so snapshots are stable. `down = True` makes
every call fail as if the backend were unreachable.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from backend.filters import FilterError, parse_filter, parse_order_by
from mlops_tui.client import MlopsError
from mlops_tui.models import (ArtifactFile, Experiment, ExperimentKeys, Health, MetricHistory, Run,
                              RunPage)

T0 = int(datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=timezone.utc)


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
        runs.append(_run(index, "1" if index % 4 else "2", status))
    return experiments, runs


def _value(run: Run, entity: str, key: str) -> Any:
    if entity == "metrics":
        return run.metrics.get(key)
    if entity == "params":
        return run.params.get(key)
    if entity == "tags":
        return run.tags.get(key)
    return {"status": run.status, "name": run.name, "run_name": run.name, "id": run.id, "run_id": run.id,
            "start_time": run.start_time, "end_time": run.end_time, "experiment_id": run.experiment_id}[key]


def _matches(run: Run, text: str | None) -> bool:
    for condition in parse_filter(text):
        value = _value(run, condition.entity, condition.key)
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
        page = found[offset:offset + limit]
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

    async def aclose(self) -> None:
        return None
