"""Search limits. `order_by` with 13 params keys (or 32 metrics keys) once killed the backend with
SIGSEGV inside SQLite 3.40 (a join ordered by 64 or more terms). Sort keys, filter clauses and IN lists
are capped with a 422 naming the limit, and the largest allowed query runs on a populated store."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import start_backend, stop_process
from fastapi.testclient import TestClient

from backend.filters import MAX_CLAUSES, MAX_LIST_ITEMS, MAX_ORDER_KEYS
from mlops_tui import Client


def assert_limit(response: httpx.Response, field: str, limit: int) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["field"], body["code"]) == (field, "invalid"), body
    assert f"at most {limit}" in body["detail"], body


@pytest.fixture
def one_run(app_client: TestClient) -> TestClient:
    run = app_client.post("/api/v1/runs", json={"experiment": "limits"}).json()
    batch = {"params": {f"p{i}": str(i) for i in range(40)}, "tags": {f"p{i}": str(i) for i in range(40)},
             "metrics": [{"key": f"p{i}", "value": float(i)} for i in range(40)]}
    assert app_client.post(f"/api/v1/runs/{run['id']}/batch", json=batch).status_code == 200
    return app_client


@pytest.mark.parametrize(("entity", "count"), [("params", 13), ("tags", 13), ("metrics", 32),
                                               ("params", MAX_ORDER_KEYS + 1)])
def test_too_many_sort_keys_is_422_naming_the_limit(one_run: TestClient, entity: str, count: int) -> None:
    order_by = [f"{entity}.p{i}" for i in range(count)]  # the request that crashed the server
    assert_limit(one_run.post("/api/v1/runs/search", json={"order_by": order_by}), "order_by", MAX_ORDER_KEYS)
    assert one_run.get("/healthz").status_code == 200


def test_the_largest_allowed_order_by_answers(one_run: TestClient) -> None:
    for entity in ("params", "tags", "metrics"):
        order_by = [f"{entity}.p{i} DESC" for i in range(MAX_ORDER_KEYS)]
        response = one_run.post("/api/v1/runs/search", json={"order_by": order_by})
        assert response.status_code == 200, response.text
        assert len(response.json()["runs"]) == 1


@pytest.mark.parametrize("route", ["search", "count"])
def test_a_thousand_clause_filter_is_422_naming_the_limit(one_run: TestClient, route: str) -> None:
    text = " and ".join(f"metrics.p{i % 40} >= 0" for i in range(1000))
    assert_limit(one_run.post(f"/api/v1/runs/{route}", json={"filter": text}), "filter", MAX_CLAUSES)
    allowed = " and ".join(f"metrics.p{i % 40} >= 0" for i in range(MAX_CLAUSES))
    response = one_run.post(f"/api/v1/runs/{route}", json={"filter": allowed})
    assert response.status_code == 200, response.text


def test_a_long_in_list_is_422_naming_the_limit(one_run: TestClient) -> None:
    values = ", ".join(f"'{i}'" for i in range(MAX_LIST_ITEMS + 1))
    assert_limit(one_run.post("/api/v1/runs/search", json={"filter": f"params.p1 IN ({values})"}),
                 "filter", MAX_LIST_ITEMS)
    allowed = ", ".join(f"'{i}'" for i in range(MAX_LIST_ITEMS))
    response = one_run.post("/api/v1/runs/search", json={"filter": f"params.p1 NOT IN ({allowed})"})
    assert response.status_code == 200 and response.json()["runs"] == []  # p1 = '1' is in the list


def test_largest_allowed_query_on_a_populated_live_server(tmp_path: Path) -> None:
    """In a server subprocess: a crash would kill it, not the test run."""
    server = start_backend(tmp_path / "home", tmp_path / "server.log")
    try:
        with Client(url=server.url, token="") as client:
            keys = [f"k{i}" for i in range(MAX_ORDER_KEYS)]
            for index in range(30):
                run = client.create_run(experiment="big-query", name=f"r{index}")
                client.log_batch(run.id, params={k: index % 7 for k in keys}, tags={k: f"t{index % 5}" for k in keys},
                                 metrics=[{"key": k, "value": float(index % 3), "step": 0} for k in keys])
            clauses = [f"metrics.{keys[i % len(keys)]} >= 0" for i in range(MAX_CLAUSES - 3)]
            clauses += ["params.k0 NOT IN ('99')", "tags.k1 LIKE 't%'"]
            clauses.append(f"params.k2 IN ({', '.join(repr(str(i)) for i in range(MAX_LIST_ITEMS))})")
            assert len(clauses) == MAX_CLAUSES
            text = " and ".join(clauses)
            for entity in ("params", "tags", "metrics"):
                order_by = [f"{entity}.{k} DESC" for k in keys]
                page = client.search_runs("big-query", filter=text, order_by=order_by, limit=100)
                assert len(page.runs) == 30
                assert client.count_runs("big-query", filter=text) == 30
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            assert server.process.poll() is None
    finally:
        stop_process(server.process)
