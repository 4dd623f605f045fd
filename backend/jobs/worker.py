"""A job in its own process: `python -m backend.jobs.worker JOB_ID --home DIR`.

Runs the handler of the job's kind (`backend.jobs.kinds`; a training job is `backend.services.training`)
and records a failure as the job's outcome. Output goes to the job's log, capped (`logcap`).
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import traceback
from pathlib import Path

from mlops_tui.contract import JobStatus, RunStatus

from ..db import Database
from ..errors import JobFailure
from ..services.jobs import end_job, end_run
from ..settings import Settings
from ..store import jobs
from . import kinds
from .joblog import log, log_path
from .logcap import CappedLog


def wait_for_job() -> str | None:
    """A warm worker: import the heavy modules now, then take a job id from stdin. None when stdin closes
    first (the server stopped, or retired this worker)."""
    import skops.io  # noqa: F401  (imported ahead of need: this is what makes the worker warm)

    from ..pipelines import estimators, scoring  # noqa: F401

    gc.collect()  # the imports' garbage, before the wait: a warm worker sits idle for minutes
    line = sys.stdin.readline().strip()
    return line or None


def capture_output(home: Path, job_id: str, max_bytes: int) -> CappedLog:
    """From now on our output (and our children's) goes to the job's log, capped at `max_bytes`."""
    path = log_path(home, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return CappedLog(path, max_bytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.jobs.worker")
    parser.add_argument("job_id", nargs="?", help="The job to run; omitted with --wait-for-job.")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--wait-for-job", action="store_true", help="Load, then read the job id from stdin.")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_for_job:
        args.job_id = wait_for_job()
        if args.job_id is None:
            return 0
    if not args.job_id:
        parser.error("a job id is required")
    settings = Settings(home=args.home)
    output = capture_output(args.home, args.job_id, settings.job_log_max_bytes)
    try:
        return run(settings, args.job_id, warm=args.wait_for_job)
    finally:
        output.close()


def run(settings: Settings, job_id: str, warm: bool) -> int:
    """Run the job to its end and record how it ended (0: recorded; 1: an internal error)."""
    db = Database(settings.db_path, settings.synchronous)
    job = jobs.get(db, job_id)
    log(f"job {job_id} started (pid {os.getpid()}{', warm' if warm else ''})")
    try:
        kinds.handler(job["kind"])(settings, db, job)
    except JobFailure as failure:
        log(f"FAILED ({failure.kind}): {failure.message}")
        end_job(db, job["id"], JobStatus.FAILED, failure.message, failure.kind, failure.report)
        return 0
    except SystemExit:
        log("stopped by a signal")
        end_run(db, job["id"], RunStatus.KILLED)
        raise
    except Exception as error:
        traceback.print_exc()
        end_job(db, job["id"], JobStatus.FAILED, f"internal error: {type(error).__name__}: {error}", "internal")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
