"""The predict routes on the real app (its SQLite file, its recorder thread) with real models trained the
way a training job trains them: a churn classifier with feature engineering (derived columns, imputing,
scaling, one-hot) and a spend regressor. Predictions equal the saved pipeline's own `predict` exactly in
every format; every refusal names the row and the column; records reach the predictions table."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
import pytest
from conftest import CLIENT_HEADERS
from fastapi.testclient import TestClient
from serving_support import CHURN_MODEL, CHURN_TOML, SPEND_MODEL, SPEND_TOML, Trained, register, train

from backend import Settings, create_app
from backend.services import gates
from backend.store import registry as registry_store
from mlops_tui import Client
from mlops_tui.contract.monitoring import IGNORED_COLUMNS_HEADER, MODEL_VERSION_HEADER, SHA256_HEADER

MAX_ROWS = 300


@dataclass
class Served:
    http: TestClient
    client: Client
    settings: Settings
    churn: Trained
    spend: Trained
    churn_name: str
    spend_name: str

    def predict(self, name: str, ref: str, payload: Any = None, csv: str | None = None,
                proba: bool = False) -> Any:
        path = f"/api/v1/models/{name}/{ref}/predict" + ("?proba=true" if proba else "")
        if csv is not None:
            return self.http.post(path, content=csv.encode(), headers={"content-type": "text/csv"})
        return self.http.post(path, content=orjson.dumps(payload), headers={"content-type": "application/json"})

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = self.http.app.state.db  # type: ignore[attr-defined]
        with db.read() as conn:
            return list(conn.execute(sql, args).fetchall())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serving")
    churn = train(CHURN_TOML, CHURN_MODEL, folder / "churn")
    spend = train(SPEND_TOML, SPEND_MODEL, folder / "spend")
    settings = Settings(home=folder / "home", token=None, max_predict_rows=MAX_ROWS, monitor_full_rate=1e9)
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=CLIENT_HEADERS) as http:
        client = Client(url="http://testserver", transport=http._transport)
        churn_name, _ = register(client, churn)
        spend_name, _ = register(client, spend)
        for name in (churn_name, spend_name):
            client.promote(name, 1, "production", force=True, reason="serving tests")
        yield Served(http, client, settings, churn, spend, churn_name, spend_name)


def values(frame: pd.DataFrame, orient: str) -> Any:
    return json.loads(frame.to_json(orient=orient, index=False))


def payload_of(frame: pd.DataFrame, fmt: str) -> Any:
    """The rows in one of MLflow's scoring formats (missing values as null)."""
    if fmt == "dataframe_split":
        return {"dataframe_split": values(frame, "split")}
    if fmt == "dataframe_records":
        return {"dataframe_records": values(frame, "records")}
    if fmt == "instances_objects":
        return {"instances": values(frame, "records")}
    if fmt == "instances_lists":  # values in the signature's column order (the training frame's)
        return {"instances": values(frame, "values")}
    if fmt == "inputs_lists":
        return {"inputs": values(frame, "values")}
    assert fmt == "inputs_columns"
    return {"inputs": {column: values(frame[column], "values") for column in frame.columns}}


FORMATS = ["dataframe_split", "dataframe_records", "instances_objects", "instances_lists", "inputs_lists",
           "inputs_columns", "csv"]


def answer_of(served: Served, name: str, frame: pd.DataFrame, fmt: str, proba: bool = False) -> Any:
    csv = frame.to_csv(index=False) if fmt == "csv" else None
    response = served.predict(name, "aliases/production", None if csv else payload_of(frame, fmt), csv, proba)
    assert response.status_code == 200, response.text
    assert response.headers[MODEL_VERSION_HEADER] == f"{name}/1"
    assert IGNORED_COLUMNS_HEADER not in response.headers
    return response.json()


@pytest.mark.parametrize("fmt", FORMATS)
def test_classifier_predicts_exactly_what_its_pipeline_predicts(served: Served, fmt: str) -> None:
    rows = served.churn.x_test.head(150)
    assert rows["age"].isna().any()  # missing values travel too (the pipeline imputes them)
    answer = answer_of(served, served.churn_name, rows, fmt, proba=True)
    assert answer["predictions"] == served.churn.pipeline.predict(rows).tolist()
    assert answer["probabilities"] == served.churn.pipeline.predict_proba(rows).tolist()
    assert answer["classes"] == [0, 1]
    assert answer["model_version"] == 1 and len(set(answer["request_ids"])) == len(rows)


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "csv"])
def test_regressor_predicts_exactly_what_its_pipeline_predicts(served: Served, fmt: str) -> None:
    rows = served.spend.x_test.head(150)
    answer = answer_of(served, served.spend_name, rows, fmt)
    assert answer["predictions"] == served.spend.pipeline.predict(rows).tolist()
    assert "probabilities" not in answer


