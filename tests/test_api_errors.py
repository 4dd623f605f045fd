"""Bad input to the native API: always a 4xx JSON error naming the field, never a 5xx, nothing stored."""
from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer, make_client
from fastapi.testclient import TestClient

from backend import Settings
from mlops_tui import Client

JSON = {"Content-Type": "application/json"}


def assert_error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["field"] == field, body
    return body  # type: ignore[no-any-return]


@pytest.fixture
def run_id(app_client: TestClient) -> str:
    response = app_client.post("/api/v1/runs", json={"experiment": "errors"})
    assert response.status_code == 201
    return response.json()["id"]  # type: ignore[no-any-return]


def stored(client: TestClient, run_id: str) -> dict[str, Any]:
    """What was logged to the run (the `mlflow.runName` tag every run gets at creation aside)."""
    run = client.get(f"/api/v1/runs/{run_id}").json()
    tags = {key: value for key, value in run["tags"].items() if key != "mlflow.runName"}
    return {"params": run["params"], "tags": tags, "metrics": run["metrics"]}


EMPTY = {"params": {}, "tags": {}, "metrics": {}}


# --- malformed bodies and wrong types --------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/experiments", "/api/v1/runs", "/api/v1/runs/search", "BATCH"])
@pytest.mark.parametrize("content", [b'{"name": ', b"not json", b"{'single': 'quotes'}", b'{"a": 1,}'])
def test_malformed_json_is_422_naming_body(app_client: TestClient, run_id: str, path: str, content: bytes) -> None:
    url = f"/api/v1/runs/{run_id}/batch" if path == "BATCH" else path
    body = assert_error(app_client.post(url, content=content, headers=JSON), 422, "body")
    assert "JSON" in body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/experiments", "/api/v1/runs/search", "BATCH"])
@pytest.mark.parametrize("content", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_non_object_body_is_422(app_client: TestClient, run_id: str, path: str, content: bytes) -> None:
    url = f"/api/v1/runs/{run_id}/batch" if path == "BATCH" else path
    response = app_client.post(url, content=content, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["field"] in ("body", "name")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/experiments", {"name": 123}, "name"),
        ("/api/v1/experiments", {"name": ["a"]}, "name"),
        ("/api/v1/experiments", {"name": "x", "tags": {"a": 1}}, "tags.a"),
        ("/api/v1/runs", {"experiment": "e", "start_time": "yesterday"}, "start_time"),
        ("/api/v1/runs", {"experiment": "e", "tags": ["a"]}, "tags"),
        ("/api/v1/runs/search", {"limit": "many"}, "limit"),
        ("/api/v1/runs/search", {"filter": 5}, "filter"),
        ("/api/v1/runs/search", {"include_deleted": "perhaps"}, "include_deleted"),
        ("BATCH", {"metrics": [{"key": "m", "value": 1}, {"key": "m", "value": "high"}]}, "metrics[1].value"),
        ("BATCH", {"metrics": [{"key": "m", "value": 1, "step": 1.5}]}, "metrics[0].step"),
        ("BATCH", {"metrics": [{"value": 1}]}, "metrics[0].key"),
        ("BATCH", {"metrics": {"m": 1}}, "metrics"),
        ("BATCH", {"series": [{"key": "m", "steps": [0, 1], "values": [1.0, "x"]}]}, "series[0].values[1]"),
        ("BATCH", {"tags": {"t": 5}}, "tags.t"),
        ("BATCH", {"params": {"p": [1, 2]}}, "params.p"),
    ],
)
def test_wrong_types_are_422_naming_the_field(app_client: TestClient, run_id: str, path: str,
                                               body: dict[str, Any], field: str) -> None:
    url = f"/api/v1/runs/{run_id}/batch" if path == "BATCH" else path
    response = app_client.post(url, json=body)
    assert_error(response, 422, field)
    assert stored(app_client, run_id) == EMPTY


def test_patch_run_with_wrong_types(app_client: TestClient, run_id: str) -> None:
    assert_error(app_client.patch(f"/api/v1/runs/{run_id}", json={"status": 5}), 422, "status")
    assert_error(app_client.patch(f"/api/v1/runs/{run_id}", json={"end_time": "soon"}), 422, "end_time")
    assert app_client.get(f"/api/v1/runs/{run_id}").json()["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/experiments", {"name": "x", "colour": "red"}, "colour"),
        ("/api/v1/runs", {"experiment": "e", "owner": "ana"}, "owner"),
        ("/api/v1/runs/search", {"experiment": "errors", "sort": "x"}, "sort"),
        ("BATCH", {"metrics": [], "extra": 1}, "extra"),
        ("BATCH", {"metrics": [{"key": "m", "value": 1, "unit": "s"}]}, "metrics[0].unit"),
    ],
)
def test_unknown_fields_are_422_naming_them(app_client: TestClient, run_id: str, path: str,
                                            body: dict[str, Any], field: str) -> None:
    url = f"/api/v1/runs/{run_id}/batch" if path == "BATCH" else path
    assert_error(app_client.post(url, json=body), 422, field)
    names = [e["name"] for e in app_client.get("/api/v1/experiments").json()["experiments"]]
    assert "x" not in names and "e" not in names
    assert stored(app_client, run_id) == EMPTY


