"""What the monitoring tests share: a registered model version with an alias on an in-process app
(a real tiny scikit-learn pipeline, registered and promoted through the API), and prediction records
as the serving route and replicas leave them."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conftest import unique
from fastapi.testclient import TestClient
from registry_support import tiny_model_files

from mlops_tui.contract import now_ms
from mlops_tui.contract.monitoring import PredictionRecord, RecordStatus

MINUTE = 60_000


def register_model(client: TestClient, folder: Path, aliases: tuple[str, ...] = ("production",),
                   name: str | None = None, files: dict[str, bytes] | None = None) -> str:
    """A model whose version 1 holds a real saved pipeline (or the run artifacts `files`), pointed at by
    `aliases`."""
    name = name or unique("watched")
    experiment = client.post("/api/v1/experiments", json={"name": unique("monitoring")}).raise_for_status().json()
    run_id = client.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).raise_for_status().json()["id"]
    for path, content in (tiny_model_files(folder) if files is None else files).items():
        client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).raise_for_status()
    client.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id}).raise_for_status()
    for alias in aliases:
        client.post(f"/api/v1/models/{name}/promote", json={
            "version": 1, "alias": alias, "force": True, "reason": "monitoring test"}).raise_for_status()
    return name


def request(name: str, latency_ms: float, rows: int = 1, *, time: int | None = None, alias: str | None = "production",
            version: int = 1, failed: bool = False, outputs: list[Any] | None = None,
            probabilities: list[list[float]] | None = None, inputs: list[dict[str, Any]] | None = None
            ) -> list[PredictionRecord]:
    """The records one prediction request leaves: one per row, the first counting the request."""
    time = now_ms() if time is None else time
    records = []
    for index in range(max(rows, 1)):
        records.append(PredictionRecord(
            request_id=uuid.uuid4().hex, time=time, name=name, version=version, alias=alias, latency_ms=latency_ms,
            rows=rows, first=index == 0, status=RecordStatus.ERROR if failed else RecordStatus.OK,
            error="bad input" if failed else None,
            inputs=None if inputs is None else inputs[index],
            output=None if outputs is None else outputs[index],
            probabilities=None if probabilities is None else probabilities[index]))
    return records


def record_json(records: list[PredictionRecord]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", exclude_none=True) for r in records]
