"""`GET /metrics`: read with the official `prometheus_client` parser, its values checked against the
traffic, jobs and logging this test made on a real app with a real SQLite file; behind the token."""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CLIENT_HEADERS
from fastapi.testclient import TestClient
from monitoring_support import record_json, register_model, request
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from backend import Settings, create_app
from backend.monitoring.recorder import Recorder

TOKEN = "metrics-secret"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=tmp_path / "home", token=TOKEN, max_running_jobs=0))
    headers = {**CLIENT_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
        yield client


def scrape(client: TestClient) -> dict[str, list[Sample]]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family.samples for family in text_string_to_metric_families(answer.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_metrics_count_the_traffic_jobs_and_logging_made(client: TestClient, tmp_path: Path) -> None:
    name = register_model(client, tmp_path / "model")
    latencies = [0.5, 1.5, 3.0, 12.0, 250.0]
    records = [r for latency in latencies for r in request(name, latency, rows=2)]
    records += request(name, 8.0, failed=True) + request(name, 2.0, alias=None, version=1)
    recorder: Recorder = client.app.state.recorder  # type: ignore[attr-defined]
    recorder.submit(records)
    answer = client.post("/api/v1/monitoring/records", json={
        "source": "replica-a", "records": record_json(request(name, 4.0, rows=3)), "dropped": 7})
    assert answer.status_code == 200
    assert recorder.flush()
    run = client.post("/api/v1/runs", json={"experiment_id": "0"}).raise_for_status().json()
    client.post(f"/api/v1/runs/{run['id']}/batch", json={
        "params": {"lr": 0.1, "depth": 3}, "metrics": [{"key": "loss", "value": v, "step": i}
                                                       for i, v in enumerate([0.9, 0.5, 0.2])]}).raise_for_status()

    families = scrape(client)
    production = {"model": name, "version": "1", "alias": "production"}
    requests = families["mlops_prediction_requests"]
    assert value(requests, "mlops_prediction_requests_total", **production) == len(latencies) + 1 + 1
    assert value(requests, "mlops_prediction_requests_total", model=name, alias="") == 1
    assert value(families["mlops_prediction_errors"], "mlops_prediction_errors_total", **production) == 1
    assert value(families["mlops_prediction_rows"], "mlops_prediction_rows_total", **production) == 2 * 5 + 3

    histogram = families["mlops_prediction_latency_seconds"]
    expected = [*latencies, 8.0, 4.0]
    assert value(histogram, "mlops_prediction_latency_seconds_count", **production) == len(expected)
    assert value(histogram, "mlops_prediction_latency_seconds_sum", **production) == pytest.approx(
        sum(expected) / 1000)
    buckets = sorted((float(s.labels["le"]), s.value) for s in histogram
                      if s.name.endswith("_bucket") and s.labels["alias"] == "production")
    assert buckets[-1] == (math.inf, len(expected))
    for bound, count in buckets:  # cumulative: every latency up to the bound (bounds sit between the values)
        assert count == sum(latency / 1000 <= bound for latency in expected), bound
    assert len(buckets) > 10 and [c for _, c in buckets] == sorted(c for _, c in buckets)

    assert value(families["mlops_monitoring_records_received"], "mlops_monitoring_records_received_total",
                 source="replica-a") == 3
    assert value(families["mlops_monitoring_records_received"], "mlops_monitoring_records_received_total",
                 source="backend") == len(records)
    assert value(families["mlops_monitoring_records_dropped"], "mlops_monitoring_records_dropped_total") == 7
    assert value(families["mlops_metric_points_logged"], "mlops_metric_points_logged_total") == 3
    assert value(families["mlops_params_logged"], "mlops_params_logged_total") == 2


def test_jobs_are_counted_by_status(client: TestClient) -> None:
    dataset = client.post("/api/v1/datasets/jobs-data/versions", params={"filename": "d.csv"},
                          content=b"x,y\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(20)))
    assert dataset.status_code in (200, 201), dataset.text
    pipeline = ('name = "p"\ntask = "classification"\n[data]\ndataset = "jobs-data@1"\ntarget = "y"\n'
                '[[models]]\nestimator = "LogisticRegression"\n')
    for _ in range(2):
        client.post("/api/v1/jobs", json={"pipeline": pipeline}).raise_for_status()
    jobs = scrape(client)["mlops_jobs"]
    assert value(jobs, "mlops_jobs", status="QUEUED") == 2


def test_metrics_need_the_token(client: TestClient) -> None:
    answer = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