def test_a_version_answers_by_number_too(served: Served) -> None:
    rows = served.spend.x_test.head(3)
    response = served.predict(served.spend_name, "versions/1", payload_of(rows, "dataframe_split"))
    assert response.status_code == 200 and response.json()["model_version"] == 1
    assert response.json()["predictions"] == served.spend.pipeline.predict(rows).tolist()


def test_the_typed_client_predicts(served: Served) -> None:
    rows = served.churn.x_test.head(4)
    by_alias = served.client.predict(served.churn_name, "production", payload_of(rows, "dataframe_split"), proba=True)
    by_version = served.client.predict_csv(served.churn_name, 1, rows.to_csv(index=False).encode())
    assert by_alias.predictions == by_version.predictions == served.churn.pipeline.predict(rows).tolist()
    assert by_alias.classes == [0, 1] and by_version.probabilities is None


def _split_with(frame: pd.DataFrame, row: int, column: str, value: Any) -> dict[str, Any]:
    split = values(frame, "split")
    split["data"][row][split["columns"].index(column)] = value
    return {"dataframe_split": split}


def _records_with(frame: pd.DataFrame, row: int, column: str, value: Any) -> dict[str, Any]:
    records = values(frame, "records")
    if value is KeyError:
        del records[row][column]
    else:
        records[row][column] = value
    return {"dataframe_records": records}


def _csv_with(frame: pd.DataFrame, row: int, column: str, value: str) -> str:
    changed = frame.astype({column: object})
    changed.loc[changed.index[row], column] = value
    return changed.to_csv(index=False)


