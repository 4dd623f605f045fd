"""Atomic writes: every file the backend writes goes temp file -> fsync -> rename -> fsync of the folder, and
only then the database row. A failure at any step leaves no row, no partial file, no temp file, and the file
that was there before (if any) byte for byte. Failures are real ones: an upload cut mid-body by a client that
hangs up (a raw socket to the live server), the size cap hit mid-stream, a folder on the way that is a file,
and a write that the kernel refuses part-way (`RLIMIT_FSIZE`: the process may not write past N bytes, so
`write` fails with EFBIG exactly where a full disk would fail with ENOSPC)."""
from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import CLIENT_HEADERS, LiveServer, make_client, unique
from fastapi.testclient import TestClient
from registry_support import tiny_model_files
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from backend import Settings
from backend.pipelines import model_io
from mlops_tui.contract import atomic
from mlops_tui.contract.atomic import TEMP_PREFIX

CSV = b"a,b\n1,2\n3,4\n"


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith((TEMP_PREFIX, ".mlops-download-"))]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- cut mid-body: the live server, a client that hangs up -------------------------------------------------


def cut_upload(server: LiveServer, method: str, target: str, declared: int, sent: int) -> None:
    """Send headers promising `declared` bytes, then `sent` of them, then hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"X-Mlops-Client: tests\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {declared}\r\n\r\n")
        sock.sendall(head.encode() + b"x" * sent)
        time.sleep(0.3)  # the server is reading the body into its temp file


def settled(folder: Path, timeout: float = 15.0) -> list[Path]:
    """The temp files left in `folder` once the server has noticed the hang-up (empty when all is well)."""
    deadline = time.monotonic() + timeout
    while temp_files(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    return temp_files(folder)


@pytest.fixture(scope="module")
def live(live_server: LiveServer) -> Iterator[tuple[LiveServer, httpx.Client, dict[str, str]]]:
    with httpx.Client(base_url=live_server.url, headers=CLIENT_HEADERS, timeout=30) as http:
        run = http.post("/api/v1/runs", json={"experiment": unique("atomic")}).json()
        assert http.put(f"/api/v1/runs/{run['id']}/artifacts/kept.bin", content=b"old bytes").status_code == 201
        yield live_server, http, run


def test_an_upload_cut_mid_body_leaves_nothing_and_keeps_the_old_file(
        live: tuple[LiveServer, httpx.Client, dict[str, str]]) -> None:
    server, http, run = live
    folder = server.home / "artifacts" / run["experiment_id"] / run["id"]
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}"
    for target in (f"/api/v1/runs/{run['id']}/artifacts/new.bin", f"/api/v1/runs/{run['id']}/artifacts/kept.bin",
                   f"{proxy}/mlflow-new.bin", f"{proxy}/kept.bin"):
        cut_upload(server, "PUT", target, declared=4_000_000, sent=1_500_000)
        assert settled(folder) == [], target
    assert sorted(p.name for p in folder.iterdir()) == ["kept.bin"]
    assert (folder / "kept.bin").read_bytes() == b"old bytes"
    assert http.get(f"/api/v1/runs/{run['id']}/artifacts/kept.bin").content == b"old bytes"


def test_a_dataset_upload_cut_mid_body_stores_no_version_and_no_file(
        live: tuple[LiveServer, httpx.Client, dict[str, str]]) -> None:
    server, http, _ = live
    name = unique("cut")
    root = server.home / "datasets"
    before = sorted(p.name for p in root.iterdir()) if root.exists() else []
    cut_upload(server, "POST", f"/api/v1/datasets/{name}/versions?filename=big.csv", declared=4_000_000,
               sent=1_500_000)
    assert settled(root) == []
    assert http.get(f"/api/v1/datasets/{name}").status_code == 404
    assert sorted(p.name for p in root.iterdir()) == before


# --- refused mid-stream or on the way: the in-process app ---------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, dict[str, str]]]:
    """An app whose body cap is 64 KB, with a run holding `kept.bin`."""
    home = tmp_path_factory.mktemp("atomic-home")
    with make_client(Settings(home=home, token=None, max_body_bytes=64 * 1024)) as http:
        run = http.post("/api/v1/runs", json={"experiment": "atomic"}).json()
        assert http.put(f"/api/v1/runs/{run['id']}/artifacts/kept.bin", content=b"old bytes").status_code == 201
        yield http, home, run


def chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body streamed without a Content-Length: the cap is met mid-stream, after bytes were written."""
    for start in range(0, total, size):
        yield b"y" * min(size, total - start)


