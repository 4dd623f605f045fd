"""`mlops import mlflow --from URI`: a real MLflow store (built with the real mlflow client on SQLite)
copied into the live backend, every value read back through the native API; imported again, nothing
doubles; interrupted, the next import finishes the job; bad sources are a message and exit 1."""
from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from backend import Settings, create_app
from mlops_tui import Client
from mlops_tui.cli.main import app
from mlops_tui.client import MlopsError
from mlops_tui.mlflow_source import importer as importer_module
from mlops_tui.mlflow_source import open_source
from mlops_tui.mlflow_source.importer import Importer
from tests.conftest import LiveServer, free_port, unique

runner = CliRunner()
T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages on one line, whatever terminal pytest runs in."""
    monkeypatch.setenv("COLUMNS", "200")


@dataclass
class Source:
    """An MLflow SQLite store and what was logged to it."""

    db: Path
    client: MlflowClient
    experiment: str
    other: str
    parent: str
    child: str
    deleted: str
    model: str

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.db}"


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, migrated by MLflow itself (its ~70 alembic migrations take seconds):
    made once for all test workers (they share the base temp folder's parent), copied by each test."""
    shared = tmp_path_factory.getbasetemp().parent
    template = shared / "mlflow-empty.db"
    with open(shared / "mlflow-empty.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = shared / "mlflow-empty.building.db"
            building.unlink(missing_ok=True)
            MlflowClient(tracking_uri=f"sqlite:///{building}").search_experiments()
            building.rename(template)
    return template


def mlflow_store(folder: Path, template: Path) -> MlflowClient:
    """A real MLflow tracking store and registry on a SQLite file in `folder` (a copy of the empty one)."""
    shutil.copyfile(template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Source:
    folder = tmp_path_factory.mktemp("mlflow-source")
    client = mlflow_store(folder, empty_store)
    name, other = unique("imported"), unique("imported-other")
    experiment = client.create_experiment(name, artifact_location=str(folder / "artifacts"),
                                          tags={"team": "vision"})
    other_id = client.create_experiment(other, artifact_location=(folder / "other").as_uri())

    parent = client.create_run(experiment, run_name="parent", start_time=T0, tags={"stage": "train"})
    run_id = parent.info.run_id
    client.log_batch(run_id, params=[Param("lr", "0.1"), Param("model", "rf")],
                     metrics=[Metric("loss", 1.0 / (step + 1), T0 + step * 10, step) for step in range(50)]
                     + [Metric("loss", 0.5, T0 + 7, 3),  # a second point at step 3, another timestamp
                        Metric("acc", float("nan"), T0, 0), Metric("acc", 0.75, T0 + 1, 1)],
                     tags=[RunTag("note", "first run")])
    client.log_inputs(run_id, [DatasetInput(
        Dataset(name="iris", digest="abc123", source_type="local", source='{"uri": "iris.csv"}',
                schema='{"mlflow_colspec": []}', profile='{"num_rows": 150}'),
        tags=[InputTag("mlflow.data.context", "training")])])
    artifact = folder / "report.txt"
    artifact.write_text("hello from mlflow")
    client.log_artifact(run_id, str(artifact))
    client.log_artifact(run_id, str(artifact), artifact_path="nested/dir")
    client.set_terminated(run_id, "FINISHED", end_time=T0 + 5000)

    child = client.create_run(experiment, run_name="child", start_time=T0 + 100,
                              tags={"mlflow.parentRunId": run_id})
    client.log_metric(child.info.run_id, "acc", 0.9, timestamp=T0 + 200, step=0)
    client.set_terminated(child.info.run_id, "FAILED", end_time=T0 + 300)

    deleted = client.create_run(other_id, run_name="gone")
    client.delete_run(deleted.info.run_id)
    with sqlite3.connect(folder / "mlflow.db") as conn:  # a start time of 0 (MLflow's client would say now)
        conn.execute("UPDATE runs SET start_time = 0 WHERE run_uuid = ?", (deleted.info.run_id,))

    model = unique("imported-model")
    client.create_registered_model(model, tags={"owner": "ml"}, description="imported")
    for _ in range(3):
        client.create_model_version(model, f"runs:/{run_id}/nested", run_id=run_id, tags={"kind": "runs"})
    client.delete_model_version(model, "2")  # the next import keeps the numbers: 1, 3, 4
    outside = folder / "outside-model"  # files MLflow keeps outside the run's artifacts (as a logged model's)
    (outside / "sub").mkdir(parents=True)
    (outside / "MLmodel").write_text("flavors: {}\n")
    (outside / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    client.create_model_version(model, str(outside), run_id=run_id, description="from elsewhere")
    client.set_registered_model_alias(model, "production", "3")
    client.set_registered_model_alias(model, "candidate", "4")
    return Source(folder / "mlflow.db", client, name, other, run_id, child.info.run_id, deleted.info.run_id, model)


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["import", "mlflow", *args])


def summary_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr} {result.exception!r}"
    found = json.loads(result.stdout)
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def first(source: Source, live_server: LiveServer) -> dict[str, Any]:
    """The first import of the source into the live backend (its summary)."""
    return summary_of(invoke("--from", source.uri, "--url", live_server.url, "--json"))


def test_the_first_import_copies_experiments_runs_points_and_artifacts(
        source: Source, first: dict[str, Any], live_client: Client) -> None:
    assert first["experiments_new"] == 2  # Default is matched by name: it is already here
    assert first["runs"] == first["runs_new"] == 3
    assert first["metric_points"] == first["metric_points_new"] == 53  # 51 loss + 1 acc + 1 acc (NaN left out)
    assert first["points_skipped"] == 1
    assert first["params_new"] == 2 and first["inputs_new"] == 1
    assert first["artifact_files"] == first["artifact_files_new"] == 4  # 2 of the run, 2 of version 4
    assert (first["models_new"], first["versions_new"], first["aliases_new"]) == (1, 3, 2)
    assert first["refused"] == []

    experiment = live_client.get_experiment(source.experiment)
    assert experiment.tags == {"team": "vision"}
    assert experiment.run_count == 2
    parent = live_client.get_run(source.parent)
    assert (parent.name, parent.status, parent.start_time, parent.end_time) == ("parent", "FINISHED", T0, T0 + 5000)
    assert parent.experiment_id == experiment.id
    assert parent.params == {"lr": "0.1", "model": "rf"}
    assert parent.tags["stage"] == "train" and parent.tags["note"] == "first run"
    assert parent.tags["mlflow.runName"] == "parent"
    assert parent.user_id == (source.client.get_run(source.parent).info.user_id or None)
    assert parent.metrics == {"loss": 0.02, "acc": 0.75}
    assert parent.child_count == 1

    loss = live_client.metric_history(source.parent, "loss")
    expected = sorted([(step, 1.0 / (step + 1), T0 + step * 10) for step in range(50)] + [(3, 0.5, T0 + 7)])
    got = sorted(zip(loss.steps, loss.values, loss.timestamps, strict=True))
    assert [(s, t) for s, _, t in got] == [(s, t) for s, _, t in expected]
    assert [v for _, v, _ in got] == pytest.approx([v for _, v, _ in expected], rel=1e-14)  # JSON of 15 digits
    acc = live_client.metric_history(source.parent, "acc")
    assert (acc.steps, acc.values, acc.timestamps) == ([1], [0.75], [T0 + 1])

    child = live_client.get_run(source.child)
    assert (child.parent_id, child.status, child.end_time) == (source.parent, "FAILED", T0 + 300)
    deleted = live_client.search_runs(experiment=source.other, filter=None, limit=10)
    assert deleted.runs == []  # deleted at the source, deleted here
    gone = live_client.get_run(source.deleted)
    assert (gone.lifecycle_stage, gone.start_time, gone.name) == ("deleted", 0, "gone")

    inputs = MlflowClient(tracking_uri=live_client.url).get_run(source.parent).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest, i.dataset.profile, {t.key: t.value for t in i.tags})
            for i in inputs] == [("iris", "abc123", '{"num_rows": 150}', {"mlflow.data.context": "training"})]
    assert live_client.download_artifact(source.parent, "report.txt") == b"hello from mlflow"
    assert live_client.download_artifact(source.parent, "nested/dir/report.txt") == b"hello from mlflow"
    found = live_client.search_runs(experiment=source.experiment, filter="params.model = 'rf'")
    assert [run.id for run in found.runs] == [source.parent]

    model = live_client.get_model(source.model)
    assert model.description == "imported" and model.aliases == {"production": 3, "candidate": 4}
    versions = {v.version: v for v in model.versions}
    assert sorted(versions) == [1, 3, 4]
    assert {v.model_format for v in versions.values()} == {"mlflow"}
    assert versions[3].source == f"runs:/{source.parent}/nested" and versions[3].tags == {"kind": "runs"}
    assert versions[4].source == f"runs:/{source.parent}/registered-models/{source.model}/4"
    assert versions[4].description == "from elsewhere" and versions[4].run_id == source.parent
    assert live_client.download_artifact(source.parent, f"registered-models/{source.model}/4/sub/weights.bin") \
        == b"\x00\x01" * 100


