"""Artifacts: upload, list and download round trips; every path stays inside the run's folder."""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer
from fastapi.testclient import TestClient

from backend import Settings, artifacts, create_app
from backend.errors import TooLarge
from mlops_tui import Client


def new_run(client: TestClient, experiment: str = "art") -> dict[str, str]:
    response = client.post("/api/v1/runs", json={"experiment": experiment})
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


def run_folder(home: Path, run: dict[str, str]) -> Path:
    return home / "artifacts" / run["experiment_id"] / run["id"]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_path_refused(status: int, body: bytes | dict[str, str], detail: str = "") -> None:
    """Refused as a bad `path`: exactly 422 with the error shape naming the field."""
    parsed = body if isinstance(body, dict) else json.loads(body)
    assert (status, parsed["field"], parsed["code"]) == (422, "path", "invalid"), (status, parsed)
    assert detail in parsed["detail"]


def test_round_trip_with_nested_folders(app_client: TestClient, home: Path) -> None:
    run = new_run(app_client)
    contents = {
        "model.bin": os.urandom(200_000),
        "plots/loss.png": b"\x89PNG fake",
        "plots/deep/notes.txt": "héllo\n".encode(),
        "empty.txt": b"",
    }
    for path, data in contents.items():
        response = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/{path}", content=data)
        assert response.status_code == 201, response.text
        assert response.json() == {"path": path, "size": len(data)}
    root = app_client.get(f"/api/v1/runs/{run['id']}/artifacts").json()["files"]
    assert root == [
        {"path": "empty.txt", "is_dir": False, "size": 0},
        {"path": "model.bin", "is_dir": False, "size": 200_000},
        {"path": "plots", "is_dir": True, "size": None},
    ]
    plots = app_client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "plots"}).json()["files"]
    assert [(f["path"], f["is_dir"]) for f in plots] == [("plots/deep", True), ("plots/loss.png", False)]
    for path, data in contents.items():
        response = app_client.get(f"/api/v1/runs/{run['id']}/artifacts/{path}")
        assert response.status_code == 200
        assert response.content == data
    on_disk = run_folder(home, run)
    assert (on_disk / "plots" / "deep" / "notes.txt").read_bytes() == contents["plots/deep/notes.txt"]
    assert not [p for p in on_disk.rglob(".upload-*")]  # no temporary files left


def test_overwrite_replaces_content(app_client: TestClient) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/a.txt", content=b"first version")
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/a.txt", content=b"second")
    assert app_client.get(f"/api/v1/runs/{run['id']}/artifacts/a.txt").content == b"second"


def test_runs_do_not_see_each_others_artifacts(app_client: TestClient) -> None:
    first, second = new_run(app_client), new_run(app_client)
    app_client.put(f"/api/v1/runs/{first['id']}/artifacts/only-first.txt", content=b"1")
    assert app_client.get(f"/api/v1/runs/{second['id']}/artifacts").json()["files"] == []
    response = app_client.get(f"/api/v1/runs/{second['id']}/artifacts/only-first.txt")
    assert response.status_code == 404 and response.json()["field"] == "path"


def test_missing_file_and_folder_are_404(app_client: TestClient) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/dir/file.txt", content=b"x")
    assert app_client.get(f"/api/v1/runs/{run['id']}/artifacts/nope.txt").status_code == 404
    assert app_client.get(f"/api/v1/runs/{run['id']}/artifacts/dir").status_code == 404  # a folder is no file
    listed = app_client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "nope"})
    assert listed.status_code == 404 and listed.json()["field"] == "path"


def test_upload_onto_a_folder_or_the_root_is_refused(app_client: TestClient, home: Path) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/dir/file.txt", content=b"x")
    folder = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/dir", content=b"y")
    assert folder.status_code == 422 and folder.json()["field"] == "path"
    root = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/", content=b"y")
    assert_path_refused(root.status_code, root.json(), "must name a file")
    assert (run_folder(home, run) / "dir" / "file.txt").read_bytes() == b"x"


