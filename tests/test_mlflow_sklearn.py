"""An unmodified MLflow 3 script against the backend: `mlflow.sklearn.log_model` of a fitted pipeline,
loaded back from `runs:/` and from the logged model's URI, registered, given the `production` alias
and loaded from `models:/NAME@production`, predicting what the original predicts. The backend only
stores and serves the files; `load_model` unpickles them on the client, which is the client's choice."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models.model import ModelInfo
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_tui import Client
from tests.conftest import LiveServer, unique

X = pd.DataFrame({"size": [0.5, 1.0, 1.5, 2.0, 3.0, 3.5, 4.0, 5.0], "rooms": [1.0, 1, 2, 2, 3, 3, 4, 4]})
Y = [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)


@pytest.fixture(scope="module")
def logged(mlflow_fluent: str, pipeline: Pipeline) -> tuple[str, ModelInfo]:
    """The script's run: params, a metric, and the model."""
    mlflow.set_experiment(unique("sklearn"))
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("accuracy", float(pipeline.score(X, Y)))
        # pip_requirements given: inferring them imports the model in a subprocess (20 s on 2 cores)
        info = mlflow.sklearn.log_model(pipeline, name="model", input_example=X.head(2),
                                        pip_requirements=["scikit-learn"])
    return run.info.run_id, info


def predictions(model: Any) -> list[int]:
    return [int(value) for value in np.asarray(model.predict(X))]


def test_log_model_then_load_it_back(live_server: LiveServer, live_client: Client, pipeline: Pipeline,
                                     logged: tuple[str, ModelInfo]) -> None:
    run_id, info = logged
    expected = predictions(pipeline)
    assert predictions(mlflow.sklearn.load_model(f"runs:/{run_id}/model")) == expected
    assert predictions(mlflow.sklearn.load_model(info.model_uri)) == expected

    client = MlflowClient()
    model = client.get_logged_model(info.model_id)
    assert (model.name, model.source_run_id, model.status.to_proto()) == ("model", run_id, 2)  # READY
    assert model.params == {"C": "1.0"}
    run = client.get_run(run_id)
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(info.model_id, 0)]
    files = live_server.home / "artifacts" / run.info.experiment_id / "models" / info.model_id / "artifacts"
    assert {"MLmodel", "model.skops", "requirements.txt"} <= {p.name for p in files.iterdir()}
    native = live_client.get_run(run_id)  # the same run, natively
    assert (native.params, native.metrics) == ({"C": "1.0"}, {"accuracy": 1.0})


def test_register_alias_and_load_from_the_registry(live_client: Client, pipeline: Pipeline,
                                                   logged: tuple[str, ModelInfo], tmp_path: Path) -> None:
    run_id, info = logged
    name = unique("sklearn-model")
    version = mlflow.register_model(info.model_uri, name)
    client = MlflowClient()
    client.set_registered_model_alias(name, "production", version.version)
    assert client.get_model_version_by_alias(name, "production").version == version.version
    loaded = mlflow.sklearn.load_model(f"models:/{name}@production")
    assert predictions(loaded) == predictions(pipeline)

    native = live_client.get_version(name, int(version.version))  # the same version, natively
    assert native.run_id == run_id
    (tmp_path / "model.skops").write_bytes(b"not the registered model")
    with pytest.raises(Exception, match="registered model version"):
        client.log_model_artifacts(info.model_id, str(tmp_path))
    again = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    assert predictions(again) == predictions(pipeline)
