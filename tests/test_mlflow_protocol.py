"""MLflow's REST protocol: fields from the query string or a JSON body, errors as MLflow answers them."""
from __future__ import annotations

from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from tests.conftest import LiveServer

BY_NAME = "/api/2.0/mlflow/experiments/get-by-name"


def test_a_missing_experiment_is_resource_does_not_exist(app_client: TestClient) -> None:
    response = app_client.get(BY_NAME, params={"experiment_name": "nope"})
    assert response.status_code == 404
    assert response.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                               "message": "Could not find experiment with name 'nope'"}


def test_fields_come_from_the_query_string_or_the_body(app_client: TestClient) -> None:
    by_query = app_client.get(BY_NAME, params={"experiment_name": "Default"})
    by_body = app_client.request("GET", BY_NAME, json={"experiment_name": "Default"})
    assert by_query.status_code == by_body.status_code == 200
    assert by_query.json() == by_body.json()
    experiment = by_query.json()["experiment"]
    assert experiment["experiment_id"] == "0"
    assert experiment["artifact_location"] == "mlflow-artifacts:/0"


def test_bad_requests_name_the_field_in_mlflow_shape(app_client: TestClient) -> None:
    missing = app_client.get(BY_NAME)
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "experiment_name" in missing.json()["message"]
    broken = app_client.request("GET", BY_NAME, content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = app_client.get("/api/2.0/mlflow/no-such-endpoint")
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_native_errors_keep_their_own_shape(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/experiments/nope")
    assert response.status_code == 404
    assert set(response.json()) >= {"detail", "field", "code"}


def test_the_real_client_reads_a_missing_experiment_as_none(live_server: LiveServer) -> None:
    client = MlflowClient(tracking_uri=live_server.url)
    assert client.get_experiment_by_name("no-such-experiment") is None
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_a_domain_error_names_its_field_in_the_message(app_client: TestClient) -> None:
    response = app_client.post("/api/2.0/mlflow/runs/log-parameter", json={"run_id": "abc", "key": "k", "value": "v"})
    assert response.status_code == 404
    assert response.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                               "message": "run 'abc' not found (parameter 'run_id')"}
