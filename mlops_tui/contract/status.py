"""Status words of runs and jobs: written here once, read by the backend, the CLI and the console."""
from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


RUN_ENDED = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})
"""A run in one of these has an end time."""


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


JOB_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
"""Waiting for a worker or in one."""
JOB_ENDED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
JOB_RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
"""A job in one of these can be queued again with the same pipeline."""
