"""A stateful run: sequences of creates, logs, reads, searches, deletes and registrations, through the native
API and the MLflow API in any interleaving, against a model of what should be stored.

Hypothesis' rule-based state machine drives the in-process app (one per test, on a fresh home): every
answer is below 500, and what is read back (a run, its metric history, a search, a model version by its
alias) is what the model says was acknowledged, whichever API wrote it. Names mix unicode, quotes and
terminal escapes. Derandomized: CI runs the same sequences every time.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import make_client
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, precondition, rule

from backend import Settings

MLFLOW = "/api/2.0/mlflow"
NAME_PARTS = ["a", "é", "e\u0301", "数据", "🙂", "'", '"', "\\", "%", "_", " ", "-", "\x1b[2J", "\u202e", "O'Brien"]
"""Pieces of names: accents (precomposed and combining: two different names), CJK, emoji, quotes,
backslash, LIKE wildcards, a terminal escape, a right-to-left override."""
KEYS = ["loss", "acc", "m-1", "a.b"]


def names() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=4).map("".join).map(str.strip).filter(bool)


@dataclass
class RunModel:
    experiment_id: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    deleted: bool = False


class Tracking(RuleBasedStateMachine):
    """Experiments, runs, params, tags, metric points and registered versions, written through either API."""

    client: TestClient
    instances = 0
    """Machines run one after another on one app: each names its experiments and models apart."""
    experiments = Bundle("experiments")
    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        Tracking.instances += 1
        self.prefix = f"s{Tracking.instances}"
        self.model: dict[str, RunModel] = {}
        self.experiment_names: dict[str, str] = {}
        self.aliases: dict[tuple[str, str], tuple[int, str]] = {}
        self.versions: dict[str, int] = {}
        self.registered: set[str] = set()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 500, f"{method} {path} {kwargs}: {response.status_code} {response.text[:300]}"
        return response

    # --- writes ---------------------------------------------------------------------------------

    @initialize(target=experiments)
    def first_experiment(self) -> str:
        return self._experiment("base", mlflow=False)

    @rule(target=experiments, name=names(), mlflow=st.booleans())
    def create_experiment(self, name: str, mlflow: bool) -> str:
        return self._experiment(name, mlflow)

    def _experiment(self, name: str, mlflow: bool) -> str:
        unique = f"{self.prefix}-{len(self.experiment_names)}-{name}"
        if mlflow:
            response = self.call("POST", f"{MLFLOW}/experiments/create", json={"name": unique})
            assert response.status_code == 200, response.text
            experiment_id = str(response.json()["experiment_id"])
        else:
            response = self.call("POST", "/api/v1/experiments", json={"name": unique})
            assert response.status_code == 201, response.text
            experiment_id = str(response.json()["id"])
        self.experiment_names[experiment_id] = unique
        again = self.call("POST", "/api/v1/experiments", json={"name": unique})
        assert again.status_code == 409, again.text  # a name is one experiment, byte for byte
        return experiment_id

    @rule(target=runs, experiment=experiments, name=names(), mlflow=st.booleans())
    def create_run(self, experiment: str, name: str, mlflow: bool) -> str:
        if mlflow:
            response = self.call("POST", f"{MLFLOW}/runs/create", json={"experiment_id": experiment, "run_name": name})
            assert response.status_code == 200, response.text
            run_id = str(response.json()["run"]["info"]["run_id"])
        else:
            response = self.call("POST", "/api/v1/runs", json={"experiment_id": experiment, "name": name})
            assert response.status_code == 201, response.text
            run_id = str(response.json()["id"])
        self.model[run_id] = RunModel(experiment)
        shown = self.call("GET", f"/api/v1/runs/{run_id}").json()
        assert shown["name"] == name  # byte-exact, whichever API stored it
        return run_id

    @rule(run=runs, key=st.sampled_from(KEYS), values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5),
          mlflow=st.booleans())
    def log_points(self, run: str, key: str, values: list[float], mlflow: bool) -> None:
        expected = self.model[run]
        start = len(expected.points.get(key, []))
        points = [(start + index, value) for index, value in enumerate(values)]
        if mlflow:
            body = {"run_id": run, "metrics": [{"key": key, "value": value, "timestamp": 1, "step": step}
                                                for step, value in points]}
            response = self.call("POST", f"{MLFLOW}/runs/log-batch", json=body)
        else:
            metrics = [{"key": key, "value": value, "step": step} for step, value in points]
            response = self.call("POST", f"/api/v1/runs/{run}/batch", json={"metrics": metrics})
        if expected.deleted:
            assert 400 <= response.status_code < 500, response.text  # a deleted run takes no more points
            return
        assert response.status_code == 200, response.text
        expected.points.setdefault(key, []).extend(points)

    @rule(run=runs, key=st.sampled_from(KEYS), value=names(), mlflow=st.booleans())
    def log_param(self, run: str, key: str, value: str, mlflow: bool) -> None:
        expected = self.model[run]
        if mlflow:
            response = self.call("POST", f"{MLFLOW}/runs/log-parameter",
                                 json={"run_id": run, "key": key, "value": value})
        else:
            response = self.call("POST", f"/api/v1/runs/{run}/batch", json={"params": {key: value}})
        if expected.deleted or expected.params.get(key, value) != value:
            assert 400 <= response.status_code < 500, response.text  # params never change once logged
            return
        assert response.status_code == 200, response.text
        expected.params[key] = value

    @rule(run=runs, key=st.sampled_from(KEYS), value=names())
    def set_tag(self, run: str, key: str, value: str) -> None:
        response = self.call("POST", f"{MLFLOW}/runs/set-tag", json={"run_id": run, "key": key, "value": value})
        if self.model[run].deleted:
            assert 400 <= response.status_code < 500, response.text
            return
        assert response.status_code == 200, response.text
        self.model[run].tags[key] = value

    @rule(run=runs, mlflow=st.booleans())
    def delete_or_restore(self, run: str, mlflow: bool) -> None:
        expected = self.model[run]
        action = "restore" if expected.deleted else "delete"
        if mlflow:
            response = self.call("POST", f"{MLFLOW}/runs/{action}", json={"run_id": run})
        elif action == "delete":
            response = self.call("DELETE", f"/api/v1/runs/{run}")
        else:
            response = self.call("POST", f"/api/v1/runs/{run}/restore")
        assert response.status_code == 200, response.text
        expected.deleted = not expected.deleted

    @precondition(lambda self: self.model)
    @rule(run=runs, alias=st.sampled_from(["champion", "staging", "c_2"]), name=st.sampled_from(["m", "m.1", "M-2"]))
    def register(self, run: str, alias: str, name: str) -> None:
        """A version from the run's folder (the MLflow way: no model file needed), the alias moved onto it."""
        model = f"{self.prefix}-{name}"
        if self.model[run].deleted:
            return
        if model not in self.versions:
            assert self.call("POST", f"{MLFLOW}/registered-models/create", json={"name": model}).status_code == 200
            self.versions[model] = 0
        experiment = self.model[run].experiment_id
        folder = f"{experiment}/{run}/artifacts"
        uploaded = self.call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{folder}/model/MLmodel",
                             content=b"flavors: {}\n")
        if run in self.registered:  # a registered version's files never change
            assert uploaded.status_code == 400 and "registered" in uploaded.json()["message"], uploaded.text
        else:
            assert uploaded.status_code == 200, uploaded.text
        response = self.call("POST", f"{MLFLOW}/model-versions/create", json={
            "name": model, "source": f"mlflow-artifacts:/{folder}", "run_id": run})
        assert response.status_code == 200, response.text
        version = int(response.json()["model_version"]["version"])
        assert version == self.versions[model] + 1  # numbers are dense and never reused
        self.versions[model] = version
        self.registered.add(run)
        moved = self.call("POST", f"{MLFLOW}/registered-models/alias",
                          json={"name": model, "alias": alias, "version": version})
        assert moved.status_code == 200, moved.text
        self.aliases[(model, alias)] = (version, run)

    @rule(name=names(), alias=names())
    def refuse_odd_registry_names(self, name: str, alias: str) -> None:
        """Model names and aliases are ASCII words (they sit in `NAME@ALIAS` and in paths): anything else is
        a 400 naming the rule, and no model appears."""
        created = self.call("POST", f"{MLFLOW}/registered-models/create", json={"name": f"{name}/@"})
        assert created.status_code == 400 and "name" in created.json()["message"], created.text
        if self.aliases:
            model = next(iter(self.aliases))[0]
            moved = self.call("POST", f"{MLFLOW}/registered-models/alias", json={"name": model, "alias": f"{alias}🙂",
                                                                               "version": 1})
            assert moved.status_code == 400 and "alias" in moved.json()["message"], moved.text

    # --- reads ----------------------------------------------------------------------------------

    @rule(run=runs)
    def read_run(self, run: str) -> None:
        expected = self.model[run]
        shown = self.call("GET", f"/api/v1/runs/{run}").json()
        assert {key: str(value) for key, value in shown["params"].items()} == expected.params
        assert {key: shown["tags"].get(key) for key in expected.tags} == expected.tags
        for key, points in expected.points.items():
            history = self.call("GET", f"/api/v1/runs/{run}/metrics/{key}").json()["points"]
            assert [(point["step"], point["value"]) for point in history] == points
            mlflow = self.call("GET", f"{MLFLOW}/metrics/get-history", params={"run_id": run, "metric_key": key})
            assert [(m["step"], m["value"]) for m in mlflow.json().get("metrics", [])] == points

    @rule(experiment=experiments, key=st.sampled_from(KEYS), value=names())
    def search(self, experiment: str, key: str, value: str) -> None:
        """A param filter with the value quoted as the grammar wants (quotes doubled): exactly the live
        runs of the experiment holding that value, in both APIs."""
        literal = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        wanted = {run for run, found in self.model.items() if found.experiment_id == experiment and not found.deleted
                  and found.params.get(key) == value}
        native = self.call("POST", "/api/v1/runs/search", json={
            "experiment": experiment, "filter": f"params.`{key}` = {literal}", "limit": 1000})
        assert native.status_code == 200, native.text
        assert {run["id"] for run in native.json()["runs"]} == wanted, literal
        mlflow = self.call("POST", f"{MLFLOW}/runs/search", json={
            "experiment_ids": [experiment], "filter": f"params.`{key}` = {literal}", "max_results": 1000})
        assert mlflow.status_code == 200, mlflow.text
        assert {run["info"]["run_id"] for run in mlflow.json().get("runs", [])} == wanted, literal

    @rule(experiment=experiments)
    def count(self, experiment: str) -> None:
        live = sum(1 for found in self.model.values() if found.experiment_id == experiment and not found.deleted)
        counted = self.call("POST", "/api/v1/runs/count", json={"experiment": experiment}).json()
        assert counted["count"] == live

    @invariant()
    def aliases_point_where_they_were_moved(self) -> None:
        for (model, alias), (version, run) in list(self.aliases.items())[-3:]:
            found = self.call("GET", f"{MLFLOW}/registered-models/alias", params={"name": model, "alias": alias})
            assert found.status_code == 200, found.text
            assert int(found.json()["model_version"]["version"]) == version
            assert found.json()["model_version"]["run_id"] == run

    @rule(run=consumes(runs))
    def forget(self, run: str) -> None:
        """Drops a run from the bundle (not the store), so later steps pick among fewer, fuller runs."""


@pytest.fixture
def stateful_client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(Settings(home=tmp_path / "home", token=None, run_jobs=False, automation=False)) as client:
        yield client


def test_tracking_and_registry_sequences_hold(stateful_client: TestClient) -> None:
    Tracking.client = stateful_client
    runner = Tracking.TestCase
    runner.settings = settings(max_examples=30, stateful_step_count=25, deadline=None, derandomize=True,
                               database=None, suppress_health_check=list(HealthCheck),
                               phases=[Phase.explicit, Phase.generate])  # no shrinking: a failure shows at once
    runner().runTest()