def test_patch_with_unknown_field(app_client: TestClient, run_id: str) -> None:
    assert_error(app_client.patch(f"/api/v1/runs/{run_id}", json={"colour": "red"}), 422, "colour")


# --- unknown ids -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"status": "FINISHED"}),
        ("DELETE", "", None),
        ("POST", "/restore", None),
        ("POST", "/batch", {"params": {"a": 1}}),
        ("GET", "/metrics", None),
        ("GET", "/metrics/loss", None),
        ("GET", "/children", None),
        ("GET", "/artifacts", None),
        ("PUT", "/artifacts/model.bin", None),
        ("GET", "/artifacts/model.bin", None),
    ],
)
def test_unknown_run_is_404_naming_run_id(app_client: TestClient, method: str, suffix: str,
                                          body: dict[str, Any] | None) -> None:
    url = f"/api/v1/runs/{'0123456789abcdef' * 2}{suffix}"
    response = app_client.request(method, url, json=body) if body is not None else (
        app_client.request(method, url, content=b"data") if method == "PUT" else app_client.request(method, url))
    body_json = assert_error(response, 404, "run_id")
    assert "0123456789abcdef" in body_json["detail"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_unknown_experiment_is_404(app_client: TestClient, method: str) -> None:
    response = app_client.request(method, "/api/v1/experiments/nothing-here",
                                  json={"name": "y"} if method == "PATCH" else None)
    assert_error(response, 404, "experiment")
    assert_error(app_client.post("/api/v1/runs", json={"experiment_id": "777"}), 404, "experiment")
    assert_error(app_client.post("/api/v1/runs/search", json={"experiment": "nothing-here"}), 404, "experiment")


# --- names, keys and values ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "   ", "x" * 251])
def test_bad_experiment_names(app_client: TestClient, name: str) -> None:
    assert_error(app_client.post("/api/v1/experiments", json={"name": name}), 422, "name")
    app_client.post("/api/v1/experiments", json={"name": "ok"})
    assert_error(app_client.patch("/api/v1/experiments/ok", json={"name": name}), 422, "name")
    assert_error(app_client.post("/api/v1/runs", json={"experiment": name}), 422, "experiment")
    assert [e["name"] for e in app_client.get("/api/v1/experiments").json()["experiments"]] == ["Default", "ok"]


def test_name_of_exactly_250_characters_is_accepted(app_client: TestClient) -> None:
    assert app_client.post("/api/v1/experiments", json={"name": "x" * 250}).status_code == 201


@pytest.mark.parametrize("name", ["", "  ", "r" * 251])
def test_bad_run_names(app_client: TestClient, run_id: str, name: str) -> None:
    assert_error(app_client.post("/api/v1/runs", json={"experiment": "errors", "name": name}), 422, "name")
    assert_error(app_client.patch(f"/api/v1/runs/{run_id}", json={"name": name}), 422, "name")
    count = app_client.post("/api/v1/runs/count", json={"experiment": "errors"}).json()["count"]
    assert count == 1


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ({"params": {"bad key!": 1}}, "params.bad key!"),
        ({"params": {"k" * 251: 1}}, "params." + "k" * 251),
        ({"params": {"long": "v" * 6001}}, "params.long"),
        ({"tags": {"long": "v" * 8001}}, "tags.long"),
        ({"tags": {"a/../b": "x"}}, "tags.a/../b"),
        ({"metrics": [{"key": "ok", "value": 1}, {"key": "bad key!", "value": 1}]}, "metrics[1].key"),
        ({"metrics": [{"key": "", "value": 1}]}, "metrics[0].key"),
        ({"metrics": [{"key": "m" * 251, "value": 1}]}, "metrics[0].key"),
        ({"metrics": [{"key": "a/../b", "value": 1}]}, "metrics[0].key"),
        ({"series": [{"key": "a/../b", "steps": [0], "values": [1]}]}, "series[0].key"),
    ],
)
def test_bad_keys_and_values_in_batch(app_client: TestClient, run_id: str, batch: dict[str, Any], field: str) -> None:
    """The same key rules for params, tags and metrics: no `..` segment (keys travel in URL paths)."""
    assert_error(app_client.post(f"/api/v1/runs/{run_id}/batch", json=batch), 422, field)
    assert stored(app_client, run_id) == EMPTY


