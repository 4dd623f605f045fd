"""`mlops predict NAME[@ALIAS|/VERSION] --input FILE.csv` against a live server, with a real churn model
(feature engineering included): the table, `--json`, `--output` with the input rows and the predictions,
and bad input (exit 1 with the backend's message naming row and column; a missing file: exit 2)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import LiveServer
from serving_support import CHURN_MODEL, CHURN_TOML, Trained, register, train
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli.main import app

runner = CliRunner()


@dataclass
class Model:
    name: str
    trained: Trained
    rows_file: Path


@pytest.fixture(scope="module")
def model(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    folder = tmp_path_factory.mktemp("cli-predict")
    trained = train(CHURN_TOML, CHURN_MODEL, folder / "churn")
    with Client(url=live_server.url, token="") as client:
        name, version = register(client, trained)
        client.promote(name, version, "production", force=True, reason="cli tests")
    rows_file = folder / "rows.csv"
    trained.x_test.head(12).to_csv(rows_file, index=False)
    yield Model(name, trained, rows_file)


def mlops(*args: str) -> Result:
    return runner.invoke(app, ["predict", *args])


def said(result: Result) -> str:
    """stderr with the terminal's wrapping undone."""
    return " ".join(result.stderr.split())


def expected(model: Model) -> list[int]:
    return list(model.trained.pipeline.predict(model.trained.x_test.head(12)).tolist())


def test_json_answers_the_backends_prediction(live_env: LiveServer, model: Model) -> None:
    for ref in (f"{model.name}@production", f"{model.name}/1", model.name):  # a bare NAME is NAME@production
        result = mlops(ref, "--input", str(model.rows_file), "--json")
        assert result.exit_code == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["predictions"] == expected(model) and answer["model_version"] == 1
        assert len(answer["request_ids"]) == 12 and "probabilities" not in answer


def test_the_table_shows_each_rows_prediction(live_env: LiveServer, model: Model) -> None:
    result = mlops(f"{model.name}@production", "--input", str(model.rows_file), "--proba")
    assert result.exit_code == 0, result.stderr
    assert f"{model.name}/1: 12 predictions" in result.stdout
    assert "PREDICTION" in result.stdout and "P(0)" in result.stdout and "P(1)" in result.stdout
    cells = [line.strip("│ ").split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    assert [int(row[1]) for row in cells] == expected(model)
    assert [int(row[0]) for row in cells] == list(range(12))


def test_output_writes_the_rows_with_their_predictions(live_env: LiveServer, model: Model, tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    result = mlops(f"{model.name}/1", "--input", str(model.rows_file), "--proba", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    source = list(csv.DictReader(io.StringIO(model.rows_file.read_text())))
    assert [{k: row[k] for k in source[0]} for row in rows] == source  # the input rows, as they were
    assert [int(row["prediction"]) for row in rows] == expected(model)
    probabilities = model.trained.pipeline.predict_proba(model.trained.x_test.head(12)).tolist()
    assert [[float(row["proba_0"]), float(row["proba_1"])] for row in rows] == probabilities


def test_a_bad_value_exits_1_naming_row_and_column(live_env: LiveServer, model: Model, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    frame = model.trained.x_test.head(6).astype({"age": object})
    frame.loc[frame.index[3], "age"] = "abc"
    frame.to_csv(bad, index=False)
    result = mlops(f"{model.name}@production", "--input", str(bad))
    assert result.exit_code == 1
    assert "row 3, column 'age': 'abc' is not a number" in said(result)
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == ""


def test_a_missing_file_or_a_bad_name_is_a_usage_error(live_env: LiveServer, model: Model, tmp_path: Path) -> None:
    missing = mlops(model.name, "--input", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "nope.csv':nosuchfile" in said(missing).replace(" ", "")  # rich wraps paths
    bad_name = mlops(f"{model.name}@9bad", "--input", str(model.rows_file))
    assert bad_name.exit_code == 2 and "not an alias name" in said(bad_name)
    unknown = mlops(f"{model.name}@canary", "--input", str(model.rows_file))
    assert unknown.exit_code == 1 and "points at no version" in said(unknown)
