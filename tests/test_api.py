"""The native API in process: experiments, runs, logged data and metric histories."""
from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.db import MIGRATIONS


def create_run(client: TestClient, experiment: str = "exp", **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/runs", json={"experiment": experiment, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def log(client: TestClient, run_id: str, **batch: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_healthz(app_client: TestClient) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["schema_version"] == len(MIGRATIONS)
    assert isinstance(body["pid"], int)


def test_openapi_documents_the_fixed_endpoints(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/runs/{run_id}", "/api/v1/runs/{run_id}/metrics/{key}", "/api/v1/runs/search"):
        assert path in paths


# --- experiments -------------------------------------------------------------------------------

def test_experiment_lifecycle(app_client: TestClient) -> None:
    created = app_client.post("/api/v1/experiments", json={"name": "cv", "tags": {"team": "vision"}})
    assert created.status_code == 201
    experiment = created.json()
    assert experiment["name"] == "cv" and experiment["tags"] == {"team": "vision"}
    assert app_client.get(f"/api/v1/experiments/{experiment['id']}").json() == experiment
    assert app_client.get("/api/v1/experiments/cv").json() == experiment

    duplicate = app_client.post("/api/v1/experiments", json={"name": "cv"})
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "name"

    listed = [e["name"] for e in app_client.get("/api/v1/experiments").json()["experiments"]]
    assert listed == ["Default", "cv"]

    deleted = app_client.delete("/api/v1/experiments/cv")
    assert deleted.status_code == 200 and deleted.json()["lifecycle_stage"] == "deleted"
    assert "cv" not in [e["name"] for e in app_client.get("/api/v1/experiments").json()["experiments"]]
    everything = app_client.get("/api/v1/experiments", params={"include_deleted": True}).json()["experiments"]
    assert {"cv": "deleted"} == {e["name"]: e["lifecycle_stage"] for e in everything if e["name"] == "cv"}

    restored = app_client.post("/api/v1/experiments/cv/restore")
    assert restored.status_code == 200 and restored.json()["lifecycle_stage"] == "active"


def test_experiment_rename_and_unknown(app_client: TestClient) -> None:
    app_client.post("/api/v1/experiments", json={"name": "a"})
    app_client.post("/api/v1/experiments", json={"name": "b"})
    assert app_client.patch("/api/v1/experiments/a", json={"name": "c"}).json()["name"] == "c"
    assert app_client.patch("/api/v1/experiments/c", json={"name": "b"}).status_code == 409
    missing = app_client.get("/api/v1/experiments/nope")
    assert missing.status_code == 404 and missing.json()["field"] == "experiment"


def test_experiment_run_count_and_keys(app_client: TestClient) -> None:
    for index in range(3):
        run = create_run(app_client, "counted")
        log(app_client, run["id"], params={f"p{index}": 1}, metrics=[{"key": "acc", "value": 0.5}],
            tags={"t": "x"})
    experiment = app_client.get("/api/v1/experiments/counted").json()
    assert experiment["run_count"] == 3
    keys = app_client.get("/api/v1/experiments/counted/keys").json()
    assert keys == {"params": ["p0", "p1", "p2"], "metrics": ["acc"], "tags": ["mlflow.runName", "t"], "runs": 3,
                    "counts": {"params": {"p0": 1, "p1": 1, "p2": 1}, "metrics": {"acc": 3},
                               "tags": {"mlflow.runName": 3, "t": 3}}}


def test_deleted_experiment_refuses_new_runs(app_client: TestClient) -> None:
    create_run(app_client, "gone")
    app_client.delete("/api/v1/experiments/gone")
    response = app_client.post("/api/v1/runs", json={"experiment": "gone"})
    assert response.status_code == 409


# --- runs --------------------------------------------------------------------------------------

def test_run_create_defaults_to_the_default_experiment(app_client: TestClient) -> None:
    response = app_client.post("/api/v1/runs", json={})
    assert response.status_code == 201
    assert response.json()["experiment_id"] == "0"


def test_run_create_by_experiment_name_creates_it(app_client: TestClient) -> None:
    run = create_run(app_client, "fresh", name="first", tags={"k": "v"})
    assert run["name"] == "first" and run["status"] == "RUNNING"
    assert run["tags"] == {"k": "v", "mlflow.runName": "first"}
    experiment = app_client.get("/api/v1/experiments/fresh").json()
    assert run["experiment_id"] == experiment["id"]
    by_id = app_client.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
    assert by_id["experiment_id"] == experiment["id"]


def test_get_run_has_params_tags_latest_metrics_and_stats(app_client: TestClient) -> None:
    run = create_run(app_client)
    counts = log(app_client, run["id"], params={"lr": 0.1, "depth": 3, "flag": True, "name": "rf"},
                 tags={"stage": "dev"},
                 metrics=[{"key": "loss", "value": v, "step": s} for s, v in enumerate([3.0, 1.0, 2.0])])
    assert counts == {"params": 4, "metrics": 3, "tags": 1}
    body = app_client.get(f"/api/v1/runs/{run['id']}").json()
    assert body["params"] == {"lr": "0.1", "depth": "3", "flag": "True", "name": "rf"}
    assert body["tags"] == {"stage": "dev", "mlflow.runName": body["name"]}
    assert body["metrics"] == {"loss": 2.0}
    stats = body["metric_stats"]["loss"]
    assert (stats["value"], stats["step"], stats["min"], stats["max"], stats["count"]) == (2.0, 2, 1.0, 3.0, 3)


def test_update_run_status_sets_end_time(app_client: TestClient) -> None:
    run = create_run(app_client)
    updated = app_client.patch(f"/api/v1/runs/{run['id']}", json={"status": "FINISHED"}).json()
    assert updated["status"] == "FINISHED"
    assert updated["end_time"] is not None and updated["end_time"] >= run["start_time"]
    renamed = app_client.patch(f"/api/v1/runs/{run['id']}", json={"name": "better"}).json()
    assert renamed["name"] == "better" and renamed["status"] == "FINISHED"
    bad = app_client.patch(f"/api/v1/runs/{run['id']}", json={"status": "DONE"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_param_change_over_api_is_409_and_stores_nothing(app_client: TestClient) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], params={"lr": 0.1})
    response = app_client.post(f"/api/v1/runs/{run['id']}/batch", json={
        "params": {"lr": 0.2, "other": 1}, "tags": {"t": "x"}, "metrics": [{"key": "m", "value": 1.0}]})
    assert response.status_code == 409
    assert response.json()["field"] == "params.lr"
    body = app_client.get(f"/api/v1/runs/{run['id']}").json()
    assert body["params"] == {"lr": "0.1"} and body["tags"] == {"mlflow.runName": body["name"]}
    assert body["metrics"] == {}
    assert log(app_client, run["id"], params={"lr": "0.1"})["params"] == 1  # the same value is fine


def test_delete_and_restore_run_hides_it_from_search(app_client: TestClient) -> None:
    keep = create_run(app_client, "del")
    drop = create_run(app_client, "del")
    assert app_client.delete(f"/api/v1/runs/{drop['id']}").status_code == 200
    ids = [r["id"] for r in app_client.post("/api/v1/runs/search", json={"experiment": "del"}).json()["runs"]]
    assert ids == [keep["id"]]
    assert app_client.get(f"/api/v1/runs/{drop['id']}").json()["lifecycle_stage"] == "deleted"
    everything = app_client.post("/api/v1/runs/search", json={"experiment": "del", "include_deleted": True})
    assert {r["id"] for r in everything.json()["runs"]} == {keep["id"], drop["id"]}
    assert app_client.post(f"/api/v1/runs/{drop['id']}/restore").status_code == 200
    assert app_client.post("/api/v1/runs/count", json={"experiment": "del"}).json() == {"count": 2}


def test_child_runs(app_client: TestClient) -> None:
    parent = create_run(app_client, "nest")
    child = create_run(app_client, "nest", parent_id=parent["id"])
    children = app_client.get(f"/api/v1/runs/{parent['id']}/children").json()["runs"]
    assert [c["id"] for c in children] == [child["id"]]
    missing_parent = app_client.post("/api/v1/runs", json={"parent_id": "0" * 32})
    assert missing_parent.status_code == 404 and missing_parent.json()["field"] == "parent_id"


def test_delete_tag(app_client: TestClient) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], tags={"a": "1", "b": "2"})
    assert app_client.delete(f"/api/v1/runs/{run['id']}/tags/a").status_code == 200
    assert app_client.get(f"/api/v1/runs/{run['id']}").json()["tags"] == {"b": "2", "mlflow.runName": run["name"]}
    missing = app_client.delete(f"/api/v1/runs/{run['id']}/tags/a")
    assert missing.status_code == 404 and missing.json()["field"] == "key"


