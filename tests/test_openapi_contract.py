"""What `/openapi.json` promises, checked in-process and fast (tests/test_fuzz_openapi.py fuzzes it live)."""
from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops_tui.contract import MAX_SAFE_INT


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_resolves(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert "#/components/schemas/LogBatch" in refs  # /batch's body, read by the route itself
    assert all(ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas for ref in refs), refs
    assert "HTTPValidationError" not in schemas  # the app answers ErrorBody, not FastAPI's shape


def test_every_operation_declares_its_answer_and_errors(app_client: TestClient) -> None:
    for path, item in app_client.get("/openapi.json").json()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            ok = next(code for code in responses if code.startswith("2"))
            assert responses[ok].get("content"), (method, path)
            assert any(media.get("schema") for media in responses[ok]["content"].values()), (method, path)
            errors = {code: body for code, body in responses.items() if code.startswith("4") and code != "416"}
            assert "421" in errors, (method, path)
            for code, body in errors.items():
                assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, \
                    (method, path, code)


def test_a_route_that_looks_things_up_declares_404(app_client: TestClient) -> None:
    operations = app_client.get("/openapi.json").json()["paths"]
    assert {"404", "409"} <= set(operations["/api/v1/runs/{run_id}"]["get"]["responses"])
    assert {"409", "422"} <= set(operations["/api/v1/experiments"]["post"]["responses"])


@pytest.mark.parametrize(("path", "methods"), [
    ("/api/v1/experiments", "GET, POST"),
    ("/api/v1/experiments/Default", "DELETE, GET, PATCH"),
    ("/api/v1/runs/abc", "DELETE, GET, PATCH"),
])
def test_405_allows_every_method_of_the_path(app_client: TestClient, path: str, methods: str) -> None:
    answer = app_client.request("PUT", path, json={})
    assert answer.status_code == 405
    assert answer.headers["allow"] == methods
    assert answer.json()["code"] == "method_not_allowed"


def test_a_method_no_route_has_is_405_even_with_a_body(app_client: TestClient) -> None:
    answer = app_client.request("PATCH", "/api/v1/runs/abc/artifacts/a.txt", content=b"\x89PNG",
                                headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 405  # not the JSON guard's 415: no route takes this request
    assert answer.headers["allow"] == "GET, PUT"


@pytest.mark.parametrize(("point", "field"), [
    ({"key": "m", "value": 1, "step": "3"}, "metrics[0].step"),
    ({"key": "m", "value": 1, "step": True}, "metrics[0].step"),
    ({"key": "m", "value": 1, "step": 2.5}, "metrics[0].step"),
    ({"key": "m", "value": "1"}, "metrics[0].value"),
    ({"key": "m", "value": False}, "metrics[0].value"),
    ({"key": "m", "value": 1, "timestamp": MAX_SAFE_INT + 1}, "metrics[0].timestamp"),
])
def test_numbers_are_numbers(app_client: TestClient, point: dict[str, Any], field: str) -> None:
    run = app_client.post("/api/v1/runs", json={"experiment": "numbers"}).json()
    answer = app_client.post(f"/api/v1/runs/{run['id']}/batch", json={"metrics": [point]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_a_whole_float_counts_as_an_integer(app_client: TestClient) -> None:
    run = app_client.post("/api/v1/runs", json={"experiment": "numbers", "start_time": 1000.0}).json()
    assert run["start_time"] == 1000
    answer = app_client.post(f"/api/v1/runs/{run['id']}/batch",
                             json={"metrics": [{"key": "m", "value": 2, "step": 3.0, "timestamp": MAX_SAFE_INT}]})
    assert answer.status_code == 200, answer.text
    assert app_client.get(f"/api/v1/runs/{run['id']}/metrics/m").json()["points"] == [
        {"step": 3, "value": 2.0, "timestamp": MAX_SAFE_INT}]


def test_a_boolean_must_be_a_boolean(app_client: TestClient) -> None:
    answer = app_client.post("/api/v1/runs/search", json={"include_deleted": 0})
    assert answer.status_code == 422
    assert answer.json()["field"] == "include_deleted"


def test_head_is_answered_as_allow_says(app_client: TestClient) -> None:
    assert app_client.head("/api/v1/experiments").status_code == 405  # Allow lists no HEAD: none is served


def test_allow_names_the_methods_of_the_path_matched_not_of_a_wider_one(app_client: TestClient) -> None:
    answer = app_client.request("PUT", "/api/v1/runs/count", json={})  # also fits /api/v1/runs/{run_id}
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
