"""Jobs in SQL: queued, running and finished jobs. Status: QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED.

Plain rows go through sqlite-utils' `Table` methods; the two status changes that must be atomic
compare-and-set (`claim`, `finish`) are one hand-written UPDATE each."""
from __future__ import annotations

import json
import uuid
from typing import Any, cast

from mlops_tui.contract import JobStatus

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict, NotFound, TooMany
from .rows import JobRow

_COLUMNS = ("id, kind, status, name, config_hash, experiment_id, run_id, dataset, executor, scheduler, created_at, "
            "started_at, ended_at, pid, progress_done, progress_total, error, error_kind, retry_of, cancel_requested")
_FULL = _COLUMNS + ", config_json, config_toml, report_json"
_UPDATABLE = {"pid", "run_id", "experiment_id", "dataset", "progress_done", "progress_total", "error", "error_kind",
              "status", "ended_at", "report_json", "cancel_requested"}


def _decode(job: dict[str, Any], full: bool = False) -> JobRow:
    if job.get("experiment_id") is not None:
        job["experiment_id"] = str(job["experiment_id"])
    job["cancel_requested"] = bool(job.get("cancel_requested"))
    if full:
        job["config"] = json.loads(job.pop("config_json"))
        job["report"] = json.loads(job.pop("report_json") or "null")
    return cast(JobRow, job)


QUEUE_RETRY_AFTER = 30
"""Seconds a client refused by a full queue is told to wait (`Retry-After`)."""


def create(db: Database, name: str, config_json: str, config_hash: str, config_toml: str | None,
           dataset: str | None, executor: str, scheduler: str | None, retry_of: str | None = None,
           kind: str = "train", max_queued: int | None = None) -> JobRow:
    """A QUEUED job of `kind` (see `backend.jobs.kinds`); `TooMany` when `max_queued` jobs already wait
    (counted in the same transaction as the insert, so concurrent submits never overfill the queue)."""
    job_id = uuid.uuid4().hex[:12]
    with db.write() as conn:
        if max_queued is not None:
            waiting = conn.execute("SELECT count(*) FROM jobs WHERE status = 'QUEUED'").fetchone()[0]
            if waiting >= max_queued:
                raise TooMany(f"the job queue is full: {waiting} jobs are waiting, the limit is {max_queued} "
                              f"(MLOPS_MAX_QUEUED_JOBS); try again when some have started",
                              "pipeline", QUEUE_RETRY_AFTER)
        db.table("jobs").insert({
            "id": job_id, "kind": kind, "status": JobStatus.QUEUED, "name": name, "config_json": config_json,
            "config_hash": config_hash, "config_toml": config_toml, "dataset": dataset, "executor": executor,
            "scheduler": scheduler, "created_at": now_ms(), "retry_of": retry_of})
    return get(db, job_id)


def get(db: Database, job_id: str) -> JobRow:
    """A job by id, or by a unique prefix of 4 or more characters."""
    table = db.table("jobs")
    with db.read():
        found = list(table.rows_where("id = ?", [job_id], select=_FULL))
        if not found and 4 <= len(job_id) < 12 and job_id.isalnum():
            matches = list(table.rows_where("id >= ? AND id < ?", [job_id, job_id + "\uffff"], select="id", limit=2))
            if len(matches) > 1:
                raise Conflict(f"job id prefix {job_id!r} is ambiguous", "job_id")
            if matches:
                return get(db, matches[0]["id"])
    if not found:
        raise NotFound(f"job {job_id!r} not found", "job_id")
    return _decode(found[0], full=True)


def config_json(db: Database, job_id: str) -> str:
    """The job's pipeline, as stored (JSON text)."""
    with db.read():
        return str(db.table("jobs").get(job_id)["config_json"])


def list_jobs(db: Database, status: str | None = None, limit: int = 100) -> list[JobRow]:
    where, args = ("status = ?", [status]) if status else (None, [])
    with db.read():
        found = list(db.table("jobs").rows_where(where, args, select=_COLUMNS, order_by="created_at DESC",
                                                 limit=limit))
    return [_decode(job) for job in found]


def queued(db: Database) -> list[str]:
    with db.read():
        return [job["id"] for job in db.table("jobs").rows_where("status = 'QUEUED'", select="id",
                                                                  order_by="created_at")]


def running(db: Database) -> list[dict[str, Any]]:
    with db.read():
        return list(db.table("jobs").rows_where("status = 'RUNNING'",
                                                select="id, pid, run_id, cancel_requested, started_at"))


def update(db: Database, job_id: str, **fields: Any) -> None:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not job fields: {unknown}")
    if fields:
        with db.write():
            db.table("jobs").update(job_id, fields)


def claim(db: Database, job_id: str) -> bool:
    """QUEUED → RUNNING, atomically; False when someone else got there first (a compare-and-set:
    hand-written, as sqlite-utils updates by key only)."""
    with db.write() as conn:
        changed = conn.execute("UPDATE jobs SET status = 'RUNNING', started_at = ? WHERE id = ? AND status = 'QUEUED'",
                               (now_ms(), job_id)).rowcount
    return changed == 1


def finish(db: Database, job_id: str, status: str, error: str | None = None, error_kind: str | None = None,
           report: dict[str, Any] | None = None) -> None:
    """Set a final status once: a job already finished keeps its first outcome (a compare-and-set, as
    in `claim`)."""
    with db.write() as conn:
        conn.execute(
            "UPDATE jobs SET status = ?, ended_at = ?, error = coalesce(?, error), "
            "error_kind = coalesce(?, error_kind), report_json = coalesce(?, report_json) "
            "WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
            (status, now_ms(), error, error_kind, json.dumps(report) if report is not None else None, job_id),
        )