# --- NaN and infinities ----------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_metric_values_are_422_and_nothing_stored(app_client: TestClient, run_id: str,
                                                             literal: str) -> None:
    content = ('{"params": {"p": 1}, "tags": {"t": "x"}, "metrics": [{"key": "m", "value": 1.0, "step": 0}, '
               '{"key": "m", "value": 2.0, "step": 1}, {"key": "m", "value": ' + literal + ', "step": 2}]}')
    response = app_client.post(f"/api/v1/runs/{run_id}/batch", content=content.encode(), headers=JSON)
    assert_error(response, 422, "metrics[2].value")
    assert stored(app_client, run_id) == EMPTY
    assert app_client.get(f"/api/v1/runs/{run_id}/metrics/m").status_code == 404


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_series_values_are_422_and_nothing_stored(app_client: TestClient, run_id: str,
                                                             literal: str) -> None:
    content = '{"series": [{"key": "m", "steps": [0, 1], "values": [0.5, ' + literal + ']}]}'
    response = app_client.post(f"/api/v1/runs/{run_id}/batch", content=content.encode(), headers=JSON)
    assert_error(response, 422, "series[0].values[1]")
    assert stored(app_client, run_id) == EMPTY


def test_series_with_mismatched_lengths_is_422(app_client: TestClient, run_id: str) -> None:
    response = app_client.post(f"/api/v1/runs/{run_id}/batch",
                               json={"series": [{"key": "m", "steps": [0, 1, 2], "values": [1.0, 2.0]}]})
    assert_error(response, 422, "series[0]")
    assert stored(app_client, run_id) == EMPTY


# --- batch and body limits -------------------------------------------------------------------

def test_more_than_10000_points_is_413_naming_metrics(app_client: TestClient, run_id: str) -> None:
    points = [{"key": "m", "value": float(i), "step": i} for i in range(10_001)]
    assert_error(app_client.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points}), 413, "metrics")
    mixed = {"metrics": points[:6000],
             "series": [{"key": "s", "steps": list(range(4001)), "values": [1.0] * 4001}]}
    assert_error(app_client.post(f"/api/v1/runs/{run_id}/batch", json=mixed), 413, "metrics")
    assert stored(app_client, run_id) == EMPTY
    accepted = app_client.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points[:10_000]})
    assert accepted.status_code == 200 and accepted.json()["metrics"] == 10_000
    assert len(app_client.get(f"/api/v1/runs/{run_id}/metrics/m").json()["points"]) == 10_000


@pytest.fixture
def small_client(home: Path) -> Iterator[TestClient]:
    with make_client(Settings(home=home, token=None, max_body_bytes=4096)) as client:
        yield client


def test_oversized_body_with_content_length_is_413(small_client: TestClient) -> None:
    run_id = small_client.post("/api/v1/runs", json={"experiment": "big"}).json()["id"]
    body = {"params": {f"p{i}": "v" * 100 for i in range(60)}}
    assert_error(small_client.post(f"/api/v1/runs/{run_id}/batch", json=body), 413, "body")
    assert_error(small_client.post("/api/v1/experiments", json={"name": "n" * 5000}), 413, "body")
    assert small_client.get(f"/api/v1/runs/{run_id}").json()["params"] == {}
    assert small_client.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"small": 1}}).status_code == 200


def _chunks(payload: bytes) -> Iterator[bytes]:
    for start in range(0, len(payload), 1000):
        yield payload[start:start + 1000]


@pytest.mark.parametrize("target", ["batch", "experiments"])
def test_oversized_chunked_body_without_content_length_is_413(small_client: TestClient, target: str) -> None:
    run_id = small_client.post("/api/v1/runs", json={"experiment": "big"}).json()["id"]
    if target == "batch":
        url, payload = f"/api/v1/runs/{run_id}/batch", b'{"params": {"p": "' + b"v" * 5000 + b'"}}'
    else:
        url, payload = "/api/v1/experiments", b'{"name": "' + b"n" * 5000 + b'"}'
    response = small_client.post(url, content=_chunks(payload), headers=JSON)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "body")
    assert small_client.get(f"/api/v1/runs/{run_id}").json()["params"] == {}


