"""The embedded default: when `MLOPS_URL` is unset and nothing answers on the default address,
start a local backend in the background and wait for it. Also: finding the server a home's
`server.pid` names, and stopping it, only when it really is that server.

The backend runs as its own process (`python -m backend.server`), so this module never imports it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import platformdirs
import psutil

from .client import resolve_url
from .contract import defaults
from .contract.defaults import DEFAULT_URL, PidFile, pid_file_path, server_log_path
from .credentials import configured_token


def default_home() -> Path:
    """The home folder: `MLOPS_HOME`, else the platform's user data dir."""
    return defaults.default_home(platformdirs.user_data_dir)


def is_up(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def shown_home(home: Path) -> str:
    """`~/.local/share/mlops-tui` rather than the full path, when it is under the user's home."""
    try:
        return "~/" + home.resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return str(home)


def _serves_home(entry: PidFile, home: Path) -> bool:
    """The process at the pid file's address says (on /healthz) it is that pid serving this home."""
    try:
        token = configured_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        health = httpx.get(f"{entry.url}/healthz", timeout=2, headers=headers).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(health, dict) and health.get("pid") == entry.pid and health.get("home") == str(home)


def _runs_backend_for(pid: int, home: Path) -> bool:
    """The process's command line is `python -m backend.server ... --home <home>`."""
    try:
        command = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if "backend.server" not in command or "--home" not in command:
        return False
    given = command[command.index("--home") + 1:][:1]
    return bool(given) and Path(given[0]).expanduser().resolve() == home


def locate_server(home: Path) -> tuple[PidFile | None, PidFile | None]:
    """`(server, stale)`: the backend serving `home` per its pid file, or the stale entry of a pid
    file whose pid is gone or is some other program now (after a crash or a reboot); a stale file
    is removed, so nothing ever signals the process it names."""
    home = home.expanduser().resolve()
    entry = PidFile.load(pid_file_path(home))
    if entry is None:
        return None, None
    if psutil.pid_exists(entry.pid) and (_serves_home(entry, home) or _runs_backend_for(entry.pid, home)):
        return entry, None
    pid_file_path(home).unlink(missing_ok=True)
    return None, entry


def stop_server(entry: PidFile, timeout: float = 15.0) -> bool:
    """SIGTERM to a server `locate_server` found, then wait; whether it stopped in time."""
    try:
        process = psutil.Process(entry.pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def server_command(host: str, port: int, home: Path) -> list[str]:
    """The backend as its own process: `python -m backend.server --host H --port P --home DIR`."""
    return [sys.executable, "-m", "backend.server", "--host", host, "--port", str(port), "--home", str(home)]


def spawn_server(host: str, port: int, home: Path) -> subprocess.Popen[bytes]:
    """Start `python -m backend.server` detached, logging to `<home>/server.log`."""
    home.mkdir(parents=True, exist_ok=True)
    log = open(server_log_path(home), "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(server_command(host, port, home), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)


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
    home = default_home().expanduser().resolve()
    address = urlsplit(default_url)
    process = spawn_server(address.hostname or defaults.DEFAULT_HOST, address.port or defaults.DEFAULT_PORT, home)
    if not wait_until_up(default_url, process):
        raise RuntimeError(f"could not start a local backend; see {server_log_path(home)}")
    print(f"started a backend on {default_url} (home {shown_home(home)}); stop it with: mlops server stop",
          file=sys.stderr, flush=True)
    return default_url
