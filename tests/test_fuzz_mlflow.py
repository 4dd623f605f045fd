"""The MLflow API holds under fuzzing: every `/api/2.0/mlflow...` route (left out of `/openapi.json`) gets
requests built from its own `Message` model and path, with right and wrong types, hostile text, numbers
out of range, non-finite floats, bodies that are not JSON or not objects, and artifact paths that try to
leave the artifact folder. No answer is a 5xx; every 4xx is MLflow's `{"error_code", "message"}` with the
status MLflow gives that code; nothing is written or read outside the home's artifact folder.

The in-process app (no server to start), seeded through the MLflow API itself; one test per route, so
`-n 2` spreads them. Hypothesis runs derandomized (the same cases in CI every time).
"""
from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from conftest import make_client, unique
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from route_walk import RouteInfo, every_route

from backend import Settings
from backend.mlflow_api.protocol import INVALID_PARAMETER_VALUE, STATUS_OF_CODE, Message

EXAMPLES = 20
"""Examples per route: 63 routes in about 10 s on a busy machine."""
SECRET = b"outside the artifact folder"
HOSTILE_TEXT = ["", " ", "..", "../..", "../../secret.txt", "..%2f..%2fsecret.txt", "%252e%252e%252f", "..\\..\\x",
                "/etc/passwd", "a\x00b", "\x1b]0;pwned\x07\x1b[2J", "' OR 1=1 --", '"; DROP TABLE runs; --',
                "name = 'x' OR 1=1", "metrics.a > 0 --", "é\u202etxt.exe", "🙂" * 50, "x" * 5000, "NaN", "-1",
                "9" * 40, "ACTIVE_ONLY", "FINISHED", "production"]
"""Text tried in every text field and path segment, beside random text and the seeded values."""
ARTIFACT_PATHS = ["..", "../secret.txt", "../../etc/passwd", "%2e%2e/secret.txt", "%252e%252e/secret.txt",
                  "..%2fsecret.txt", "..%5csecret.txt", "/etc/passwd", "%2fetc%2fpasswd", "a/../../secret.txt",
                  "C:\\secret.txt", "a%00b", "0/../../secret.txt"]
