"""`mlops server backup` and `restore`: a consistent copy taken while a real server takes writes, a copy of a
home no server serves, restore with the old database kept, and the refusals (a busy home, bad files)."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LiveServer, make_client, start_backend, stop_process, unique
from typer.testing import CliRunner, Result

from backend import Settings, maintenance
from backend.db import MIGRATIONS
from mlops_tui import Client
from mlops_tui.cli.main import app

runner = CliRunner()
POINTS = 200
"""Points per batch written while a backup is taken."""


def mlops(*args: str) -> Result:
    return runner.invoke(app, list(args))


def said(result: Result) -> str:
    """What the command printed, as one line (the terminal's width wraps it anywhere)."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("backup") / "home"
    server = start_backend(home, home.parent / "server.log")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="module")
def quiet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home no server serves, holding one run named `old`."""
    home = tmp_path_factory.mktemp("quiet") / "home"
    with make_client(Settings(home=home)) as http:
        assert http.post("/api/v1/runs", json={"experiment": "quiet", "name": "old"}).status_code == 201
    return home


def _runs(db: Path) -> list[str]:
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM runs ORDER BY name")]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_backup_taken_under_writes_is_consistent_and_opens(served: LiveServer, tmp_path: Path) -> None:
    with Client(served.url) as client:
        run_id = client.create_run(unique("backup"), name="live").id
        stop = threading.Event()

        def write() -> None:
            step = 0
            while not stop.is_set():
                client.log_batch(run_id, series=[{"key": "m", "steps": list(range(step, step + POINTS)),
                                                  "values": [1.0] * POINTS}])
                step += POINTS

        writer = threading.Thread(target=write)
        writer.start()
        try:
            copies = [mlops("server", "backup", str(tmp_path / f"copy{i}.db"), "--home", str(served.home))
                      for i in range(2)]
        finally:
            stop.set()
            writer.join()
    for result in copies:
        assert result.exit_code == 0, result.output
        assert "written to" in said(result) and "artifacts are not in it" in said(result)
    for copy in (tmp_path / "copy0.db", tmp_path / "copy1.db"):
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            count, stored = conn.execute("SELECT s.count, (SELECT count(*) FROM points p WHERE p.series_id = s.id) "
                                         "FROM series s WHERE s.run_id = ?", (run_id,)).fetchone() or (0, 0)
        assert count == stored and stored % POINTS == 0  # whole batches only: a snapshot, not a torn copy
    assert not list(served.home.glob(".backup*"))  # the server's temporary snapshots are gone


def test_backup_as_json_names_the_server(served: LiveServer, tmp_path: Path) -> None:
    result = mlops("server", "backup", str(tmp_path / "b.db"), "--url", served.url, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["source"] == served.url and answer["schema_version"] == len(MIGRATIONS)
    assert answer["bytes"] == (tmp_path / "b.db").stat().st_size > 0


def test_restore_is_refused_while_a_server_serves_the_home(served: LiveServer, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    assert mlops("server", "backup", str(copy), "--url", served.url).exit_code == 0
    result = mlops("server", "restore", str(copy), "--home", str(served.home))
    assert result.exit_code == 1
    assert f"already served by pid {served.process.pid}" in said(result) and "stop it first" in said(result)
    assert not list(served.home.glob("mlops.db.before-restore-*"))
    with Client(served.url) as client:
        assert client.health().status == "ok"


def test_backup_and_restore_of_a_home_no_server_serves(served: LiveServer, quiet_home: Path, tmp_path: Path) -> None:
    quiet_copy = tmp_path / "quiet.db"
    offline = mlops("server", "backup", str(quiet_copy), "--home", str(quiet_home))
    assert offline.exit_code == 0, offline.output
    assert "no server running" in said(offline) and _runs(quiet_copy) == ["old"]

    served_copy = tmp_path / "served.db"
    assert mlops("server", "backup", str(served_copy), "--url", served.url).exit_code == 0
    restored = mlops("server", "restore", str(served_copy), "--home", str(quiet_home), "--json")
    assert restored.exit_code == 0, restored.output
    kept = Path(json.loads(restored.stdout)["kept"])
    assert kept.name.startswith("mlops.db.before-restore-") and _runs(kept) == ["old"]
    assert _runs(quiet_home / "mlops.db") == _runs(served_copy)
    with make_client(Settings(home=quiet_home)) as http:  # a server starts on the restored database
        assert http.get("/healthz").status_code == 200

    back = mlops("server", "restore", str(quiet_copy), "--home", str(quiet_home))
    assert back.exit_code == 0 and "kept as" in said(back)
    assert _runs(quiet_home / "mlops.db") == ["old"]


@pytest.mark.parametrize("bad", ["garbage", "not mlops", "newer", "damaged", "missing"])
def test_restore_refuses_a_file_that_is_not_a_sound_mlops_database(quiet_home: Path, tmp_path: Path, bad: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The backend's restore, as `mlops server restore` runs it (its process, in this one: the CLI's relay of
    the error line is tested above)."""
    before = _digest(quiet_home / "mlops.db")
    source = tmp_path / "bad.db"
    reason = _make_bad(source, bad, quiet_home)
    assert maintenance.main(["restore", str(source), "--home", str(quiet_home)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and reason in error and "Traceback" not in error
    assert _digest(quiet_home / "mlops.db") == before
    assert not (quiet_home / "mlops.db.restoring").exists()


def _make_bad(path: Path, bad: str, home: Path) -> str:
    """Write a bad backup at `path`; the words the refusal must say."""
    if bad == "garbage":
        path.write_bytes(b"\x00garbage" * 4096)
        return "not a valid database"
    if bad == "missing":
        return "not a database file"
    if bad == "not mlops":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (text)")
        return "not an mlops database"
    maintenance.backup(home / "mlops.db", path)
    if bad == "newer":
        with sqlite3.connect(path) as conn:
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        return "newer than this code"
    with sqlite3.connect(path) as conn:  # damaged: one table's pages overwritten in the middle of the file
        conn.execute("PRAGMA journal_mode = DELETE")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:(root - 1) * page_size + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return "is not a valid database (database disk image is malformed)"
