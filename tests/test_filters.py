"""The run filter language: parsing, the results it gives on real data, errors with positions,
injection attempts, ordering and paging."""
from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_client
from fastapi.testclient import TestClient

from backend import Settings
from backend.filters import FilterError, parse_filter, parse_order_by

# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity", "key", "op", "value"),
    [
        ("metrics.acc = 0.9", "metrics", "acc", "=", 0.9),
        ("metrics.acc != 1", "metrics", "acc", "!=", 1.0),
        ("metrics.acc < -2.5", "metrics", "acc", "<", -2.5),
        ("metrics.acc <= 1e-3", "metrics", "acc", "<=", 0.001),
        ("metrics.acc > .5", "metrics", "acc", ">", 0.5),
        ("metrics.acc >= 10", "metrics", "acc", ">=", 10.0),
        ("params.model LIKE 'r%'", "params", "model", "LIKE", "r%"),
        ("params.model like 'r%'", "params", "model", "LIKE", "r%"),
        ("params.model ILIKE 'R%'", "params", "model", "ILIKE", "R%"),
        ("params.model IN ('rf', 'xgb')", "params", "model", "IN", ("rf", "xgb")),
        ("params.model NOT IN ('rf')", "params", "model", "NOT IN", ("rf",)),
        ("params.n in (1, 2)", "params", "n", "IN", (1.0, 2.0)),
        ("params.`odd key` = 'x'", "params", "odd key", "=", "x"),
        ('tags."mlops.git.commit" = "abc"', "tags", "mlops.git.commit", "=", "abc"),
        ("metrics.val.acc > 0", "metrics", "val.acc", ">", 0.0),
        ("attributes.status = 'FINISHED'", "attributes", "status", "=", "FINISHED"),
        ("attributes.start_time >= 1700000000000", "attributes", "start_time", ">=", 1.7e12),
        ("status != 'FAILED'", "attributes", "status", "!=", "FAILED"),
        ("run_name = 'r1'", "attributes", "run_name", "=", "r1"),
        ("params.q = 'it''s'", "params", "q", "=", "it's"),
        ('params.q = "say \\"hi\\""', "params", "q", "=", 'say "hi"'),
    ],
)
def test_parse_single_clause(text: str, entity: str, key: str, op: str, value: Any) -> None:
    [condition] = parse_filter(text)
    assert (condition.entity, condition.key, condition.op) == (entity, key, op)
    assert condition.value == value


def test_parse_and_joins_clauses() -> None:
    text = "metrics.acc > 0.9 AND params.model = 'rf' and tags.team ILIKE 'v%'"
    conditions = parse_filter(text)
    assert [(c.entity, c.key, c.op) for c in conditions] == [
        ("metrics", "acc", ">"), ("params", "model", "="), ("tags", "team", "ILIKE")]
    assert [c.position for c in conditions] == [0, text.index("params"), text.index("tags")]


@pytest.mark.parametrize("text", [None, "", "   "])
def test_parse_empty_filter_is_no_condition(text: str | None) -> None:
    assert parse_filter(text) == []


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("metrics.acc >> 1", 13, "expected a number"),
        ("metrics.acc > 0.5 or params.a = 'x'", 18, "'or' is not supported"),
        ("params.a = 'x' and acc > 1", 19, "needs a prefix"),
        ("params.a = 'unterminated", 11, "unexpected character"),
        ("bogus.a = 1", 0, "unknown entity"),
        ("attributes.colour = 'red'", 11, "unknown attribute"),
        ("metrics.acc = 'high'", 0, "numbers only"),
        ("params.a NOT ('x')", 13, "expected IN after NOT"),
        ("params.a IN ('x', 'y'", 21, "expected ')'"),
        ("params.a LIKE 3", 0, "quoted pattern"),
        ("params.a ~ 'x'", 9, "unexpected character"),
        ("params.a", 8, "comparison operator"),
    ],
)
def test_parse_errors_carry_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert f"at position {position}" in caught.value.message
    assert words in caught.value.message
    assert caught.value.field == "filter"


