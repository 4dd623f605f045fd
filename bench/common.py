"""Helpers for the benchmarks: a real backend on a temp home and a free port."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_backend(source: Path | None = None) -> Iterator[tuple[str, Path]]:
    """Start `python -m backend.server` on a temp home; yield (url, home); stop it at the end.
    `source`: a checkout to run the backend from instead of this one (to compare versions)."""
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        home = Path(folder)
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.server", "--port", str(port), "--home", str(home)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=source, env={**os.environ, "PYTHONPATH": str(source)} if source else None,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(f"{url}/healthz", process, "backend")
        try:
            yield url, home
        finally:
            process.terminate()
            process.wait(timeout=15)


@dataclass
class Backend:
    """`python -m backend.server` on `home` and `port` that can be killed and started again on the same
    address (the crash runs). Its output goes to `<home>.log` beside the home, never to a pipe nobody
    reads. It runs with the product's defaults: the variables the tests set for their own servers
    (`DEFAULTED`) are dropped from this process's environment; `env` sets any on top."""

    DEFAULTED: ClassVar[tuple[str, ...]] = ("MLOPS_TOKEN", "MLOPS_ALLOWED_HOSTS", "MLOPS_WARM_WORKER")

    home: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home.with_name(f"{self.home.name}.log")

    def start(self, seconds: float = 120) -> None:
        """Start it and wait until /healthz answers (a port still held by a dying server is retried)."""
        env = {k: v for k, v in os.environ.items() if k not in self.DEFAULTED} | self.env
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend.server", "--port", str(self.port), "--home", str(self.home)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=Path(__file__).resolve().parent.parent)
        wait_until_healthy(f"{self.url}/healthz", self.process, f"backend (see {self.log})", seconds)

    def memory(self) -> tuple[int, int]:
        """Resident bytes of the server and of all its children (the job workers): (server, children)."""
        if self.process is None:
            return 0, 0
        try:
            server = psutil.Process(self.process.pid)
            own = server.memory_info().rss
            children = server.children(recursive=True)
        except psutil.Error:
            return 0, 0
        rest = 0
        for child in children:
            try:
                rest += child.memory_info().rss
            except psutil.Error:
                pass
        return own, rest

    def kill(self) -> list[psutil.Process]:
        """SIGKILL the server alone, as a crash would; its children as they were just before."""
        if self.process is None:
            return []
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return children

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 30 s); the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def wait_until_healthy(health_url: str, process: subprocess.Popen[bytes], what: str, seconds: float = 120) -> None:
    """Wait until `health_url` answers 200 (a busy 2-core machine can take half a minute to import a
    server); kill the process and raise if it does not within `seconds`, raise at once if it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(health_url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode} before answering") from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not start")


def report(name: str, value: float, unit: str, target: str | None = None, **extra: object) -> None:
    """Print one JSON line per figure."""
    line: dict[str, object] = {"bench": name, "value": round(value, 3), "unit": unit}
    if target:
        line["target"] = target
    line.update(extra)
    print(json.dumps(line), flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
