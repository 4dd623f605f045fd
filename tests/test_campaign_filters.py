"""Filter injection through every MLflow search (campaign class "filter injection"; the native search is
`tests/test_filters.py::test_injection_*`, whose list of attacks this reuses) and unicode in the grammar.

Runs, experiments, registered models, model versions and logged models are searched with SQL
metacharacters, quotes, comments, UNION, sub-selects, LIKE wildcards and unicode: each answer is 200 or
MLflow's 400 (INVALID_PARAMETER_VALUE), never a 5xx; the database is byte-for-byte the same afterwards; a
value holding quotes is compared literally.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_client
from fastapi.testclient import TestClient
from test_filters import INJECTIONS, _database_snapshot

from backend import Settings

MLFLOW = "/api/2.0/mlflow"
UNICODE = ["params.`数据` = '🙂'", "tags.`é` = 'e\u0301'", "params.model = '\u202e'", "params.model = '\x00'",
           "params.model = '\x1b[2J'", "params.model LIKE '%\u00e9%'", "attributes.run_name = 'ß'",
           "name = 'İ'", "name LIKE '%🙂%'", "params.model ＝ 'rf'", "params.model = ’rf’"]
"""Unicode in keys and values, look-alike operators and quotes (a full-width `=`, curly quotes), NUL,
a terminal escape and a right-to-left override."""
SEARCHES = {
    "runs": ("POST", "/runs/search", lambda text, exp: {"experiment_ids": [exp], "filter": text}),
    "runs order_by": ("POST", "/runs/search", lambda text, exp: {"experiment_ids": [exp], "order_by": [text]}),
    "experiments": ("POST", "/experiments/search", lambda text, exp: {"filter": text}),
    "registered models": ("GET", "/registered-models/search", lambda text, exp: {"filter": text}),
    "model versions": ("GET", "/model-versions/search", lambda text, exp: {"filter": text}),
    "logged models": ("POST", "/logged-models/search", lambda text, exp: {"experiment_ids": [exp], "filter": text}),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, str]]:
    home = tmp_path_factory.mktemp("campaign-filters") / "home"
    with make_client(Settings(home=home, token=None, run_jobs=False, automation=False)) as client:
        experiment = client.post(f"{MLFLOW}/experiments/create", json={"name": "filters"}).json()["experiment_id"]
        for name, model in (("quoted", "x' OR '1'='1"), ("plain", "rf"), ("unicode", "数据🙂")):
            run = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment, "run_name": name})
            run_id = run.json()["run"]["info"]["run_id"]
            client.post(f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "key": "model", "value": model})
        client.post(f"{MLFLOW}/registered-models/create", json={"name": "filters-model"})
        client.post(f"{MLFLOW}/logged-models", json={"experiment_id": experiment, "name": "lm"})
        yield client, home / "mlops.db", experiment


@pytest.mark.parametrize("search", list(SEARCHES))
@pytest.mark.parametrize("text", INJECTIONS + UNICODE)
def test_injection_through_mlflow_searches_changes_nothing(world: tuple[TestClient, Path, str], search: str,
                                                            text: str) -> None:
    client, db_path, experiment = world
    before = _database_snapshot(db_path)
    method, path, body = SEARCHES[search]
    fields = body(text, experiment)
    if method == "GET":
        response = client.get(f"{MLFLOW}{path}", params=fields)
    else:
        response = client.post(f"{MLFLOW}{path}", json=fields)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", response.text
    elif search == "runs":  # parsed: keys and values compared literally, so nothing an attack adds matches
        assert response.json().get("runs", []) == [], (text, response.text[:300])
    assert _database_snapshot(db_path) == before


@pytest.mark.parametrize(("text", "expected"), [
    ("params.model = 'x'' OR ''1''=''1'", ["quoted"]),
    ("params.model = \"x' OR '1'='1\"", ["quoted"]),
    ("params.model = 'x'", []),
    ("params.model = '数据🙂'", ["unicode"]),
    ("params.model LIKE '%🙂'", ["unicode"]),
])
def test_quotes_and_unicode_in_mlflow_values_are_literal(world: tuple[TestClient, Path, str], text: str,
                                                         expected: list[str]) -> None:
    client, _, experiment = world
    response = client.post(f"{MLFLOW}/runs/search", json={"experiment_ids": [experiment], "filter": text})
    assert response.status_code == 200, response.text
    assert sorted(run["info"]["run_name"] for run in response.json().get("runs", [])) == expected
