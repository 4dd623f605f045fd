"""The embedded default: when `MLOPS_URL` is unset and nothing answers on the default address,
start a local backend in the background and wait for it.

The backend runs as its own process (`python -m backend.server`), so this module never imports it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import platformdirs

from .client import DEFAULT_URL, resolve_url


def default_home() -> Path:
    env = os.environ.get("MLOPS_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("mlops-tui"))


def is_up(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def spawn_server(host: str, port: int, home: Path) -> subprocess.Popen[bytes]:
    """Start `python -m backend.server` detached, logging to `<home>/server.log`."""
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "backend.server", "--host", host, "--port", str(port), "--home", str(home)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_up(url, timeout=0.5):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def ensure_backend(url: str | None = None, default_url: str = DEFAULT_URL) -> str:
    """Return the backend URL to use, starting the embedded default when that is what the user gets:
    no `url`, no `MLOPS_URL`, and nothing answering at `default_url`."""
    if url is not None or os.environ.get("MLOPS_URL"):
        return resolve_url(url)
    if is_up(default_url):
        return default_url
    home = default_home()
    address = urlsplit(default_url)
    process = spawn_server(address.hostname or "127.0.0.1", address.port or 5055, home)
    if not wait_until_up(default_url, process):
        raise RuntimeError(f"could not start a local backend; see {home / 'server.log'}")
    return default_url
