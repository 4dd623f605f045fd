"""Jobs: queued, running and finished training jobs. Status: QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED."""
from __future__ import annotations

import json
import uuid
from typing import Any

from mlops_tui.contract import JOB_ACTIVE, JOB_RETRYABLE, JobStatus

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict, NotFound
from .common import one, rows

ACTIVE = JOB_ACTIVE
_COLUMNS = ("id, kind, status, name, config_hash, experiment_id, run_id, dataset, executor, scheduler, created_at, "
            "started_at, ended_at, pid, progress_done, progress_total, error, error_kind, retry_of, cancel_requested")


def _decode(job: dict[str, Any] | None, full: bool = False) -> dict[str, Any] | None:
    if job is None:
        return None
    if job.get("experiment_id") is not None:
        job["experiment_id"] = str(job["experiment_id"])
    job["cancel_requested"] = bool(job.get("cancel_requested"))
    if full:
        job["config"] = json.loads(job.pop("config_json"))
        job["report"] = json.loads(job.pop("report_json") or "null")
    return job


def create(db: Database, name: str, config_json: str, config_hash: str, config_toml: str | None,
           dataset: str | None, executor: str, scheduler: str | None, retry_of: str | None = None) -> dict[str, Any]:
    job_id = uuid.uuid4().hex[:12]
    with db.write() as conn:
        conn.execute(
            "INSERT INTO jobs (id, status, name, config_json, config_hash, config_toml, dataset, executor, scheduler, "
            "created_at, retry_of) VALUES (?, 'QUEUED', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, name, config_json, config_hash, config_toml, dataset, executor, scheduler, now_ms(), retry_of),
        )
    return get(db, job_id)


def get(db: Database, job_id: str) -> dict[str, Any]:
    """A job by id, or by a unique prefix of 4 or more characters."""
    with db.read() as conn:
        found = one(conn.execute(f"SELECT {_COLUMNS}, config_json, config_toml, report_json FROM jobs WHERE id = ?",
                                 (job_id,)))
        if found is None and 4 <= len(job_id) < 12 and job_id.isalnum():
            matches = conn.execute("SELECT id FROM jobs WHERE id >= ? AND id < ? LIMIT 2",
                                   (job_id, job_id + "\uffff")).fetchall()
            if len(matches) > 1:
                raise Conflict(f"job id prefix {job_id!r} is ambiguous", "job_id")
            if matches:
                return get(db, matches[0][0])
    if found is None:
        raise NotFound(f"job {job_id!r} not found", "job_id")
    return _decode(found, full=True)  # type: ignore[return-value]


def list_jobs(db: Database, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    with db.read() as conn:
        found = rows(conn.execute(f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC LIMIT ?",
                                  [*args, limit]))
    return [_decode(job) for job in found]  # type: ignore[misc]


def queued(db: Database) -> list[str]:
    with db.read() as conn:
        return [j for (j,) in conn.execute("SELECT id FROM jobs WHERE status = 'QUEUED' ORDER BY created_at")]


def running(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return rows(conn.execute("SELECT id, pid, run_id, cancel_requested FROM jobs WHERE status = 'RUNNING'"))


def claim(db: Database, job_id: str) -> bool:
    """QUEUED → RUNNING, atomically; False when someone else got there first."""
    with db.write() as conn:
        changed = conn.execute("UPDATE jobs SET status = 'RUNNING', started_at = ? WHERE id = ? AND status = 'QUEUED'",
                               (now_ms(), job_id)).rowcount
    return changed == 1


def update(db: Database, job_id: str, **fields: Any) -> None:
    allowed = {"pid", "run_id", "experiment_id", "dataset", "progress_done", "progress_total", "error",
               "error_kind", "status", "ended_at", "report_json"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not job fields: {unknown}")
    if not fields:
        return
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with db.write() as conn:
        conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*fields.values(), job_id])


def finish(db: Database, job_id: str, status: str, error: str | None = None, error_kind: str | None = None,
           report: dict[str, Any] | None = None) -> None:
    """Set a final status once: a job already finished keeps its first outcome."""
    with db.write() as conn:
        conn.execute(
            "UPDATE jobs SET status = ?, ended_at = ?, error = coalesce(?, error), "
            "error_kind = coalesce(?, error_kind), report_json = coalesce(?, report_json) "
            "WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
            (status, now_ms(), error, error_kind, json.dumps(report) if report is not None else None, job_id),
        )


def request_cancel(db: Database, job_id: str) -> dict[str, Any]:
    job = get(db, job_id)
    job_id = job["id"]
    if job["status"] not in ACTIVE:
        raise Conflict(f"job {job_id!r} is already {job['status']}", "job_id")
    with db.write() as conn:
        conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
    if job["status"] == JobStatus.QUEUED:
        finish(db, job_id, JobStatus.CANCELLED, "cancelled before it started", "cancelled")
    return get(db, job_id)


def retry(db: Database, job_id: str) -> dict[str, Any]:
    job = get(db, job_id)
    job_id = job["id"]
    if job["status"] not in JOB_RETRYABLE:
        raise Conflict(f"only a failed or cancelled job can be retried; {job_id!r} is {job['status']}", "job_id")
    with db.read() as conn:
        config_json = conn.execute("SELECT config_json FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    return create(db, job["name"], config_json, job["config_hash"], job.get("config_toml"), job["dataset"],
                  job["executor"], job["scheduler"], retry_of=job_id)
