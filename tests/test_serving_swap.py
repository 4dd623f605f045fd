"""Hot swap: a promotion moves an alias for the next prediction, with no restart and no failed request;
a request that arrived before the move is answered by the version it found. Real models, the real app
(in-process for the held request, a live uvicorn server for the load)."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import CLIENT_HEADERS, unique
from fastapi.testclient import TestClient
from registry_support import run_with_files, tiny_model_files

from backend import Settings, create_app
from mlops_tui import Client
from mlops_tui.contract.monitoring import MODEL_VERSION_HEADER

ROWS = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.5, -1.0], [-2.0, 0.3]]}}


def two_versions(client: Client, folder: Path) -> str:
    """A model with two registered versions (the same real model file, registered twice); production on 1."""
    files = tiny_model_files(folder)
    name = unique("swap")
    for _ in range(2):
        client.register_version(name, run_with_files(client, files))
    client.promote(name, 1, "production", force=True, reason="start")
    return name


def promote(client: Client, name: str, version: int) -> None:
    client.promote(name, version, "production", force=True, reason="hot swap test")


def test_a_request_in_flight_finishes_on_the_version_it_found(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path / "home", token=None))
    http = TestClient(app, headers=CLIENT_HEADERS)
    http.__enter__()  # the app's lifespan (database open) while the scenario runs on the test's own loop
    name = two_versions(Client(url="http://testserver", transport=http._transport), tmp_path / "model")
    path = f"/api/v1/models/{name}/aliases/production/predict"
    body = orjson.dumps(ROWS)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        arrived, release = asyncio.Event(), asyncio.Event()

        async def held_body() -> AsyncIterator[bytes]:
            arrived.set()  # the route asks for the body: it has chosen its version already
            await release.wait()
            yield body

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=CLIENT_HEADERS) as api:
            held = asyncio.create_task(api.post(path, content=held_body(), headers={
                "content-type": "application/json", "content-length": str(len(body))}))
            await arrived.wait()
            moved = await api.post(f"/api/v1/models/{name}/promote", json={
                "version": 2, "alias": "production", "force": True, "reason": "while a request is held"})
            assert moved.status_code == 200 and moved.json()["outcome"] == "moved", moved.text
            after = await api.post(path, content=body, headers={"content-type": "application/json"})
            release.set()
            return await held, after, moved

    try:
        held, after, _ = asyncio.run(scenario())
    finally:
        http.__exit__(None, None, None)
    assert held.status_code == 200 and held.json()["model_version"] == 1
    assert held.headers[MODEL_VERSION_HEADER] == f"{name}/1"
    assert after.status_code == 200 and after.json()["model_version"] == 2


@pytest.mark.timeout(300)
def test_promotions_under_load_fail_no_request(live_client: Client, tmp_path: Path) -> None:
    name = two_versions(live_client, tmp_path / "model")
    url = f"{live_client.url}/api/v1/models/{name}/aliases/production/predict"
    stop = threading.Event()
    answers: list[tuple[int, int | None]] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(headers=CLIENT_HEADERS, timeout=30) as http:
            while not stop.is_set():
                response = http.post(url, json=ROWS)
                version = response.json().get("model_version") if response.status_code == 200 else None
                with lock:
                    answers.append((response.status_code, version))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for move in range(12):
            version = 2 if move % 2 == 0 else 1
            promote(live_client, name, version)
            # the next request after the promotion answered is the new version's
            assert live_client.predict(name, "production", ROWS).model_version == version
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(answers) >= 12
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    assert {version for _, version in answers} <= {1, 2}
