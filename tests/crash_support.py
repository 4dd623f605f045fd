"""Helpers for the crash tests: a server that can be SIGKILLed and restarted quickly, and a writer process.

`python tests/crash_support.py zygote LOG`: imports the backend once, then forks a fresh
`python -m backend.server` (its `main`) for every `PORT HOME` line read on stdin, and prints the child's
pid. Each child is a real server process, killed for real with SIGKILL; the fork only saves the seconds the
imports take, so a test can crash and restart a server many times within its budget.

`python tests/crash_support.py writer URL RUN_ID ACKED STOP`: logs metric batches through the real client
(retrying through restarts, one `Idempotency-Key` per batch) and appends the number of every batch the
server acknowledged to ACKED, until the file STOP exists. Batch `i` holds steps `i*BATCH .. i*BATCH+BATCH-1`
of metric `m` without timestamps: the server stamps them, so a batch stored twice shows as repeated steps.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BATCH = 200
"""Points per batch."""


class Zygote:
    """A process that forks backend servers on demand (see the module's docstring)."""

    def __init__(self, log: Path, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
        environment.pop("MLOPS_TOKEN", None)
        environment.pop("MLOPS_ALLOWED_HOSTS", None)
        self.log = log
        self.process = subprocess.Popen([sys.executable, __file__, "zygote", str(log)], cwd=ROOT, env=environment,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def spawn(self, port: int, home: Path) -> int:
        """A new server on `port` serving `home`; its pid."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{port} {home}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


class CrashingServer:
    """One home and port, served by a zygote's children: `start`, `kill` (SIGKILL), `start` again."""

    def __init__(self, zygote: Zygote, home: Path, port: int) -> None:
        self.zygote, self.home, self.port = zygote, home, port
        self.url = f"http://127.0.0.1:{port}"
        self.pid: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.pid = self.zygote.spawn(self.port, self.home)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=1.0)
                if health.status_code == 200 and health.json().get("pid") == self.pid:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if not _alive(self.pid):
                raise RuntimeError(f"server pid {self.pid} exited while starting")
            time.sleep(0.02)
        raise RuntimeError(f"server pid {self.pid} did not answer within {timeout} s")

    def kill(self) -> None:
        """SIGKILL, then wait until the process is gone (reaped by the zygote)."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while _alive(self.pid):
            time.sleep(0.005)
        self.pid = None


def _alive(pid: int) -> bool:
    """Until the zygote has reaped it: a killed process's other threads may still be exiting (holding its
    files, the home's lock among them) after its main thread shows as a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_zygote(log: str) -> int:
    """Fork a server per `PORT HOME` line; children's output goes to `log`."""
    import backend.app  # noqa: F401 - the imports every child would otherwise repeat
    from backend import server

    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    for line in sys.stdin:
        port, home = line.split(maxsplit=1)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 1
            try:
                code = server.main(["--host", "127.0.0.1", "--port", port, "--home", home.strip()])
            finally:
                os._exit(code)
        print(pid, flush=True)
    return 0


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_writer(url: str, run_id: str, acked: str, stop: str) -> int:
    from mlops_tui import Client

    with Client(url, retry_seconds=120, timeout=30) as client, open(acked, "a") as out:
        batch = 0
        while not os.path.exists(stop):
            steps = list(range(batch * BATCH, (batch + 1) * BATCH))
            series: list[dict[str, Any]] = [{"key": "m", "steps": steps, "values": [float(s) for s in steps]}]
            client.log_batch(run_id, series=series)
            out.write(f"{batch}\n")
            out.flush()
            batch += 1
    return 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    sys.exit(run_zygote(*rest) if command == "zygote" else run_writer(*rest))