def test_parse_order_by() -> None:
    keys = parse_order_by(["metrics.acc DESC", "params.`n` asc", "start_time"])
    assert [(k.entity, k.key, k.descending) for k in keys] == [
        ("metrics", "acc", True), ("params", "n", False), ("attributes", "start_time", False)]
    with pytest.raises(FilterError) as caught:
        parse_order_by(["metrics.acc", "metrics.acc DESC; DROP TABLE runs"])
    assert caught.value.field == "order_by[1]"


# --- results on real data ----------------------------------------------------------------------

RUNS: list[dict[str, Any]] = [
    {"name": "r1", "status": "FINISHED", "params": {"model": "rf", "lr": "0.1", "n": "10"},
     "metrics": {"acc": 0.91, "loss": 0.3, "val.acc": 0.5}, "tags": {"team": "Vision"}},
    {"name": "r2", "status": "FAILED", "params": {"model": "RF", "lr": "0.01", "n": "2"},
     "metrics": {"acc": 0.85}, "tags": {"team": "vision"}},
    {"name": "r3", "status": "RUNNING", "params": {"model": "xgb", "lr": "1", "n": "100"},
     "metrics": {"acc": 0.97, "loss": 0.1}, "tags": {"team": "nlp"}},
    {"name": "r4", "status": "FINISHED", "params": {"model": "linear"},
     "metrics": {}, "tags": {"team": "o'brien"}},
    {"name": "r5", "status": "FINISHED", "params": {"model": "it's", "n": "abc"},
     "metrics": {"loss": 0.7}, "tags": {}},
]
BASE_TIME = 1_000_000


def populate(client: TestClient, experiment: str = "filt") -> dict[str, str]:
    ids = {}
    for index, spec in enumerate(RUNS):
        response = client.post("/api/v1/runs", json={"experiment": experiment, "name": spec["name"],
                                                     "start_time": BASE_TIME + index * 1000})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        ids[spec["name"]] = run_id
        batch = {"params": spec["params"], "tags": spec["tags"],
                 "metrics": [{"key": k, "value": v, "step": 0} for k, v in spec["metrics"].items()]}
        assert client.post(f"/api/v1/runs/{run_id}/batch", json=batch).status_code == 200
        if spec["status"] != "RUNNING":
            assert client.patch(f"/api/v1/runs/{run_id}", json={"status": spec["status"]}).status_code == 200
    return ids