def test_the_native_cli_lists_imported_runs(source: Source, first: dict[str, Any], live_server: LiveServer) -> None:
    result = runner.invoke(app, ["runs", "list", "--experiment", source.experiment, "--json", "--url",
                                 live_server.url])
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)["runs"]
    assert {run["id"] for run in listed} == {source.parent, source.child}


def test_importing_again_adds_nothing(source: Source, first: dict[str, Any], live_server: LiveServer,
                                      live_client: Client) -> None:
    again = summary_of(invoke("--from", str(source.db), "--url", live_server.url, "--json"))
    assert again["runs"] == 3 and again["metric_points"] == 53 and again["artifact_files"] == 4
    assert (again["models"], again["versions"], again["aliases"]) == (1, 3, 2)
    for counted in ("experiments_new", "runs_new", "metric_points_new", "params_new", "inputs_new",
                    "artifact_files_new", "models_new", "versions_new", "aliases_new"):
        assert again[counted] == 0, counted
    assert again["refused"] == []
    assert live_client.get_run(source.parent).metric_stats["loss"].count == 51
    assert live_client.get_experiment(source.experiment).run_count == 2


def test_a_run_added_at_the_source_is_exactly_what_the_next_import_adds(
        source: Source, first: dict[str, Any], live_server: LiveServer, live_client: Client) -> None:
    experiment = source.client.get_experiment_by_name(source.experiment).experiment_id
    late = source.client.create_run(experiment, run_name="late", start_time=T0 + 9000)
    source.client.log_metric(late.info.run_id, "loss", 0.01, timestamp=T0 + 9001, step=0)
    source.client.log_metric(source.parent, "loss", 0.001, timestamp=T0 + 9002, step=60)  # a point added later

    later = summary_of(invoke("--from", source.uri, "--url", live_server.url, "--json"))
    assert (later["runs_new"], later["metric_points_new"], later["experiments_new"]) == (1, 2, 0)
    assert live_client.get_run(late.info.run_id).metrics == {"loss": 0.01}
    assert live_client.get_run(late.info.run_id).status == "RUNNING"
    assert live_client.get_run(source.parent).metric_stats["loss"].count == 52


