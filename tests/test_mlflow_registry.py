"""MLflow's model registry API with the real `MlflowClient` against a live backend: one registry,
whichever API wrote it. Every value is read back through MLflow and through the native API (or CLI)."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, base_env, unique
from fastapi.testclient import TestClient
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from registry_support import tiny_model_files
from rich.console import Console

from backend.errors import Invalid
from backend.services import registry_search as search
from mlops_tui import Client
from mlops_tui.cli.model_views import models_table, version_detail
from mlops_tui.client import MlopsError


class _Marker:
    """Unpickling this creates a file: the test's proof that the backend never unpickles a model."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.path), "w")


@pytest.fixture(scope="module")
def mlflow_client(live_server: LiveServer) -> MlflowClient:
    return MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unpickled") / "model-was-unpickled"


def mlflow_model_run(client: Client, marker: Path, folder: str = "model") -> tuple[str, str]:
    """A run holding an MLmodel folder (written through the native upload API): `(run id, experiment id)`.
    Its `model.pkl` creates `marker` if anything ever unpickles it."""
    run = client.create_run("mlflow-registry-tests", name=unique("mlflow-model"))
    client.upload_artifact(run.id, f"{folder}/MLmodel", b"flavors:\n  python_function:\n    loader_module: x\n")
    client.upload_artifact(run.id, f"{folder}/model.pkl", pickle.dumps(_Marker(marker)))
    return run.id, run.experiment_id


def codes(error: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(error.value.error_code)


@pytest.mark.filterwarnings("ignore:.*get_latest_versions.*:FutureWarning")
def test_versions_register_take_aliases_and_read_back_natively(
        mlflow_client: MlflowClient, live_client: Client, live_server: LiveServer, marker: Path) -> None:
    name = unique("mlf-reg")
    run_id, experiment = mlflow_model_run(live_client, marker)
    created = mlflow_client.create_registered_model(name, tags={"team": "risk"}, description="fraud model")
    assert (created.name, created.description, created.tags) == (name, "fraud model", {"team": "risk"})
    first = mlflow_client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags={"kind": "a"},
                                               description="first")
    assert (first.version, first.status, first.run_id, first.tags) == ("1", "READY", run_id, {"kind": "a"})
    second = mlflow_client.create_model_version(name, f"mlflow-artifacts:/{experiment}/{run_id}/model")
    assert second.version == "2" and second.source == f"mlflow-artifacts:/{experiment}/{run_id}/model"

    mlflow_client.set_registered_model_alias(name, "champion", "1")
    by_alias = mlflow_client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases, by_alias.description) == ("1", ["champion"], "first")
    assert mlflow_client.get_model_version_download_uri(name, "1") == f"mlflow-artifacts:/{experiment}/{run_id}/model"
    model = mlflow_client.get_registered_model(name)
    assert model.aliases == {"champion": "1"}
    assert [v.version for v in model.latest_versions] == ["2"]
    assert [v.version for v in mlflow_client.get_latest_versions(name, stages=["None"])] == ["2"]
    assert mlflow_client.get_latest_versions(name, stages=["Production"]) == []

    native = live_client.get_model(name)
    assert native.aliases == {"champion": 1}
    assert [(v.version, v.model_format, v.run_id) for v in native.versions] == [
        (2, "mlflow", ""), (1, "mlflow", run_id)]
    assert native.versions[1].model_path == f"{experiment}/{run_id}/model"
    assert native.versions[1].source == f"runs:/{run_id}/model" and len(native.versions[1].sha256) == 64
    mlflow_client.delete_registered_model_alias(name, "champion")
    assert live_client.get_model(name).aliases == {}
    events = live_client.model_events(name).events
    assert [(e.action.value, e.alias, e.actor) for e in events] == [
        ("register", None, "mlflow:anonymous"), ("register", None, "mlflow:anonymous"),
        ("promote", "champion", "mlflow:anonymous"), ("unset", "champion", "mlflow:anonymous")]
    assert events[-1].from_version == 1 and live_client.verify_model(name).ok
    with pytest.raises(MlflowException) as missing:
        mlflow_client.get_model_version_by_alias(name, "champion")
    assert codes(missing) == "INVALID_PARAMETER_VALUE"

    copied = mlflow_client.copy_model_version(f"models:/{name}/1", f"{name}-copy")
    assert (copied.version, copied.source, copied.run_id) == ("1", f"models:/{name}/1", run_id)
    assert live_client.get_version(f"{name}-copy", 1).model_path == f"{experiment}/{run_id}/model"

    shown = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "models", "show", name, "--json"],
                           env=base_env(live_server.home.parent / "cli-home", live_server.url),
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert [v["model_format"] for v in json.loads(shown.stdout)["versions"]] == ["mlflow", "mlflow"]
    detail = version_detail(live_client.get_version(name, 1), 100)[0]
    assert isinstance(detail, str)
    assert f"format mlflow (not served by the backend)  source runs:/{run_id}/model" in detail
    assert not marker.exists()


