"""`mlops train FILE` and `mlops jobs list|show|logs|cancel|retry`.

`mlops train --wait` exits with a code per outcome (documented in the README):
0 succeeded, 1 error, 2 usage, 3 bad pipeline file, 4 data missing or unreadable,
5 validation failed, 6 training failed, 7 cancelled, 8 interrupted or crashed, 11 timed out (its
`[executor] timeout_seconds` or the server's MLOPS_JOB_TIMEOUT). A full job queue (429) is exit 1.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from ..client import Client, MlopsError
from ..contract import JOB_ENDED, Job, JobStatus
from ..formatting import status_markup
from ..submit import DataFileMissing, DataUploadError, Pipeline, PipelineFileError, read_pipeline, submit_pipeline
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    duration,
    errors,
    fail,
    handle_errors,
    number,
    print_json,
    safe_lines,
    safe_text,
    shown,
    when,
)

ExecutorOption = typer.Option(None, "--executor", help="local or dask (overrides the file).")
SchedulerOption = typer.Option(None, "--scheduler", help="Dask scheduler, e.g. tcp://host:8786.")
EXIT_CODES = {"config": 3, "data": 4, "validation": 5, "training": 6, "cancelled": 7, "interrupted": 8, "crash": 8,
              "timeout": 11}
JOB_STATUSES = tuple(JobStatus)

jobs_app = typer.Typer(help="Training jobs: list, show, logs, cancel, retry.", no_args_is_help=True)


def follow_job(client: Client, job: Job, quiet: bool) -> Job:
    """Poll the job until it ends: a progress bar, and its log unless `quiet` (the bar then goes to
    stderr and is removed when done)."""
    offset = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=errors if quiet else console, transient=quiet) as progress:
        task = progress.add_task(f"job {job.id}", total=None)
        while True:
            job = client.get_job(job.id)
            if job.progress_total:
                progress.update(task, total=job.progress_total, completed=job.progress_done,
                                description=f"job {job.id} {job.status.lower()}")
            if not quiet:
                chunk = client.job_logs(job.id, offset)
                offset = chunk.offset
                for line in chunk.text.splitlines():
                    progress.console.print(Text(safe_text(line), style="dim"))
            if job.finished:
                return job
            time.sleep(0.5)


def job_exit_code(job: Job) -> int:
    """The exit code of a finished job (`EXIT_CODES` by its error kind)."""
    if job.status == JobStatus.SUCCEEDED:
        return 0
    if job.status == JobStatus.CANCELLED:
        return EXIT_CODES["cancelled"]
    return EXIT_CODES.get(job.error_kind or "", 1)


class NotStarted(Exception):
    """The job was never submitted: the message to print and the exit code (2 unreadable file, 3 the
    server refused the pipeline, 4 the data file is missing or refused)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def read_source(pipeline: Path) -> Pipeline:
    """The pipeline file and its data file, read before any backend is reached; `NotStarted` when not."""
    try:
        return read_pipeline(pipeline)
    except PipelineFileError as error:
        raise NotStarted(str(error), 2) from None
    except UnicodeDecodeError:
        raise NotStarted(f"cannot read {pipeline}: not a UTF-8 text file (a pipeline is TOML)", 2) from None
    except DataFileMissing as error:
        raise NotStarted(str(error), EXIT_CODES["data"]) from None


def start_job(client: Client, source: Pipeline, executor: str | None, scheduler: str | None) -> Job:
    """Upload the data and submit the job, as `mlops train` does: `NotStarted` (4) when the server
    refuses the data file, (3) when it refuses the pipeline; any other backend error is raised as it is."""
    try:
        return submit_pipeline(client, source, executor, scheduler)
    except DataUploadError as error:
        if error.status is not None and 400 <= error.status < 500 and error.status not in (401, 403):  # unreadable
            raise NotStarted(f"data.path {error.source.name}: {error.message}", EXIT_CODES["data"]) from None
        raise  # as any backend error: exit 1
    except MlopsError as error:
        if error.status == 422:
            raise NotStarted(error.message, EXIT_CODES["config"]) from None
        raise


