"""MLflow 3's logged models: the real client's calls (create, files, finalize, tags, params, search,
delete, run outputs) read back, the search filter MLflow's `runs:/` resolution sends, and errors."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException

from backend.settings import Settings
from backend.store import logged_models as store
from mlops_tui import Client
from tests.conftest import LiveServer, make_client, unique

API = "/api/2.0/mlflow"


def test_the_clients_logged_model_calls_read_back(live_server: LiveServer, live_client: Client,
                                                  tmp_path: Path) -> None:
    run = live_client.create_run(experiment=unique("logged"))
    client = MlflowClient(tracking_uri=live_server.url)
    model = client.create_logged_model(run.experiment_id, name="model", source_run_id=run.id, model_type="clf",
                                       params={"alpha": "0.1"}, tags={"team": "a"})
    assert model.model_id.startswith("m-") and model.status == LoggedModelStatus.PENDING
    assert model.artifact_location == f"mlflow-artifacts:/{run.experiment_id}/models/{model.model_id}/artifacts"
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(model.model_id, str(tmp_path))
    on_disk = live_server.home / "artifacts" / run.experiment_id / "models" / model.model_id / "artifacts" / "MLmodel"
    assert on_disk.read_text() == "flavors: {}\n"

    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.set_logged_model_tags(model.model_id, {"stage": "test", "drop": "me"})
    client.delete_logged_model_tag(model.model_id, "drop")
    client.log_model_params(model.model_id, {"beta": "2"})
    client.log_outputs(run.id, [LoggedModelOutput(model.model_id, step=3)])
    got = client.get_logged_model(model.model_id)
    assert (got.name, got.status, got.source_run_id, got.model_type) == ("model", LoggedModelStatus.READY, run.id,
                                                                         "clf")
    assert got.params == {"alpha": "0.1", "beta": "2"}
    assert {k: v for k, v in got.tags.items() if not k.startswith("mlflow.")} == {"team": "a", "stage": "test"}

    found = client.search_logged_models([run.experiment_id], filter_string="name = 'model'")
    assert [m.model_id for m in found] == [model.model_id]
    client.delete_logged_model(model.model_id)
    assert client.search_logged_models([run.experiment_id]) == []
    kept = httpx.get(f"{live_server.url}{API}/logged-models/{model.model_id}", params={"allow_deleted": "true"})
    assert kept.json()["model"]["info"]["model_id"] == model.model_id
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_logged_model(model.model_id)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(Settings(home=tmp_path_factory.mktemp("logged-models"), token=None)) as client:
        yield client


def create(app: TestClient, **fields: object) -> dict[str, object]:
    response = app.post(f"{API}/logged-models", json={"experiment_id": "0", **fields})
    assert response.status_code == 200, response.text
    return response.json()["model"]["info"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def searched(app: TestClient) -> dict[str, str]:
    """Three models in a fresh experiment: their names -> ids."""
    experiment = app.post("/api/v1/experiments", json={"name": "search-models"}).json()["id"]
    ids = {}
    for name, kind, params in (("alpha", "clf", {"depth": "3"}), ("beta", "reg", {"depth": "5"}),
                               ("Alpine", "clf", {})):
        info = create(app, experiment_id=experiment, name=name, model_type=kind,
                      params=[{"key": k, "value": v} for k, v in params.items()],
                      tags=[{"key": "kind", "value": kind}])
        ids[name] = str(info["model_id"])
    app.patch(f"{API}/logged-models/{ids['beta']}", json={"status": "LOGGED_MODEL_READY"})
    ids["experiment"] = experiment
    return ids


FILTERS = [
    ("name = 'alpha'", ["alpha"]),
    ("name != 'alpha'", ["Alpine", "beta"]),
    ("name LIKE 'al%'", ["alpha"]),
    ("name ILIKE 'al%'", ["Alpine", "alpha"]),
    ("attributes.model_type = 'clf' AND params.depth = '3'", ["alpha"]),
    ("params.depth IN ('3', '5')", ["alpha", "beta"]),
    ("tags.kind NOT IN ('clf')", ["beta"]),
    ("tags.`kind` = 'reg'", ["beta"]),
    ("status = 'READY'", ["beta"]),
    ("status = 'LOGGED_MODEL_PENDING'", ["Alpine", "alpha"]),
    ("creation_timestamp > 0", ["Alpine", "alpha", "beta"]),
    ("params.missing = 'x'", []),
]


@pytest.mark.parametrize(("text", "names"), FILTERS)
def test_search_filters(app: TestClient, searched: dict[str, str], text: str, names: list[str]) -> None:
    response = app.post(f"{API}/logged-models/search", json={"experiment_ids": [searched["experiment"]],
                                                             "filter": text})
    assert response.status_code == 200, response.text
    by_id = {v: k for k, v in searched.items()}
    assert sorted(by_id[m["info"]["model_id"]] for m in response.json().get("models", [])) == names


def test_search_orders_and_pages(app: TestClient, searched: dict[str, str]) -> None:
    seen, token = [], None
    while True:
        body = {"experiment_ids": [searched["experiment"]], "max_results": 2,
                "order_by": [{"field_name": "name", "ascending": False}], "page_token": token}
        page = app.post(f"{API}/logged-models/search", json=body).json()
        seen += [m["info"]["name"] for m in page["models"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["beta", "alpha", "Alpine"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "words"), [
    ("POST", "logged-models", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST", "experiment"),
    ("POST", "logged-models", {"name": "no experiment"}, 400, "INVALID_PARAMETER_VALUE", "experiment_id"),
    ("GET", f"logged-models/m-{'0' * 32}", None, 404, "RESOURCE_DOES_NOT_EXIST", "logged model"),
    ("POST", "logged-models/search", {"experiment_ids": ["0"], "filter": "name = "}, 400,
     "INVALID_PARAMETER_VALUE", "filter"),
    ("POST", "logged-models/search", {"experiment_ids": ["0"], "filter": "metrics.acc > 0.5"}, 400,
     "INVALID_PARAMETER_VALUE", "metrics"),
    ("POST", "logged-models/search", {"experiment_ids": ["0"], "filter": "name = 'a' OR name = 'b'"}, 400,
     "INVALID_PARAMETER_VALUE", "AND"),
    ("POST", "logged-models/search", {"experiment_ids": ["0"], "order_by": [{"field_name": "colour"}]}, 400,
     "INVALID_PARAMETER_VALUE", "order_by"),
    ("POST", "runs/outputs", {"run_id": "0" * 32, "models": []}, 404, "RESOURCE_DOES_NOT_EXIST", "run"),
])
def test_bad_requests_answer_mlflow_errors(app: TestClient, method: str, path: str, body: object, status: int,
                                           code: str, words: str) -> None:
    response = app.request(method, f"{API}/{path}", json=body)
    assert (response.status_code, response.json()["error_code"]) == (status, code), response.text
    assert words in response.json()["message"]


def test_finalize_checks_the_status_and_outputs_are_kept_per_run(app: TestClient) -> None:
    model = create(app, name="finalized")
    bad = app.patch(f"{API}/logged-models/{model['model_id']}", json={"status": "DONE"})
    assert bad.status_code == 400 and "status" in bad.json()["message"]
    by_number = app.patch(f"{API}/logged-models/{model['model_id']}", json={"status": 3})
    assert by_number.json()["model"]["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"

    run = app.post("/api/v1/runs", json={"experiment_id": "0"}).json()["id"]
    for step in (1, 4):  # a model output again keeps its latest step
        response = app.post(f"{API}/runs/outputs", json={"run_id": run, "models": [
            {"model_id": model["model_id"], "step": step}]})
        assert response.status_code == 200, response.text
    unknown = app.post(f"{API}/runs/outputs", json={"run_id": run, "models": [{"model_id": "m-nope"}]})
    assert unknown.status_code == 404
    db = app.app.state.db  # type: ignore[attr-defined]
    assert store.outputs_of(db, [run, "other"]) == {run: [{"model_id": model["model_id"], "step": 4}]}