def test_long_histories_go_in_slices_and_an_interrupted_import_is_finished_by_the_next(
        tmp_path: Path, live_server: LiveServer, live_client: Client, monkeypatch: pytest.MonkeyPatch,
        empty_store: Path) -> None:
    client = mlflow_store(tmp_path, empty_store)
    name = unique("sliced")
    experiment = client.create_experiment(name, artifact_location=str(tmp_path / "artifacts"))
    ids = []
    for index in range(3):
        run = client.create_run(experiment, run_name=f"run-{index}", start_time=T0 + index)
        client.log_batch(run.info.run_id, metrics=[Metric("x", float(step), T0 + step, step) for step in range(700)])
        ids.append(run.info.run_id)
    monkeypatch.setattr(importer_module, "BATCH_POINTS", 500)  # each run is two slices, in two batches

    def stop_after_first_batch(done: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C once the first batch is stored

    reader = open_source(str(tmp_path / "mlflow.db"))
    with Client(url=live_server.url) as target:
        interrupted = Importer(reader, target)
        with pytest.raises(KeyboardInterrupt):
            interrupted.import_runs(stop_after_first_batch)
    assert interrupted.summary.runs_new == 1 and interrupted.summary.metric_points_new == 500
    stored = live_client.metric_history(ids[0], "x")
    assert stored.steps == list(range(500))  # the first slice, whole; the rest not yet

    finished = summary_of(invoke("--from", str(tmp_path / "mlflow.db"), "--url", live_server.url, "--json"))
    assert (finished["runs_new"], finished["metric_points_new"]) == (2, 3 * 700 - 500)
    for run_id in ids:
        history = live_client.metric_history(run_id, "x")
        assert history.steps == list(range(700)) and history.values == [float(s) for s in range(700)]


def test_dry_run_counts_and_imports_nothing(tmp_path: Path, live_server: LiveServer, live_client: Client,
                                           empty_store: Path) -> None:
    client = mlflow_store(tmp_path, empty_store)
    name = unique("dry")
    experiment = client.create_experiment(name, artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, run_name="only")
    client.log_metric(run.info.run_id, "m", 1.0, step=0)
    counted = summary_of(invoke("--from", str(tmp_path / "mlflow.db"), "--url", live_server.url, "--dry-run",
                                "--json"))
    assert counted["dry_run"] is True and counted["runs"] == 1 and counted["metric_points"] == 1
    assert counted["runs_new"] == 0
    assert name not in {e.name for e in live_client.list_experiments()}
    text = invoke("--from", str(tmp_path / "mlflow.db"), "--dry-run")
    assert text.exit_code == 0 and text.stdout.startswith("would import: 2 experiments, 1 runs, 1 metric points")


def test_bad_sources_are_a_message_and_exit_1(tmp_path: Path, live_server: LiveServer) -> None:
    not_mlflow = tmp_path / "other.db"
    with sqlite3.connect(not_mlflow) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    for uri, words in [(str(tmp_path / "missing.db"), "no such file"), (str(not_mlflow), "not an MLflow"),
                       (str(text), "not a readable SQLite database"), ("http://127.0.0.1:9", "cannot reach"),
                       ("s3://bucket/mlflow", "give an MLflow server URL"),
                       (f"{live_server.url}/nowhere", "is this an MLflow tracking server")]:
        result = invoke("--from", uri, "--url", live_server.url)
        assert result.exit_code == 1, (uri, result.stdout, result.exception)
        assert isinstance(result.exception, SystemExit)
        stderr = result.stderr.replace("\n", "")  # rich wraps at the terminal's width (80 without one)
        assert stderr.startswith("error:") and words in stderr, (uri, result.stderr)
    assert invoke("--url", live_server.url).exit_code == 2  # --from is required


def test_what_this_store_cannot_hold_is_reported_and_the_rest_imported(
        tmp_path: Path, live_server: LiveServer, live_client: Client, empty_store: Path) -> None:
    client = mlflow_store(tmp_path, empty_store)
    experiment = client.create_experiment(unique("odd"), artifact_location=str(tmp_path / "artifacts"))
    fine, odd = (client.create_run(experiment, run_name=name).info.run_id for name in ("fine", "odd"))
    client.set_tag(odd, "placeholder", "x")
    spaced, kept = f"My Model {unique('x')}", unique("kept-model")
    client.create_registered_model(spaced)  # MLflow allows spaces in a model name; this registry does not
    client.create_registered_model(kept)
    (tmp_path / "artifacts" / fine / "artifacts" / "m").mkdir(parents=True)
    (tmp_path / "artifacts" / fine / "artifacts" / "m" / "MLmodel").write_text("flavors: {}\n")
    client.create_model_version(kept, f"runs:/{fine}/m", run_id=fine)
    client.set_registered_model_alias(kept, "prod", "1")
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:  # a key and an alias MLflow's SQL holds, refused here
        conn.execute("UPDATE tags SET key = 'a//b' WHERE run_uuid = ? AND key = 'placeholder'", (odd,))
        conn.execute("INSERT INTO registered_model_aliases (name, alias, version, workspace) VALUES (?, ?, 1, ?)",
                     (kept, "2nd place", conn.execute("SELECT workspace FROM registered_models WHERE name = ?",
                                                      (kept,)).fetchone()[0]))
    result = invoke("--from", str(tmp_path / "mlflow.db"), "--url", live_server.url)
    assert result.exit_code == 0, result.stderr
    assert "imported: 2 experiments (1 new), 2 runs (1 new)" in result.stdout
    assert "2 models (1 new), 1 versions (1 new), 2 aliases (1 new)" in result.stdout
    notes = result.stderr.replace("\n", "")
    assert f"{odd} tags.a//b: tag key 'a//b' breaks" in notes
    assert f"{spaced} name: '{spaced}' is not a model name here" in notes
    assert f"{kept} aliases.2nd place: '2nd place' is not an alias name here" in notes
    assert live_client.get_run(fine).name == "fine"
    with pytest.raises(MlopsError):
        live_client.get_run(odd)
    assert live_client.get_model(kept).aliases == {"prod": 1}


def test_the_endpoint_answers_conflicts_and_refuses_what_breaks_its_rules(app_client: TestClient) -> None:
    run = {"id": "a" * 32, "experiment": "moved", "name": "r", "start_time": 0, "params": {"p": "1"},
           "series": [{"key": "m", "steps": [0, 1], "values": [1.0, 2.0], "timestamps": [5, 6]}]}
    first = app_client.post("/api/v1/import/runs", json={"runs": [run]})
    assert first.status_code == 200, first.text
    assert (first.json()["runs_new"], first.json()["points_new"], first.json()["refused"]) == (1, 2, [])

    changed = {**run, "params": {"p": "2"}, "status": "KILLED"}
    second = app_client.post("/api/v1/import/runs", json={"runs": [changed]}).json()
    assert second["runs_existing"] == 1 and second["points_new"] == 0
    assert second["refused"][0]["field"] == "params.p" and not second["refused"][0]["left_out"]
    stored = app_client.get(f"/api/v1/runs/{'a' * 32}").json()
    assert stored["params"] == {"p": "1"} and stored["status"] == "KILLED" and stored["start_time"] == 0

    elsewhere = {**run, "experiment": "another"}
    third = app_client.post("/api/v1/import/runs", json={"runs": [elsewhere]}).json()
    assert third["refused"][0]["field"] == "experiment" and third["refused"][0]["left_out"]
    assert app_client.get(f"/api/v1/runs/{'a' * 32}").json()["experiment_id"] == stored["experiment_id"]

    bad_key = app_client.post("/api/v1/import/runs", json={"runs": [run, {**run, "id": "b" * 32,
                                                                          "tags": {"a//b": "x"}}]})
    assert bad_key.status_code == 422 and bad_key.json()["field"] == "runs[1].tags.a//b"
    assert app_client.get(f"/api/v1/runs/{'b' * 32}").status_code == 404  # the whole batch was refused
    bad_id = app_client.post("/api/v1/import/runs", json={"runs": [{**run, "id": "../x"}]})
    assert bad_id.status_code == 422 and bad_id.json()["field"].startswith("runs")
    nan = app_client.post("/api/v1/import/runs", content=b'{"runs": [{"id": "' + b"c" * 32 + b'", "experiment": "e", '
                          b'"name": "n", "series": [{"key": "m", "steps": [0], "values": [NaN]}]}]}',
                          headers={"content-type": "application/json"})
    assert nan.status_code == 422


def test_models_keep_their_numbers_and_what_clashes_here_is_left_as_it_is(app_client: TestClient) -> None:
    run_id = "d" * 32
    stored = app_client.post("/api/v1/import/runs", json={"runs": [{"id": run_id, "experiment": "reg", "name": "r"}]})
    assert stored.status_code == 200, stored.text
    for path in ("m/MLmodel", "other/MLmodel"):
        assert app_client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=b"flavors: {}\n").status_code == 201

    def send(versions: list[dict[str, Any]], aliases: dict[str, int]) -> dict[str, Any]:
        answer = app_client.post("/api/v1/import/models", json={"models": [
            {"name": "reg", "tags": {"t": "1"}, "versions": versions, "aliases": aliases}]})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    two = {"version": 2, "source": f"runs:/{run_id}/m", "run_id": run_id}
    first = send([two], {"prod": 2})
    assert (first["models_new"], first["versions_new"], first["aliases_new"], first["refused"]) == (1, 1, 1, [])
    model = app_client.get("/api/v1/models/reg").json()
    assert [v["version"] for v in model["versions"]] == [2] and model["aliases"] == {"prod": 2}
    assert send([two], {"prod": 2}) == {"models_new": 0, "versions_new": 0, "aliases_new": 0, "refused": []}

    clashes = send([{**two, "source": f"runs:/{run_id}/other"}, {**two, "version": 1}], {"prod": 3})
    assert clashes["versions_new"] == clashes["aliases_new"] == 0
    assert [(r["version"], r["field"]) for r in clashes["refused"]] == [(1, "version"), (2, "version"),
                                                                        (3, "aliases.prod")]
    assert "deleted here" in clashes["refused"][0]["message"] and "another model" in clashes["refused"][1]["message"]
    missing = send([{**two, "version": 5, "source": f"runs:/{run_id}/nothing"}], {})
    assert missing["refused"][0]["field"] == "source" and missing["versions_new"] == 0
    assert app_client.get("/api/v1/models/reg").json()["aliases"] == {"prod": 2}


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a real uvicorn server on a free port, in a thread of this process (no second process to
    start: the modules are loaded already); its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the source server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_a_tracking_server_is_read_through_its_rest_api(tmp_path: Path, live_server: LiveServer,
                                                        live_client: Client) -> None:
    """The source is another backend speaking MLflow's REST API, logged to with the real client."""
    with served(create_app(Settings(home=tmp_path / "source-home", token=None))) as url:
        client = MlflowClient(tracking_uri=url)
        name = unique("over-rest")
        experiment = client.create_experiment(name, tags={"origin": "rest"})
        run = client.create_run(experiment, run_name="remote", start_time=T0)
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param("depth", "4")], tags=[RunTag("where", "server")],
                         metrics=[Metric("loss", 1.0 / (step + 1), T0 + step, step) for step in range(30)])
        client.log_inputs(run_id, [DatasetInput(Dataset(name="wine", digest="d1", source_type="local", source="{}"),
                                                tags=[InputTag("mlflow.data.context", "eval")])])
        child = client.create_run(experiment, run_name="nested", tags={"mlflow.parentRunId": run_id}).info.run_id
        client.set_terminated(run_id, "FINISHED", end_time=T0 + 99)
        (tmp_path / "MLmodel").write_text("flavors: {}\n")
        client.log_artifact(run_id, str(tmp_path / "MLmodel"), artifact_path="model")  # through the proxy
        model = unique("rest-model")
        client.create_registered_model(model)
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
        client.set_registered_model_alias(model, "production", "1")

        summary = summary_of(invoke("--from", url, "--url", live_server.url, "--json"))
    assert (summary["runs_new"], summary["metric_points_new"], summary["inputs_new"]) == (2, 30, 1)
    assert (summary["models_new"], summary["versions_new"], summary["aliases_new"]) == (1, 1, 1), summary["refused"]
    copied = live_client.get_run(run_id)
    assert (copied.name, copied.status, copied.start_time, copied.end_time) == ("remote", "FINISHED", T0, T0 + 99)
    assert copied.params == {"depth": "4"} and copied.tags["where"] == "server" and copied.child_count == 1
    assert live_client.get_run(child).parent_id == run_id
    assert live_client.metric_history(run_id, "loss").steps == list(range(30))
    assert live_client.get_experiment(name).tags == {"origin": "rest"}
    assert live_client.download_artifact(run_id, "model/MLmodel") == b"flavors: {}\n"
    assert live_client.get_model(model).aliases == {"production": 1}


