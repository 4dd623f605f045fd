"""Helpers for the benchmarks: a real backend on a temp home and a free port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


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


def wait_until_healthy(health_url: str, process: subprocess.Popen[bytes], what: str, seconds: float = 120) -> None:
    """Wait until `health_url` answers 200 (a busy 2-core machine can take half a minute to import a
    server); kill the process and raise if it does not within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(health_url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
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
