"""`mlops runs download RUN [PATH] [--dest DIR]` against the live server, as a real process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, LiveServer, base_env, unique

from mlops_tui import Client

FILES = {"model/model.skops": b"\x00model\xff" * 50, "model/signature.json": b'{"a": "float"}',
         "report.txt": b"accuracy 0.9\n"}


def mlops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def run_id(live_server: LiveServer) -> str:
    with Client(url=live_server.url) as client:
        run = client.create_run(experiment=unique("download"))
        for path, content in FILES.items():
            client.upload_artifact(run.id, path, content)
        return run.id


@pytest.fixture
def env(live_server: LiveServer, tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path / "home", live_server.url)


def written(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_download_everything_a_folder_and_a_file(env: dict[str, str], run_id: str, tmp_path: Path) -> None:
    everything = mlops(env, "runs", "download", run_id[:8], "--dest", str(tmp_path / "all"))
    assert everything.returncode == 0, everything.stderr
    assert written(tmp_path / "all") == FILES and "downloaded 3 files" in everything.stdout
    folder = mlops(env, "runs", "download", run_id, "model", "--dest", str(tmp_path / "folder"), "--json")
    assert folder.returncode == 0, folder.stderr
    assert written(tmp_path / "folder") == {k: v for k, v in FILES.items() if k.startswith("model/")}
    assert sorted(f["path"] for f in json.loads(folder.stdout)["files"]) == ["model/model.skops",
                                                                             "model/signature.json"]
    one = mlops(env, "runs", "download", run_id, "model/signature.json", "--dest", str(tmp_path / "one"))
    assert one.returncode == 0 and written(tmp_path / "one") == {"signature.json": FILES["model/signature.json"]}


def test_download_refuses_paths_that_leave_the_destination(env: dict[str, str], run_id: str,
                                                            tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "model").symlink_to(outside, target_is_directory=True)  # a link in DEST leading out of it
    result = mlops(env, "runs", "download", run_id, "--dest", str(dest))
    assert result.returncode == 1 and "refusing" in result.stderr and "Traceback" not in result.stderr
    assert written(outside) == {} and not (dest / "report.txt").exists()  # nothing written at all
    climbing = mlops(env, "runs", "download", run_id, "../../etc/passwd", "--dest", str(dest))
    assert climbing.returncode == 1 and "inside the run's folder" in climbing.stderr


def test_download_of_nothing_is_an_error(env: dict[str, str], live_client: Client, tmp_path: Path) -> None:
    empty = live_client.create_run(experiment=unique("download-empty")).id
    result = mlops(env, "runs", "download", empty, "--dest", str(tmp_path / "x"))
    assert result.returncode == 1 and "no artifacts" in result.stderr
    missing = mlops(env, "runs", "download", empty, "nope/", "--dest", str(tmp_path / "x"))
    assert missing.returncode == 1 and "not found" in missing.stderr