def test_a_servers_sqlite_file_finds_proxied_artifacts_in_its_artifacts_dir(
        tmp_path: Path, live_server: LiveServer, live_client: Client, empty_store: Path) -> None:
    client = mlflow_store(tmp_path, empty_store)
    experiment = client.create_experiment(unique("proxied"), artifact_location=str(tmp_path / "destination" / "7"))
    run_id = client.create_run(experiment, run_name="served").info.run_id
    (tmp_path / "file.txt").write_text("kept by the server")
    client.log_artifact(run_id, str(tmp_path / "file.txt"))
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:  # as `mlflow server --artifacts-destination` records it
        conn.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (f"mlflow-artifacts:/7/{run_id}/artifacts",
                                                                            run_id))
    source = str(tmp_path / "mlflow.db")
    unread = summary_of(invoke("--from", source, "--url", live_server.url, "--json"))
    assert (unread["runs_new"], unread["artifact_runs_skipped"], unread["artifact_files"]) == (1, 1, 0)
    read = summary_of(invoke("--from", source, "--url", live_server.url, "--json",
                             "--artifacts-dir", str(tmp_path / "destination")))
    assert (read["artifact_runs_skipped"], read["artifact_files_new"]) == (0, 1)
    assert live_client.download_artifact(run_id, "file.txt") == b"kept by the server"