# --- integers out of range, odd references ---------------------------------------------------

@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "BATCH", {"metrics": [{"key": "m", "value": 1, "step": 2 ** 64}]}, "metrics[0].step"),
        ("POST", "BATCH", {"metrics": [{"key": "m", "value": 1, "timestamp": 2 ** 63}]}, "metrics[0].timestamp"),
        ("POST", "BATCH", {"series": [{"key": "m", "steps": [2 ** 70], "values": [1]}]}, "series[0].steps[0]"),
        ("POST", "/api/v1/runs", {"experiment": "e", "start_time": 2 ** 64}, "start_time"),
        ("PATCH", "RUN", {"end_time": 2 ** 64}, "end_time"),
        ("POST", "/api/v1/runs", {"experiment_id": "99999999999999999999999"}, "experiment_id"),
        ("GET", "/api/v1/experiments/99999999999999999999999", None, "experiment"),
        ("GET", "/api/v1/experiments/%C2%B2", None, "experiment"),  # '²' is a digit to str.isdigit
        ("POST", "/api/v1/runs/search", {"experiment": "\u0663"}, "experiment"),  # Arabic-Indic three
    ],
)
def test_out_of_range_numbers_and_odd_ids_are_4xx(app_client: TestClient, run_id: str, method: str, path: str,
                                                 body: dict[str, Any] | None, field: str) -> None:
    url = {"BATCH": f"/api/v1/runs/{run_id}/batch", "RUN": f"/api/v1/runs/{run_id}"}.get(path, path)
    response = app_client.request(method, url, json=body) if body is not None else app_client.request(method, url)
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.json()["field"] in (field, "experiment", "experiment_id")
    assert stored(app_client, run_id) == EMPTY


# --- bearer token ----------------------------------------------------------------------------

@pytest.fixture
def token_client(home: Path) -> Iterator[TestClient]:
    with make_client(Settings(home=home, token="s3cret")) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/api/v1/experiments", None), ("POST", "/api/v1/experiments", {"name": "locked"}),
     ("POST", "/api/v1/runs/search", {}), ("GET", "/openapi.json", None)],
)
def test_token_required(token_client: TestClient, method: str, path: str, body: dict[str, Any] | None) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"Authorization": "Bearer s3cret "}, {"Authorization": "Basic s3cret"}):
        response = token_client.request(method, path, json=body, headers=headers)
        assert_error(response, 401, "authorization")
    good = token_client.request(method, path, json=body, headers={"Authorization": "Bearer s3cret"})
    assert good.status_code in (200, 201), good.text


def test_token_nothing_written_without_it(token_client: TestClient) -> None:
    token_client.post("/api/v1/experiments", json={"name": "sneaky"})
    listed = token_client.get("/api/v1/experiments", headers={"Authorization": "Bearer s3cret"}).json()
    assert "sneaky" not in [e["name"] for e in listed["experiments"]]


def test_healthz_is_open_with_a_token(token_client: TestClient) -> None:
    response = token_client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


# --- text that is not valid Unicode, bodies that are not UTF-8 ---------------------------------

LONE = "\ud800"  # a lone surrogate: JSON can spell it ("\ud800"), UTF-8 can't hold it
PIPELINE_NAMED_LONE = f'name = "{LONE}"\ntask = "classification"\n[data]\npath = "d.csv"\ntarget = "y"\n' \
                      '[models.rf]\nestimator = "RandomForestClassifier"\n'


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/experiments", {"name": LONE}, "name"),
        ("POST", "/api/v1/experiments", {"name": "ok-unicode", "tags": {"team": LONE}}, "tags.team"),
        ("POST", "/api/v1/experiments", {"name": "ok-unicode", "tags": {LONE: "v"}}, "tags"),
        ("PATCH", "/api/v1/experiments/errors", {"name": LONE}, "name"),
        ("POST", "/api/v1/runs", {"experiment": LONE}, "experiment"),
        ("POST", "/api/v1/runs", {"experiment_id": LONE}, "experiment_id"),
        ("POST", "/api/v1/runs", {"experiment": "errors", "name": LONE}, "name"),
        ("POST", "/api/v1/runs", {"experiment": "errors", "tags": {"k": LONE}}, "tags.k"),
        ("POST", "/api/v1/runs", {"experiment": "errors", "parent_id": LONE}, "parent_id"),
        ("PATCH", "RUN", {"name": LONE}, "name"),
        ("POST", "/api/v1/runs/search", {"experiment": LONE}, "experiment"),
        ("POST", "/api/v1/runs/search", {"experiment": ["errors", LONE]}, "experiment[1]"),
        ("POST", "/api/v1/runs/search", {"filter": f"params.a = '{LONE}'"}, "filter"),
        ("POST", "/api/v1/runs/count", {"filter": f"tags.a = '{LONE}'"}, "filter"),
        ("POST", "/api/v1/jobs", {"pipeline": PIPELINE_NAMED_LONE}, "pipeline"),
    ],
)
def test_lone_surrogates_are_422_naming_the_field(app_client: TestClient, run_id: str, method: str, path: str,
                                                  body: dict[str, Any], field: str) -> None:
    url = f"/api/v1/runs/{run_id}" if path == "RUN" else path
    content = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as the escape "\ud800"
    assert b"\\ud800" in content
    response = app_client.request(method, url, content=content, headers=JSON)
    error = assert_error(response, 422, field)
    assert error["code"] == "invalid" and "not valid Unicode" in error["detail"]
    assert stored(app_client, run_id) == EMPTY
    names = [e["name"] for e in app_client.get("/api/v1/experiments").json()["experiments"]]
    assert sorted(names) == ["Default", "errors"]


