"""Untrusted model files never run: a raw pickle, a joblib file and skops files holding unexpected types
(a class whose `__setstate__` would create a marker file, `os.system`, `builtins.eval`) get into the
system every way a file can arrive (uploaded as a run's `model/model.skops` then registered, swapped on
disk after registration, handed to the replica's loader), and each time the answer names what was
refused and the marker file never appears. A model whose bytes changed after registration is refused
by its sha256 when served, promoted, rolled back to and downloaded for a replica.

The in-process app runs here, in the test's own process: anything deserialised by the backend would run
where the marker is checked."""
from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pytest
import skops.io
from conftest import make_client, unique
from fastapi.testclient import TestClient
from registry_support import tiny_model_files
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from backend import Settings
from backend.errors import Conflict
from backend.pipelines import model_io
from backend.serving import predictor

ROWS = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.5, -1.0]]}}


class Trap:
    """Building one from a file creates `marker`: the proof that a file was deserialised."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).touch()
        self.__dict__.update(state)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:  # what a pickle of it runs
        return builtins.open, (self.marker, "w")


@dataclass(frozen=True)
class Hostile:
    data: bytes
    words: tuple[str, ...]
    """What the refusal must say (the refused types, or what kind of file it is)."""


def hostile_files(marker: Path) -> dict[str, Hostile]:
    trap = Trap(str(marker))
    joblib_file = io.BytesIO()
    joblib.dump(trap, joblib_file)
    return {
        "pickle": Hostile(pickle.dumps(trap), ("pickle or joblib", "never loaded")),
        "joblib": Hostile(joblib_file.getvalue(), ("pickle or joblib",)),
        "skops-class": Hostile(skops.io.dumps(Pipeline([("trap", trap)])),
                               ("not trusted", "test_untrusted_models.Trap")),
        "skops-os.system": Hostile(skops.io.dumps(Pipeline([("f", FunctionTransformer(os.system))])),
                                   ("not trusted", "system")),
        "skops-eval": Hostile(skops.io.dumps(Pipeline([("f", FunctionTransformer(builtins.eval))])),
                              ("not trusted", "builtins.eval")),
    }


@dataclass
class App:
    client: TestClient
    home: Path
    marker: Path
    good: dict[str, bytes]
    """A real model's files (`model/model.skops`, signature, reference)."""

    def run_with(self, files: dict[str, bytes]) -> dict[str, str]:
        run: dict[str, str] = self.client.post("/api/v1/runs", json={"experiment": "untrusted"}).json()
        for path, content in files.items():
            assert self.client.put(f"/api/v1/runs/{run['id']}/artifacts/{path}", content=content).status_code == 201
        return run

    def register(self, name: str, files: dict[str, bytes]) -> dict[str, Any]:
        run = self.run_with(files)
        response = self.client.post(f"/api/v1/models/{name}/versions", json={"run_id": run["id"]})
        assert response.status_code == 201, response.text
        return {**response.json(), "folder": self.home / "artifacts" / run["experiment_id"] / run["id"]}

    def never_ran(self) -> None:
        assert not self.marker.exists(), "a model file was deserialised"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    home = tmp_path_factory.mktemp("untrusted-home")
    marker = tmp_path_factory.mktemp("untrusted-marker") / "model-ran"
    good = tiny_model_files(tmp_path_factory.mktemp("untrusted-good"))
    with make_client(Settings(home=home, token=None)) as client:
        yield App(client, home, marker, good)


def says(response: Any, status: int, words: tuple[str, ...]) -> None:
    assert response.status_code == status, response.text
    text = json.dumps(response.json())
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize("kind", ["pickle", "joblib", "skops-class", "skops-os.system", "skops-eval"])
def test_a_hostile_file_registered_as_a_model_never_runs(app: App, kind: str) -> None:
    hostile = hostile_files(app.marker)[kind]
    name = unique("hostile")
    version = app.register(name, {**app.good, "model/model.skops": hostile.data})
    assert version["sha256"] == hashlib.sha256(hostile.data).hexdigest()  # registered as it is: never opened

    predicted = app.client.post(f"/api/v1/models/{name}/versions/1/predict", json=ROWS)
    app.never_ran()
    says(predicted, 409, hostile.words)

    promoted = app.client.post(f"/api/v1/models/{name}/promote", json={"version": 1, "alias": "production"})
    assert promoted.json()["outcome"] == "gates_failed", promoted.text
    forced = app.client.post(f"/api/v1/models/{name}/promote",  # an admin's override moves it: it still never runs
                             json={"version": 1, "alias": "production", "force": True, "reason": "test"})
    assert forced.json()["outcome"] == "moved", forced.text
    says(app.client.post(f"/api/v1/models/{name}/aliases/production/predict", json=ROWS), 409, hostile.words)
    app.never_ran()

    # the replica's side: the backend hands out the registered bytes; the replica's loader refuses them
    downloaded = app.client.get(f"/api/v1/models/{name}/versions/1/model")
    assert downloaded.status_code == 200 and downloaded.content == hostile.data
    with pytest.raises(Conflict) as refused:
        predictor.load(name, 1, version["sha256"], downloaded.content, None)
    assert all(word in refused.value.message for word in hostile.words), refused.value.message
    app.never_ran()


