"""The console against a real backend process: data logged with the SDK shows up; the backend
stopping shows the banner and its return heals the views; and, inside tmux, the real `mlops tui`
draws at 80×24 and ends when its terminal goes away."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest

import mlops_tui
from mlops_tui.app import MlopsApp
from mlops_tui.client import AsyncClient
from mlops_tui.screens.run_detail import RunDetailScreen
from mlops_tui.screens.runs import RunsScreen
from mlops_tui.widgets.banner import UnreachableBanner

from .conftest import QUIET, settle

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.server", "--port", str(port), "--home", str(home)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("backend did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[str, Path, list[subprocess.Popen[bytes]]]]:
    port = _free_port()
    processes = [_start(tmp_path, port)]
    url = f"http://127.0.0.1:{port}"
    with mlops_tui.Client(url) as client:
        for lr in (0.1, 0.01):
            run = client.create_run("live")
            points = [{"key": "loss", "value": 1.0 / (step + 1) + lr, "step": step} for step in range(30)]
            client.log_batch(run.id, params={"lr": lr, "model": "rf"}, metrics=points)
            client.update_run(run.id, status="FINISHED")
    yield url, tmp_path, processes
    for process in processes:
        _stop(process)


async def test_real_backend_down_and_back(backend: tuple[str, Path, list[subprocess.Popen[bytes]]]) -> None:
    url, home, processes = backend
    config = replace(QUIET, retry_seconds=0.3)
    app = MlopsApp(client=AsyncClient(url), config=config, start="runs live")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert runs.total == 2 and runs.table.row_count == 2
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run is not None
        assert detail.history is not None and len(detail.history.steps) == 30
        await pilot.press("q")
        _stop(processes[0])
        await pilot.press("r")
        await settle(pilot)
        assert app.backend_state.up is False
        assert runs.query_one(UnreachableBanner).has_class("-shown")
        assert runs.table.row_count == 2  # last data kept
        processes.append(_start(home, int(url.rsplit(":", 1)[1])))
        deadline = time.monotonic() + 30
        while app.backend_state.up is not True and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await settle(pilot)
        assert app.backend_state.up is True
        assert not runs.query_one(UnreachableBanner).has_class("-shown")
        assert runs.last_error is None and runs.table.row_count == 2


def _capture(server: str) -> str:
    return subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "tui"], capture_output=True,
                          text=True).stdout


def _wait_for(server: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _capture(server)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; screen was:\n{screen}")


def _console_env(url: str, home: Path) -> dict[str, str]:
    return {**os.environ, "MLOPS_URL": url, "TEXTUAL_ANIMATIONS": "none", "NO_COLOR": "1",
            "MLOPS_CONFIG": str(home / "none.toml"), "TERM": "xterm-256color"}


def test_in_tmux_80x24_and_exits_when_the_terminal_goes(
        backend: tuple[str, Path, list[subprocess.Popen[bytes]]]) -> None:
    assert shutil.which("tmux"), "this test needs tmux: apt-get install -y tmux (.ci/run installs it)"
    url, home, _ = backend
    server = f"mlops-test-{uuid.uuid4().hex[:8]}"
    env = _console_env(url, home)
    command = f"{sys.executable} -m mlops_tui.cli.main tui"
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command],
                   env=env, check=True, cwd=ROOT)
    try:
        screen = _wait_for(server, "live")
        assert "Experiments" in screen and "Latest runs" in screen
        pane_pid = int(subprocess.run(["tmux", "-L", server, "display", "-p", "-t", "tui", "#{pane_pid}"],
                                      capture_output=True, text=True).stdout)
        pane = psutil.Process(pane_pid)
        processes = [pane, *pane.children(recursive=True)]
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "tui", ":"], check=True)
        _wait_for(server, ":overview")  # the command bar's hint
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "tui", "runs live", "Enter"], check=True)
        screen = _wait_for(server, "Runs › live")
        screen = _wait_for(server, "FINISHED")
        assert "2 runs" in screen
        assert all(len(line) <= 80 for line in screen.splitlines())
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
        Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", server).unlink(missing_ok=True)
    gone, alive = psutil.wait_procs(processes, timeout=30)  # SIGHUP from the vanished terminal
    assert not alive, f"still running after the terminal went away: {alive}"


def _read_until(fd: int, text: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            seen += os.read(fd, 65536)
    assert text in seen, f"{text!r} never appeared; got {seen[-500:]!r}"
    return seen


def test_exits_when_its_pty_hangs_up_as_session_leader(
        backend: tuple[str, Path, list[subprocess.Popen[bytes]]]) -> None:
    """The console leads its terminal's session (as over SSH), so a hang-up brings SIGHUP *and*
    SIGCONT, which Textual's driver answers by restarting on the dead tty: it must exit anyway."""
    url, home, _ = backend
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    def take_terminal() -> None:  # runs in the child: a new session whose controlling tty is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    console = subprocess.Popen([sys.executable, "-m", "mlops_tui.cli.main", "tui"], cwd=ROOT,
                               env=_console_env(url, home), stdin=slave, stdout=slave, stderr=slave,
                               preexec_fn=take_terminal)
    os.close(slave)
    try:
        _read_until(master, b"Latest runs", timeout=60)
    finally:
        os.close(master)  # the terminal goes away
    try:
        code = console.wait(timeout=30)
    except subprocess.TimeoutExpired:
        console.kill()
        raise AssertionError("the console was still running 30 s after its terminal hung up") from None
    assert code == 129


GUARDED_BLOCKED_LOOP = """
import asyncio, signal, sys, threading
from mlops_tui.hangup import guard_terminal

def resumed(signum, frame):  # stands for Textual's SIGCONT handler, which restarts the driver
    print("resumed", flush=True)

async def main():
    signal.signal(signal.SIGCONT, resumed)
    guard_terminal(asyncio.get_running_loop(), lambda code: print("exit asked", code, flush=True))
    print("ready", flush=True)
    threading.Event().wait()  # the event loop blocked for good, as by a writer queue that never drains

asyncio.run(main())
"""


def test_a_hang_up_ends_the_process_even_when_the_event_loop_is_stuck() -> None:
    """The race behind the flaky exit, made deterministic: the loop never runs again, so only the
    guard's own thread can end the process; SIGCONT passes on before the hang-up, not after."""
    process = subprocess.Popen([sys.executable, "-c", GUARDED_BLOCKED_LOOP], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGCONT)  # `fg` after ctrl+z: the driver resumes
        assert process.stdout.readline() == "resumed\n"
        process.send_signal(signal.SIGHUP)
        process.send_signal(signal.SIGCONT)  # the kernel's companion of a hang-up: must not resume
        started = time.monotonic()
        code = process.wait(timeout=20)  # never, without the guard's own thread
        took = time.monotonic() - started
    finally:
        process.kill()
    assert code == 129 and took < 10  # 1 s of grace; the rest is room for a loaded machine
    assert process.stdout.read() == ""  # not resumed after the hang-up (and the stuck loop asked nothing)
