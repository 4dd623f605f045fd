"""Hostile prediction inputs and CSV uploads (campaign classes "prediction inputs" and "CSV ingestion").

What `tests/test_serving.py` does not already send: non-standard JSON numbers (NaN, Infinity, 1e309), nulls,
megabyte values, nesting past the parser's depth, CSV bombs (20,000 columns, a 5 MB field, 200,000 blank
lines, an unclosed quote, NUL), byte-order marks, other encodings, spreadsheet formulas. Each answer is a
2xx or a 4xx naming the field, never a 5xx; a refused upload stores nothing; a formula is kept as the text
it is (the stored file is the uploaded bytes, never rewritten or evaluated). The in-process app with a tiny
real model (`a`, `b` -> class).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from conftest import make_client
from fastapi.testclient import TestClient
from registry_support import tiny_model_files

from backend import Settings

PREDICT = "/api/v1/models/tiny/aliases/production/predict"
JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("campaign-inputs")
    with make_client(Settings(home=folder / "home", token=None, run_jobs=False, automation=False)) as client:
        run = client.post("/api/v1/runs", json={"experiment": "inputs"}).json()["id"]
        for path, content in tiny_model_files(folder / "model").items():
            assert client.put(f"/api/v1/runs/{run}/artifacts/{path}", content=content).status_code == 201
        assert client.post("/api/v1/models/tiny/versions", json={"run_id": run}).status_code == 201
        promoted = client.post("/api/v1/models/tiny/promote", json={
            "version": 1, "alias": "production", "force": True, "reason": "campaign"})
        assert promoted.status_code == 200, promoted.text
        yield client


def split(*row: str) -> bytes:
    return ('{"dataframe_split": {"columns": ["a", "b"], "data": [[' + ", ".join(row) + "]]}}").encode()


PREDICTIONS: dict[str, tuple[bytes, dict[str, str], int, str | None, str]] = {
    # case: (body, headers, status, field, words in the message)
    "NaN literal": (split("NaN", "1"), JSON, 422, "body", "not valid JSON"),
    "Infinity literal": (split("Infinity", "1"), JSON, 422, "body", "not valid JSON"),
    "1e309": (split("1e309", "1"), JSON, 422, "body", "infinity"),
    "null value": (split("null", "1"), JSON, 422, "body", "cannot predict these rows"),
    "30-digit integer": (split("123456789012345678901234567890", "1"), JSON, 200, None, ""),
    "a megabyte number": (json.dumps({"dataframe_records": [{"a": "9" * 1_000_000, "b": 1}]}).encode(), JSON, 422,
                          "dataframe_records[0].a", "is not a finite number"),
    "nested 100,000 deep": (b'{"instances":' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, 422, "body", "depth"),
    "a column named twice": (b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 1]]}}', JSON, 422,
                             "dataframe_split.columns", "more than once"),
    "csv NaN": (b"a,b\nnan,1\n", CSV, 422, "body", "cannot predict these rows"),
    "csv empty cell": (b"a,b\n,1\n", CSV, 422, "body", "cannot predict these rows"),
    "csv byte-order mark": (b"\xef\xbb\xbfa,b\n1,1\n", CSV, 200, None, ""),
    "csv latin-1": (b"a,b\n1,\xe9\n", CSV, 422, "body", "not UTF-8"),
    "csv unclosed quote": (b'a,b\n"1,1\n', CSV, 422, "body", "not a readable CSV"),
    "csv 20,000 columns": (("a,b," + ",".join(f"c{i}" for i in range(20_000)) + "\n1,1," + ",0" * 19_999 + "0\n")
                           .encode(), CSV, 200, None, ""),
    "csv 5 MB field": (b"a,b\n" + b"1" * 5_000_000 + b",1\n", CSV, 422, "a", "is not a finite number"),
    "csv 200,000 blank lines": (b"a,b\n" + b"\n" * 200_000 + b"1,1\n", CSV, 200, None, ""),
    "csv formula": (b"a,b\n=cmd|' /C calc'!A0,1\n", CSV, 422, "a", "is not a number"),
    "csv NUL": (b"a,b\n1\x00,1\n", CSV, 422, "a", "is not a number"),
}


@pytest.mark.parametrize("case", list(PREDICTIONS))
def test_hostile_prediction_inputs_are_answered_or_refused_naming_the_field(app: TestClient, case: str) -> None:
    body, headers, status, field, words = PREDICTIONS[case]
    response = app.post(PREDICT, content=body, headers=headers)
    assert response.status_code == status, response.text[:500]
    if status == 200:
        assert response.json()["predictions"] in ([0], [1])
    else:
        assert response.json()["field"] == field and words in response.json()["detail"], response.text[:500]
    assert app.get("/healthz").status_code == 200


UPLOADS: dict[str, tuple[bytes, int, str]] = {
    # case: (file, status, words in the message or the stored schema)
    "byte-order mark": (b"\xef\xbb\xbfa,b\n1,2\n", 201, "'a'"),
    "latin-1": (b"name,b\n\xe9t\xe9,2\n", 422, "not UTF-8"),
    "utf-8 then latin-1": (b"name,b\n\xc3\xa9t\xc3\xa9,2\n\xe9t\xe9,3\n", 422, "not UTF-8"),
    "utf-16": ("a,b\n1,2\n".encode("utf-16"), 422, "binary content"),
    "formulas": (b"a,b\n=cmd|' /C calc'!A0,2\n+1+1,3\n@SUM(1),4\n-2+3,5\n", 201, "'a': 'string'"),
    "a 5 MB field": (b"a,b\n" + b"x" * 5_000_000 + b",2\n", 201, "'a': 'string'"),
    "unclosed quote": (b'a,b\n"1,2\n3,4\n', 422, "not a readable CSV"),
    "NUL": (b"a,b\n1\x00,2\n", 422, "binary content"),
    "header only": (b"a,b\n", 422, "no rows"),
    "random bytes": (bytes(range(256)) * 10, 422, "binary content"),
    "a column named twice": (b"a,a\n1,2\n", 201, "'a.1'"),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_hostile_csv_uploads_are_stored_exact_or_refused_with_nothing_stored(app: TestClient, case: str) -> None:
    content, status, words = UPLOADS[case]
    name = "up-" + hashlib.sha256(case.encode()).hexdigest()[:10]
    response = app.post(f"/api/v1/datasets/{name}/versions", params={"filename": "data.csv"}, content=content)
    assert response.status_code == status, response.text[:500]
    if status == 201:
        version = response.json()
        assert words in repr(version["schema"]), version["schema"]
        assert version["sha256"] == hashlib.sha256(content).hexdigest()  # the bytes as sent, never rewritten
        assert version["size_bytes"] == len(content)
    else:
        assert response.json()["field"] == "file" and words in response.json()["detail"], response.text
        assert app.get(f"/api/v1/datasets/{name}").status_code == 404  # nothing stored


def test_formulas_are_text_in_the_stored_statistics(app: TestClient) -> None:
    """A spreadsheet formula is a string value like any other: counted, never evaluated or reshaped."""
    content = b"a,b\n=1+1,2\n=1+1,3\n@SUM(1),4\n"
    response = app.post("/api/v1/datasets/formulas/versions", params={"filename": "f.csv"}, content=content)
    assert response.status_code == 201, response.text
    shown = app.get("/api/v1/datasets/formulas/versions/1").json()
    assert shown["schema"]["a"] == "string"
    assert "=1+1" in json.dumps(shown["stats"]["a"]), shown["stats"]["a"]


@pytest.mark.parametrize("name", ["page.html", "image.svg", "data.json"])
def test_downloads_are_plain_bytes_never_a_page(app: TestClient, name: str) -> None:
    """An uploaded HTML or SVG file must not run as a page of the API's origin: bytes, never sniffed."""
    run = app.post("/api/v1/runs", json={"experiment": "inputs"}).json()["id"]
    content = b"<script>fetch('/api/v1/auth/tokens')</script>"
    assert app.put(f"/api/v1/runs/{run}/artifacts/{name}", content=content).status_code == 201
    response = app.get(f"/api/v1/runs/{run}/artifacts/{name}")
    assert response.status_code == 200 and response.content == content
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
