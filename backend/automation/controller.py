"""`Controller`: a thread that runs the backend's periodic tasks in turn, every `interval` seconds.

Each task is a function of the current time (epoch ms). A task that raises is reported on stderr and
run again next round; it never stops the others. `run_once` runs every task now, in the calling
thread (for tests and `--dry-run` paths that want a round without waiting).
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..clock import now_ms

Task = Callable[[int], None]


class Service(Protocol):
    """Work with a thread of its own that starts and stops with the controller (the webhook deliverer)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Periodic:
    name: str
    run: Task
    every: float | None = None
    """Seconds between runs of this task (default: the controller's interval)."""
    last: float = 0.0


class Controller:
    """Runs registered tasks every `interval` seconds in one daemon thread, in registration order."""

    def __init__(self, interval: float, name: str = "controller") -> None:
        self.interval = interval
        self.tasks: list[Periodic] = []
        self.services: list[Service] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        """Held while a round runs, so `run_once` from another thread never overlaps the timer's round."""
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def add(self, name: str, task: Task, every: float | None = None) -> None:
        self.tasks.append(Periodic(name, task, every))

    def attach(self, service: Service) -> None:
        self.services.append(service)

    def start(self) -> None:
        self._thread.start()
        for service in self.services:
            service.start()

    def stop(self) -> None:
        self._stop.set()
        for service in self.services:
            service.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self, now: int | None = None, due_only: bool = False) -> None:
        """Run every task (only those whose own period has passed, with `due_only`)."""
        with self._lock:
            clock = time.monotonic()
            for task in self.tasks:
                if due_only and task.every is not None and clock - task.last < task.every:
                    continue
                task.last = clock
                if self._stop.is_set():
                    return
                try:
                    task.run(now_ms() if now is None else now)
                except Exception as error:  # one task's failure must not stop the others
                    print(f"{task.name}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once(due_only=True)
