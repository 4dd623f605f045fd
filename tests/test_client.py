"""The typed client, sync and async, against the live server and in process."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, free_port, make_client, unique
from fastapi.testclient import TestClient

from backend import Settings, create_app
from mlops_tui import AsyncClient, Client, MlopsError
from mlops_tui.contract import MetricHistory, Run, RunPage


def test_sync_client_round_trip(live_client: Client) -> None:
    name = unique("client")
    experiment = live_client.create_experiment(name, tags={"team": "ml"})
    assert experiment.name == name and experiment.tags == {"team": "ml"}
    assert live_client.get_experiment(name).id == experiment.id
    assert live_client.get_experiment(experiment.id).name == name
    assert name in [e.name for e in live_client.list_experiments()]

    run = live_client.create_run(experiment=name, name="first", tags={"k": "v"})
    assert isinstance(run, Run) and run.status == "RUNNING" and run.experiment_id == experiment.id
    counts = live_client.log_batch(run.id, params={"lr": 0.1}, tags={"stage": "dev"},
                                   metrics=[{"key": "loss", "value": 1.0 - s / 10, "step": s} for s in range(5)])
    assert counts == {"params": 1, "metrics": 5, "tags": 1}
    live_client.log_batch(run.id, series=[{"key": "acc", "steps": [0, 1, 2], "values": [0.5, 0.7, 0.9]}])

    fetched = live_client.get_run(run.id)
    assert fetched.params == {"lr": "0.1"}
    assert fetched.tags == {"k": "v", "stage": "dev", "mlflow.runName": fetched.name}
    assert fetched.metrics == {"loss": 0.6, "acc": 0.9}
    assert fetched.metric_stats["loss"].min == 0.6 and fetched.metric_stats["loss"].count == 5

    history = live_client.metric_history(run.id, "loss")
    assert isinstance(history, MetricHistory)
    assert [p.step for p in history.points] == [0, 1, 2, 3, 4]
    assert [p.value for p in history.points] == [1.0, 0.9, 0.8, 0.7, 0.6]

    finished = live_client.update_run(run.id, status="FINISHED")
    assert finished.status == "FINISHED" and finished.duration_ms is not None and finished.duration_ms >= 0

    child = live_client.create_run(experiment=name, parent_id=run.id)
    assert [c.id for c in live_client.run_children(run.id)] == [child.id]

    page = live_client.search_runs(name, filter="metrics.acc > 0.8", order_by=["metrics.loss ASC"])
    assert isinstance(page, RunPage) and [r.id for r in page.runs] == [run.id] and page.next_page_token is None
    assert live_client.count_runs(name) == 2
    keys = live_client.experiment_keys(name)
    assert (keys.params, keys.metrics, keys.tags) == (["lr"], ["acc", "loss"], ["k", "mlflow.runName", "stage"])

    live_client.delete_run(child.id)
    assert live_client.count_runs(name) == 1
    assert live_client.delete_experiment(name).lifecycle_stage == "deleted"


def test_sync_client_paging(live_client: Client) -> None:
    name = unique("paging")
    ids = {live_client.create_run(experiment=name).id for _ in range(7)}
    seen: list[str] = []
    token = None
    while True:
        page = live_client.search_runs(name, limit=3, page_token=token)
        seen += [r.id for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == 7 and set(seen) == ids


def test_error_carries_status_field_and_the_servers_message(live_server: LiveServer, live_client: Client) -> None:
    name = unique("dup")
    live_client.create_experiment(name)
    raw = httpx.post(f"{live_server.url}/api/v1/experiments", json={"name": name}).json()
    with pytest.raises(MlopsError) as caught:
        live_client.create_experiment(name)
    assert (caught.value.status, caught.value.field) == (409, "name")
    assert caught.value.message == raw["detail"] and name in caught.value.message
    assert str(caught.value) == raw["detail"]
    assert not caught.value.unreachable


@pytest.mark.parametrize(
    ("call", "status", "field", "words"),
    [
        (lambda c: c.get_run("f" * 32), 404, "run_id", "not found"),
        (lambda c: c.metric_history("f" * 32, "loss"), 404, "run_id", "not found"),
        (lambda c: c.search_runs(filter="metrics.acc >> 1"), 422, "filter", "at position 13"),
        (lambda c: c.search_runs(page_token="garbage"), 422, "page_token", "page_token"),
        (lambda c: c.search_runs(experiment="no-such-experiment-anywhere"), 404, "experiment", "not found"),
        (lambda c: c.create_experiment(""), 422, "name", "empty"),
        (lambda c: c.log_batch("f" * 32, params={"a": 1}), 404, "run_id", "not found"),
    ],
)
def test_errors_from_the_live_server(live_client: Client, call, status: int, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MlopsError) as caught:
        call(live_client)
    assert (caught.value.status, caught.value.field) == (status, field)
    assert words in caught.value.message


def test_nan_is_refused_by_the_server_through_the_client(live_client: Client) -> None:
    run = live_client.create_run(experiment=unique("nan"))
    with pytest.raises(MlopsError) as caught:
        live_client.log_batch(run.id, metrics=[{"key": "m", "value": 1.0}, {"key": "m", "value": float("nan")}])
    assert caught.value.status == 422 and caught.value.field == "metrics[1].value"
    assert live_client.get_run(run.id).metrics == {}


def test_unreachable_url_gives_status_none() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url=url, timeout=2) as client, pytest.raises(MlopsError) as caught:
        client.health()
    assert caught.value.status is None and caught.value.unreachable
    assert url in caught.value.message


async def test_async_unreachable_url_gives_status_none() -> None:
    client = AsyncClient(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(MlopsError) as caught:
            await client.list_experiments()
        assert caught.value.status is None
    finally:
        await client.aclose()


def test_client_url_from_environment(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_URL", live_server.url + "/")
    with Client() as client:
        assert client.url == live_server.url
        assert client.health().status == "ok"


async def test_async_client_against_the_live_server(live_server: LiveServer, live_client: Client) -> None:
    name = unique("async")
    run = live_client.create_run(experiment=name, name="a1")
    live_client.log_batch(run.id, params={"x": "1"},
                          metrics=[{"key": "loss", "value": float(10 - s), "step": s} for s in range(10)])
    client = AsyncClient(url=live_server.url)
    try:
        assert (await client.health()).status == "ok"
        fetched = await client.get_run(run.id)
        assert fetched.params == {"x": "1"} and fetched.metrics == {"loss": 1.0}
        page = await client.search_runs(name, filter="params.x = '1'")
        assert [r.id for r in page.runs] == [run.id]
        assert await client.count_runs(name) == 1
        history = await client.metric_history(run.id, "loss")
        assert [p.step for p in history.points] == list(range(10))
        downsampled = await client.metric_history(run.id, "loss", max_points=4)
        # 4 points: the first and last, and one chunk's lowest and highest (here the same two)
        assert [(p.step, p.value) for p in downsampled.points] == [(0, 10.0), (9, 1.0)]
        assert name in [e.name for e in await client.list_experiments()]
        assert (await client.get_experiment(name)).run_count == 1
        assert (await client.experiment_keys(name)).params == ["x"]
        assert await client.list_artifacts(run.id) == []
        assert await client.run_children(run.id) == []
        with pytest.raises(MlopsError) as caught:
            await client.get_run("e" * 32)
        assert (caught.value.status, caught.value.field) == (404, "run_id")
        with pytest.raises(MlopsError) as caught:
            await client.search_runs(name, filter="params.x = ")
        assert caught.value.status == 422 and "at position" in caught.value.message
    finally:
        await client.aclose()


async def test_async_client_in_process_with_asgi_transport(home: Path) -> None:
    app = create_app(Settings(home=home, token=None))
    client = AsyncClient(url="http://testserver", transport=httpx.ASGITransport(app=app))
    try:
        from mlops_tui import api
        run = await client.send(api.create_run(experiment="asgi"))
        await client.send(api.log_batch(run.id, metrics=[{"key": "m", "value": 2.5, "step": 3}]))
        fetched = await client.get_run(run.id)
        assert fetched.metrics == {"m": 2.5} and fetched.metric_stats["m"].step == 3
        with pytest.raises(MlopsError) as caught:
            await client.send(api.log_batch(run.id, params={"bad key!": 1}))
        assert caught.value.status == 422 and caught.value.field == "params.bad key!"
    finally:
        await client.aclose()
        app.state.db.close()


@pytest.fixture
def token_app(home: Path) -> Iterator[TestClient]:
    with make_client(Settings(home=home, token="s3cret")) as client:
        yield client


def test_sync_client_over_a_test_transport_with_token(token_app: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(url="http://testserver", token="s3cret", transport=token_app._transport) as client:
        run = client.create_run(experiment="tok")
        assert client.get_run(run.id).id == run.id
    with Client(url="http://testserver", token="wrong", transport=token_app._transport) as client:
        with pytest.raises(MlopsError) as caught:
            client.list_experiments()
        assert (caught.value.status, caught.value.field) == (401, "authorization")
        assert client.health().status == "ok"  # /healthz stays open
    monkeypatch.setenv("MLOPS_TOKEN", "s3cret")  # the token comes from the environment when not given
    with Client(url="http://testserver", transport=token_app._transport) as client:
        assert [e.name for e in client.list_experiments()] == ["Default", "tok"]


# --- keys and names that must read back as written -------------------------------------------

ROUND_TRIP_KEYS = ["loss", "val/loss", ".hidden", "x.", "a b", "a:b", "a-b_c.d", "deep/er/key", "..x", "x..y"]


def test_metric_keys_round_trip_through_the_client(live_client: Client) -> None:
    run = live_client.create_run(experiment="keys-client")
    live_client.log_batch(run.id, metrics=[{"key": key, "value": float(i), "step": 0}
                                           for i, key in enumerate(ROUND_TRIP_KEYS)])
    assert sorted(live_client.get_run(run.id).metrics) == sorted(ROUND_TRIP_KEYS)
    for index, key in enumerate(ROUND_TRIP_KEYS):
        history = live_client.metric_history(run.id, key)
        assert [(p.step, p.value) for p in history.points] == [(0, float(index))], key


@pytest.mark.parametrize("key", ["./x", "x/.", "a/./b", "../x", "a/..", "/x", "x/", "a//b", ".", ".."])
def test_keys_that_cannot_round_trip_in_a_url_are_422_naming_the_key(live_client: Client, key: str) -> None:
    run = live_client.create_run(experiment="keys-client")
    for batch in ({"metrics": [{"key": key, "value": 1.0, "step": 0}]}, {"params": {key: "1"}}, {"tags": {key: "v"}}):
        with pytest.raises(MlopsError) as caught:
            live_client.log_batch(run.id, **batch)  # type: ignore[arg-type]
        assert caught.value.status == 422
        assert caught.value.field in ("metrics[0].key", f"params.{key}", f"tags.{key}"), caught.value.field
        assert repr(key) in caught.value.message
    fetched = live_client.get_run(run.id)
    assert fetched.metrics == {} and fetched.params == {} and key not in fetched.tags


@pytest.mark.parametrize("name", ["a/b", "a\\b", "a@b"])
def test_dataset_names_get_the_naming_rule(live_client: Client, name: str) -> None:
    with pytest.raises(MlopsError) as caught:
        live_client.add_dataset_version(name, "d.csv", b"a,b\n1,2\n")
    assert (caught.value.status, caught.value.field) == (422, "name")
    assert "must not contain '@', '/', '\\'" in caught.value.message
    assert name not in [d.name for d in live_client.list_datasets()]