def test_a_hostile_version_is_never_rolled_back_to(app: App) -> None:
    name = unique("rollback")
    hostile = hostile_files(app.marker)["skops-class"]
    app.register(name, {**app.good, "model/model.skops": hostile.data})
    app.register(name, app.good)
    for version in (1, 2):
        moved = app.client.post(f"/api/v1/models/{name}/promote",
                                json={"version": version, "alias": "production", "force": True, "reason": "test"})
        assert moved.json()["outcome"] == "moved", moved.text
    says(app.client.post(f"/api/v1/models/{name}/rollback", json={"alias": "production"}), 409,
         ("does not load", "test_untrusted_models.Trap"))
    assert app.client.get(f"/api/v1/models/{name}/aliases/production").json()["version"] == 2
    app.never_ran()


@pytest.mark.parametrize("kind", ["pickle", "skops-class"])
def test_a_model_file_swapped_on_disk_after_registration_is_refused_by_its_hash(app: App, kind: str) -> None:
    name = unique("swapped")
    first = app.register(name, app.good)
    app.register(name, app.good)
    assert app.client.post(f"/api/v1/models/{name}/promote", json={"version": 2, "alias": "production", "force": True,
                                                                   "reason": "test"}).json()["outcome"] == "moved"
    hostile = hostile_files(app.marker)[kind]
    (first["folder"] / "model" / "model.skops").write_bytes(hostile.data)  # version 1's bytes, changed
    changed = ("version", "changed")

    says(app.client.post(f"/api/v1/models/{name}/versions/1/predict", json=ROWS), 409, changed)
    says(app.client.get(f"/api/v1/models/{name}/versions/1/model"), 409, changed)  # never sent to a replica
    staged = app.client.post(f"/api/v1/models/{name}/promote", json={"version": 1, "alias": "staging"}).json()
    assert staged["outcome"] == "gates_failed"
    assert any(g["gate"] == "integrity" and not g["passed"] and "changed on disk" in g["detail"]
               for g in staged["report"]["gates"]), staged
    for version in (1, 2):  # production: 1 (forced past its failed integrity gate), then 2 again
        assert app.client.post(f"/api/v1/models/{name}/promote", json={"version": version, "alias": "production",
                                                                       "force": True, "reason": "x"}).status_code == 200
    says(app.client.post(f"/api/v1/models/{name}/rollback", json={"alias": "production"}), 409, ("changed on disk",))
    assert app.client.get(f"/api/v1/models/{name}/aliases/production").json()["version"] == 2
    with pytest.raises(Conflict, match="changed since registration"):  # a replica handed other bytes
        predictor.load(name, 1, first["sha256"], hostile.data, None)
    app.never_ran()


def test_the_loader_refuses_before_anything_is_built(tmp_path: Path) -> None:
    """`model_io.loads` itself: each hostile file is refused naming what it holds; a good one loads."""
    marker = tmp_path / "ran"
    for kind, hostile in hostile_files(marker).items():
        with pytest.raises(model_io.UntrustedModel) as refused:
            model_io.loads(hostile.data)
        assert all(word in str(refused.value) for word in hostile.words), (kind, refused.value)
        if kind.startswith("skops"):
            assert refused.value.types, kind
    assert not marker.exists()
    for broken in (b"", b"PK\x03\x04 not a zip", b"\x00" * 64):
        with pytest.raises(model_io.UntrustedModel, match="skops"):
            model_io.loads(broken)
    assert isinstance(model_io.loads(tiny_model_files(tmp_path / "good")["model/model.skops"]), Pipeline)


def test_a_hostile_file_logged_through_mlflow_never_runs(app: App) -> None:
    """The MLflow ways in: the proxy upload puts a hostile `model/model.skops` in the run's own folder (then a
    native registration serves it like any), and an MLflow registration makes a version the backend never
    loads (a pickled `model.pkl` beside an MLmodel is stored, handed out, never opened)."""
    hostile = hostile_files(app.marker)
    run = app.run_with({path: data for path, data in app.good.items() if path != "model/model.skops"})
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}"
    for path, data in (("model/model.skops", hostile["skops-class"].data), ("mlflow/MLmodel", b"flavors: {}\n"),
                       ("mlflow/model.pkl", hostile["pickle"].data)):
        assert app.client.put(f"{proxy}/{path}", content=data).status_code == 200
    native = unique("via-proxy")
    assert app.client.post(f"/api/v1/models/{native}/versions", json={"run_id": run["id"]}).status_code == 201
    predicted = app.client.post(f"/api/v1/models/{native}/versions/1/predict", json=ROWS)
    app.never_ran()
    says(predicted, 409, hostile["skops-class"].words)

    logged = unique("via-mlflow")
    assert app.client.post("/api/2.0/mlflow/registered-models/create", json={"name": logged}).status_code == 200
    created = app.client.post("/api/2.0/mlflow/model-versions/create",
                              json={"name": logged, "source": f"runs:/{run['id']}/mlflow", "run_id": run["id"]})
    assert created.status_code == 200, created.text
    says(app.client.post(f"/api/v1/models/{logged}/versions/1/predict", json=ROWS), 422, ("never loads",))
    says(app.client.get(f"/api/v1/models/{logged}/versions/1/model"), 422, ("never loads",))
    app.never_ran()
