"""Data versions: content addressing, statistics, diff, lineage, bad uploads, and the `mlops data` CLI."""
from __future__ import annotations

import hashlib
import io
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, LiveServer, make_client, unique
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backend import Settings
from backend.datasets.stats import OTHER, column_stats, schema_of
from backend.errors import Invalid
from backend.services import datasets as service
from mlops_tui.cli.main import app as cli

CHURN = ROOT / "sample_data" / "churn.csv"


def upload(client: TestClient, name: str, content: bytes, filename: str = "data.csv") -> Any:
    return client.post(f"/api/v1/datasets/{name}/versions", params={"filename": filename}, content=content)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def stored_files(home: Path) -> list[str]:
    root = home / "datasets"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def strict_json(text: str) -> Any:
    """JSON with NaN/Infinity refused: stats must be plain JSON."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-JSON number {constant} in the answer")
    return json.loads(text, parse_constant=refuse)


# --- content addressing ------------------------------------------------------------------------


def test_same_bytes_are_one_version_and_new_bytes_the_next(app_client: TestClient, home: Path) -> None:
    content = CHURN.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    first = upload(app_client, "churn", content, "churn.csv")
    assert first.status_code == 201, first.text
    body = first.json()
    assert {k: body[k] for k in ("name", "version", "ref", "sha256", "format", "filename", "size_bytes", "rows",
                                 "created")} == {
        "name": "churn", "version": 1, "ref": "churn@1", "sha256": sha, "format": "csv", "filename": "churn.csv",
        "size_bytes": len(content), "rows": 4000, "created": True}
    assert body["schema"]["plan"] == "string" and body["schema"]["support_calls"] == "int"

    again = upload(app_client, "churn", content, "renamed.csv")
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["created"], again.json()["filename"]) == (1, False, "churn.csv")
    assert stored_files(home) == [f"{sha}.csv"]  # one file, named by its content, no temporary left over
    assert (home / "datasets" / f"{sha}.csv").read_bytes() == content

    changed = content + b"C99999,5.0,20.0,0,1.0,30.0,basic,east,card,monthly,21.0,0\n"
    second = upload(app_client, "churn", changed, "churn.csv")
    assert second.status_code == 201
    assert (second.json()["version"], second.json()["rows"]) == (2, 4001)
    assert second.json()["sha256"] == hashlib.sha256(changed).hexdigest()

    listing = app_client.get("/api/v1/datasets/churn").json()
    assert [v["ref"] for v in listing["versions"]] == ["churn@2", "churn@1"]
    assert "stats" not in listing["versions"][0]
    assert (listing["version_count"], listing["latest_version"], listing["latest_rows"]) == (2, 2, 4001)
    assert app_client.get("/api/v1/datasets").json()["datasets"][0]["name"] == "churn"
    latest = app_client.get("/api/v1/datasets/churn/versions/latest").json()
    assert latest["ref"] == "churn@2" and "stats" in latest

    other = upload(app_client, "churn-copy", content, "churn.csv")  # same bytes, another dataset
    assert (other.status_code, other.json()["ref"]) == (201, "churn-copy@1")
    assert len(stored_files(home)) == 2


def test_parquet_versions_read_back_with_their_types(app_client: TestClient, home: Path) -> None:
    frame = pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=6, freq="D"),
        "flag": [True, False, True, True, False, True],
        "amount": [1.5, 2.0, None, 4.25, 5.0, 6.0],
        "count": [1, 2, 3, 4, 5, 6],
        "kind": ["a", "b", "a", "c", None, "a"],
    })
    response = upload(app_client, "events", frame.to_parquet(), "events.parquet")
    assert response.status_code == 201, response.text
    assert response.json()["schema"] == {"when": "datetime", "flag": "bool", "amount": "float", "count": "int",
                                         "kind": "string"}
    assert response.json()["stats"]["when"]["min"].startswith("2024-01-01")
    app = app_client.app
    loaded, record = service.load_frame(app.state.db, app.state.settings, "events")  # type: ignore[attr-defined]
    assert record["ref"] == "events@1" and record["format"] == "parquet"
    pd.testing.assert_frame_equal(loaded, frame, check_dtype=False)
    path = service.frame_path(app.state.settings, record)  # type: ignore[attr-defined]
    assert path.parent == (home / "datasets").resolve() and path.suffix == ".parquet"


def test_csv_dates_become_datetimes(app_client: TestClient) -> None:
    content = b"day,value\n2024-01-01,1\n2024-01-02,2\n,3\n2024-01-04T10:00:00,4\n"
    response = upload(app_client, "days", content)
    assert response.json()["schema"] == {"day": "datetime", "value": "int"}
    assert response.json()["stats"]["day"]["nulls"] == 1


def test_frame_path_refuses_a_record_that_leaves_the_root(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(Invalid):
        service.frame_path(settings, {"sha256": "../../etc/passwd", "format": "csv"})
    with pytest.raises(Invalid):
        service.frame_path(settings, {"sha256": "a" * 64, "format": "pickle"})


# --- statistics --------------------------------------------------------------------------------


def test_stats_match_pandas_on_a_small_frame(app_client: TestClient) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "x": np.round(rng.normal(10, 3, 200), 3),
        "n": rng.integers(0, 7, 200),
        "c": rng.choice(["red", "green", "blue"], 200, p=[0.6, 0.3, 0.1]),
        "many": [f"v{i % 60:02d}" for i in range(200)],
    })
    frame.loc[[3, 17, 50], "x"] = np.nan
    frame.loc[[5, 6], "c"] = None
    response = upload(app_client, "small", csv_bytes(frame))
    assert response.status_code == 201, response.text
    stats = strict_json(response.text)["stats"]

    x, got = frame["x"], stats["x"]
    assert got["kind"] == "numeric" and (got["count"], got["nulls"]) == (197, 3)
    assert math.isclose(got["mean"], x.mean()) and math.isclose(got["std"], x.std())
    assert (got["min"], got["max"]) == (x.min(), x.max())
    for key, q in {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}.items():
        assert math.isclose(got["quantiles"][key], x.quantile(q)), key
    edges, counts = got["histogram"]["edges"], got["histogram"]["counts"]
    assert len(edges) == 21 and len(counts) == 20
    assert (edges[0], edges[-1]) == (x.min(), x.max())
    assert counts == np.histogram(x.dropna(), bins=np.asarray(edges))[0].tolist()
    assert sum(counts) == 197

    assert stats["n"]["min"] == int(frame["n"].min()) and isinstance(stats["n"]["max"], int)
    assert math.isclose(stats["n"]["mean"], frame["n"].mean())

    c = stats["c"]
    expected = frame["c"].value_counts()
    assert c["kind"] == "categorical" and (c["count"], c["nulls"], c["unique"]) == (198, 2, 3)
    assert c["frequencies"] == {**{k: int(v) for k, v in expected.items()}, OTHER: 0}
    assert list(c["frequencies"])[0] == "red"  # most frequent first

    many = stats["many"]
    assert many["unique"] == 60 and len(many["frequencies"]) == 51  # top 50, then the rest
    assert sum(many["frequencies"].values()) == 200
    assert many["frequencies"][OTHER] == 200 - sum(v for k, v in many["frequencies"].items() if k != OTHER)


def test_stats_are_plain_json_with_infinities_and_empty_columns() -> None:
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan, 3.0], "empty": [np.nan] * 5,
                          "const": [2.0] * 5, "b": [True, False, True, None, True]})
    stats = column_stats(frame)
    json.dumps(stats, allow_nan=False)  # raises on NaN or infinity
    assert (stats["x"]["count"], stats["x"]["nulls"], stats["x"]["max"]) == (2, 3, 3.0)
    assert stats["empty"]["count"] == 0 and stats["empty"]["mean"] is None
    assert stats["empty"]["histogram"] == {"edges": [], "counts": []}
    assert sum(stats["const"]["histogram"]["counts"]) == 5 and stats["const"]["std"] == 0.0
    assert stats["b"]["kind"] == "categorical" and stats["b"]["frequencies"]["True"] == 3
    assert schema_of(frame) == {"x": "float", "empty": "float", "const": "float", "b": "bool"}
    for value in stats["x"]["quantiles"].values():
        assert type(value) is float  # not numpy


# --- diff --------------------------------------------------------------------------------------


def test_diff_finds_added_column_dtype_change_and_shifted_columns(app_client: TestClient) -> None:
    churn = pd.read_csv(CHURN)
    before = churn.iloc[:2000].reset_index(drop=True)
    after = churn.iloc[2000:].reset_index(drop=True)  # a fresh sample of the same population
    after["monthly_charges"] = after["monthly_charges"] * 1.6 + 10  # shifted
    after["plan"] = np.where(np.arange(len(after)) % 5 == 0, after["plan"], "premium")  # shifted
    after["support_calls"] = after["support_calls"].astype(float)  # int -> float (written as 1.0)
    after["discount"] = 0.1  # added
    after = after.drop(columns=["region"])  # removed
    assert upload(app_client, "shift", csv_bytes(before)).status_code == 201
    assert upload(app_client, "shift", csv_bytes(after)).status_code == 201

    response = app_client.get("/api/v1/datasets/shift/diff", params={"a": 1, "b": 2})
    assert response.status_code == 200, response.text
    diff = strict_json(response.text)
    assert diff["added_columns"] == ["discount"] and diff["removed_columns"] == ["region"]
    assert diff["dtype_changes"] == [{"column": "support_calls", "a": "int", "b": "float"}]
    assert (diff["rows_a"], diff["rows_b"], diff["rows_change"]) == (2000, 2000, 0)
    assert sorted(diff["shifted_columns"]) == ["monthly_charges", "plan"]
    by_column = {c["column"]: c for c in diff["columns"]}
    charges = by_column["monthly_charges"]
    assert charges["psi"] > 1 and charges["mean_b"] > charges["mean_a"] + 20 and charges["std_ratio"] > 1.5
    for unchanged in ("tenure_months", "usage_gb", "age", "contract", "churned", "payment_method"):
        assert by_column[unchanged]["shifted"] is False and by_column[unchanged]["psi"] < 0.05, unchanged
    assert by_column["plan"]["kind"] == "categorical" and by_column["plan"]["psi"] > 0.2
    assert "region" not in by_column and "discount" not in by_column

    same = app_client.get("/api/v1/datasets/shift/diff", params={"a": 1, "b": 1}).json()
    assert same["shifted_columns"] == [] and all(c["psi"] == 0 for c in same["columns"])
    missing = app_client.get("/api/v1/datasets/shift/diff", params={"a": 1, "b": 7})
    assert (missing.status_code, missing.json()["field"]) == (404, "dataset")
    bad = app_client.get("/api/v1/datasets/shift/diff", params={"a": 0, "b": 2})
    assert (bad.status_code, bad.json()["field"]) == (422, "a")


def test_diff_falls_back_on_the_histogram_when_the_file_is_gone(app_client: TestClient, home: Path) -> None:
    rng = np.random.default_rng(1)
    upload(app_client, "gone", csv_bytes(pd.DataFrame({"v": rng.normal(0, 1, 500)})))
    second = upload(app_client, "gone", csv_bytes(pd.DataFrame({"v": rng.normal(3, 1, 500)}))).json()
    (home / "datasets" / f"{second['sha256']}.csv").unlink()
    diff = app_client.get("/api/v1/datasets/gone/diff", params={"a": 1, "b": 2}).json()
    assert diff["shifted_columns"] == ["v"]


# --- lineage -----------------------------------------------------------------------------------


def test_runs_that_trained_on_a_version(app_client: TestClient) -> None:
    upload(app_client, "lineage", CHURN.read_bytes())
    upload(app_client, "lineage", CHURN.read_bytes() + b"C99999,5.0,20.0,0,1.0,30.0,basic,east,card,monthly,21.0,0\n")
    trained = app_client.post("/api/v1/runs", json={"experiment": "e", "tags": {"mlops.dataset": "lineage@1"}}).json()
    app_client.post("/api/v1/runs", json={"experiment": "e", "tags": {"mlops.dataset": "lineage@2"}})
    app_client.post("/api/v1/runs", json={"experiment": "e"})
    found = app_client.get("/api/v1/datasets/lineage/versions/1/runs").json()
    assert found["ref"] == "lineage@1"
    assert [r["id"] for r in found["runs"]] == [trained["id"]]
    assert found["runs"][0]["tags"]["mlops.dataset"] == "lineage@1"
    assert len(app_client.get("/api/v1/datasets/lineage/versions/latest/runs").json()["runs"]) == 1
    missing = app_client.get("/api/v1/datasets/lineage/versions/5/runs")
    assert (missing.status_code, missing.json()["field"]) == (404, "dataset")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "filename", "content", "status", "field"), [
    ("d", "data.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 422, "file"),
    ("d", "data.csv", b"\xff\xfe\xfa not utf-8", 422, "file"),
    ("d", "data.csv", b"", 422, "body"),
    ("d", "data.csv", b"\n\n  \n", 422, "file"),
    ("d", "data.csv", b'a,b\n1,"unterminated\n', 422, "file"),
    ("d", "data.csv", b"a,b\n", 422, "file"),  # a header and no rows
    ("d", "data.csv", b"a,b\n1,2,3,4\n5,6\n", 422, "file"),  # a row longer than the header
    ("d", "data.parquet", b"a,b\n1,2\n", 422, "file"),
    ("d", "data.txt", b"a,b\n1,2\n", 422, "filename"),
    ("d", "data", b"a,b\n1,2\n", 422, "filename"),
    ("d", "", b"a,b\n1,2\n", 422, "filename"),
    ("d@2", "data.csv", b"a,b\n1,2\n", 422, "name"),
    ("%20", "data.csv", b"a,b\n1,2\n", 422, "name"),
])
def test_bad_uploads_name_the_field_and_store_nothing(app_client: TestClient, home: Path, name: str, filename: str,
                                                      content: bytes, status: int, field: str) -> None:
    response = upload(app_client, name, content, filename)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert app_client.get("/api/v1/datasets").json()["datasets"] == []
    assert stored_files(home) == []


def test_missing_filename_and_oversized_bodies_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_client(Settings(home=home, token=None, max_body_bytes=2000)) as client:
        response = client.post("/api/v1/datasets/d/versions", content=b"a,b\n1,2\n")
        assert (response.status_code, response.json()["field"]) == (422, "filename")
        big = b"a,b\n" + b"1,2\n" * 1000
        response = upload(client, "d", big)
        assert response.status_code == 413 and response.json()["field"] == "body"
        chunked = client.post("/api/v1/datasets/d/versions", params={"filename": "d.csv"},
                              content=iter([big[:1500], big[1500:]]))  # no Content-Length: stopped while read
        assert chunked.status_code == 413 and chunked.json()["field"] == "body"
        assert client.get("/api/v1/datasets").json()["datasets"] == []
        assert stored_files(home) == []


def test_unknown_datasets_and_bad_refs_are_4xx(app_client: TestClient) -> None:
    assert app_client.get("/api/v1/datasets/nope").json()["field"] == "dataset"
    assert app_client.get("/api/v1/datasets/nope").status_code == 404
    assert app_client.get("/api/v1/datasets/nope/versions/1").status_code == 404
    for version in ("one", "0", "99999999999999999999999", "%C2%B2"):
        bad = app_client.get(f"/api/v1/datasets/nope/versions/{version}")
        assert (bad.status_code, bad.json()["field"]) == (422, "version"), version
    huge = app_client.get("/api/v1/datasets/nope/diff", params={"a": 1, "b": 10**30})
    assert (huge.status_code, huge.json()["field"]) == (422, "b")
    assert app_client.get("/api/v1/datasets/a@b").json()["field"] == "name"


def test_parquet_with_nested_and_odd_types_is_stored_with_plain_json_stats(app_client: TestClient) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({
        "lists": [[1, 2], [3], None], "structs": [{"a": 1}, {"a": 2}, None],
        "span": pa.array([1, 2, 3], pa.duration("s")), "at": pa.array([1, 2, None], pa.timestamp("s", tz="UTC")),
        "raw": [b"x", b"y", None], "coded": pa.array(["a", "b", "a"]).dictionary_encode(),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = upload(app_client, "odd", buffer.getvalue(), "odd.parquet")
    assert response.status_code == 201, response.text
    body = strict_json(response.text)
    assert body["schema"]["at"] == "datetime" and body["schema"]["coded"] == "category"
    assert body["stats"]["lists"]["frequencies"] == {"[1 2]": 1, "[3]": 1, OTHER: 0}
    schema = app_client.post("/api/v1/data/schema", params={"filename": "odd.parquet"}, content=buffer.getvalue())
    assert schema.status_code == 200


def test_schema_endpoint_infers_rules_and_stores_nothing(app_client: TestClient, home: Path) -> None:
    response = app_client.post("/api/v1/data/schema", params={"filename": "churn.csv"}, content=CHURN.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert tomllib.loads(body["toml"])["validation"] == body["validation"]
    assert body["validation"]["columns"]["plan"]["allowed"] == ["basic", "premium", "standard"]
    assert stored_files(home) == []
    assert app_client.get("/api/v1/datasets").json()["datasets"] == []
    bad = app_client.post("/api/v1/data/schema", params={"filename": "x.csv"}, content=b"\x00\x01\x02")
    assert (bad.status_code, bad.json()["field"]) == (422, "file")
    assert stored_files(home) == []


# --- CLI against a live server -----------------------------------------------------------------


def run_cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    return result


def test_cli_data_commands(live_env: LiveServer, tmp_path: Path) -> None:
    name = unique("cli-data")
    churn = pd.read_csv(CHURN)
    changed = churn.assign(monthly_charges=churn["monthly_charges"] * 2, extra=1)
    changed_path = tmp_path / "churn-v2.csv"
    changed.to_csv(changed_path, index=False)

    added = run_cli("data", "add", str(CHURN), "--name", name, "--json")
    assert added.exit_code == 0, added.output
    first = json.loads(added.stdout)
    assert (first["ref"], first["created"], first["rows"]) == (f"{name}@1", True, 4000)
    again = json.loads(run_cli("data", "add", str(CHURN), "--name", name, "--json").stdout)
    assert (again["version"], again["created"]) == (1, False)
    second = json.loads(run_cli("data", "add", str(changed_path), "--name", name, "--json").stdout)
    assert (second["version"], second["created"]) == (2, True)

    listed = json.loads(run_cli("data", "list", "--json").stdout)
    mine = [d for d in listed["datasets"] if d["name"] == name]
    assert mine and (mine[0]["version_count"], mine[0]["latest_version"]) == (2, 2)

    shown = json.loads(run_cli("data", "show", f"{name}@1", "--json").stdout)
    assert shown["version"] == 1 and shown["stats"]["plan"]["kind"] == "categorical" and shown["runs"] == []
    assert shown["schema"]["monthly_charges"] == "float"
    human = run_cli("data", "show", name)
    assert human.exit_code == 0 and f"{name}@2" in human.stdout and "monthly_charges" in human.stdout

    diff = json.loads(run_cli("data", "diff", name, "1", "2", "--json").stdout)
    assert diff["added_columns"] == ["extra"] and diff["shifted_columns"] == ["monthly_charges"]
    human = run_cli("data", "diff", name, "1", "2")
    assert human.exit_code == 0 and "monthly_charges" in human.stdout and "extra" in human.stdout

    toml_text = run_cli("data", "schema", str(CHURN))
    assert toml_text.exit_code == 0
    rules = tomllib.loads(toml_text.stdout)["validation"]
    assert rules["min_rows"] == 2000 and rules["columns"]["churned"] == {"dtype": "int", "min": 0, "max": 1,
                                                                          "max_null_share": 0.0}
    as_json = json.loads(run_cli("data", "schema", str(CHURN), "--json").stdout)
    assert as_json == {"validation": rules}

    missing = run_cli("data", "show", f"{name}@9")
    assert missing.exit_code == 1 and "error:" in missing.stderr and "dataset" in missing.stderr
    assert missing.stdout == ""
    not_csv = tmp_path / "notes.txt"
    not_csv.write_text("hello")
    refused = run_cli("data", "add", str(not_csv), "--name", name)
    assert refused.exit_code == 1 and "filename" in refused.stderr


def test_cli_human_tables_fit_80_columns(live_env: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("narrow")
    assert run_cli("data", "add", str(CHURN), "--name", name).exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    shown = run_cli("data", "show", name)
    assert shown.exit_code == 0
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    assert "all distinct" in shown.stdout  # customer_id


def test_reading_a_frame_back_matches_the_upload(app_client: TestClient) -> None:
    content = CHURN.read_bytes()
    upload(app_client, "back", content)
    app = app_client.app
    frame, record = service.load_frame(app.state.db, app.state.settings, "back@1")  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(frame, pd.read_csv(io.BytesIO(content)))
    assert record["stats"]["age"]["nulls"] == int(frame["age"].isna().sum())
