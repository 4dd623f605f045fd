"""One server per home: an exclusive `flock` on `<home>/server.lock`, held for the server's life.

The kernel frees the lock when the process ends, however it ends (SIGKILL and power loss included), so a
crashed server never blocks a restart, unlike a pid file. The file also says who holds it (`pid host port`),
so the refusal can name the server already serving; `mlops server restore` takes the same lock.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mlops_tui.contract.defaults import PidFile

LOCK_FILE_NAME = "server.lock"


class HomeBusy(Exception):
    """Another process holds the home's lock."""

    def __init__(self, home: Path, holder: PidFile | None) -> None:
        who = (f"pid {holder.pid} on {holder.host}:{holder.port}" if holder is not None and holder.port
               else f"pid {holder.pid}" if holder is not None else "another process")
        super().__init__(f"{home} is already served by {who}")
        self.home = home
        self.holder = holder


class HomeUnusable(Exception):
    """The home folder cannot be created or written (read-only, a file in the way, no permission)."""

    def __init__(self, home: Path, error: OSError) -> None:
        super().__init__(f"cannot use {home} as the home folder: {error.strerror or error} "
                         f"({error.filename or home}); it must be a folder this user can write")
        self.home = home


class HomeLock:
    """The lock on one home; `acquire` or raise, `release` (or the process's end) frees it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self, host: str = "", port: int = 0) -> HomeLock:
        """Take the lock without waiting and write `pid host port` into it; `HomeBusy` when held,
        `HomeUnusable` when the home cannot be written."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise HomeUnusable(self.home, error) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HomeBusy(self.home, holder(self.path)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {host or '-'} {port}\n".encode(), 0)
        except OSError as error:
            os.close(fd)
            raise HomeUnusable(self.home, error) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: Path) -> PidFile | None:
    """Who wrote the lock file last (the holder, when it is held)."""
    return PidFile.load(path)