@pytest.mark.parametrize("path", ["/api/v1/experiments", "/api/v1/runs", "/api/v1/runs/search", "/api/v1/jobs",
                                  "BATCH"])
def test_body_that_is_not_utf8_gets_the_error_shape(app_client: TestClient, run_id: str, path: str) -> None:
    url = f"/api/v1/runs/{run_id}/batch" if path == "BATCH" else path
    response = app_client.post(url, content=b'{"name": "caf\xe9"}', headers=JSON)  # Latin-1, not UTF-8
    body = assert_error(response, 422, "body")
    assert body["code"] == "invalid"


def test_unknown_route_and_wrong_method_get_the_error_shape(app_client: TestClient) -> None:
    assert assert_error(app_client.get("/api/v1/nothing-here"), 404, None)["code"] == "not_found"
    assert assert_error(app_client.delete("/healthz"), 405, None)["code"] == "method_not_allowed"


# --- the real 64 MiB default, on a live server ---------------------------------------------------

MIB = 1024 * 1024


def _stream(total: int, piece: int = MIB) -> Iterator[bytes]:
    """`total` bytes sent chunked: no Content-Length, so only counting while reading can stop it."""
    block = b"x" * piece
    for start in range(0, total, piece):
        yield block[:min(piece, total - start)]


def _declared_only(server: LiveServer, method: str, path: str, length: int) -> tuple[int, dict[str, Any]]:
    """Send only the headers, declaring `length` bytes: the limit must answer before any body is read."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path)
        for name, value in {**CLIENT_HEADERS, **JSON, "Content-Length": str(length)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_default_body_limit_is_64_mib_on_a_live_server(live_server: LiveServer, live_client: Client) -> None:
    assert Settings(home=live_server.home).max_body_bytes == 64 * MIB
    run = live_client.create_run(experiment="limits-live")
    folder = live_server.home / "artifacts" / run.experiment_id / run.id
    url = f"{live_server.url}/api/v1/runs/{run.id}/artifacts"
    for method, path in (("PUT", f"/api/v1/runs/{run.id}/artifacts/declared.bin"),
                         ("POST", "/api/v1/experiments"), ("POST", f"/api/v1/runs/{run.id}/batch")):
        status, body = _declared_only(live_server, method, path, 64 * MIB + 1)
        assert (status, body["field"], body["code"]) == (413, "body", "too_large"), (path, body)
    with httpx.Client(headers=CLIENT_HEADERS, timeout=60) as http:
        exact = http.put(f"{url}/exact.bin", content=b"x" * (64 * MIB))
        assert exact.status_code == 201 and exact.json()["size"] == 64 * MIB
        streamed = http.put(f"{url}/streamed.bin", content=_stream(64 * MIB + 1))
        assert "content-length" not in {k.lower() for k in streamed.request.headers}
        assert_error(streamed, 413, "body")
        json_streamed = http.post(f"{live_server.url}/api/v1/runs/{run.id}/batch", headers=JSON,
                                  content=_stream(64 * MIB + 1))
        assert_error(json_streamed, 413, "body")
        dataset = http.post(f"{live_server.url}/api/v1/datasets/limits-live/versions",
                            params={"filename": "d.csv"}, content=_stream(64 * MIB + 1))
        assert_error(dataset, 413, "body")
    assert sorted(p.name for p in folder.iterdir()) == ["exact.bin"]  # nothing half-written
    assert not list((live_server.home / "datasets").glob(".upload-*"))
    assert live_client.get_run(run.id).params == {}
