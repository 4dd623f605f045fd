"""`mlops server start|status|stop` and `python -m backend.server`, as real processes on free ports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, base_env, free_port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


class Home:
    """A server home on a free port, with the environment the CLI needs to reach it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = base_env(folder, self.url)

    def mlops(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
              ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", *args], env=env or self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    def pid(self) -> int | None:
        try:
            return int((self.folder / "server.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None


@pytest.fixture
def server_home(tmp_path: Path) -> Iterator[Home]:
    home = Home(tmp_path / "server-home")
    yield home
    pid = home.pid()  # never leave a server behind, whatever the test did
    if pid is not None and alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not wait_dead(pid, 10):
            os.kill(pid, signal.SIGKILL)


def test_start_detach_status_stop(server_home: Home) -> None:
    home = server_home
    started = home.mlops("server", "start", "--detach", "--port", str(home.port), "--home", str(home.folder))
    assert started.returncode == 0, started.stderr
    assert str(home.port) in started.stdout
    assert httpx.get(f"{home.url}/healthz", timeout=5).status_code == 200
    pid = home.pid()
    assert pid is not None and alive(pid)

    status = home.mlops("server", "status", "--json", "--home", str(home.folder))
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["running"] is True and document["pid"] == pid and document["url"] == home.url
    human = home.mlops("server", "status", "--home", str(home.folder))
    assert human.returncode == 0 and "running" in human.stdout

    again = home.mlops("server", "start", "--detach", "--port", str(free_port()), "--home", str(home.folder))
    assert again.returncode == 1 and "already running" in again.stderr

    stopped = home.mlops("server", "stop", "--home", str(home.folder))
    assert stopped.returncode == 0, stopped.stderr
    assert wait_dead(pid)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{home.url}/healthz", timeout=2)

    after = home.mlops("server", "status", "--json", "--home", str(home.folder))
    assert after.returncode == 1
    assert json.loads(after.stdout)["running"] is False
    assert home.mlops("server", "status", "--home", str(home.folder)).returncode == 1
    again_stop = home.mlops("server", "stop", "--home", str(home.folder))
    assert again_stop.returncode == 1 and again_stop.stderr.startswith("error:")
    # backend/server.py: `<home>/server.pid` is written while serving and removed on a clean stop
    assert not (home.folder / "server.pid").exists(), "server.pid left behind after `mlops server stop` (SIGTERM)"


def test_cli_foreground_refuses_non_loopback_without_token(server_home: Home) -> None:
    home = server_home
    result = home.mlops("server", "start", "--host", "0.0.0.0", "--port", str(home.port), "--home",
                        str(home.folder), timeout=120)
    assert result.returncode != 0
    assert "MLOPS_TOKEN" in result.stderr and "0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{home.url}/healthz", timeout=2)


def test_cli_detach_refuses_non_loopback_without_token_with_a_clear_message(server_home: Home) -> None:
    home = server_home
    result = home.mlops("server", "start", "--detach", "--host", "0.0.0.0", "--port", str(home.port),
                        "--home", str(home.folder), timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{home.url}/healthz", timeout=2)
    assert "MLOPS_TOKEN" in result.stderr, f"the reason is not on stderr: {result.stderr!r}"


def test_cli_non_loopback_with_token_starts_and_requires_it(server_home: Home) -> None:
    home = server_home
    env = {**home.env, "MLOPS_TOKEN": "s3cret-token"}
    started = home.mlops("server", "start", "--detach", "--host", "0.0.0.0", "--port", str(home.port),
                         "--home", str(home.folder), env=env)
    assert started.returncode == 0, started.stderr
    assert httpx.get(f"{home.url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{home.url}/api/v1/experiments", timeout=5).status_code == 401
    authorised = httpx.get(f"{home.url}/api/v1/experiments", headers={"Authorization": "Bearer s3cret-token"},
                           timeout=5)
    assert authorised.status_code == 200
    listed = home.mlops("experiments", "list", "--json", env=env)  # the CLI sends MLOPS_TOKEN
    assert listed.returncode == 0 and json.loads(listed.stdout)["experiments"][0]["name"] == "Default"
    assert home.mlops("server", "status", "--home", str(home.folder), env=env).returncode == 0
    pid = home.pid()
    assert home.mlops("server", "stop", "--home", str(home.folder), env=env).returncode == 0
    assert pid is not None and wait_dead(pid)


def test_status_shows_home_pid_and_version(server_home: Home) -> None:
    home = server_home
    started = home.mlops("server", "start", "--detach", "--port", str(home.port), "--home", str(home.folder))
    assert started.returncode == 0, started.stderr
    pid = home.pid()
    health = httpx.get(f"{home.url}/healthz", timeout=5).json()
    assert health["home"] == str(home.folder.resolve()) and health["pid"] == pid  # fields added, none removed
    assert {"status", "version", "schema_version"} <= set(health)
    document = json.loads(home.mlops("server", "status", "--json", "--home", str(home.folder)).stdout)
    assert document["home"] == str(home.folder.resolve()) and document["pid"] == pid
    human = home.mlops("server", "status", "--home", str(home.folder))
    from mlops_tui import __version__
    assert f"home {home.folder.resolve()}" in human.stdout and f"pid {pid}" in human.stdout
    assert f"version {__version__}" in human.stdout


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process, the kind a stale pid file may name after a crash or a reboot."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait(timeout=10)


def test_stop_never_signals_a_process_a_stale_pid_file_names(server_home: Home,
                                                             bystander: subprocess.Popen[bytes]) -> None:
    home = server_home
    home.folder.mkdir(parents=True)
    (home.folder / "server.pid").write_text(f"{bystander.pid} 127.0.0.1 {home.port}\n")
    stopped = home.mlops("server", "stop", "--home", str(home.folder))
    assert stopped.returncode == 1
    assert "stale" in stopped.stderr and str(bystander.pid) in stopped.stderr
    assert "no server is running" in stopped.stderr
    time.sleep(0.3)
    assert bystander.poll() is None, "server stop signalled an unrelated process"
    assert not (home.folder / "server.pid").exists()  # the stale file is removed
    # and `start --detach` is not blocked by it
    (home.folder / "server.pid").write_text(f"{bystander.pid} 127.0.0.1 {home.port}\n")
    started = home.mlops("server", "start", "--detach", "--port", str(home.port), "--home", str(home.folder))
    assert started.returncode == 0, started.stderr
    assert "stale" in started.stderr and home.pid() not in (None, bystander.pid)
    assert bystander.poll() is None


def test_stop_leaves_a_server_of_another_home_alone(server_home: Home, tmp_path: Path) -> None:
    """A pid file copied from (or pointing at) another home's live server is not this home's server."""
    home = server_home
    started = home.mlops("server", "start", "--detach", "--port", str(home.port), "--home", str(home.folder))
    assert started.returncode == 0, started.stderr
    pid = home.pid()
    other = tmp_path / "other-home"
    other.mkdir()
    (other / "server.pid").write_text((home.folder / "server.pid").read_text())
    stopped = home.mlops("server", "stop", "--home", str(other))
    assert stopped.returncode == 1 and "stale" in stopped.stderr
    assert pid is not None and alive(pid)
    assert httpx.get(f"{home.url}/healthz", timeout=5).status_code == 200