def test_the_files_are_checked_and_never_loaded(
        mlflow_client: MlflowClient, live_client: Client, live_server: LiveServer, marker: Path) -> None:
    name = unique("mlf-files")
    run_id, experiment = mlflow_model_run(live_client, marker)
    mlflow_client.create_registered_model(name)
    mlflow_client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    mlflow_client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    mlflow_client.set_registered_model_alias(name, "production", "1")
    mlflow_client.set_registered_model_alias(name, "production", "2")
    for call in (lambda: live_client.predict(name, "production", {"instances": [[1.0]]}),
                 lambda: live_client.predict(name, 1, {"instances": [[1.0]]}),
                 lambda: live_client.download_model(name, 1)):
        with pytest.raises(MlopsError) as refused:
            call()
        assert refused.value.status == 422
        assert "is an MLflow model; the backend serves skops pipelines only" in refused.value.message
        assert "mlflow models serve" in refused.value.message
    assert live_client.rollback(name, "production").version == 1  # checked by digest, not loaded
    assert not marker.exists()

    (live_server.home / "artifacts" / experiment / run_id / "model" / "MLmodel").write_text("changed")
    with pytest.raises(MlflowException) as changed:
        mlflow_client.set_registered_model_alias(name, "staging", "2")
    assert codes(changed) == "INVALID_PARAMETER_VALUE" and "changed on disk" in changed.value.message
    assert "staging" not in live_client.get_model(name).aliases


def test_a_policy_gates_mlflow_alias_moves(mlflow_client: MlflowClient, live_client: Client, marker: Path,
                                           tmp_path: Path) -> None:
    name = unique("mlf-gated")
    files = tiny_model_files(tmp_path)
    run = live_client.create_run("mlflow-registry-tests", name=unique("native"))
    for path, content in {**files, "pipeline.json": json.dumps({"promote": {"min_accuracy": 0.99}}).encode()}.items():
        live_client.upload_artifact(run.id, path, content)
    live_client.register_version(name, run.id)
    with pytest.raises(MlflowException) as gated:
        mlflow_client.set_registered_model_alias(name, "production", "1")
    assert codes(gated) == "INVALID_PARAMETER_VALUE"
    assert "promotion gates failed" in gated.value.message and "min_accuracy" in gated.value.message
    run_id, _ = mlflow_model_run(live_client, marker)
    mlflow_client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    with pytest.raises(MlflowException) as ungated:
        mlflow_client.set_registered_model_alias(name, "production", "2")
    assert "has a [promote] policy (from version 1)" in ungated.value.message
    assert live_client.get_model(name).aliases == {}
    assert [e.action.value for e in live_client.model_events(name).events] == ["register", "register"]


def test_an_approval_policy_guards_its_aliases_from_mlflow(mlflow_client: MlflowClient, live_client: Client,
                                                           live_server: LiveServer, tmp_path: Path) -> None:
    name = unique("mlf-approval")
    run = live_client.create_run("mlflow-registry-tests", name=unique("native"))
    policy = {"promote": {"production": {"approval": True}}}
    for path, content in {**tiny_model_files(tmp_path), "pipeline.json": json.dumps(policy).encode()}.items():
        live_client.upload_artifact(run.id, path, content)
    live_client.register_version(name, run.id)
    asked = live_client.promote(name, 1, "production", reason="first release", force=True)
    assert asked.outcome == "awaiting_approval" and asked.request is not None
    with Client(url=live_server.url, token="", user="bob") as bob:
        bob.approve_request(name, asked.request.id, "ok")
    assert live_client.get_model(name).aliases == {"production": 1}
    for call in (lambda: mlflow_client.delete_registered_model_alias(name, "production"),
                 lambda: mlflow_client.delete_registered_model(name)):
        with pytest.raises(MlflowException) as guarded:
            call()
        assert codes(guarded) == "PERMISSION_DENIED" and "protected by its [promote] policy" in guarded.value.message
    assert live_client.get_model(name).aliases == {"production": 1}


