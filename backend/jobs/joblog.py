"""A job's log: `<home>/jobs/<job_id>/job.log`, which the worker's output goes to, a timestamped line
at a time."""
from __future__ import annotations

import time
from pathlib import Path

from ..paths import resolve_inside


def job_folder(home: Path, job_id: str) -> Path:
    """The job's folder, its id checked by the one path rule (`backend.paths`) like any name from a row."""
    return resolve_inside(home / "jobs", job_id, "job_id", "the jobs folder")


def log_path(home: Path, job_id: str) -> Path:
    return job_folder(home, job_id) / "job.log"


def log(message: str) -> None:
    """A line in the running job's log (the worker's stdout is the log)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)