# --- metric history ----------------------------------------------------------------------------

def test_metric_history_full_series_ordered_by_step(app_client: TestClient) -> None:
    run = create_run(app_client)
    # two batches, the later one with earlier steps, and shuffled inside each batch
    log(app_client, run["id"], metrics=[{"key": "loss", "value": s * 10.0, "step": s, "timestamp": 1000 + s}
                                        for s in (9, 5, 7, 6, 8)])
    log(app_client, run["id"], metrics=[{"key": "loss", "value": s * 10.0, "step": s, "timestamp": 2000 + s}
                                        for s in (3, 0, 4, 2, 1)])
    response = app_client.get(f"/api/v1/runs/{run['id']}/metrics/loss")
    assert response.status_code == 200
    points = response.json()["points"]
    assert [p["step"] for p in points] == list(range(10))
    assert [p["value"] for p in points] == [s * 10.0 for s in range(10)]
    assert points[0]["timestamp"] == 2000 and points[9]["timestamp"] == 1009
    assert set(points[0]) == {"step", "value", "timestamp"}
    assert app_client.get(f"/api/v1/runs/{run['id']}/metrics").json() == {"keys": ["loss"]}


@pytest.mark.parametrize("columns", [False, True])
def test_metric_history_values_read_back_exactly(app_client: TestClient, columns: bool) -> None:
    """Every double keeps all its digits (SQLite's own JSON would round it to 15)."""
    run = create_run(app_client)
    values = [1 / 3, 0.98092932565452706, 2 / 7 * 1e-300, -123456.78901234567, 9007199254740993.0]
    log(app_client, run["id"], metrics=[{"key": "x", "value": v, "step": s, "timestamp": 1}
                                        for s, v in enumerate(values)])
    body = app_client.get(f"/api/v1/runs/{run['id']}/metrics/x", params={"format": "columns"} if columns else {}).json()
    read = body["values"] if columns else [p["value"] for p in body["points"]]
    assert read == values


