"""Jobs: submit a pipeline, list, show, read the log, cancel, retry; and how a job ends (`end_job`),
which the job worker and the job manager share.

The manager (`backend.jobs.manager`) picks queued jobs up from the store; nothing here talks to it.
"""
from __future__ import annotations

import os
from typing import Any

from mlops_tui.contract import JOB_ACTIVE, JOB_RETRYABLE, JobStatus, RunStatus

from ..db import Database
from ..errors import Conflict, Invalid
from ..jobs.joblog import log_path
from ..pipelines import checks
from ..pipelines.config import parse
from ..settings import Settings
from ..store import jobs, runs
from ..store.rows import JobRow

MAX_LOG_CHUNK = 1024 * 1024
RUN_STATUS = {JobStatus.SUCCEEDED: RunStatus.FINISHED, JobStatus.FAILED: RunStatus.FAILED,
              JobStatus.CANCELLED: RunStatus.KILLED}
"""The status a job's parent run takes when the job ends with each final status."""


def submit(db: Database, settings: Settings, pipeline: str, dataset: str | None, executor: str | None,
           scheduler: str | None) -> JobRow:
    """Queue a training job. The pipeline is validated now: a bad file is Invalid naming the key; a Dask
    scheduler must be one the server's configuration allows (Invalid naming `scheduler`)."""
    config = parse(pipeline)
    if executor:
        config.executor.kind = executor  # type: ignore[assignment]
    if scheduler:
        config.executor.scheduler = scheduler
    found = checks.problems(config, settings.max_candidates)
    if found:
        raise Invalid("pipeline: " + "; ".join(found), "pipeline")
    if config.executor.kind == "dask":
        config.executor.scheduler = checks.dask_scheduler(config.executor.scheduler, settings.dask_schedulers)
    else:
        config.executor.scheduler = None  # a local job keeps no address nobody checked
    if config.data.path and not dataset:
        raise Invalid("data.path must be registered as a dataset first: `mlops train` does it, or "
                      "`mlops data add FILE --name NAME` and set data.dataset", "data.path")
    asked, limit = config.executor.timeout_seconds, settings.job_timeout_seconds
    if asked is not None and limit and asked > limit:
        raise Invalid(f"executor.timeout_seconds: {asked:g} s is longer than this server allows ({limit:g} s, "
                      "MLOPS_JOB_TIMEOUT)", "executor.timeout_seconds")
    return jobs.create(db, config.name, config.snapshot(), config.config_hash(), pipeline, dataset,
                       config.executor.kind, config.executor.scheduler, max_queued=settings.max_queued_jobs)


def time_limit(settings: Settings, config: dict[str, Any]) -> float | None:
    """The seconds a job (by its stored pipeline) may run: its `[executor] timeout_seconds`, else the
    server's `MLOPS_JOB_TIMEOUT`; never more than the server's (the server may have lowered it since the
    job was queued); None: no limit."""
    asked = (config.get("executor") or {}).get("timeout_seconds")
    limit = settings.job_timeout_seconds or None
    if asked is None or limit is None:
        return asked if asked is not None else limit
    return float(min(asked, limit))


def list_jobs(db: Database, status: str | None, limit: int) -> list[JobRow]:
    return jobs.list_jobs(db, status, limit)


def get_job(db: Database, job_id: str) -> JobRow:
    """A job by id, or by a unique prefix of 4 or more characters."""
    return jobs.get(db, job_id)


def read_log(db: Database, settings: Settings, job_id: str, offset: int = 0, tail: int | None = None) -> dict[str, Any]:
    """`{"text", "offset", "status"}`: the job's log from byte `offset` (at most 1 MiB), or its last
    `tail` lines; poll again with the answered offset."""
    job = jobs.get(db, job_id)
    path = log_path(settings.home, job["id"])
    if not path.exists():
        return {"text": "", "offset": 0, "status": job["status"]}
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if tail is not None:
            handle.seek(max(0, size - MAX_LOG_CHUNK))
            lines = handle.read().decode(errors="replace").splitlines()[-tail:]
            return {"text": "\n".join(lines) + ("\n" if lines else ""), "offset": size, "status": job["status"]}
        handle.seek(min(offset, size))
        chunk = handle.read(MAX_LOG_CHUNK)
    return {"text": chunk.decode(errors="replace"), "offset": min(offset, size) + len(chunk), "status": job["status"]}


def cancel(db: Database, job_id: str) -> JobRow:
    """A queued job is cancelled at once; a running one is flagged, and the manager stops its process."""
    job = jobs.get(db, job_id)
    if job["status"] not in JOB_ACTIVE:
        raise Conflict(f"job {job['id']!r} is already {job['status']}", "job_id")
    jobs.update(db, job["id"], cancel_requested=True)
    if job["status"] == JobStatus.QUEUED:
        jobs.finish(db, job["id"], JobStatus.CANCELLED, "cancelled before it started", "cancelled")
    return jobs.get(db, job["id"])


def retry(db: Database, settings: Settings, job_id: str) -> JobRow:
    """A new job with the same pipeline (and kind) as a failed or cancelled one (429 when the queue is full)."""
    job = jobs.get(db, job_id)
    if job["status"] not in JOB_RETRYABLE:
        raise Conflict(f"only a failed or cancelled job can be retried; {job['id']!r} is {job['status']}", "job_id")
    return jobs.create(db, job["name"], jobs.config_json(db, job["id"]), job["config_hash"], job.get("config_toml"),
                       job["dataset"], job["executor"], job["scheduler"], retry_of=job["id"], kind=job["kind"],
                       max_queued=settings.max_queued_jobs)


def end_job(db: Database, job_id: str, status: JobStatus, error: str | None = None, error_kind: str | None = None,
            report: dict[str, Any] | None = None) -> None:
    """Record a job's final status (once: a finished job keeps its first outcome), and end its run."""
    jobs.finish(db, job_id, status, error, error_kind, report)
    end_run(db, job_id, RUN_STATUS[status])


def end_run(db: Database, job_id: str, run_status: RunStatus) -> None:
    """Give the job's parent run (when it has one yet) its final status."""
    run_id = jobs.get(db, job_id)["run_id"]
    if run_id:
        runs.update(db, run_id, status=run_status)
