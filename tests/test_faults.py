"""Faults of the machine: a full disk, a damaged database file, a home that cannot be written. Each gives a
clear message and leaves a safe state: nothing half-written, nothing overwritten.

A full disk is simulated for SQLite with `PRAGMA max_page_count` on the server's own connection (SQLite then
fails exactly as on a full disk: SQLITE_FULL), and for files with a small tmpfs mounted over the artifacts
folder in a private mount namespace (`unshare -m`; skipped where the machine does not allow it)."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NOWHERE, ROOT, base_env, make_client
from fastapi.testclient import TestClient

from backend import Settings
from backend.db import MIGRATIONS
from backend.server import main as server_main

NOT_VALID = "mlops.db is not a valid database"


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """An in-process app with one run holding 3 points."""
    with make_client(Settings(home=tmp_path_factory.mktemp("full") / "home")) as http:
        run_id = http.post("/api/v1/runs", json={"experiment": "full"}).json()["id"]
        logged = http.post(f"/api/v1/runs/{run_id}/batch",
                           json={"series": [{"key": "m", "steps": [0, 1, 2], "values": [1.0, 2.0, 3.0]}]})
        assert logged.status_code == 200
        yield http, run_id


def _fill(http: TestClient, full: bool) -> None:
    """No page more for the database (full), or room again."""
    with http.app.state.db.read() as conn:  # type: ignore[attr-defined]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages if full else 1_000_000_000}")


def test_a_full_disk_answers_507_stores_nothing_of_the_write_and_reads_keep_working(
        full_disk: tuple[TestClient, str]) -> None:
    http, run_id = full_disk
    big = {"params": {"p": "v"}, "series": [{"key": "m", "steps": list(range(3, 8003)),
                                             "values": [float(i) for i in range(3, 8003)]}]}
    _fill(http, full=True)
    try:
        refused = http.post(f"/api/v1/runs/{run_id}/batch", json=big, headers={"Idempotency-Key": "big-1"})
        assert refused.status_code == 507, refused.text
        assert refused.json()["code"] == "disk_full" and "disk is full" in refused.json()["detail"]
        mlflow = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": [
            {"key": "m", "value": float(i), "timestamp": 1, "step": 10_000 + i} for i in range(1000)]})
        assert mlflow.status_code == 507 and "disk is full" in mlflow.json()["message"]
        run = http.get(f"/api/v1/runs/{run_id}")  # reads work on a full disk
        assert run.status_code == 200
        assert run.json()["params"] == {} and run.json()["metric_stats"]["m"]["count"] == 3  # nothing half-stored
        assert len(http.get(f"/api/v1/runs/{run_id}/metrics/m").json()["points"]) == 3
        assert http.post("/api/v1/runs/search", json={}).status_code == 200
    finally:
        _fill(http, full=False)
    again = http.post(f"/api/v1/runs/{run_id}/batch", json=big, headers={"Idempotency-Key": "big-1"})
    assert again.status_code == 200  # space is back: the same batch (same key) is stored now, once
    assert http.get(f"/api/v1/runs/{run_id}").json()["metric_stats"]["m"]["count"] == 8003
    with http.app.state.db.read() as conn:  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


UPLOAD_SCRIPT = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from backend import Settings, create_app
home = sys.argv[1]
with TestClient(create_app(Settings(home=home)), headers={"X-Mlops-Client": "tests"}) as http:
    run_id = http.post("/api/v1/runs", json={"experiment": "e"}).json()["id"]
    big = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=b"x" * 2_000_000)
    small = http.put(f"/api/v1/runs/{run_id}/artifacts/small.txt", content=b"fits")
    files = sorted(str(p.relative_to(home)) for p in Path(home, "artifacts").rglob("*") if p.is_file())
    print(json.dumps({"big": [big.status_code, big.json()], "small": small.status_code, "files": files}))
"""


def test_an_upload_that_fills_the_disk_answers_507_and_leaves_no_partial_file(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no private mount namespace here (unshare -m) to mount a small tmpfs in")
    home = tmp_path / "home"
    artifacts = home / "artifacts"
    artifacts.mkdir(parents=True)
    shell = f'mount -t tmpfs -o size=1m tmpfs "{artifacts}" && exec "{sys.executable}" -c "$0" "{home}"'
    done = subprocess.run(["unshare", "-m", "sh", "-c", shell, UPLOAD_SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, env={**base_env(home, NOWHERE), "MLOPS_ALLOWED_HOSTS": "testserver"}, timeout=120)
    if "mount" in done.stderr and done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    status, body = answer["big"]
    assert status == 507 and body["code"] == "disk_full"
    assert answer["small"] == 201  # the failed file's space is free again
    assert [Path(f).name for f in answer["files"]] == ["small.txt"]  # no partial file, no temporary file


@pytest.mark.parametrize("damage", ["garbage", "truncated", "text", "newer"])
def test_a_damaged_database_stops_the_server_with_a_message_and_is_left_untouched(
        tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "mlops.db"
    _damage(db, damage)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert server_main(["--port", "9", "--home", str(home)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and NOT_VALID in error and "Traceback" not in error
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # never overwritten, never "repaired"
    assert not (home / "server.pid").exists()


def _damage(db: Path, how: str) -> None:
    if how == "text":
        db.write_text("these are my notes, not a database\n" * 50)
        return
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 200)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5 if how == 'newer' else 0}")
    conn.close()
    data = db.read_bytes()
    if how == "garbage":
        db.write_bytes(bytes(range(256)) * (len(data) // 256))
    elif how == "truncated":
        db.write_bytes(data[:len(data) // 3])


@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_a_home_that_cannot_be_written_stops_the_server_with_a_message(
        tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Root can write through `chmod`, so the homes here are ones no one can write: under a file, in /proc."""
    if where == "under a file":
        (tmp_path / "a-file").write_text("")
        home = tmp_path / "a-file" / "home"
    else:
        home = Path("/proc/mlops-home")
    assert server_main(["--port", "9", "--home", str(home)]) == 1
    error = capsys.readouterr().err
    assert f"cannot use {home} as the home folder" in error and "Traceback" not in error


def test_mlops_server_start_shows_the_damaged_database_message_without_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _damage(home / "mlops.db", "garbage")
    command = [sys.executable, "-m", "mlops_tui.cli.main", "server", "start", "--port", "9", "--home", str(home)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=base_env(home, NOWHERE), timeout=120)
    assert done.returncode == 1
    assert f"error: {home / 'mlops.db'} is not a valid database" in done.stderr and "Traceback" not in done.stderr
