"""Job kinds: what a job of each kind runs. The manager starts every job the same way, in a worker
process; the worker looks the job's `kind` up here and calls its handler."""
from __future__ import annotations

from collections.abc import Callable

from ..db import Database
from ..errors import JobFailure
from ..services import training
from ..settings import Settings
from ..store.rows import JobRow

Handler = Callable[[Settings, Database, JobRow], None]
"""Runs the job to its end: records success itself, raises `JobFailure` for a failed step."""

HANDLERS: dict[str, Handler] = {
    "train": training.run_job,
}


def handler(kind: str) -> Handler:
    if kind not in HANDLERS:
        raise JobFailure("config", f"unknown job kind {kind!r}; this server runs {', '.join(sorted(HANDLERS))}")
    return HANDLERS[kind]
