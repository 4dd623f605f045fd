"""A job's log with a size cap: the worker's stdout and stderr (and its children's, say a joblib pool's)
go through a pipe to a thread that writes the log file and keeps it under `max_bytes`.

Under the cap every byte is kept. Past it the file holds its first half (to the last whole line), then
a line saying how many bytes were cut, then the latest output: a quarter to a half of the cap, from a
line's start. Bytes are written as they come (a SIGKILL loses at most what sits in the pipe), and each
byte past the cap is rewritten about twice in all, so a job printing without end costs bounded disk,
bounded memory (half the cap while the tail is compacted) and little I/O.
"""
from __future__ import annotations

import os
import select
import sys
import threading
from pathlib import Path

CHUNK = 64 * 1024
QUIET_SECONDS = 0.1
"""When the worker ends, the thread stops at the first pause this long (children may keep the pipe open)."""


class CappedLog:
    """Write everything sent to `fd` 1 and 2 from now on into `path`, keeping it under `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.head_end: int | None = None
        """Where the kept head ends, once the log was cut (the marker line follows)."""
        self.body_start = 0
        """Where the latest output starts (after the marker, once cut)."""
        self.cut = 0
        self._closing = threading.Event()
        self._read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, name="job-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is left to the file and stop; later output is discarded."""
        sys.stdout.flush()
        sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        self._closing.set()
        self._thread.join(timeout)

    def _pump(self) -> None:
        while True:
            ready, _, _ = select.select([self._read], [], [], QUIET_SECONDS)
            if not ready:
                if self._closing.is_set():
                    return
                continue
            data = os.read(self._read, CHUNK)
            if not data:
                return
            self.write(data)

    def write(self, data: bytes) -> None:
        if self.size + len(data) <= self.max_bytes:
            os.pwrite(self.fd, data, self.size)
            self.size += len(data)
        else:
            self._compact(data)

    def _compact(self, data: bytes) -> None:
        """Keep the head, a marker line and the latest `max_bytes / 4` bytes or so (from a line's start)."""
        if self.head_end is None:
            head = os.pread(self.fd, self.max_bytes // 2, 0)
            newline = head.rfind(b"\n")
            self.head_end = newline + 1 if newline >= len(head) // 2 else len(head)
            self.body_start = self.head_end
        body = os.pread(self.fd, self.size - self.body_start, self.body_start) + data
        keep = self.max_bytes // 4
        tail = body[-keep:]
        newline = tail.find(b"\n")
        if 0 <= newline < len(tail) - 1 and len(body) > keep:
            tail = tail[newline + 1:]
        self.cut += len(body) - len(tail)
        marker = (f"\n[... {self.cut} bytes cut: a job's log keeps its first {self.head_end} bytes and its "
                  f"latest output, {self.max_bytes} bytes at most (MLOPS_JOB_LOG_MAX_BYTES) ...]\n").encode()
        os.ftruncate(self.fd, self.head_end)
        os.pwrite(self.fd, marker + tail, self.head_end)
        self.body_start = self.head_end + len(marker)
        self.size = self.body_start + len(tail)