def test_search_filters_orders_and_pages(mlflow_client: MlflowClient, live_client: Client, marker: Path) -> None:
    prefix = unique("mlf-search")
    run_id, _ = mlflow_model_run(live_client, marker)
    other_run, _ = mlflow_model_run(live_client, marker)
    for suffix, tags in (("a", {"team": "risk"}), ("b", {"team": "growth"}), ("c", {"team": "risk"}),
                         ("prompt", {})):
        mlflow_client.create_registered_model(f"{prefix}-{suffix}", tags=tags)
    mlflow_client.set_registered_model_tag(f"{prefix}-prompt", "mlflow.prompt.is_prompt", "true")
    for run in (run_id, other_run):
        mlflow_client.create_model_version(f"{prefix}-a", f"runs:/{run}/model", run_id=run, tags={"run": run})
    found = mlflow_client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")  # prompt filter appended
    assert [m.name for m in found] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    risk = mlflow_client.search_registered_models(f"name ILIKE '{prefix.upper()}%' AND tags.`team` = 'risk'",
                                                  order_by=["name DESC"])
    assert [m.name for m in risk] == [f"{prefix}-c", f"{prefix}-a"]
    assert mlflow_client.search_registered_models(f"name LIKE '{prefix.upper()}%'") == []
    page = mlflow_client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2)
    rest = mlflow_client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2, page_token=page.token)
    assert [m.name for m in page] + [m.name for m in rest] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    assert not rest.token

    versions = mlflow_client.search_model_versions(f"name = '{prefix}-a'")
    assert [v.version for v in versions] == ["2", "1"]
    by_run = mlflow_client.search_model_versions(f"run_id IN ('{run_id}') AND name = '{prefix}-a'")
    assert [(v.version, v.run_id) for v in by_run] == [("1", run_id)]
    by_tag = mlflow_client.search_model_versions(f"tags.run = '{other_run}'")
    assert [v.version for v in by_tag] == ["2"]
    newest_first = mlflow_client.search_model_versions(f"name='{prefix}-a' AND version_number >= 1",
                                                       order_by=["version_number ASC"])
    assert [v.version for v in newest_first] == ["1", "2"]
    with pytest.raises(MlflowException) as bad:
        mlflow_client.search_model_versions("name = 'x' OR name = 'y'")
    assert codes(bad) == "INVALID_PARAMETER_VALUE" and "filter" in bad.value.message


def test_tags_descriptions_rename_and_delete(mlflow_client: MlflowClient, live_client: Client, marker: Path) -> None:
    name, renamed = unique("mlf-edit"), unique("mlf-renamed")
    mlflow_client.create_registered_model(name)
    mlflow_client.set_registered_model_tag(name, "owner", "ana")
    mlflow_client.update_registered_model(name, description="churn")
    mlflow_client.rename_registered_model(name, renamed)  # no history yet: allowed
    listed = [model for model in live_client.list_models().models if model.name == renamed]
    assert [(model.latest_version, model.version_count) for model in listed] == [(0, 0)]
    console = Console(width=200, record=True)
    console.print(models_table(listed))
    row = next(line for line in console.export_text().splitlines() if line.startswith(renamed))
    assert row.replace("│", " ").split()[1] == "-"  # LATEST: no version yet (not "v0")
    model = mlflow_client.get_registered_model(renamed)
    assert (model.tags, model.description) == ({"owner": "ana"}, "churn")
    mlflow_client.delete_registered_model_tag(renamed, "owner")
    assert mlflow_client.get_registered_model(renamed).tags == {}
    run_id, _ = mlflow_model_run(live_client, marker)
    mlflow_client.create_model_version(renamed, f"runs:/{run_id}/model", run_id=run_id)
    mlflow_client.set_model_version_tag(renamed, "1", "validated", "yes")
    mlflow_client.update_model_version(renamed, "1", description="checked")
    version = mlflow_client.get_model_version(renamed, "1")
    assert (version.tags, version.description) == ({"validated": "yes"}, "checked")
    native = live_client.get_version(renamed, 1)
    assert (native.tags, native.description) == ({"validated": "yes"}, "checked")
    mlflow_client.delete_model_version_tag(renamed, "1", "validated")
    assert live_client.get_version(renamed, 1).tags == {}
    with pytest.raises(MlflowException) as history:
        mlflow_client.rename_registered_model(renamed, name)
    assert codes(history) == "INVALID_PARAMETER_VALUE" and "audit event" in history.value.message

    mlflow_client.set_registered_model_alias(renamed, "live", "1")
    mlflow_client.delete_registered_model(renamed)
    with pytest.raises(MlflowException) as gone:
        mlflow_client.get_registered_model(renamed)
    assert codes(gone) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlopsError):
        live_client.get_model(renamed)
    mlflow_client.create_registered_model(renamed)  # the name again: its chain goes on from the old events
    mlflow_client.create_model_version(renamed, f"runs:/{run_id}/model", run_id=run_id)
    actions = [e.action.value for e in live_client.model_events(renamed).events]
    assert actions == ["register", "promote", "delete", "register"]
    assert live_client.verify_model(renamed).ok


@pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning")
def test_errors_have_mlflow_codes(mlflow_client: MlflowClient, live_client: Client, marker: Path) -> None:
    name = unique("mlf-errors")
    mlflow_client.create_registered_model(name)
    with pytest.raises(MlflowException) as taken:
        mlflow_client.create_registered_model(name)
    assert codes(taken) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        mlflow_client.get_model_version(name, "7")
    assert codes(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_model:
        mlflow_client.create_model_version(unique("absent"), "mlflow-artifacts:/0/x")
    assert codes(no_model) == "RESOURCE_DOES_NOT_EXIST"
    run_id, experiment = mlflow_model_run(live_client, marker)
    for source in ("s3://bucket/model", f"mlflow-artifacts:/{experiment}/{run_id}/../../../..",
                   f"runs:/{run_id}/nothing-here", "models:/m-unknown", f"models:/{name}/9", "/etc",
                   "mlflow-artifacts:/.", f"mlflow-artifacts:/{experiment}/.."):
        with pytest.raises(MlflowException) as bad:
            mlflow_client.create_model_version(name, source)
        assert codes(bad) == "INVALID_PARAMETER_VALUE" and "source" in bad.value.message, source
    mlflow_client.create_model_version(name, f"runs:/{run_id}/model")
    with pytest.raises(MlflowException) as stages:
        mlflow_client.transition_model_version_stage(name, "1", "Production")
    assert codes(stages) == "INVALID_PARAMETER_VALUE" and "alias" in stages.value.message
    with pytest.raises(MlflowException) as long_tag:
        mlflow_client.set_model_version_tag(name, "1", "note", "x" * 10_000)
    assert codes(long_tag) == "INVALID_PARAMETER_VALUE" and "tags.note" in long_tag.value.message
    with pytest.raises(MlflowException) as bad_key:
        mlflow_client.set_registered_model_tag(name, "../up", "v")
    assert codes(bad_key) == "INVALID_PARAMETER_VALUE" and "key" in bad_key.value.message
    with pytest.raises(MlflowException) as bad_alias:
        mlflow_client.set_registered_model_alias(name, "has space", "1")
    assert codes(bad_alias) == "INVALID_PARAMETER_VALUE" and "alias" in bad_alias.value.message


def test_raw_requests_name_the_field(app_client: TestClient) -> None:
    bad_version = app_client.get("/api/2.0/mlflow/model-versions/get", params={"name": "m", "version": "x"})
    assert bad_version.status_code == 400
    assert bad_version.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "version" in bad_version.json()["message"]
    no_source = app_client.post("/api/2.0/mlflow/model-versions/create", json={"name": "m"})
    assert no_source.status_code == 400 and "source" in no_source.json()["message"]
    token = app_client.get("/api/2.0/mlflow/registered-models/search", params={"page_token": "!!"})
    assert token.status_code == 400 and "page_token" in token.json()["message"]
    assert app_client.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}).status_code == 200
    tag = app_client.post("/api/2.0/mlflow/registered-models/set-tag", json={"name": "m", "key": "../up", "value": "v"})
    assert tag.status_code == 400 and "key" in tag.json()["message"]
    long = app_client.post("/api/2.0/mlflow/registered-models/create",
                           json={"name": "n", "tags": [{"key": "k", "value": "x" * 10_000}]})
    assert long.status_code == 400 and "tags.k" in long.json()["message"]
    delete = app_client.request("DELETE", "/api/2.0/mlflow/registered-models/alias", json={"name": "m", "alias": "a"})
    assert delete.status_code == 404 and delete.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# --- the version search language, as MLflow answers each string (None: MLflow refuses it) --------