@pytest.fixture(scope="module")
def template_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data set, written once through the API; each test gets its own copy of the file."""
    home = tmp_path_factory.mktemp("filters-template")
    with make_client(Settings(home=home, token=None)) as client:
        populate(client)
    return home


@pytest.fixture
def data(template_home: Path, home: Path) -> Iterator[TestClient]:
    """A fresh app per test, on its own copy of the populated database."""
    home.mkdir(parents=True)
    for name in ("mlops.db", "mlops.db-wal"):
        if (template_home / name).exists():
            shutil.copyfile(template_home / name, home / name)
    with make_client(Settings(home=home, token=None)) as client:
        yield client


def names(client: TestClient, **body: Any) -> list[str]:
    response = client.post("/api/v1/runs/search", json={"experiment": "filt", **body})
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()["runs"]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", {"r1", "r3"}),
        ("metrics.acc >= 0.91", {"r1", "r3"}),
        ("metrics.acc < 0.9", {"r2"}),
        ("metrics.acc <= 0.85", {"r2"}),
        ("metrics.acc = 0.97", {"r3"}),
        ("metrics.acc != 0.97", {"r1", "r2"}),  # runs without the metric never match
        ("metrics.val.acc > 0.1", {"r1"}),
        ("metrics.`val.acc` > 0.1", {"r1"}),
        ("metrics.loss IN (0.1, 0.7)", {"r3", "r5"}),
        ("params.model = 'rf'", {"r1"}),
        ("params.model != 'rf'", {"r2", "r3", "r4", "r5"}),
        ("params.model LIKE 'r%'", {"r1"}),  # LIKE is case-sensitive
        ("params.model LIKE 'R%'", {"r2"}),
        ("params.model LIKE '_f'", {"r1"}),
        ("params.model ILIKE 'r%'", {"r1", "r2"}),
        ("params.model IN ('rf', 'xgb')", {"r1", "r3"}),
        ("params.model NOT IN ('rf', 'xgb')", {"r2", "r4", "r5"}),
        ("tags.team NOT IN ('nlp')", {"r1", "r2", "r4"}),  # r5 has no tag team: it never matches
        ("params.n NOT IN ('10', '2')", {"r3", "r5"}),  # r4 has no param n
        ("metrics.loss NOT IN (0.1)", {"r1", "r5"}),  # r2 and r4 have no loss
        ("metrics.acc NOT IN (0.5, 0.6)", {"r1", "r2", "r3"}),
        ("params.n > 5", {"r1", "r3"}),  # numeric, not text, comparison: '10' and '100' > 5, '2' is not
        ("params.n < 50", {"r1", "r2"}),
        ("params.lr = 0.1", {"r1"}),
        ("params.model = 'it''s'", {"r5"}),
        ("params.model = \"it's\"", {"r5"}),
        ("tags.team = 'vision'", {"r2"}),
        ("tags.`team` ILIKE 'VISION'", {"r1", "r2"}),
        ('tags."team" = \'nlp\'', {"r3"}),
        ("tags.team = 'o''brien'", {"r4"}),
        ("attributes.status = 'FINISHED'", {"r1", "r4", "r5"}),
        ("status != 'FINISHED'", {"r2", "r3"}),
        ("status IN ('FAILED', 'RUNNING')", {"r2", "r3"}),
        ("attributes.status ILIKE 'fin%'", {"r1", "r4", "r5"}),
        ("attributes.status LIKE 'fin%'", set()),
        (f"attributes.start_time >= {BASE_TIME + 2000}", {"r3", "r4", "r5"}),
        (f"start_time < {BASE_TIME + 1000}", {"r1"}),
        ("run_name = 'r2'", {"r2"}),
        ("metrics.acc > 0.8 and params.model ILIKE 'rf'", {"r1", "r2"}),
        ("metrics.acc > 0.8 and params.model ILIKE 'rf' and status = 'FAILED'", {"r2"}),
        ("", {"r1", "r2", "r3", "r4", "r5"}),
    ],
)
def test_filter_results(data: TestClient, text: str, expected: set[str]) -> None:
    found = names(data, filter=text)
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_filter_and_experiment_scope(data: TestClient) -> None:
    populate(data, experiment="other")
    assert len(names(data, filter="params.model = 'rf'")) == 1
    response = data.post("/api/v1/runs/search", json={"filter": "params.model = 'rf'"})
    assert len(response.json()["runs"]) == 2  # across all experiments
    response = data.post("/api/v1/runs/search", json={"experiment": ["filt", "other"], "filter": "run_name = 'r1'"})
    assert len(response.json()["runs"]) == 2


@pytest.mark.parametrize(
    ("text", "position"),
    [("metrics.acc >> 1", 13), ("params.a = 'x' and acc > 1", 19), ("metrics.acc > 1 or status = 'x'", 16)],
)
def test_bad_filter_is_422_naming_filter_with_position(data: TestClient, text: str, position: int) -> None:
    response = data.post("/api/v1/runs/search", json={"filter": text})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "filter"
    assert f"at position {position}" in body["detail"]


# --- injection -----------------------------------------------------------------------------------

INJECTIONS = [
    "params.model = 'x' OR 1=1 --",
    "params.model = 'x' OR 1=1",
    "params.`a'); DROP TABLE runs; --` = 'x'",
    "params.model = 'x''; DROP TABLE runs; --'",
    "params.model = '; DELETE FROM params; --'",
    "params.model = \"x\" ; DROP TABLE runs",
    "tags.\"team\"\" = 1; DROP TABLE tags; --\" = 'x'",
    "metrics.acc > 0 UNION SELECT * FROM runs",
    "params.model IN ('rf') ) OR (1=1",
    "attributes.status = 'FINISHED' AND 1=1",
    "status = (SELECT 1)",
    "params.model LIKE '%' ESCAPE '\\'",
    "params.model = 'rf' -- ",
    "params.model = 'rf' /* */",
]


def _database_snapshot(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    try:
        tables = sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}
        params = sorted(conn.execute("SELECT run_id, key, value FROM params").fetchall())
    finally:
        conn.close()
    return {"tables": tables, "counts": counts, "params": params}


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_never_changes_data_or_errors_5xx(data: TestClient, home: Path, text: str) -> None:
    before = _database_snapshot(home / "mlops.db")
    assert "runs" in before["tables"] and before["counts"]["runs"] == 5
    response = data.post("/api/v1/runs/search", json={"filter": text})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["field"] == "filter"
    else:  # parsed: the key and value were compared literally, so nothing matches
        assert response.json()["runs"] == []
    response = data.post("/api/v1/runs/search", json={"order_by": [text]})
    assert response.status_code in (200, 422), response.text
    after = _database_snapshot(home / "mlops.db")
    assert after == before
    assert len(names(data)) == 5


def test_injection_in_values_is_compared_literally(data: TestClient) -> None:
    run_id = data.post("/api/v1/runs", json={"experiment": "filt", "name": "quoted"}).json()["id"]
    tricky = "x' OR '1'='1"
    data.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"model": tricky}})
    assert names(data, filter="params.model = 'x'' OR ''1''=''1'") == ["quoted"]
    assert names(data, filter="params.model = \"x' OR '1'='1\"") == ["quoted"]
    assert names(data, filter="params.model = 'x'") == []


def test_injection_in_experiment_and_page_token(data: TestClient, home: Path) -> None:
    before = _database_snapshot(home / "mlops.db")
    response = data.post("/api/v1/runs/search", json={"experiment": "filt' OR 1=1 --"})
    assert response.status_code == 404
    response = data.post("/api/v1/runs/search", json={"experiment": "filt", "page_token": "'; DROP TABLE runs; --"})
    assert response.status_code == 422
    assert _database_snapshot(home / "mlops.db") == before


# --- ordering ----------------------------------------------------------------------------------

def test_duration_and_parent_id_filters(app_client: TestClient) -> None:
    """duration is end_time - start_time (ms), NULL while running; parent_id names the parent run."""
    def run(name: str, start: int, end: int | None, parent: str | None = None) -> str:
        created = app_client.post("/api/v1/runs", json={"experiment": "family", "name": name, "start_time": start,
                                                         "parent_id": parent})
        assert created.status_code == 201, created.text
        run_id: str = created.json()["id"]
        if end is not None:
            assert app_client.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED", "end_time": end}
                                    ).status_code == 200
        return run_id

    parent = run("parent", 1_000, 6_000)
    other = run("other", 1_500, 1_600)
    run("child1", 2_000, 2_500, parent)
    run("child2", 3_000, None, parent)  # still running: no duration
    run("child3", 4_000, 4_001, other)

    def found(text: str) -> set[str]:
        return set(names(app_client, experiment="family", filter=text))

    assert found("attributes.duration > 1000") == {"parent"}
    assert found("duration <= 500") == {"other", "child1", "child3"}
    assert found("duration = 1") == {"child3"}
    assert found("duration >= 0") == {"parent", "other", "child1", "child3"}
    assert found(f"attributes.parent_id = '{parent}'") == {"child1", "child2"}
    assert found(f"parent_id != '{parent}'") == {"child3"}  # runs without a parent never match
    assert found(f"parent_id IN ('{parent}', '{other}')") == {"child1", "child2", "child3"}
    assert found(f"parent_id NOT IN ('{parent}')") == {"child3"}
    assert found(f"parent_id = '{parent}' and duration < 1000") == {"child1"}


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["r3", "r1", "r2", "r5", "r4"]),  # missing last, then newest first
        (["metrics.acc ASC"], ["r2", "r1", "r3", "r5", "r4"]),
        (["metrics.acc"], ["r2", "r1", "r3", "r5", "r4"]),
        (["metrics.loss DESC"], ["r5", "r1", "r3", "r4", "r2"]),
        (["params.n ASC"], ["r1", "r3", "r2", "r5", "r4"]),  # as text, as MLflow orders: '10' < '100' < '2' < 'abc'
        (["params.n DESC"], ["r5", "r2", "r3", "r1", "r4"]),
        (["params.lr DESC"], ["r3", "r1", "r2", "r5", "r4"]),
        (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4", "r5"]),
        ([], ["r5", "r4", "r3", "r2", "r1"]),  # default: newest first
        (["status ASC", "metrics.loss DESC"], ["r2", "r5", "r1", "r4", "r3"]),
    ],
)
def test_order_by(data: TestClient, order_by: list[str], expected: list[str]) -> None:
    assert names(data, order_by=order_by) == expected


def test_order_by_accepts_a_single_string(data: TestClient) -> None:
    assert names(data, order_by="metrics.acc DESC")[:3] == ["r3", "r1", "r2"]


@pytest.mark.parametrize("bad", ["nonsense", "metrics.acc DESC extra", "metrics.acc; DROP TABLE runs", "params.a ~"])
def test_bad_order_by_is_422_naming_the_item(data: TestClient, bad: str) -> None:
    response = data.post("/api/v1/runs/search", json={"order_by": ["metrics.acc", bad]})
    assert response.status_code == 422
    assert response.json()["field"] == "order_by[1]", response.json()
    assert bad in response.json()["detail"]


# --- paging ------------------------------------------------------------------------------------

@pytest.mark.parametrize("order_by", [None, ["metrics.acc DESC"], ["params.n ASC"]])
def test_paging_walks_every_run_exactly_once(app_client: TestClient, order_by: list[str] | None) -> None:
    expected = []
    for index in range(23):
        run_id = app_client.post("/api/v1/runs", json={"experiment": "pages", "start_time": 5000 + index % 4}
                                 ).json()["id"]
        expected.append(run_id)
        batch: dict[str, Any] = {"params": {"n": str(index % 5)}}
        if index % 3:
            batch["metrics"] = [{"key": "acc", "value": index % 7}]
        assert app_client.post(f"/api/v1/runs/{run_id}/batch", json=batch).status_code == 200
    full = app_client.post("/api/v1/runs/search", json={"experiment": "pages", "order_by": order_by, "limit": 100})
    everything = [run["id"] for run in full.json()["runs"]]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        response = app_client.post("/api/v1/runs/search", json={
            "experiment": "pages", "order_by": order_by, "limit": 5, "page_token": token})
        assert response.status_code == 200
        body = response.json()
        assert len(body["runs"]) <= 5
        seen += [run["id"] for run in body["runs"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == set(expected)
    assert seen == everything  # pages follow the same order as one big page


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "!!!", base64.urlsafe_b64encode(b'{"offset": -5}').decode(),
     base64.urlsafe_b64encode(b'{"offset": "3"}').decode(), base64.urlsafe_b64encode(b"[1, 2]").decode(),
     base64.urlsafe_b64encode(json.dumps({"offset": 2 ** 70}).encode()).decode()],
)
def test_bad_page_token_is_422_naming_page_token(data: TestClient, token: str) -> None:
    response = data.post("/api/v1/runs/search", json={"experiment": "filt", "page_token": token})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "page_token"


@pytest.mark.parametrize("limit", [0, -1, 5001])
def test_limit_out_of_range_is_422(data: TestClient, limit: int) -> None:
    response = data.post("/api/v1/runs/search", json={"limit": limit})
    assert response.status_code == 422
    assert response.json()["field"] == "limit"
