"""MLflow's tracking routes in-process: request and response shapes, MLflow's error codes, batch
limits and value rules, experiment search, dataset inputs and metric-history paging. The native API
reads back what the MLflow routes wrote (the same rows)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import Settings
from backend.services import tracking
from tests.conftest import make_client, unique

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(Settings(home=tmp_path_factory.mktemp("mlflow-tracking"), token=None)) as client:
        yield client


def post(api: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = api.post(f"{API}/{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def get(api: TestClient, path: str, params: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = api.get(f"{API}/{path}", params=params)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def refused(body: dict[str, Any], code: str, *words: str) -> None:
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body


def new_experiment(api: TestClient, **fields: Any) -> str:
    return str(post(api, "experiments/create", {"name": unique("exp"), **fields})["experiment_id"])


def new_run(api: TestClient, experiment_id: str, **fields: Any) -> dict[str, Any]:
    return post(api, "runs/create", {"experiment_id": experiment_id, **fields})["run"]  # type: ignore[no-any-return]


# --- experiments -------------------------------------------------------------------------------

def test_experiment_lifecycle_in_mlflow_shapes(api: TestClient) -> None:
    name = unique("exp")
    created = post(api, "experiments/create", {"name": name, "artifact_location": "s3://elsewhere",
                                               "tags": [{"key": "team", "value": "ml"}]})
    experiment_id = created["experiment_id"]
    assert isinstance(experiment_id, str)
    experiment = get(api, "experiments/get", {"experiment_id": experiment_id})["experiment"]
    assert experiment["name"] == name and experiment["lifecycle_stage"] == "active"
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"  # the client's is ignored
    assert experiment["tags"] == [{"key": "team", "value": "ml"}]
    assert get(api, "experiments/get-by-name", {"experiment_name": name})["experiment"] == experiment

    refused(post(api, "experiments/create", {"name": name}, 400), "RESOURCE_ALREADY_EXISTS", name)
    post(api, "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "mlflow.note.content",
                                                 "value": "what this is"})
    post(api, "experiments/update", {"experiment_id": experiment_id, "new_name": name + "-renamed"})
    native = api.get(f"/api/v1/experiments/{experiment_id}").json()
    assert native["name"] == name + "-renamed"
    assert native["tags"] == {"team": "ml", "mlflow.note.content": "what this is"}
    post(api, "experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "team"})
    refused(post(api, "experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "team"}, 404),
            "RESOURCE_DOES_NOT_EXIST", "team")

    post(api, "experiments/delete", {"experiment_id": experiment_id})
    assert get(api, "experiments/get", {"experiment_id": experiment_id})["experiment"]["lifecycle_stage"] == "deleted"
    refused(post(api, "runs/create", {"experiment_id": experiment_id}, 400), "INVALID_PARAMETER_VALUE", "deleted")
    post(api, "experiments/restore", {"experiment_id": experiment_id})
    assert api.get(f"/api/v1/experiments/{experiment_id}").json()["lifecycle_stage"] == "active"


def test_experiment_errors(api: TestClient) -> None:
    refused(get(api, "experiments/get", {"experiment_id": "987654"}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(get(api, "experiments/get", {"experiment_id": "Default"}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(post(api, "experiments/delete", {"experiment_id": "987654"}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(post(api, "experiments/create", {"name": "  "}, 400), "INVALID_PARAMETER_VALUE", "name")
    refused(post(api, "experiments/create", {}, 400), "INVALID_PARAMETER_VALUE", "name")
    refused(post(api, "experiments/update", {"experiment_id": "0", "new_name": "Default"}, 400),
            "RESOURCE_ALREADY_EXISTS")


def test_experiment_search_filter_order_view_and_pages(api: TestClient) -> None:
    prefix = unique("search")
    ids = {}
    for name, tag in (("b", "x"), ("a", "y"), ("c", None), ("A", "x")):
        tags = [{"key": "k", "value": tag}] if tag else []
        ids[name] = post(api, "experiments/create", {"name": f"{prefix}-{name}", "tags": tags})["experiment_id"]
        time.sleep(0.002)  # distinct creation times

    def names(**body: Any) -> list[str]:
        found = post(api, "experiments/search", body)["experiments"]
        return [e["name"].removeprefix(f"{prefix}-") for e in found]

    like = f"name LIKE '{prefix}-%'"
    assert names(filter=like) == ["A", "c", "a", "b"]  # newest first
    assert names(filter=like, order_by=["name ASC"]) == ["A", "a", "b", "c"]
    assert names(filter=f"{like} AND tags.k = 'x'", order_by=["attribute.name"]) == ["A", "b"]
    assert names(filter=f"{like} AND tags.k != 'x'") == ["a"]  # an experiment without the tag is no match
    assert names(filter=f"{like} AND tags.k IS NULL") == ["c"]
    assert names(filter=f"name ILIKE '{prefix}-a'", order_by=["experiment_id DESC"]) == ["A", "a"]
    assert names(filter=f"name LIKE '{prefix}-a'") == ["a"]  # LIKE is case-sensitive
    assert names(filter=f"attributes.name = '{prefix}-b' AND creation_time > 0") == ["b"]
    assert names(filter=f"experiment_id IN ('{ids['a']}', '{ids['c']}')", order_by=["name"]) == ["a", "c"]

    first = post(api, "experiments/search", {"filter": like, "max_results": 3, "order_by": ["name"]})
    assert [e["name"][-1] for e in first["experiments"]] == ["A", "a", "b"]
    rest = post(api, "experiments/search", {"filter": like, "max_results": 3, "order_by": ["name"],
                                            "page_token": first["next_page_token"]})
    assert [e["name"][-1] for e in rest["experiments"]] == ["c"] and "next_page_token" not in rest

    post(api, "experiments/delete", {"experiment_id": ids["c"]})
    assert names(filter=like, order_by=["name"]) == ["A", "a", "b"]
    assert names(filter=like, view_type="DELETED_ONLY") == ["c"]
    assert names(filter=like, order_by=["name"], view_type="ALL") == ["A", "a", "b", "c"]
    assert [e["name"] for e in get(api, "experiments/search", {"filter": like, "view_type": "3",
                                                               "order_by": "name"})["experiments"]][-1] == f"{prefix}-c"

    for bad, field in (({"filter": "name > 'x'"}, "filter"), ({"filter": "foo = 'x'"}, "filter"),
                       ({"filter": "name = 'x' OR name = 'y'"}, "filter"), ({"order_by": ["tags.k"]}, "order by key"),
                       ({"max_results": 50001}, "max_results"), ({"page_token": "nope"}, "page_token"),
                       ({"view_type": "SOME"}, "view_type")):
        refused(post(api, "experiments/search", bad, 400), "INVALID_PARAMETER_VALUE", field)


# --- runs --------------------------------------------------------------------------------------

def test_run_create_get_update_in_mlflow_shapes(api: TestClient) -> None:
    experiment_id = new_experiment(api)
    parent = new_run(api, experiment_id, run_name="parent", user_id="ada", start_time=1_700_000_000_000,
                     tags=[{"key": "team", "value": "ml"}])
    info = parent["info"]
    assert info["run_id"] == info["run_uuid"] and info["run_name"] == "parent" and info["user_id"] == "ada"
    assert info["status"] == "RUNNING" and info["start_time"] == 1_700_000_000_000 and "end_time" not in info
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{info['run_id']}"
    assert info["experiment_id"] == experiment_id and info["lifecycle_stage"] == "active"
    assert {"key": "team", "value": "ml"} in parent["data"]["tags"]
    child = new_run(api, experiment_id, tags=[{"key": "mlflow.parentRunId", "value": info["run_id"]},
                                              {"key": "mlflow.runName", "value": "kid"}])
    assert child["info"]["run_name"] == "kid"
    native = api.get(f"/api/v1/runs/{child['info']['run_id']}").json()
    assert native["parent_id"] == info["run_id"] and native["name"] == "kid"
    assert api.get(f"/api/v1/runs/{info['run_id']}").json()["user_id"] == "ada"

    updated = post(api, "runs/update", {"run_id": info["run_id"], "run_uuid": info["run_id"], "status": "FINISHED",
                                        "end_time": 1_700_000_005_000})["run_info"]
    assert updated["status"] == "FINISHED" and updated["end_time"] == 1_700_000_005_000
    assert get(api, "runs/get", {"run_id": info["run_id"]})["run"]["info"] == updated
    by_uuid = get(api, "runs/get", {"run_uuid": info["run_id"]})["run"]
    assert by_uuid["info"]["run_id"] == info["run_id"]
    native = api.get(f"/api/v1/runs/{info['run_id']}").json()
    assert native["status"] == "FINISHED" and native["end_time"] == 1_700_000_005_000

    post(api, "runs/delete", {"run_id": info["run_id"]})
    assert get(api, "runs/get", {"run_id": info["run_id"]})["run"]["info"]["lifecycle_stage"] == "deleted"
    assert api.get(f"/api/v1/runs/{info['run_id']}").json()["lifecycle_stage"] == "deleted"
    refused(post(api, "runs/log-metric", {"run_id": info["run_id"], "key": "m", "value": 1, "timestamp": 1}, 400),
            "INVALID_PARAMETER_VALUE", "deleted")
    post(api, "runs/restore", {"run_id": info["run_id"]})
    assert api.get(f"/api/v1/runs/{info['run_id']}").json()["lifecycle_stage"] == "active"


def test_unknown_runs_are_resource_does_not_exist(api: TestClient) -> None:
    missing = "0" * 32
    refused(get(api, "runs/get", {"run_id": missing}, 404), "RESOURCE_DOES_NOT_EXIST", missing)
    for path, body in (("runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}),
                       ("runs/log-parameter", {"key": "p", "value": "1"}), ("runs/set-tag", {"key": "t", "value": "v"}),
                       ("runs/log-batch", {"params": [{"key": "p", "value": "1"}]}), ("runs/delete", {}),
                       ("runs/update", {"status": "FINISHED"}), ("runs/log-inputs", {"datasets": []})):
        refused(post(api, path, {"run_id": missing, **body}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(get(api, "metrics/get-history", {"run_id": missing, "metric_key": "m"}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(post(api, "runs/create", {"experiment_id": "987654"}, 404), "RESOURCE_DOES_NOT_EXIST")
    refused(get(api, "runs/get", {}, 400), "INVALID_PARAMETER_VALUE", "run_id")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("runs/create", {"start_time": 10**30}, "start_time"),
    ("runs/create", {"user_id": "u" * 1000}, "user_id"),
    ("runs/create", {"tags": [{"key": "k", "value": "v" * 8001}]}, "tags.k"),
    ("runs/create", {"tags": "k=v"}, "tags"),
    ("runs/update", {"status": "DONE"}, "status"),
    ("runs/update", {"end_time": "soon"}, "end_time"),
    ("runs/log-metric", {"key": "m", "value": 1, "timestamp": 10**30}, "timestamp"),
    ("runs/log-metric", {"key": "m", "value": 1}, "timestamp"),
    ("runs/log-parameter", {"key": "p", "value": "v" * 6001}, "params[0].value"),
    ("runs/log-parameter", {"key": "p", "value": 5}, "value"),
    ("runs/set-tag", {"key": "t" * 251, "value": "v"}, "tags[0].key"),
    ("runs/log-inputs", {"datasets": "x"}, "datasets"),
    ("runs/log-inputs", {"datasets": [{"dataset": {"name": "n", "digest": "d"},
                                       "tags": [{"key": "k" * 300, "value": "v"}]}]}, "datasets[0].tags.key"),
    ("runs/search", {"experiment_ids": "1"}, "experiment_ids"),
])
def test_bad_input_is_refused_naming_the_field(api: TestClient, path: str, body: dict[str, Any], field: str) -> None:
    experiment_id = new_experiment(api)
    target = {"experiment_id": experiment_id} if path == "runs/create" else {
        "run_id": new_run(api, experiment_id)["info"]["run_id"]}
    refused(post(api, path, {**target, **body}, 400), "INVALID_PARAMETER_VALUE", field)


def test_logging_params_metrics_tags(api: TestClient) -> None:
    run_id = new_run(api, new_experiment(api))["info"]["run_id"]
    post(api, "runs/log-parameter", {"run_id": run_id, "run_uuid": run_id, "key": "lr", "value": "0.1"})
    post(api, "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})  # the same value again: fine
    post(api, "runs/log-parameter", {"run_id": run_id, "key": "empty"})  # the client leaves out ""
    refused(post(api, "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.2"}, 400),
            "INVALID_PARAMETER_VALUE", "lr")
    post(api, "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1000, "step": 1})
    post(api, "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.25, "timestamp": 2000, "step": 2})
    post(api, "runs/log-metric", {"run_id": run_id, "key": "acc", "value": 0.9, "timestamp": 1500})  # step 0
    post(api, "runs/set-tag", {"run_id": run_id, "key": "stage", "value": "dev"})
    post(api, "runs/set-tag", {"run_id": run_id, "key": "stage", "value": "prod"})
    post(api, "runs/set-tag", {"run_id": run_id, "key": "gone", "value": "x"})
    post(api, "runs/delete-tag", {"run_id": run_id, "key": "gone"})
    refused(post(api, "runs/delete-tag", {"run_id": run_id, "key": "gone"}, 404), "RESOURCE_DOES_NOT_EXIST", "gone")

    data = get(api, "runs/get", {"run_id": run_id})["run"]["data"]
    assert sorted(data["params"], key=lambda p: p["key"]) == [{"key": "empty", "value": ""},
                                                              {"key": "lr", "value": "0.1"}]
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["loss"] == {"key": "loss", "value": 0.25, "timestamp": 2000, "step": 2}
    assert metrics["acc"] == {"key": "acc", "value": 0.9, "timestamp": 1500, "step": 0}
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["stage"] == "prod" and "gone" not in tags
    native = api.get(f"/api/v1/runs/{run_id}").json()
    assert native["params"] == {"lr": "0.1", "empty": ""} and native["metrics"] == {"loss": 0.25, "acc": 0.9}


def test_log_batch_limits_and_all_or_nothing(api: TestClient) -> None:
    run_id = new_run(api, new_experiment(api))["info"]["run_id"]
    post(api, "runs/log-batch", {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": float(i), "timestamp": 10 + i, "step": i} for i in range(1000)],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(100)]})
    native = api.get(f"/api/v1/runs/{run_id}").json()
    assert len(native["params"]) == 100 and native["metric_stats"]["m"]["count"] == 1000

    too_many = (("metrics", [{"key": "m", "value": 1.0, "timestamp": 1, "step": 5000 + i} for i in range(1001)]),
                ("params", [{"key": f"q{i}", "value": "1"} for i in range(101)]),
                ("tags", [{"key": f"u{i}", "value": "1"} for i in range(101)]))
    for field, items in too_many:
        refused(post(api, "runs/log-batch", {"run_id": run_id, field: items}, 400), "INVALID_PARAMETER_VALUE",
                field, "at most")
    # a changed param, NaN or a duplicate key with two values refuses the whole batch: nothing half-written
    for bad in ([{"key": "p1", "value": "changed"}], [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]):
        refused(post(api, "runs/log-batch", {"run_id": run_id, "params": [{"key": "new", "value": "1"}, *bad],
                                             "metrics": [{"key": "fresh", "value": 1.0, "timestamp": 1}],
                                             "tags": [{"key": "fresh", "value": "1"}]}, 400),
                "INVALID_PARAMETER_VALUE")
    for value in ("NaN", "Infinity", "-Infinity"):
        refused(post(api, "runs/log-batch", {"run_id": run_id, "params": [{"key": "new", "value": "1"}],
                                             "metrics": [{"key": "fresh", "value": value, "timestamp": 1}]}, 400),
                "INVALID_PARAMETER_VALUE", "fresh")
    refused(post(api, "runs/log-metric", {"run_id": run_id, "key": "fresh", "value": "NaN", "timestamp": 1}, 400),
            "INVALID_PARAMETER_VALUE", "fresh")
    refused(post(api, "runs/log-batch", {"run_id": run_id, "metrics": [{"key": "../x", "value": 1, "timestamp": 1}]},
                 400), "INVALID_PARAMETER_VALUE", "metrics[0].key")
    refused(post(api, "runs/log-batch", {"run_id": run_id, "metrics": [{"key": "m", "value": "high"}]}, 400),
            "INVALID_PARAMETER_VALUE", "metrics[0].value")
    after = api.get(f"/api/v1/runs/{run_id}").json()
    assert "new" not in after["params"] and "dup" not in after["params"] and after["params"]["p1"] == "1"
    assert "fresh" not in after["metrics"] and "fresh" not in after["tags"]


def test_metric_history_in_order_and_in_pages(api: TestClient) -> None:
    run_id = new_run(api, new_experiment(api))["info"]["run_id"]
    points = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 5000 - i, "step": i} for i in range(25)]
    post(api, "runs/log-batch", {"run_id": run_id, "metrics": list(reversed(points))})
    history = get(api, "metrics/get-history", {"run_id": run_id, "metric_key": "loss"})
    assert history["metrics"] == points and "next_page_token" not in history
    pages, token = [], None
    while True:
        page = get(api, "metrics/get-history", {"run_id": run_id, "metric_key": "loss", "max_results": 10,
                                                **({"page_token": token} if token else {})})
        pages.append(page["metrics"])
        token = page.get("next_page_token")
        if token is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5] and sum(pages, []) == points
    assert get(api, "metrics/get-history", {"run_id": run_id, "metric_key": "never"}) == {"metrics": []}
    for bad, field in (({"max_results": 0}, "max_results"), ({"page_token": "zz"}, "page_token")):
        refused(get(api, "metrics/get-history", {"run_id": run_id, "metric_key": "loss", **bad}, 400),
                "INVALID_PARAMETER_VALUE", field)
    native = api.get(f"/api/v1/runs/{run_id}/metrics/loss").json()["points"]  # (SQLite's JSON: 15 digits)
    assert [(p["step"], p["timestamp"]) for p in native] == [(p["step"], p["timestamp"]) for p in points]
    assert [p["value"] for p in native] == pytest.approx([p["value"] for p in points], rel=1e-14)


def test_log_inputs_read_back_with_the_run_and_in_search(api: TestClient) -> None:
    experiment_id = new_experiment(api)
    run_id = new_run(api, experiment_id)["info"]["run_id"]
    plain = new_run(api, experiment_id)["info"]["run_id"]
    dataset = {"name": "iris", "digest": "abc123", "source_type": "local", "source": '{"uri": "/data/iris.csv"}',
               "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 150}'}
    train = {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
    post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [train]})
    post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [train]})  # again: kept once
    post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [
        {"dataset": {"name": "holdout", "digest": "def456"}}]})
    expected = {"dataset_inputs": [
        {"tags": [], "dataset": {"name": "holdout", "digest": "def456", "source_type": "", "source": ""}},
        {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}]}
    assert get(api, "runs/get", {"run_id": run_id})["run"]["inputs"] == expected
    found = post(api, "runs/search", {"experiment_ids": [experiment_id]})["runs"]
    assert {r["info"]["run_id"]: r["inputs"] for r in found} == {run_id: expected, plain: {}}
    refused(post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [
        {"dataset": {"name": "x" * 501, "digest": "d"}}]}, 400), "INVALID_PARAMETER_VALUE", "datasets[0].dataset.name")
    refused(post(api, "runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {"name": "x"}}]}, 400),
            "INVALID_PARAMETER_VALUE", "digest")


def test_run_search_filter_order_views_and_pages(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment_id = new_experiment(api)
    other = new_experiment(api)
    ids = []
    for i in range(7):
        run_id = new_run(api, experiment_id if i < 6 else other, start_time=1000 + i)["info"]["run_id"]
        post(api, "runs/log-metric", {"run_id": run_id, "key": "acc", "value": i / 10, "timestamp": 5, "step": i})
        ids.append(run_id)
    post(api, "runs/delete", {"run_id": ids[5]})

    def search(**body: Any) -> dict[str, Any]:
        return post(api, "runs/search", body)

    found = search(experiment_ids=[experiment_id], filter="metrics.acc >= 0.2", order_by=["metrics.acc DESC"])
    assert [r["info"]["run_id"] for r in found["runs"]] == [ids[4], ids[3], ids[2]]
    assert found["runs"][0]["data"]["metrics"] == [{"key": "acc", "value": 0.4, "timestamp": 5, "step": 4}]
    both = search(experiment_ids=[experiment_id, other], order_by=["attributes.start_time ASC"])
    assert [r["info"]["run_id"] for r in both["runs"]] == [ids[0], ids[1], ids[2], ids[3], ids[4], ids[6]]
    assert [r["info"]["run_id"] for r in search(experiment_ids=[experiment_id], run_view_type="ALL",
                                                 order_by=["start_time DESC"])["runs"]][0] == ids[5]
    assert [r["info"]["run_id"] for r in search(experiment_ids=[experiment_id], run_view_type="DELETED_ONLY")["runs"]
            ] == [ids[5]]
    assert search(experiment_ids=[]) == search(experiment_ids=["987654", "nope"]) == {"runs": []}
    assert len(search(experiment_ids=[other, "987654"])["runs"]) == 1  # unknown ids match nothing, as MLflow
    by_get = get(api, "runs/search", {"experiment_ids": [experiment_id, other], "max_results": 2,
                                      "order_by": "start_time ASC"})
    assert [r["info"]["run_id"] for r in by_get["runs"]] == ids[:2]

    # pages larger than the native search's (5,000): read a native page at a time, one token format
    monkeypatch.setattr(tracking, "MAX_RESULTS", 2)
    seen, token = [], None
    while True:
        page = search(experiment_ids=[experiment_id, other], max_results=4, order_by=["start_time ASC"],
                      **({"page_token": token} if token else {}))
        seen.append([r["info"]["run_id"] for r in page["runs"]])
        token = page.get("next_page_token")
        if token is None:
            break
    assert seen == [[ids[0], ids[1], ids[2], ids[3]], [ids[4], ids[6]]]
    monkeypatch.undo()
    native = api.post("/api/v1/runs/search", json={"experiment": experiment_id, "filter": "metrics.acc >= 0.2",
                                                   "order_by": "metrics.acc DESC"}).json()
    assert [r["id"] for r in native["runs"]] == [ids[4], ids[3], ids[2]]


def test_run_search_refusals(api: TestClient) -> None:
    for bad, field in (({"max_results": 50001}, "max_results"), ({"page_token": "nope"}, "page_token"),
                       ({"filter": "metrics.acc >"}, "filter"), ({"run_view_type": "SOME"}, "run_view_type")):
        refused(post(api, "runs/search", {"experiment_ids": ["0"], **bad}, 400), "INVALID_PARAMETER_VALUE", field)


def test_record_logged_model_appends_to_the_history_tag(api: TestClient) -> None:
    run_id = new_run(api, new_experiment(api))["info"]["run_id"]
    post(api, "runs/log-model", {"run_id": run_id, "model_json": '{"artifact_path": "model", "flavors": {}}'})
    post(api, "runs/log-model", {"run_id": run_id, "model_json": '{"artifact_path": "second"}'})
    history = api.get(f"/api/v1/runs/{run_id}").json()["tags"]["mlflow.log-model.history"]
    assert [m["artifact_path"] for m in __import__("json").loads(history)] == ["model", "second"]
    refused(post(api, "runs/log-model", {"run_id": run_id, "model_json": "{nope"}, 400), "INVALID_PARAMETER_VALUE",
            "model_json")


def test_timing_mlflow_routes_against_native(api: TestClient) -> None:
    """Printed, not asserted: log-batch of 1,000 metrics (MLflow's largest) and a 100,000-point
    history through the MLflow routes and the native ones."""
    run_id = new_run(api, new_experiment(api))["info"]["run_id"]
    batch = [{"key": "m", "value": i * 0.5, "timestamp": 1000 + i, "step": i} for i in range(1000)]

    def timed(send: Any, rounds: int = 5) -> float:
        started = time.perf_counter()
        for block in range(rounds):
            response = send(block)
            assert response.status_code == 200, response.text
        return (time.perf_counter() - started) / rounds * 1000

    mlflow_log = timed(lambda b: api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
        {**p, "step": p["step"] + 1000 * b} for p in batch]}))
    native_log = timed(lambda b: api.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": [
        {**p, "key": "n", "step": p["step"] + 1000 * b} for p in batch]}))
    for block in range(10):  # 100,000 points, logged the fast way
        response = api.post(f"/api/v1/runs/{run_id}/batch", json={"series": [{
            "key": "h", "steps": list(range(block * 10_000, (block + 1) * 10_000)),
            "values": [i * 0.25 for i in range(10_000)], "timestamps": [5] * 10_000}]})
        assert response.status_code == 200, response.text
    mlflow_history = timed(lambda _: api.get(f"{API}/metrics/get-history", params={
        "run_id": run_id, "metric_key": "h"}), rounds=1)
    native_history = timed(lambda _: api.get(f"/api/v1/runs/{run_id}/metrics/h"), rounds=1)
    points = get(api, "metrics/get-history", {"run_id": run_id, "metric_key": "h"})["metrics"]
    assert len(points) == 100_000 and points[-1] == {"key": "h", "value": 9999 * 0.25, "timestamp": 5, "step": 99_999}
    print(f"\nlog-batch of 1,000 metrics: MLflow {mlflow_log:.1f} ms, native {native_log:.1f} ms; "
          f"100,000-point history: MLflow {mlflow_history:.0f} ms, native {native_history:.0f} ms")
