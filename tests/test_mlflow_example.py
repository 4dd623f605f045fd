"""`examples/mlflow/train.py`, an unmodified MLflow script, run as a process against a live backend: its
runs, params, metric histories, nested runs and registered version with its alias are what the native
API and the `mlops` CLI read back, and the model it loads from `models:/NAME@production` predicts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import ROOT, LiveServer, unique
from typer.testing import CliRunner

from mlops_tui import Client
from mlops_tui.cli.main import app
from mlops_tui.contract.responses import Run

EXAMPLE = ROOT / "examples" / "mlflow" / "train.py"


@dataclass(frozen=True)
class Trained:
    experiment: str
    model: str
    stdout: str
    runs: dict[str, Run]
    """The experiment's runs by name, read through the native API."""


@pytest.fixture(scope="module")
def trained(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    experiment, model = unique("mlflow-example"), unique("mlflow-churn")
    folder = tmp_path_factory.mktemp("mlflow-example")
    env = {**os.environ, "MLFLOW_TRACKING_URI": live_server.url}
    for variable in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        env.pop(variable, None)
    done = subprocess.run([sys.executable, str(EXAMPLE), "--experiment", experiment, "--model-name", model],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    with Client(url=live_server.url, token="") as client:
        runs = {run.name: client.get_run(run.id) for run in client.search_runs(experiment, limit=100).runs}
    return Trained(experiment, model, done.stdout, runs)


def test_the_scripts_runs_are_native_runs_with_their_params_and_nesting(trained: Trained) -> None:
    runs = trained.runs
    assert set(runs) == {"logistic-regression-sweep", "C=0.1", "C=1.0", "C=10.0", "random-forest"}
    assert {run.status for run in runs.values()} == {"FINISHED"}
    sweep = runs["logistic-regression-sweep"]
    for c in ("0.1", "1.0", "10.0"):
        child = runs[f"C={c}"]
        assert child.parent_id == sweep.id
        assert child.params == {"model": "LogisticRegression", "C": c, "max_iter": "300"}
        assert set(child.metrics) == {"accuracy", "f1", "roc_auc"}
    assert sweep.child_count == 3 and runs["random-forest"].parent_id is None
    best = max(("0.1", "1.0", "10.0"), key=lambda c: runs[f"C={c}"].metrics["roc_auc"])
    assert sweep.params == {"best_C": best}
    assert sweep.metrics["best_roc_auc"] == runs[f"C={best}"].metrics["roc_auc"]
    assert sweep.tags["family"] == "linear" and runs["random-forest"].tags["family"] == "trees"
    assert runs["random-forest"].tags["mlflow.runName"] == "random-forest"


def test_a_metric_logged_with_steps_is_its_full_history(trained: Trained, live_client: Client) -> None:
    forest = trained.runs["random-forest"]
    history = live_client.metric_history(forest.id, "val_accuracy")
    assert history.steps == list(range(10))
    assert all(0.5 < value <= 1.0 for value in history.values)
    assert forest.metrics["val_accuracy"] == history.values[-1]
    printed = re.search(r"roc_auc (\d\.\d{3})", trained.stdout)
    assert printed is not None and f"{forest.metrics['roc_auc']:.3f}" == printed.group(1)


def test_the_registered_version_and_its_alias_are_in_the_registry(trained: Trained, live_client: Client) -> None:
    model = live_client.get_model(trained.model)
    assert model.aliases == {"production": 1}
    assert [version.version for version in model.versions] == [1]
    assert model.versions[0].run_id == trained.runs["random-forest"].id
    assert live_client.get_alias(trained.model, "production").version == 1
    predicted = re.search(rf"models:/{re.escape(trained.model)}@production predicts \[([01](?:, [01]){{4}})\]",
                          trained.stdout)
    assert predicted is not None, trained.stdout


def test_mlops_runs_list_and_models_show_see_them(trained: Trained, live_env: LiveServer) -> None:
    listed = CliRunner().invoke(app, ["runs", "list", "-e", trained.experiment, "--json"])
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.stdout)["runs"]
    assert {run["id"] for run in runs} == {run.id for run in trained.runs.values()}
    assert {run["name"] for run in runs} == set(trained.runs)
    shown = CliRunner().invoke(app, ["models", "show", trained.model, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["aliases"] == {"production": 1}
