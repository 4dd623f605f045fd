"""Training jobs: `/api/v1/jobs`."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mlops_tui.contract import Job, JobCreate, JobList, JobLog

from ..deps import DB, AppSettings
from ..openapi import ContractRoute, errors
from ..services import jobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], route_class=ContractRoute)

@router.post("", status_code=201, response_model=Job, responses=errors(404, 409, 422, 429))
def submit(body: JobCreate, db: DB, settings: AppSettings) -> dict[str, Any]:
    """Queue a training job. The pipeline is validated now: a bad file is a 422 naming the key; a Dask
    scheduler must be one the server's configuration allows (422 naming `scheduler`); a full queue
    (MLOPS_MAX_QUEUED_JOBS) is a 429 with `Retry-After`."""
    return dict(jobs.submit(db, settings, body.pipeline, body.dataset, body.executor, body.scheduler))


@router.get("", response_model=JobList, responses=errors(422))
def list_jobs(db: DB, status: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"jobs": jobs.list_jobs(db, status, limit)}


@router.get("/{job_id}", response_model=Job, responses=errors(404, 409))
def get_job(job_id: str, db: DB) -> dict[str, Any]:
    return dict(jobs.get_job(db, job_id))


@router.get("/{job_id}/logs", response_model=JobLog, responses=errors(404, 409, 422))
def job_logs(job_id: str, db: DB, settings: AppSettings, offset: int = Query(0, ge=0),
             tail: int | None = Query(None, ge=1, le=10_000)) -> dict[str, Any]:
    """The job's log from byte `offset` (or its last `tail` lines): `{"text", "offset"}`; poll with the offset."""
    return jobs.read_log(db, settings, job_id, offset, tail)


@router.post("/{job_id}/cancel", response_model=Job, responses=errors(404, 409))
def cancel(job_id: str, db: DB) -> dict[str, Any]:
    """Cancel: a queued job at once; a running one's process is stopped (SIGTERM, then SIGKILL)."""
    return dict(jobs.cancel(db, job_id))


@router.post("/{job_id}/retry", status_code=201, response_model=Job, responses=errors(404, 409, 429))
def retry(job_id: str, db: DB, settings: AppSettings) -> dict[str, Any]:
    """Queue a new job with the same pipeline as a failed or cancelled one (429 when the queue is full)."""
    return dict(jobs.retry(db, settings, job_id))