"""Artifact paths out of the folder: plain, encoded, double-encoded, backslashed, absolute, with NUL."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, list[Any]]]]:
    """An app on a home inside a folder that also holds a secret file, seeded through the MLflow API: an
    experiment, a run with a metric, a param, a tag and a file, a registered model with a version and an
    alias, a logged model."""
    folder = tmp_path_factory.mktemp("mlflow-fuzz")
    (folder / "secret.txt").write_bytes(SECRET)
    client = make_client(Settings(home=folder / "home", token=None, run_jobs=False, automation=False))
    with client:
        api = "/api/2.0/mlflow"
        experiment = ok(client.post(f"{api}/experiments/create", json={"name": unique("fuzz")}))["experiment_id"]
        run = ok(client.post(f"{api}/runs/create", json={"experiment_id": experiment}))["run"]["info"]["run_id"]
        ok(client.post(f"{api}/runs/log-batch", json={
            "run_id": run, "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
            "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "team", "value": "fuzz"}]}))
        artifact = f"{experiment}/{run}/artifacts/notes.txt"
        ok(client.put(f"/api/2.0/mlflow-artifacts/artifacts/{artifact}", content=b"hello"))
        model = unique("fuzz-model")
        ok(client.post(f"{api}/registered-models/create", json={"name": model}))
        ok(client.post(f"{api}/model-versions/create", json={
            "name": model, "source": f"mlflow-artifacts:/{experiment}/{run}/artifacts", "run_id": run}))
        ok(client.post(f"{api}/registered-models/alias", json={"name": model, "alias": "champion", "version": 1}))
        logged = ok(client.post(f"{api}/logged-models", json={"experiment_id": experiment}))["model"]["info"]
        seeded: dict[str, list[Any]] = {
            "experiment_id": [experiment], "experiment_ids": [[experiment]], "run_id": [run], "run_uuid": [run],
            "name": [model], "new_name": [unique("renamed")], "version": [1, "1"], "alias": ["champion"],
            "key": ["loss", "lr", "team"], "metric_key": ["loss"], "model_id": [logged["model_id"]],
            "path": [artifact, f"{experiment}/{run}/artifacts", "notes.txt", ""],
            "source": [f"mlflow-artifacts:/{experiment}/{run}/artifacts"], "filter": ["metrics.loss < 1"],
        }
        yield client, seeded
    assert sorted(child.name for child in folder.iterdir()) == ["home", "secret.txt"], "a file left the home"
    assert (folder / "secret.txt").read_bytes() == SECRET


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- strategies from the routes' own messages -----------------------------------------------------

def any_json() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def texts(name: str, seeded: dict[str, list[Any]]) -> st.SearchStrategy[str]:
    """Half the time a value the world holds (when it holds one for `name`), else hostile or random text."""
    known = [value for value in seeded.get(name, []) if isinstance(value, str)]
    other = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=30)
    return weighted(st.sampled_from(known), other, 1) if known else other


def weighted(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int) -> st.SearchStrategy[Any]:
    """`rare` once in `odds + 1` draws, `usual` otherwise (`one_of` would draw each as often)."""
    return st.integers(0, odds).flatmap(lambda n: rare if n == 0 else usual)


def values(annotation: Any, name: str, seeded: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """Values of `annotation`'s type (seeded ones for the names the world knows), or anything JSON now
    and then: a wrong type must be a 400 naming the parameter, never a 500."""
    return weighted(typed(annotation, name, seeded), any_json(), 9)


def typed(annotation: Any, name: str, seeded: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(typed(arg, name, seeded) for arg in args))
    if origin is typing.Annotated:
        return typed(args[0], name, seeded)
    if origin is typing.Literal:
        return st.sampled_from(args) | st.text(max_size=12)
    if origin is list:
        known = [value for value in seeded.get(name, []) if isinstance(value, list)]
        items = st.lists(typed(args[0], name, seeded), max_size=4)
        return st.one_of(st.sampled_from(known), items) if known else items
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), any_json(), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return message_bodies(annotation, seeded)
    if annotation is str:
        return texts(name, seeded)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        known = [value for value in seeded.get(name, []) if isinstance(value, int)]
        numbers = st.integers(-(2**70), 2**70) | st.sampled_from([0, -1, 2**31, 2**63, 2**64])
        return st.one_of(st.sampled_from(known), numbers) if known else numbers
    if annotation is float:
        return st.floats() | st.sampled_from([1e308, -0.0])  # NaN and infinities too (sent as NaN, Infinity)
    if annotation is type(None):
        return st.none()
    return any_json()


def message_bodies(model: type[BaseModel], seeded: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the message's fields (by their JSON names): mostly with every required one, now and
    then with any of them left out."""
    fields = {field.alias or name: values(field.annotation, name, seeded) for name, field in model.model_fields.items()}
    required = {key for key, (name, field) in zip(fields, model.model_fields.items(), strict=True)
                if field.is_required()}
    complete = st.fixed_dictionaries({key: fields[key] for key in required},
                                     optional={key: value for key, value in fields.items() if key not in required})
    return weighted(complete, st.fixed_dictionaries({}, optional=fields), 4)


def message_of(route: RouteInfo) -> type[Message] | None:
    """The MLflow message the route reads (`m: Annotated[Model, message(Model)]`), if any."""
    for annotation in typing.get_type_hints(route.endpoint).values():
        if isinstance(annotation, type) and issubclass(annotation, Message):
            return annotation
    return None