def train(
    pipeline: Path = typer.Argument(..., help="The pipeline TOML file.", exists=False),
    wait: bool = typer.Option(False, "--wait", "-w", help="Follow the job: progress bar and live log."),
    executor: str | None = ExecutorOption,
    scheduler: str | None = SchedulerOption,
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Submit a training pipeline as a job; print its id (or follow it with --wait)."""
    try:
        source = read_source(pipeline)
        client = connect(url)
        job = start_job(client, source, executor, scheduler)
    except NotStarted as error:
        fail(error.message, error.code)
    if not wait:
        if json_out:
            print_json(job)
        else:
            print_submitted(job)
        return
    if not json_out:
        console.print(f"job [bold]{job.id}[/] ({shown(job.name)}) queued")
    job = follow_job(client, job, quiet=json_out)
    if json_out:
        print_json(client.get_job(job.id))
    else:
        print_job_outcome(client.get_job(job.id))
    raise typer.Exit(job_exit_code(job))


def print_submitted(job: Job) -> None:
    console.print(f"submitted job [bold]{job.id}[/] ({shown(job.name)}); "
                  f"follow it with: mlops jobs logs -f {job.id}")


def print_job_outcome(job: Job) -> None:
    """A finished job in one line: its best candidate, or its error and validation problems (stderr)."""
    if job.status == JobStatus.SUCCEEDED and job.report:
        best = job.report["best"]
        metric = job.report["primary_metric"]
        console.print(f"[green]succeeded[/]: best {shown(best['estimator'])} {shown(str(best['params']))} "
                      f"{metric} = {number(best['holdout'].get(metric))} on the holdout (run {best['run_id'][:8]}, "
                      f"parent run {(job.run_id or '')[:8]}); {_chosen_by(job.report)}", highlight=False)
    else:
        errors.print(f"[red]{job.status.lower()}[/] ({job.error_kind or '-'}): {shown(job.error or '')}",
                     highlight=False)
        for problem in (job.report or {}).get("validation", []):
            errors.print(f"  - {shown(problem)}", highlight=False)


def _check_status(value: str | None) -> str | None:
    if value is not None and value.upper() not in JOB_STATUSES:
        raise typer.BadParameter(f"{value!r} is not a job status; use one of {', '.join(JOB_STATUSES)}")
    return value.upper() if value is not None else None


def _chosen_by(report: dict[str, Any]) -> str:
    """Which score chose the best: `chosen by cv_roc_auc_mean = 0.8123`."""
    key = report.get("selected_by")
    return f"chosen by {key} = {number(report.get('best_score'))}" if key else "chosen by the holdout score"


@jobs_app.command("list")
@handle_errors
def jobs_list(status: str | None = typer.Option(None, "--status", callback=_check_status,
                                                   help=f"Only jobs in this status: {', '.join(JOB_STATUSES)}."),
              limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Jobs to show (1-1000)."),
              json_out: bool = JsonOption,
              url: str | None = UrlOption) -> None:
    """List jobs, newest first."""
    found = connect(url).list_jobs(status, limit)
    if json_out:
        print_json({"jobs": found})
        return
    table = Table(Column("JOB", no_wrap=True), Column("NAME", overflow="fold"), Column("STATUS", no_wrap=True),
                  "PROGRESS", Column("CREATED", no_wrap=True), "TIME", title="Jobs", title_justify="left")
    for job in found:
        took = (job.ended_at or int(time.time() * 1000)) - job.started_at if job.started_at else None
        table.add_row(job.id, shown(job.name), status_markup(job.status), f"{job.progress_done}/{job.progress_total}",
                      when(job.created_at), duration(took))
    console.print(table)


@jobs_app.command("show")
@handle_errors
def jobs_show(job_id: str, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Show a job: status, progress, error and the candidates' results."""
    job = connect(url).get_job(job_id)
    if json_out:
        print_json(job)
        return
    console.print(f"job [bold]{job.id}[/] {shown(job.name)}  {status_markup(job.status)}  "
                  f"{job.progress_done}/{job.progress_total}"
                  f"  executor {job.executor}  dataset {shown(job.dataset or '-')}  run {(job.run_id or '-')[:8]}",
                  highlight=False)
    if job.error:
        console.print(f"[red]error ({job.error_kind})[/]: {shown(job.error)}", highlight=False)
    report = job.report or {}
    for problem in report.get("validation", []):
        console.print(f"  - {shown(problem)}", highlight=False)
    metric = report.get("primary_metric")
    if report.get("candidates") and metric:
        table = Table(Column("RUN", no_wrap=True), "ESTIMATOR", Column("PARAMS", overflow="fold"),
                      Column(shown(metric.upper()), no_wrap=True), Column("FIT", no_wrap=True),
                      title="Candidates", title_justify="left")
        best = report.get("best_run_id")
        for item in report["candidates"]:
            params = ", ".join(f"{k}={v}" for k, v in item["params"].items())
            mark = "★ " if item["run_id"] == best else ""
            table.add_row(item["run_id"][:8], mark + shown(item["estimator"]), shown(params) or "-",
                          number(item["holdout"].get(metric)), f"{item['fit_seconds']:.2f}s")
        console.print(table)
        if report.get("best_run_id"):
            console.print(f"best {_chosen_by(report)}; {metric.upper()} is the holdout score", highlight=False)


@jobs_app.command("logs")
@handle_errors
def jobs_logs(job_id: str, follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until it ends."),
              tail: int | None = typer.Option(None, "--tail", help="Only the last N lines."),
              url: str | None = UrlOption) -> None:
    """Print a job's log."""
    client = connect(url)
    chunk = client.job_logs(job_id, tail=tail) if tail else client.job_logs(job_id)
    typer.echo(safe_lines(chunk.text), nl=False)
    while follow and chunk.status not in JOB_ENDED:
        time.sleep(0.5)
        chunk = client.job_logs(job_id, chunk.offset)
        typer.echo(safe_lines(chunk.text), nl=False)


@jobs_app.command("cancel")
@handle_errors
def jobs_cancel(job_id: str, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Cancel a queued or running job (the worker process is stopped)."""
    job = connect(url).cancel_job(job_id)
    if json_out:
        print_json(job)
    else:
        console.print(f"cancel requested for job {job.id} ({job.status})")


@jobs_app.command("retry")
@handle_errors
def jobs_retry(job_id: str, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Queue a failed or cancelled job again, as a new job."""
    job = connect(url).retry_job(job_id)
    if json_out:
        print_json(job)
    else:
        console.print(f"queued job {job.id} (retry of {job_id})")


train_command = handle_errors(train)
