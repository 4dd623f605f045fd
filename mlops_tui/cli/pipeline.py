"""`mlops pipeline run FILE [--promote ALIAS]`: a CI job's whole path in one command (MLOps level 2).

Add the data (the file's `data.path`, uploaded as a dataset version) → validate (the server checks the
file on submit, the job checks the data) → train → register (the file's `[register]`, done by the job)
→ promote to ALIAS through the gates. It reuses `mlops train`'s submission and following and `mlops
models promote`'s promotion, so each step fails with the exit code those commands give it.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer

from ..client import BadUrl, Client, MlopsError
from ..contract import Job, JobStatus
from ..contract.registry import ALIAS_RULE, PromoteResult
from ..submit import Pipeline
from .jobs import (
    EXIT_CODES,
    ExecutorOption,
    NotStarted,
    SchedulerOption,
    follow_job,
    job_exit_code,
    print_job_outcome,
    print_submitted,
    read_source,
    start_job,
)
from .models import alias_holder, print_promotion, promote_exit_code, say
from .output import UrlOption, connect, errors, plural, print_json, shown

pipeline_app = typer.Typer(help="CI/CD: run a pipeline file end to end (data, validation, training, registration, "
                                "promotion) with one exit code per failure.", no_args_is_help=True)

EXIT_HELP = ("Exit codes: 0 ok; 1 any other error (backend unreachable, alias moved meanwhile); 2 usage or an "
             "unreadable file; 3 invalid pipeline (or --promote without a \\[register] table); 4 data file missing "
             "or refused; 5 data validation failed; 6 training failed; 7 job cancelled; 8 job interrupted; 9 a "
             "gate failed (nothing moved); 10 awaiting approval (a request was opened).")


@dataclass
class Outcome:
    """What `--json` prints: one document, whatever step the run stopped at."""

    job: Job | None = None
    version: int | None = None
    promotion: PromoteResult | None = None

    def document(self, code: int, error: str | None) -> dict[str, Any]:
        promotion = self.promotion
        return {
            "job": self.job,
            "dataset": self.job.dataset if self.job else None,
            "version": self.version,
            "promotion": None if promotion is None else {
                "outcome": promotion.outcome, "alias": promotion.alias, "version": promotion.version,
                "from_version": promotion.from_version, "report": promotion.report, "request": promotion.request},
            "exit_code": code,
            "error": error,
        }


class Run:
    """One `mlops pipeline run`: prints readable steps (or nothing but the final document with `--json`)
    and ends with the exit code of the step that stopped it."""

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.outcome = Outcome()

    def step(self, text: str) -> None:
        if not self.json_out:
            say(text)

    def end(self, code: int, error: str | None = None) -> NoReturn:
        if error is not None:
            errors.print(f"[bold red]error:[/] {shown(error)}", highlight=False)
        if self.json_out:
            print_json(self.outcome.document(code, error))
        raise typer.Exit(code)


def _register_table(source_text: str) -> bool | None:
    """Whether the file has a `[register]` table; None when the TOML does not parse (the server names why)."""
    try:
        return isinstance(tomllib.loads(source_text).get("register"), dict)
    except tomllib.TOMLDecodeError:
        return None


def _validation_line(job: Job) -> str:
    problems = (job.report or {}).get("validation", [])
    if job.error_kind == "validation":
        return f"validation: [red]failed[/] ({plural(len(problems), 'problem')})"
    if job.status == JobStatus.SUCCEEDED or job.error_kind == "training":
        return "validation: [green]passed[/]"
    return "validation: not reached"


def _registered(job: Job) -> tuple[str, int] | None:
    found = (job.report or {}).get("registered")
    return (str(found["name"]), int(found["version"])) if isinstance(found, dict) else None


@pipeline_app.command("run", epilog=EXIT_HELP)
def pipeline_run(
    pipeline: Path = typer.Argument(..., metavar="FILE", help="The pipeline TOML file."),
    promote: str | None = typer.Option(None, "--promote", metavar="ALIAS",
                                       help="Move ALIAS to the registered version through its gates (implies "
                                            "--wait; the file needs a \\[register] table)."),
    wait: bool = typer.Option(False, "--wait", "-w", help="Follow the job to its end (exit code per outcome)."),
    executor: str | None = ExecutorOption,
    scheduler: str | None = SchedulerOption,
    reason: str = typer.Option("", "--reason", help="Why: recorded with the promotion (default: the file and job)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (job, dataset, version, "
                                                        "promotion, exit_code); progress goes to stderr."),
    url: str | None = UrlOption,
) -> None:
    """Add data, validate, train, register and promote, as a CI job does: exit 0 when every step passed."""
    run = Run(json_out)
    if promote is not None and not re.match(ALIAS_RULE, promote):
        run.end(2, f"--promote {promote!r} is not an alias name (a letter, then letters, digits, '_' or '-')")
    try:
        source = read_source(pipeline)
        if promote is not None and _register_table(source.text) is False:
            raise NotStarted(f"--promote {promote} needs a [register] table in {pipeline} (the model the "
                             "version is registered as)", EXIT_CODES["config"])
        client = connect(url)
        _run(run, client, source, promote, wait or promote is not None, executor, scheduler, reason, pipeline)
    except typer.Exit:
        raise
    except NotStarted as error:
        run.end(error.code, error.message)
    except BadUrl as error:
        run.end(2, str(error))
    except MlopsError as error:
        run.end(1, f"{error.message}{f' ({error.field})' if error.field else ''}")
    except (RuntimeError, OSError, ValueError) as error:
        run.end(1, str(error))


def _run(run: Run, client: Client, source: Pipeline, promote: str | None, wait: bool, executor: str | None,
         scheduler: str | None, reason: str, path: Path) -> NoReturn:
    job = start_job(client, source, executor, scheduler)
    run.outcome.job = job
    if source.data_file is not None:
        run.step(f"data: {shown(source.data_file.name)} → dataset [bold]{shown(job.dataset)}[/]")
    if not wait:
        if not run.json_out:
            print_submitted(job)
        run.end(0)
    run.step(f"job [bold]{job.id}[/] ({shown(job.name)}) queued")
    job = client.get_job(follow_job(client, job, quiet=True).id)
    run.outcome.job = job
    run.step(_validation_line(job))
    if not run.json_out:
        print_job_outcome(job)
    if job.status != JobStatus.SUCCEEDED:
        run.end(job_exit_code(job))
    registered = _registered(job)
    if registered is None:
        if promote is not None:
            run.end(1, f"job {job.id} registered no version: nothing to promote")
        run.step("registered: nothing (the file has no \\[register] table)")
        run.end(0)
    name, version = registered
    run.outcome.version = version
    run.step(f"registered: [bold]{shown(name)}/{version}[/]")
    if promote is None:
        run.end(0)
    result = client.promote(name, version, promote, expected_version=alias_holder(client, name, promote),
                            reason=reason or f"mlops pipeline run {path.name} (job {job.id})")
    run.outcome.promotion = result
    if not run.json_out:
        print_promotion(result)
    run.end(promote_exit_code(result))