def test_upload_below_an_existing_file_is_4xx(app_client: TestClient, home: Path) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/model.txt", content=b"weights")
    response = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/model.txt/inner.bin", content=b"x")
    assert_path_refused(response.status_code, response.json(), "a folder on the way is a file")
    assert (run_folder(home, run) / "model.txt").read_bytes() == b"weights"


TRAVERSALS = [
    "..%2Fescape.txt",
    "..%2F..%2F..%2Fescape.txt",
    "%2E%2E/escape.txt",
    "%2E%2E%2F%2E%2E%2Fescape.txt",
    "sub/..%2F..%2Fescape.txt",
    "%2Ftmp%2Fescape.txt",
    "%2Fetc%2Fpasswd",
    "..%5Cescape.txt",
    "bad%00name.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_uploads_are_refused_and_nothing_written_outside(app_client: TestClient, home: Path,
                                                                   tmp_path: Path, path: str) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/inside.txt", content=b"ok")
    before = files_under(tmp_path)
    response = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/{path}", content=b"evil")
    assert_path_refused(response.status_code, response.json())
    after = files_under(tmp_path)
    assert after - before <= {str(p.relative_to(tmp_path)) for p in (home / "mlops.db-wal", home / "mlops.db-shm")}
    assert not any("escape" in name for name in after)


@pytest.mark.parametrize("path", ["..%2F..%2F..%2Fmlops.db", "%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2F%2E%2E%2Fmlops.db"])
def test_traversal_downloads_are_refused(app_client: TestClient, path: str) -> None:
    run = new_run(app_client)
    response = app_client.get(f"/api/v1/runs/{run['id']}/artifacts/{path}")
    assert_path_refused(response.status_code, response.json(), "must be relative and stay inside")
    assert b"SQLite format" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize("path", ["..", "../..", "/etc", "/"])
def test_traversal_listings_are_refused(app_client: TestClient, path: str) -> None:
    run = new_run(app_client)
    response = app_client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": path})
    assert_path_refused(response.status_code, response.json(), "must be relative and stay inside")


def test_symlinks_leading_outside_are_refused(app_client: TestClient, home: Path, tmp_path: Path) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/inside.txt", content=b"ok")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("top secret")
    folder = run_folder(home, run)
    os.symlink(outside, folder / "link")
    os.symlink(secret, folder / "pw")

    upload = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/link/evil.txt", content=b"evil")
    assert_path_refused(upload.status_code, upload.json(), "leaves the run's folder")
    overwrite = app_client.put(f"/api/v1/runs/{run['id']}/artifacts/pw", content=b"evil")
    assert_path_refused(overwrite.status_code, overwrite.json(), "leaves the run's folder")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert secret.read_text() == "top secret"

    for path in ("pw", "link/secret.txt"):
        response = app_client.get(f"/api/v1/runs/{run['id']}/artifacts/{path}")
        assert_path_refused(response.status_code, response.json(), "leaves the run's folder")
        assert b"top secret" not in response.content
    listing = app_client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "link"})
    assert_path_refused(listing.status_code, listing.json(), "leaves the run's folder")
    assert "secret.txt" not in listing.text
    # the root's listing leaves out links that lead outside (they can't be downloaded either)
    root = app_client.get(f"/api/v1/runs/{run['id']}/artifacts")
    assert root.status_code == 200 and [f["path"] for f in root.json()["files"]] == ["inside.txt"]


def test_dangling_symlink_is_left_out_of_the_listing(app_client: TestClient, home: Path) -> None:
    run = new_run(app_client)
    app_client.put(f"/api/v1/runs/{run['id']}/artifacts/dir/kept.txt", content=b"ok")
    folder = run_folder(home, run)
    os.symlink(folder / "gone.txt", folder / "dangling")
    os.symlink(folder / "dir" / "gone.txt", folder / "dir" / "dangling")
    os.symlink(folder / "dir" / "kept.txt", folder / "alias.txt")  # a link inside the folder stays
    root = app_client.get(f"/api/v1/runs/{run['id']}/artifacts")
    assert root.status_code == 200, root.text
    assert root.json()["files"] == [{"path": "alias.txt", "is_dir": False, "size": 2},
                                    {"path": "dir", "is_dir": True, "size": None}]
    inner = app_client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "dir"})
    assert inner.status_code == 200 and inner.json()["files"] == [
        {"path": "dir/kept.txt", "is_dir": False, "size": 2}]
    missing = app_client.get(f"/api/v1/runs/{run['id']}/artifacts/dangling")
    assert (missing.status_code, missing.json()["field"]) == (404, "path")


