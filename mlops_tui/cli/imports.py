"""`mlops import mlflow --from URI`: move in from MLflow in one command, history included."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..mlflow_source import SourceError, open_source
from ..mlflow_source.importer import Importer, Summary
from .output import JsonOption, UrlOption, connect, console, errors, fail, handle_errors, print_json, shown, usage_error

import_app = typer.Typer(help="Import runs and models from another tracker.", no_args_is_help=True)

INTERRUPTED = 8
"""Exit status of an import stopped by Ctrl-C (what was imported stays; run again to finish)."""


def summary_line(summary: Summary) -> str:
    """`imported: 2 experiments, 500 runs (12 new), 51,000 metric points, ...`."""
    verb = "would import" if summary.dry_run else "imported"

    def counted(total: int, new: int, what: str) -> str:
        return f"{total:,} {what}" + ("" if summary.dry_run else f" ({new:,} new)")

    parts = [counted(summary.experiments, summary.experiments_new, "experiments"),
             counted(summary.runs, summary.runs_new, "runs"),
             counted(summary.metric_points, summary.metric_points_new, "metric points"),
             counted(summary.models, summary.models_new, "models"),
             counted(summary.versions, summary.versions_new, "versions"),
             counted(summary.aliases, summary.aliases_new, "aliases"),
             "artifacts " + counted(summary.artifact_files, summary.artifact_files_new, "files")]
    return f"{verb}: " + ", ".join(parts)


def _notes(summary: Summary) -> list[str]:
    notes = []
    if summary.points_skipped:
        notes.append(f"{summary.points_skipped:,} NaN metric points left out (this store keeps finite values)")
    if summary.artifact_runs_skipped:
        notes.append(f"artifacts of {summary.artifact_runs_skipped:,} runs skipped: their artifact URI is not a "
                     "folder this machine can read (reading a server's SQLite file: give --artifacts-dir)")
    notes += [f"{r.get('run_id') or r.get('model') or ''} {r['field']}: {r['message']}".strip()
              for r in summary.refused]
    return notes


@import_app.command("mlflow")
@handle_errors
def import_mlflow(
    source: str = typer.Option(..., "--from", help="An MLflow tracking server URL (http://HOST:PORT) or its SQLite "
                               "file (sqlite:///path/mlflow.db or a path)."),
    artifacts_dir: Path | None = typer.Option(
        None, "--artifacts-dir", help="Reading a server's SQLite file: the folder the server keeps its "
        "mlflow-artifacts: files in (its --artifacts-destination, default ./mlartifacts where it ran)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what the source holds; import nothing."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Copy experiments, runs (params, tags, every metric point, datasets), artifacts, registered models,
    versions and aliases from MLflow. Run it again to add only what is new."""
    try:
        if artifacts_dir is not None and not artifacts_dir.is_dir():
            usage_error(f"--artifacts-dir {artifacts_dir}: no such folder")
        reader = open_source(source, artifacts_dir)
    except SourceError as error:
        fail(str(error))
    client = None if dry_run else connect(url)
    importer = Importer(reader, client, dry_run=dry_run)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=errors, transient=json_out) as progress:
            task = progress.add_task("runs", total=importer.run_count())
            importer.import_runs(lambda done: progress.advance(task, done))
            progress.update(task, description="models")
            importer.import_models()
    except SourceError as error:
        fail(str(error))
    except KeyboardInterrupt:
        errors.print(f"interrupted: {shown(summary_line(importer.summary))}; run the command again to finish")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        reader.close()
        if client is not None:
            client.close()
    if json_out:
        print_json(dataclasses.asdict(importer.summary))
        return
    console.print(summary_line(importer.summary), highlight=False, markup=False, soft_wrap=True)
    for line in _notes(importer.summary):
        errors.print(f"[dim]note:[/] {shown(line)}", highlight=False)
