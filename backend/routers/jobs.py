"""Training jobs: `/api/v1/jobs`."""
from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Query

from mlops_tui.contract import JobCreate

from ..deps import DB, AppSettings
from ..errors import Invalid
from ..jobs.manager import log_path
from ..pipelines import checks
from ..pipelines.config import parse
from ..store import jobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
MAX_LOG_CHUNK = 1024 * 1024


@router.post("", status_code=201)
def submit(body: JobCreate, db: DB, settings: AppSettings) -> dict[str, Any]:
    """Queue a training job. The pipeline is validated now: a bad file is a 422 naming the key; a Dask
    scheduler must be one the server's configuration allows (422 naming `scheduler`)."""
    config = parse(body.pipeline)
    if body.executor:
        config.executor.kind = body.executor
    if body.scheduler:
        config.executor.scheduler = body.scheduler
    found = checks.problems(config, settings.max_candidates)
    if found:
        raise Invalid("pipeline: " + "; ".join(found), "pipeline")
    if config.executor.kind == "dask":
        config.executor.scheduler = checks.dask_scheduler(config.executor.scheduler, settings.dask_schedulers)
    else:
        config.executor.scheduler = None  # a local job keeps no address nobody checked
    if config.data.path and not body.dataset:
        raise Invalid("data.path must be registered as a dataset first: `mlops train` does it, or "
                      "`mlops data add FILE --name NAME` and set data.dataset", "data.path")
    return jobs.create(db, config.name, config.snapshot(), config.config_hash(), body.pipeline,
                       body.dataset, config.executor.kind, config.executor.scheduler)


@router.get("")
def list_jobs(db: DB, status: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"jobs": jobs.list_jobs(db, status, limit)}


@router.get("/{job_id}")
def get_job(job_id: str, db: DB) -> dict[str, Any]:
    return jobs.get(db, job_id)


@router.get("/{job_id}/logs")
def job_logs(job_id: str, db: DB, settings: AppSettings, offset: int = Query(0, ge=0),
             tail: int | None = Query(None, ge=1, le=10_000)) -> dict[str, Any]:
    """The job's log from byte `offset` (or its last `tail` lines): `{"text", "offset"}`; poll with the offset."""
    job = jobs.get(db, job_id)
    path = log_path(settings, job["id"])
    if not os.path.exists(path):
        return {"text": "", "offset": 0, "status": job["status"]}
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if tail is not None:
            start = max(0, size - MAX_LOG_CHUNK)
            handle.seek(start)
            lines = handle.read().decode(errors="replace").splitlines()[-tail:]
            return {"text": "\n".join(lines) + ("\n" if lines else ""), "offset": size, "status": job["status"]}
        handle.seek(min(offset, size))
        chunk = handle.read(MAX_LOG_CHUNK)
    return {"text": chunk.decode(errors="replace"), "offset": min(offset, size) + len(chunk), "status": job["status"]}


@router.post("/{job_id}/cancel")
def cancel(job_id: str, db: DB) -> dict[str, Any]:
    """Cancel: a queued job at once; a running one's process is stopped (SIGTERM, then SIGKILL)."""
    return jobs.request_cancel(db, job_id)


@router.post("/{job_id}/retry", status_code=201)
def retry(job_id: str, db: DB) -> dict[str, Any]:
    """Queue a new job with the same pipeline as a failed or cancelled one."""
    return jobs.retry(db, job_id)