# --- against the live server: raw paths no client library normalises -------------------------

def raw_request(server: LiveServer, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=CLIENT_HEADERS)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("raw", ["../escape-{n}.txt", "../../escape-{n}.txt", "../../../../escape-{n}.txt",
                                 "sub/../../escape-{n}.txt", "..%2Fescape-{n}.txt", "/tmp/escape-{n}.txt"])
def test_live_raw_dot_dot_paths_are_refused(live_server: LiveServer, live_client: Client, raw: str) -> None:
    run = live_client.create_run(experiment="artifacts-live")
    marker = run.id[:12]
    target = f"/api/v1/runs/{run.id}/artifacts/{raw.format(n=marker)}"
    status, body = raw_request(live_server, "PUT", target, b"evil")
    assert_path_refused(status, body, "must be relative and stay inside")
    status, body = raw_request(live_server, "GET", target)
    assert_path_refused(status, body, "must be relative and stay inside")
    written = [p for p in live_server.home.parent.rglob(f"escape-{marker}.txt")]
    assert written == [] and not Path(f"/tmp/escape-{marker}.txt").exists()


def test_live_round_trip_through_the_client(live_client: Client) -> None:
    run = live_client.create_run(experiment="artifacts-live")
    payload = os.urandom(50_000)
    assert live_client.upload_artifact(run.id, "nested/dir/weights.bin", payload) == {
        "path": "nested/dir/weights.bin", "size": 50_000}
    assert live_client.download_artifact(run.id, "nested/dir/weights.bin") == payload
    [entry] = live_client.list_artifacts(run.id, "nested/dir")
    assert (entry.path, entry.is_dir, entry.size) == ("nested/dir/weights.bin", False, 50_000)


def test_a_streamed_upload_stops_at_its_own_limit(tmp_path: Path) -> None:
    """The route's own limit, behind the body-limit middleware: a stream past `max_bytes` is cut
    off while it is read, and nothing is left on disk."""
    root = tmp_path / "run"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 1000

    with pytest.raises(TooLarge):
        asyncio.run(artifacts.save_stream(root, "big/file.bin", chunks(), 4_999))
    assert [p.name for p in root.rglob("*") if p.is_file()] == []
    assert asyncio.run(artifacts.save_stream(root, "ok.bin", chunks(), 5_000)) == {"path": "ok.bin", "size": 5_000}


async def test_an_upload_waits_for_the_database_off_the_event_loop(home: Path) -> None:
    """While another thread holds the database, an upload waiting for it leaves the server answering
    other requests: the async route looks its run up in a worker thread."""
    app = create_app(Settings(home=home, token=None, run_jobs=False))
    held, release = threading.Event(), threading.Event()

    def hold_the_database() -> None:
        with app.state.db.lock:
            held.set()
            release.wait(10)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=CLIENT_HEADERS) as api:
        run = (await api.post("/api/v1/runs", json={"experiment": "loop"})).json()
        holder = threading.Thread(target=hold_the_database)
        holder.start()
        held.wait(5)
        upload = asyncio.create_task(api.put(f"/api/v1/runs/{run['id']}/artifacts/a.txt", content=b"x"))
        await asyncio.sleep(0.3)
        other = await api.get("/no/such/route")
        finished_early = upload.done()
        release.set()
        holder.join()
        assert other.status_code == 404 and not finished_early
        assert (await upload).status_code == 201
    app.state.db.close()