def test_the_size_cap_hit_mid_stream_leaves_nothing_and_keeps_the_old_file(
        small: tuple[TestClient, Path, dict[str, str]]) -> None:
    http, home, run = small
    folder = home / "artifacts" / run["experiment_id"] / run["id"]
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}"
    for target in (f"/api/v1/runs/{run['id']}/artifacts/kept.bin", f"/api/v1/runs/{run['id']}/artifacts/new.bin",
                   f"{proxy}/kept.bin", f"{proxy}/new.bin"):
        response = http.put(target, content=chunks(200 * 1024))
        assert response.status_code in (413, 400) and "larger than" in response.text, (target, response.text)
    assert temp_files(home) == []
    assert sorted(p.name for p in folder.iterdir()) == ["kept.bin"]
    assert (folder / "kept.bin").read_bytes() == b"old bytes"
    dataset = http.post("/api/v1/datasets/capped/versions", params={"filename": "big.csv"}, content=chunks(200 * 1024))
    assert dataset.status_code == 413
    assert http.get("/api/v1/datasets/capped").status_code == 404
    assert [p for p in (home / "datasets").iterdir()] == [] if (home / "datasets").exists() else True


def test_a_folder_on_the_way_that_is_a_file_is_refused_and_nothing_changes(
        small: tuple[TestClient, Path, dict[str, str]]) -> None:
    http, home, run = small
    folder = home / "artifacts" / run["experiment_id"] / run["id"]
    response = http.put(f"/api/v1/runs/{run['id']}/artifacts/kept.bin/inner.txt", content=b"x")
    assert (response.status_code, response.json()["field"]) == (422, "path")
    assert "a folder on the way is a file" in response.json()["detail"]
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}"
    mlflow = http.put(f"{proxy}/kept.bin/x", content=b"x")
    assert mlflow.status_code == 400 and mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (folder / "kept.bin").read_bytes() == b"old bytes" and temp_files(home) == []


# --- the kernel refuses a write part-way (RLIMIT_FSIZE) ------------------------------------------------------


class FileSizeLimit:
    """While active, this process may not write a file past `limit` bytes: `write` fails with EFBIG (the
    signal that would kill the process is ignored). Only around one call, on the main thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __enter__(self) -> None:
        self.old_limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.old_limits[1]))

    def __exit__(self, *_: object) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, self.old_limits)
        signal.signal(signal.SIGXFSZ, self.old_handler)


def big_pipeline(rows: int = 8_000) -> Pipeline:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    return Pipeline([("model", KNeighborsClassifier(algorithm="brute"))]).fit(frame, frame["a"] > 0)


def test_a_model_save_the_kernel_cuts_short_keeps_the_old_model_whole(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    files = tiny_model_files(folder)
    before = {name: digest(folder / name) for name in os.listdir(folder)}
    pipeline = big_pipeline()
    with FileSizeLimit(64 * 1024), pytest.raises(OSError) as cut:
        model_io.save(pipeline, folder, {"inputs": []}, {"features": {}})
    assert cut.value.errno == errno.EFBIG  # the write failed part-way, after 64 KB of the temp file
    assert {name: digest(folder / name) for name in os.listdir(folder)} == before  # nothing replaced, no temp
    assert isinstance(model_io.load(folder / model_io.MODEL_FILE), Pipeline)
    assert len(files) == 3


def test_an_upload_the_kernel_cuts_short_leaves_nothing(small: tuple[TestClient, Path, dict[str, str]]) -> None:
    http, home, run = small
    folder = home / "artifacts" / run["experiment_id"] / run["id"]
    with FileSizeLimit(32 * 1024):
        response = http.put(f"/api/v1/runs/{run['id']}/artifacts/kept.bin", content=b"z" * 60 * 1024)
    assert response.status_code in (500, 507), response.text  # EFBIG: the server's error, told without details
    assert str(home) not in response.text and "Traceback" not in response.text
    assert (folder / "kept.bin").read_bytes() == b"old bytes" and temp_files(home) == []


# --- the primitive -------------------------------------------------------------------------------------------


def test_an_atomic_write_replaces_a_link_and_never_writes_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.db"
    outside.write_bytes(b"precious")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "pipeline.json").symlink_to(outside)
    atomic.write_text(folder / "pipeline.json", "{}")
    assert outside.read_bytes() == b"precious"
    assert not (folder / "pipeline.json").is_symlink() and (folder / "pipeline.json").read_text() == "{}"
    with pytest.raises(RuntimeError), atomic.atomic_file(folder / "pipeline.json") as out:
        out.write(b"half")
        raise RuntimeError("the writer fails")
    assert (folder / "pipeline.json").read_text() == "{}" and temp_files(tmp_path) == []