def test_metric_history_key_with_slash(app_client: TestClient) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], metrics=[{"key": "train/loss", "value": 1.5, "step": 0}])
    points = app_client.get(f"/api/v1/runs/{run['id']}/metrics/train/loss").json()["points"]
    assert [(p["step"], p["value"]) for p in points] == [(0, 1.5)]


def noisy_series(count: int, spike_step: int, dip_step: int) -> list[dict[str, Any]]:
    points = []
    for step in range(count):
        value = math.sin(step / 25.0) + 0.1 * math.sin(step * 7.3)
        if step == spike_step:
            value = 50.0
        if step == dip_step:
            value = -42.0
        points.append({"key": "signal", "value": value, "step": step, "timestamp": 10_000 + step})
    return points


@pytest.mark.parametrize("arrival", ["in_order", "second_half_first"])
@pytest.mark.parametrize("max_points", [4, 5, 10, 50, 100, 1999])
def test_metric_history_downsampled_keeps_extremes_and_ends(app_client: TestClient, max_points: int,
                                                            arrival: str) -> None:
    run = create_run(app_client)
    series = noisy_series(2000, spike_step=1234, dip_step=777)
    halves = [series[:1000], series[1000:]]
    for half in (halves if arrival == "in_order" else halves[::-1]):
        log(app_client, run["id"], metrics=half)
    response = app_client.get(f"/api/v1/runs/{run['id']}/metrics/signal", params={"max_points": max_points})
    assert response.status_code == 200
    points = response.json()["points"]
    assert 4 <= len(points) <= max_points
    steps = [p["step"] for p in points]
    values = [p["value"] for p in points]
    by_step = {p["step"]: p["value"] for p in series}
    assert all(by_step[p["step"]] == p["value"] for p in points)  # real points, not invented ones
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert (max(values), min(values)) == (50.0, -42.0), f"global max/min lost: kept steps {steps}"
    assert (steps[0], steps[-1]) == (0, 1999), f"first/last step lost: kept steps {steps}"


def test_metric_history_not_downsampled_when_short_enough(app_client: TestClient) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], metrics=noisy_series(50, 10, 20))
    points = app_client.get(f"/api/v1/runs/{run['id']}/metrics/signal", params={"max_points": 50}).json()["points"]
    assert [p["step"] for p in points] == list(range(50))


@pytest.mark.parametrize("max_points", [3, 0, -1])
def test_metric_history_max_points_below_4_is_422(app_client: TestClient, max_points: int) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], metrics=[{"key": "m", "value": 1.0}])
    response = app_client.get(f"/api/v1/runs/{run['id']}/metrics/m", params={"max_points": max_points})
    assert response.status_code == 422
    assert response.json()["field"] == "max_points"


def test_metric_history_unknown_key_and_run(app_client: TestClient) -> None:
    run = create_run(app_client)
    missing_key = app_client.get(f"/api/v1/runs/{run['id']}/metrics/nope")
    assert missing_key.status_code == 404 and missing_key.json()["field"] == "key"
    missing_run = app_client.get(f"/api/v1/runs/{'a' * 32}/metrics/nope")
    assert missing_run.status_code == 404 and missing_run.json()["field"] == "run_id"


@pytest.mark.parametrize("max_points", [None, 40])
def test_metric_history_columns_format_matches_points(app_client: TestClient, max_points: int | None) -> None:
    run = create_run(app_client)
    log(app_client, run["id"], metrics=noisy_series(500, spike_step=100, dip_step=300))
    params = {"max_points": max_points} if max_points else {}
    points = app_client.get(f"/api/v1/runs/{run['id']}/metrics/signal", params=params).json()["points"]
    columns = app_client.get(f"/api/v1/runs/{run['id']}/metrics/signal",
                             params={**params, "format": "columns"}).json()
    assert columns["steps"] == [p["step"] for p in points]
    assert columns["values"] == [p["value"] for p in points]
    assert columns["timestamps"] == [p["timestamp"] for p in points]
    assert len(points) == 500 if max_points is None else 4 <= len(points) <= max_points
    bad = app_client.get(f"/api/v1/runs/{run['id']}/metrics/signal", params={"format": "rows"})
    assert bad.status_code == 422 and bad.json()["field"] == "format"
