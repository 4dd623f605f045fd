"""The embedded default: with no MLOPS_URL and nothing answering, a local backend is started."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from mlops_tui.embedded import ensure_backend


def test_starts_a_backend_once_when_nothing_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLOPS_URL", raising=False)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    default = f"http://127.0.0.1:{free_port()}"
    url = ensure_backend(default_url=default)
    pid_file = tmp_path / "home" / "server.pid"
    try:
        assert url == default
        health = httpx.get(f"{url}/healthz").json()
        assert health["status"] == "ok"
        assert int(pid_file.read_text().split()[0]) == health["pid"]
        assert ensure_backend(default_url=default) == default  # already up: no second server
        assert int(pid_file.read_text().split()[0]) == health["pid"]
        assert (tmp_path / "home" / "mlops.db").exists()
    finally:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def test_an_explicit_url_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_URL", "http://127.0.0.1:9")
    assert ensure_backend() == "http://127.0.0.1:9"  # nothing is started for a URL the user chose
    assert ensure_backend("http://example.invalid:1/") == "http://example.invalid:1"