AGE = 4
"""`age`'s position in the churn model's signature."""
REFUSALS = {
    "missing column": (lambda f: {"dataframe_split": values(f.drop(columns="age"), "split")}, None,
                       "dataframe_split.columns", "row 0, column 'age': missing"),
    "missing in one record": (lambda f: _records_with(f, 3, "age", KeyError), None,
                              "dataframe_records[3].age", "row 3, column 'age': missing"),
    "text for a number": (lambda f: _split_with(f, 3, "age", "abc"), None,
                          f"dataframe_split.data[3][{AGE}]", "row 3, column 'age': 'abc' is not a number"),
    "true for a number": (lambda f: _records_with(f, 2, "support_calls", True), None,
                          "dataframe_records[2].support_calls", "row 2, column 'support_calls': True is not a number"),
    "a list for text": (lambda f: _records_with(f, 1, "plan", ["basic"]), None,
                        "dataframe_records[1].plan", "row 1, column 'plan': a list is not text"),
    "an object for a number": (lambda f: _split_with(f, 4, "tenure_months", {"v": 1}), None,
                               "dataframe_split.data[4][0]",
                               "row 4, column 'tenure_months': an object is not a number"),
    "unparseable csv value": (None, lambda f: _csv_with(f, 3, "age", "abc"),
                              "age", "row 3, column 'age': 'abc' is not a number"),
    "infinite csv value": (None, lambda f: _csv_with(f, 5, "monthly_charges", "inf"),
                           "monthly_charges", "row 5, column 'monthly_charges': 'inf' is not a finite number"),
    "short instance": (lambda f: {"instances": [values(f, "values")[0], [1, 2]]}, None,
                       "instances[1]", "row 1: instances[1] must be a list of 9 values"),
    "ragged split row": (lambda f: {"dataframe_split": {**values(f, "split"), "data": [[1]]}}, None,
                         "dataframe_split.data[0]", "row 0: dataframe_split.data[0] must be a list of 9 values"),
    "two formats": (lambda f: {**payload_of(f, "dataframe_split"), **payload_of(f, "dataframe_records")}, None,
                    "body", "exactly one of"),
    "no format": (lambda f: {"rows": []}, None, "body", "exactly one of"),
    "not json": (lambda f: b"{not json", None, "body", "not valid JSON"),
    "csv without the columns": (None, lambda f: "x,y\n1,2\n", "tenure_months",
                                "row 0, column 'tenure_months': missing (the model reads it; every row must give "
                                "it); also missing: 'monthly_charges', 'support_calls', 'usage_gb', 'age', 'plan'"),
    "empty csv": (None, lambda f: "", "body", "body is empty"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_rows_are_refused_naming_row_and_column(served: Served, case: str) -> None:
    make_json, make_csv, field, message = REFUSALS[case]
    rows = served.churn.x_test.head(8)
    path = f"/api/v1/models/{served.churn_name}/aliases/production/predict"
    if make_csv is not None:
        response = served.http.post(path, content=make_csv(rows).encode(), headers={"content-type": "text/csv"})
    else:
        body = make_json(rows)
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        response = served.http.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert message in response.json()["detail"]
    assert response.json()["code"] == "invalid"


def test_extra_columns_are_ignored_and_named_in_a_header(served: Served) -> None:
    rows = served.churn.x_test.head(5)
    extra = rows.assign(**{"favourite colour": "blue", "a,b": 1, "customer_id": "C1"})
    response = served.predict(served.churn_name, "aliases/production", payload_of(extra, "dataframe_records"))
    assert response.status_code == 200, response.text
    assert response.headers[IGNORED_COLUMNS_HEADER] == "favourite colour,a%2Cb,customer_id"
    assert response.json()["predictions"] == served.churn.pipeline.predict(rows).tolist()


@pytest.mark.parametrize("fmt", ["dataframe_split", "instances_lists", "csv"])
def test_more_rows_than_the_cap_is_413_naming_it(served: Served, fmt: str) -> None:
    rows = served.spend.x_test.head(MAX_ROWS + 1)
    csv = rows.to_csv(index=False) if fmt == "csv" else None
    response = served.predict(served.spend_name, "aliases/production", None if csv else payload_of(rows, fmt), csv)
    assert response.status_code == 413, response.text
    assert f"at most {MAX_ROWS} rows" in response.json()["detail"]
    assert response.json()["field"] == {"dataframe_split": "dataframe_split.data", "instances_lists": "instances",
                                        "csv": "body"}[fmt]
    at_cap = served.predict(served.spend_name, "aliases/production", payload_of(rows.head(MAX_ROWS), "dataframe_split"))
    assert at_cap.status_code == 200, at_cap.text


def test_probabilities_of_a_regressor_are_refused_naming_proba(served: Served) -> None:
    response = served.predict(served.spend_name, "aliases/production",
                              payload_of(served.spend.x_test.head(2), "dataframe_split"), proba=True)
    assert response.status_code == 422
    assert response.json()["field"] == "proba" and "regressor" in response.json()["detail"]


def test_unknown_model_alias_and_version_are_404(served: Served) -> None:
    payload = payload_of(served.spend.x_test.head(1), "dataframe_split")
    assert served.predict("no-such-model", "aliases/production", payload).status_code == 404
    unknown_alias = served.predict(served.spend_name, "aliases/canary", payload)
    assert unknown_alias.status_code == 404 and unknown_alias.json()["field"] == "alias"
    assert served.predict(served.spend_name, "versions/9", payload).json()["field"] == "version"


def test_each_predicted_row_and_each_refusal_leaves_a_record(served: Served) -> None:
    rows = served.churn.x_test.head(4)
    answer = served.predict(served.churn_name, "aliases/production", payload_of(rows, "dataframe_split"),
                            proba=True).json()
    refused = served.predict(served.churn_name, "aliases/production", _split_with(rows, 2, "age", "old"))
    assert refused.status_code == 422
    served.http.app.state.recorder.flush()  # type: ignore[attr-defined]
    found = {row[0]: row[1:] for row in served.rows(
        "SELECT request_id, version, alias, status, inputs_json, output_json, proba_json, latency_ms FROM predictions "
        "WHERE request_id IN (SELECT value FROM json_each(?))", json.dumps(answer["request_ids"]))}
    assert list(found) == answer["request_ids"] or sorted(found) == sorted(answer["request_ids"])
    for index, request_id in enumerate(answer["request_ids"]):
        version, alias, status, inputs, output, proba, latency = found[request_id]
        assert (version, alias, status) == (1, "production", "ok") and latency > 0
        sent = values(rows.iloc[[index]], "records")[0]
        assert json.loads(inputs) == sent
        assert json.loads(output) == answer["predictions"][index]
        assert json.loads(proba) == answer["probabilities"][index]
    errors = served.rows("SELECT version, status, error FROM predictions WHERE name = ? AND status = 'error' "
                         "AND error LIKE '%''old'' is not a number%'", served.churn_name)
    assert errors == [(1, "error", "row 2, column 'age': 'old' is not a number")]


def test_model_file_download_matches_registration(served: Served) -> None:
    response = served.http.get(f"/api/v1/models/{served.spend_name}/versions/1/model")
    assert response.status_code == 200
    assert response.content == served.spend.model_file.read_bytes()
    registered = served.client.get_version(served.spend_name, 1).sha256
    assert response.headers[SHA256_HEADER] == registered


def test_a_changed_model_file_is_refused_and_never_loaded(served: Served) -> None:
    name, version = register(served.client, served.churn)
    db, settings = served.http.app.state.db, served.settings  # type: ignore[attr-defined]
    path = gates.model_file(settings, registry_store.get_version(db, name, version))
    path.write_bytes(served.spend.model_file.read_bytes())  # a valid model, but not the registered one
    cache = served.http.app.state.serving.cache  # type: ignore[attr-defined]
    loads = cache.loads
    response = served.predict(name, f"versions/{version}", payload_of(served.spend.x_test.head(2), "dataframe_split"))
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "version"
    assert f"{name}/{version}" in response.json()["detail"] and "changed" in response.json()["detail"]
    assert (name, version) not in cache.keys() and cache.loads == loads
    download = served.http.get(f"/api/v1/models/{name}/versions/{version}/model")
    assert download.status_code == 409 and download.json()["field"] == "version"