VERSIONS = [  # (name, version, run_id, source, tags)
    ("fraud", 1, "r1", "runs:/r1/model", {"team": "risk", "t2": "A b"}),
    ("fraud", 2, "r2", "mlflow-artifacts:/1/r2/model", {"team": "Risk"}),
    ("Fraud_x", 3, "r1", "models:/m-1", {}),
    ("churn", 1, "r3", "runs:/r3/m", {"mlflow.prompt.is_prompt": "false", "team": "growth"}),
    ("p%1", 10, "", "", {"mlflow.prompt.is_prompt": "true"}),
]
CONFORMANCE = [
    ("name = 'fraud'", ['fraud/1', 'fraud/2']),
    ("name='fraud'", ['fraud/1', 'fraud/2']),
    ("name != 'fraud'", ['Fraud_x/3', 'churn/1', 'p%1/10']),
    ("name LIKE 'fr%'", ['fraud/1', 'fraud/2']),
    ("name ILIKE 'FR%'", ['Fraud_x/3', 'fraud/1', 'fraud/2']),
    ("name LIKE '%raud%'", ['Fraud_x/3', 'fraud/1', 'fraud/2']),
    ("name like 'fr%'", ['fraud/1', 'fraud/2']),
    ("name LIKE 'f_aud'", ['fraud/1', 'fraud/2']),
    ("name IN ('fraud', 'churn')", ['churn/1', 'fraud/1', 'fraud/2']),
    ("name NOT IN ('fraud')", ['Fraud_x/3', 'churn/1', 'p%1/10']),
    ("run_id = 'r1'", ['Fraud_x/3', 'fraud/1']),
    ("run_id IN ('r1','r3')", ['Fraud_x/3', 'churn/1', 'fraud/1']),
    ("run_id NOT IN ('r1')", ['churn/1', 'fraud/2', 'p%1/10']),
    ("source_path = 'runs:/r1/model'", ['fraud/1']),
    ("source_path LIKE 'runs:/%'", ['churn/1', 'fraud/1']),
    ("source_path ILIKE 'RUNS:/%'", ['churn/1', 'fraud/1']),
    ('version_number = 2', ['fraud/2']),
    ('version_number > 1', ['Fraud_x/3', 'fraud/2', 'p%1/10']),
    ("version_number >= 2 AND name = 'fraud'", ['fraud/2']),
    ('version_number < 3', ['churn/1', 'fraud/1', 'fraud/2']),
    ('version_number != 1', ['Fraud_x/3', 'fraud/2', 'p%1/10']),
    ("version_number = '2'", ['fraud/2']),
    ("tags.team = 'risk'", ['fraud/1']),
    ("tags.team != 'risk'", ['churn/1', 'fraud/2']),
    ("tags.team LIKE 'R%'", ['fraud/2']),
    ("tags.team ILIKE 'r%'", ['fraud/1', 'fraud/2']),
    ("tag.team = 'risk'", ['fraud/1']),
    ("tags.`team` = 'risk'", ['fraud/1']),
    ('tags."team" = \'risk\'', ['fraud/1']),
    ("tags.`mlflow.prompt.is_prompt` != 'true'", ['Fraud_x/3', 'churn/1', 'fraud/1', 'fraud/2']),
    ("tags.`mlflow.prompt.is_prompt` = 'true'", ['p%1/10']),
    ("tags.`mlflow.prompt.is_prompt` = 'false'", ['Fraud_x/3', 'churn/1', 'fraud/1', 'fraud/2']),
    ("tags.t2 = 'A b'", ['fraud/1']),
    ('name = "fraud"', ['fraud/1', 'fraud/2']),
    ("name = 'fraud' and run_id = 'r1'", ['fraud/1']),
    ("name = 'fraud' AND tags.team = 'risk' AND version_number = 1", ['fraud/1']),
    ("run_id LIKE 'r%'", ['Fraud_x/3', 'churn/1', 'fraud/1', 'fraud/2']),
    ("run_id ILIKE 'R%'", ['Fraud_x/3', 'churn/1', 'fraud/1', 'fraud/2']),
    ("name > 'a'", None),
    ("tags.team > 'a'", None),
    ('run_id = 1', None),
    ("version_number LIKE '1'", None),
    ('version_number IN (1,2)', None),
    ("foo = 'x'", None),
    ("name = 'x' OR name = 'y'", None),
    ('name', None),
    ('name = ', None),
    ("tags.team IN ('risk')", None),
    ('tags.team IS NULL', None),
    ("name = 'a''b'", []),
    ("source_path IN ('x')", None),
    ("name != 'p%1'", ['Fraud_x/3', 'churn/1', 'fraud/1', 'fraud/2']),
    ("name LIKE 'p\\%1'", []),
    ('version_number = -1', []),
]


@pytest.mark.parametrize(("text", "expected"), CONFORMANCE)
def test_version_filters_answer_as_mlflow_does(text: str, expected: list[str] | None) -> None:
    items = [{"name": name, "version_number": version, "run_id": run, "source_path": source, "tags": tags}
             for name, version, run, source, tags in VERSIONS]
    if expected is None:
        with pytest.raises(Invalid) as refused:
            search.parse_filter(text, search.VERSIONS)
        assert refused.value.field == "filter"
        return
    conditions = search.parse_filter(text, search.VERSIONS)
    assert sorted(f"{i['name']}/{i['version_number']}" for i in items if search.matches(i, conditions)) == expected
