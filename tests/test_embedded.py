"""The embedded default: with no MLOPS_URL and nothing answering, a local backend is started."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import free_port

from mlops_tui.embedded import ensure_backend, spawn_server, wait_until_up
from scripts.demo import fresh_home


def test_starts_a_backend_once_when_nothing_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLOPS_URL", raising=False)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    default = f"http://127.0.0.1:{free_port()}"
    url = ensure_backend(default_url=default)
    pid_file = tmp_path / "home" / "server.pid"
    try:
        said = capsys.readouterr()
        assert f"started a backend on {default} (home {(tmp_path / 'home').resolve()})" in said.err
        assert said.out == ""  # stdout stays free for --json
        assert url == default
        health = httpx.get(f"{url}/healthz").json()
        assert health["status"] == "ok"
        assert int(pid_file.read_text().split()[0]) == health["pid"]
        assert ensure_backend(default_url=default) == default  # already up: no second server
        assert int(pid_file.read_text().split()[0]) == health["pid"]
        assert "started" not in capsys.readouterr().err
        assert (tmp_path / "home" / "mlops.db").exists()
    finally:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def test_an_explicit_url_is_used_as_given_and_nothing_is_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """With a URL the user chose nothing is started: no child process, nothing bound on the default
    address, no home created, nothing said."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    default = f"http://127.0.0.1:{free_port()}"
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    monkeypatch.setenv("MLOPS_URL", "http://127.0.0.1:9")
    assert ensure_backend(default_url=default) == "http://127.0.0.1:9"
    monkeypatch.delenv("MLOPS_URL")
    assert ensure_backend("http://example.invalid:1/", default_url=default) == "http://example.invalid:1"
    time.sleep(0.5)  # a started server would be binding by now
    assert {child.pid for child in psutil.Process().children(recursive=True)} - before == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{default}/healthz", timeout=2)
    assert not (tmp_path / "home").exists()
    assert capsys.readouterr().err == ""


def test_demo_stops_the_previous_demo_backend_before_emptying_its_home(tmp_path: Path) -> None:
    """`make demo` twice: the first demo's server is stopped (port freed) before its home is deleted."""
    home = tmp_path / "demo-home"
    port = free_port()
    process = spawn_server("127.0.0.1", port, home)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}", process)
        fresh_home(home)
        assert process.wait(timeout=5) is not None  # stopped, not left serving a deleted database
        assert not home.exists()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # the port is free again
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
