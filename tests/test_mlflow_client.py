"""The real `mlflow` client, unchanged, against a live backend: what it logs is read back through
MLflow AND through the native API and CLI (the same runs)."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.environment_variables import MLFLOW_EXPERIMENT_ID, MLFLOW_TRACKING_URI
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from mlops_tui import Client
from mlops_tui.cli.main import app
from tests.conftest import LiveServer, unique


@pytest.fixture
def fluent(live_env: LiveServer) -> Iterator[MlflowClient]:
    """The fluent API pointed at the live backend, its global state restored afterwards."""
    mlflow.set_tracking_uri(live_env.url)
    try:
        yield MlflowClient(tracking_uri=live_env.url)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.tracking.fluent._active_experiment_id = None
        MLFLOW_EXPERIMENT_ID.unset()
        MLFLOW_TRACKING_URI.unset()


def error_code(raised: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(raised.value.error_code)


def cli_runs(experiment: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["runs", "list", "--experiment", experiment, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["runs"]  # type: ignore[no-any-return]


def test_a_training_script_logs_unchanged(fluent: MlflowClient, live_client: Client) -> None:
    name = unique("mlflow-script")
    experiment_id = mlflow.set_experiment(name).experiment_id  # created through get-by-name's 404
    assert mlflow.set_experiment(name).experiment_id == experiment_id
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_param("model", "rf")
        mlflow.log_params({"depth": 5, "lr": 0.1})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.93, "f1": 0.88}, step=4)
        mlflow.set_tag("team", "risk")
        fluent.log_batch(run.info.run_id, metrics=[Metric("lr_sched", 0.01 * i, 1_700_000_000_000 + i, i)
                                                   for i in range(3)],
                         params=[Param("seed", "42")], tags=[RunTag("stage", "dev")])
        with mlflow.start_run(run_name="fold-1", nested=True) as child:
            mlflow.log_metric("acc", 0.91)
    run_id = run.info.run_id

    got = fluent.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "train" and got.info.end_time is not None
    assert got.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}"
    assert got.data.params == {"model": "rf", "depth": "5", "lr": "0.1", "seed": "42"}
    assert got.data.metrics == {"loss": 0.2, "acc": 0.93, "f1": 0.88, "lr_sched": 0.02}
    assert got.data.tags["team"] == "risk" and got.data.tags["stage"] == "dev"
    history = fluent.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert [(m.step, m.timestamp) for m in fluent.get_metric_history(run_id, "lr_sched")] == [
        (i, 1_700_000_000_000 + i) for i in range(3)]

    native = live_client.get_run(run_id)
    assert native.status == "FINISHED" and native.name == "train" and native.experiment_id == experiment_id
    assert native.params == got.data.params and native.metrics == got.data.metrics
    assert native.user_id == got.info.user_id and native.user_id
    assert native.tags["mlflow.user"] == native.user_id
    assert live_client.get_run(child.info.run_id).parent_id == run_id
    assert fluent.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == run_id
    native_history = live_client.metric_history(run_id, "loss")
    assert native_history.steps == [0, 1, 2, 3, 4]
    listed = {r["id"]: r for r in cli_runs(name)}
    assert set(listed) == {run_id, child.info.run_id} and listed[run_id]["params"] == got.data.params


def test_search_runs_filter_order_and_pages(fluent: MlflowClient, live_client: Client) -> None:
    name = unique("mlflow-search")
    experiment_id = mlflow.set_experiment(name).experiment_id
    ids = []
    for i in range(5):
        with mlflow.start_run(run_name=f"r{i}") as run:
            mlflow.log_metric("acc", 0.5 + i / 10)
            mlflow.log_param("kind", "even" if i % 2 == 0 else "odd")
        ids.append(run.info.run_id)

    frame = mlflow.search_runs(filter_string="metrics.acc > 0.55 and params.kind = 'even'",
                               order_by=["metrics.acc DESC"])
    assert list(frame["run_id"]) == [ids[4], ids[2]]
    assert list(frame["metrics.acc"]) == pytest.approx([0.9, 0.7])
    assert list(frame["tags.mlflow.runName"]) == ["r4", "r2"]

    pages, token = [], None
    while True:
        page = fluent.search_runs([experiment_id], order_by=["metrics.acc ASC"], max_results=2, page_token=token)
        pages.append([r.info.run_id for r in page])
        token = page.token
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    native = live_client.search_runs(experiment_id, "metrics.acc > 0.55 and params.kind = 'even'",
                                     ["metrics.acc DESC"])
    assert [r.id for r in native.runs] == [ids[4], ids[2]]
    every = mlflow.search_runs(experiment_names=[name], output_format="list")
    assert {r.info.run_id for r in every} == set(ids)


def test_log_input_dataset_reads_back(fluent: MlflowClient) -> None:
    mlflow.set_experiment(unique("mlflow-inputs"))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0]})
    dataset = mlflow.data.from_pandas(frame, name="toy", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    got = fluent.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(got) == 1
    assert got[0].dataset.name == "toy" and got[0].dataset.digest == dataset.digest
    assert json.loads(got[0].dataset.schema) == json.loads(dataset.to_dict()["schema"])
    assert json.loads(got[0].dataset.profile)["num_rows"] == 3
    assert {t.key: t.value for t in got[0].tags} == {"mlflow.data.context": "training"}
    found = fluent.search_runs([run.info.experiment_id])
    assert [d.dataset.digest for d in found[0].inputs.dataset_inputs] == [dataset.digest]


def test_experiments_through_the_client(fluent: MlflowClient, live_client: Client) -> None:
    name = unique("mlflow-exp")
    experiment_id = fluent.create_experiment(name, tags={"team": "risk"})
    fluent.set_experiment_tag(experiment_id, "mlflow.note.content", "fraud models")
    with pytest.raises(MlflowException) as raised:
        fluent.create_experiment(name)
    assert error_code(raised) == "RESOURCE_ALREADY_EXISTS"
    fluent.rename_experiment(experiment_id, name + "-v2")
    found = fluent.search_experiments(filter_string=f"name LIKE '{name}%' AND tags.team = 'risk'")
    assert [e.experiment_id for e in found] == [experiment_id]
    assert found[0].tags == {"team": "risk", "mlflow.note.content": "fraud models"}
    assert live_client.get_experiment(experiment_id).name == name + "-v2"
    fluent.delete_experiment(experiment_id)
    assert fluent.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert live_client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert not fluent.search_experiments(filter_string=f"name = '{name}-v2'")
    fluent.restore_experiment(experiment_id)
    assert fluent.get_experiment_by_name(name + "-v2").lifecycle_stage == "active"


def test_delete_restore_and_refusals(fluent: MlflowClient, live_client: Client) -> None:
    experiment_id = fluent.create_experiment(unique("mlflow-errors"))
    run = fluent.create_run(experiment_id, run_name="r")
    run_id = run.info.run_id
    fluent.log_param(run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as raised:
        fluent.log_param(run_id, "lr", "0.2")
    assert error_code(raised) == "INVALID_PARAMETER_VALUE" and "lr" in raised.value.message
    with pytest.raises(MlflowException) as raised:
        fluent.log_batch(run_id, metrics=[Metric("bad", math.nan, 1, 0)], params=[Param("new", "1")],
                         tags=[RunTag("new", "1")])
    assert error_code(raised) == "INVALID_PARAMETER_VALUE" and "bad" in raised.value.message
    native = live_client.get_run(run_id)
    assert "new" not in native.params and "new" not in native.tags and "bad" not in native.metrics
    with pytest.raises(MlflowException) as raised:
        fluent.get_run("0" * 32)
    assert error_code(raised) == "RESOURCE_DOES_NOT_EXIST"

    fluent.set_terminated(run_id)
    fluent.delete_run(run_id)
    assert fluent.get_run(run_id).info.lifecycle_stage == "deleted"
    assert live_client.get_run(run_id).lifecycle_stage == "deleted"
    assert not fluent.search_runs([experiment_id])
    assert [r.info.run_id for r in fluent.search_runs([experiment_id], run_view_type=3)] == [run_id]
    fluent.restore_run(run_id)
    assert [r.info.run_id for r in fluent.search_runs([experiment_id])] == [run_id]
    assert live_client.get_run(run_id).lifecycle_stage == "active"
    fluent.set_tag(run_id, "temp", "x")
    assert live_client.get_run(run_id).tags["temp"] == "x"
    fluent.delete_tag(run_id, "temp")
    assert "temp" not in live_client.get_run(run_id).tags and "temp" not in fluent.get_run(run_id).data.tags