def path_values(route: RouteInfo, seeded: dict[str, list[Any]]) -> st.SearchStrategy[str]:
    """The route's path with each `{param}` filled: seeded, hostile (artifact paths that leave the
    folder, raw so the server decodes `%2e` once) or random (quoted)."""
    names = [part.strip("{}").split(":")[0] for part in route.path.split("/") if part.startswith("{")]
    if not names:
        return st.just(route.path)
    segment = st.one_of(texts("", seeded).map(lambda text: quote(text, safe="")),
                        st.sampled_from(ARTIFACT_PATHS))

    def fill(parts: list[str]) -> str:
        path = route.path
        for name, value in zip(names, parts, strict=True):
            path = path.replace("{" + name + (":path}" if "{" + name + ":path}" in path else "}"), value, 1)
        return path

    per_name = [st.one_of(st.sampled_from([str(value) for value in seeded.get(name, []) if value != ""] or ["x"]),
                          segment) for name in names]
    return st.tuples(*per_name).map(lambda parts: fill(list(parts)))


def requests(route: RouteInfo, seeded: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """`TestClient.request` keyword arguments for one request to the route."""
    model = message_of(route)
    if model is None:  # the artifact proxy: a path, a file's bytes, `?path=`
        return st.fixed_dictionaries({"url": path_values(route, seeded),
                                      "params": st.fixed_dictionaries({}, optional={"path": texts("path", seeded)}),
                                      "content": st.binary(max_size=64)})
    objects = message_bodies(model, seeded)
    garbage = st.one_of(any_json().map(lambda value: json.dumps(value).encode()), st.binary(max_size=40),
                        objects.map(lambda body: json.dumps(body).encode()[:-1]))  # not an object, not JSON, cut short
    bodies = weighted(objects.map(lambda body: json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")),
                      garbage, 4)
    query = objects.map(query_of)
    if route.method == "GET":
        return st.fixed_dictionaries({"url": path_values(route, seeded), "params": query},
                                     optional={"content": bodies})
    return st.fixed_dictionaries({"url": path_values(route, seeded), "content": bodies},
                                 optional={"params": query})


def query_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """A message as query parameters, as the MLflow client sends a GET (a list as repeated keys)."""
    pairs: list[tuple[str, str]] = []
    for key, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item if isinstance(item, str) else json.dumps(item)))
    return pairs


# --- the run --------------------------------------------------------------------------------------

def destroys(route: RouteInfo) -> bool:
    return route.method == "DELETE" or route.path.endswith(("/delete", "/rename", "/update"))


MLFLOW_ROUTES = sorted((route for route in every_route() if route.is_mlflow), key=destroys)
"""Routes that delete or rename what the world seeded run last, so the others reach real objects."""


def assert_mlflow_answer(response: Any, sent: dict[str, Any]) -> None:
    assert response.status_code < 500, f"{response.status_code} for {sent}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error_code", "message"}, (sent, body)
        assert isinstance(body["message"], str) and body["message"], (sent, body)
        expected = STATUS_OF_CODE.get(body["error_code"])
        assert expected is not None, (sent, body)
        too_large = response.status_code == 413 and body["error_code"] == INVALID_PARAMETER_VALUE
        assert response.status_code == expected or too_large, (sent, response.status_code, body)
    assert SECRET not in response.content, sent


@pytest.mark.parametrize("route", MLFLOW_ROUTES, ids=[f"{route.method} {route.path}" for route in MLFLOW_ROUTES])
def test_mlflow_route_holds_under_fuzzing(world: tuple[TestClient, dict[str, list[Any]]], route: RouteInfo) -> None:
    client, seeded = world

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(request=requests(route, seeded))
    def run(request: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json"} if "content" in request else {}
        response = client.request(route.method, **request, headers=headers)
        assert_mlflow_answer(response, request)

    run()


def test_every_mlflow_route_is_fuzzed_and_reads_a_message_or_a_path() -> None:
    """The walk finds the MLflow routes (all four routers), and each one's input is known to the fuzzer."""
    assert len(MLFLOW_ROUTES) >= 60
    prefixes = {route.path.split("/")[3].split("-")[0] for route in MLFLOW_ROUTES}
    assert prefixes == {"mlflow"}
    unread = [route for route in MLFLOW_ROUTES if message_of(route) is None and "{" not in route.path
              and route.path != "/api/2.0/mlflow-artifacts/artifacts"]
    assert unread == [], unread
