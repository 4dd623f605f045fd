"""`mlops experiments ...` and `mlops runs ...`."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Column, Table

from ..compare import metric_rows, param_rows
from ..models import Run
from .output import (JsonOption, UrlOption, connect, console, duration, handle_errors, number, print_json,
                     status_text, when)

experiments_app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: list, show, compare, delete.", no_args_is_help=True)


@experiments_app.command("list")
@handle_errors
def experiments_list(json_out: bool = JsonOption, url: Optional[str] = UrlOption,
                     all: bool = typer.Option(False, "--all", help="Include deleted experiments.")) -> None:
    """List experiments with their run counts."""
    found = connect(url).list_experiments(include_deleted=all)
    if json_out:
        print_json({"experiments": found})
        return
    table = Table("ID", "NAME", "RUNS", "LAST RUN", "STATE", title="Experiments", title_justify="left")
    for experiment in found:
        table.add_row(experiment.id, escape(experiment.name), str(experiment.run_count), when(experiment.last_run_time),
                      experiment.lifecycle_stage)
    console.print(table)


@experiments_app.command("create")
@handle_errors
def experiments_create(name: str, json_out: bool = JsonOption, url: Optional[str] = UrlOption) -> None:
    """Create an experiment."""
    experiment = connect(url).create_experiment(name)
    if json_out:
        print_json(experiment)
    else:
        console.print(f"created experiment [bold]{escape(experiment.name)}[/] (id {experiment.id})")


@experiments_app.command("delete")
@handle_errors
def experiments_delete(ref: str = typer.Argument(..., help="Name or id."), json_out: bool = JsonOption,
                       url: Optional[str] = UrlOption) -> None:
    """Delete an experiment and hide its runs (soft delete: data stays in the store)."""
    experiment = connect(url).delete_experiment(ref)
    if json_out:
        print_json(experiment)
    else:
        console.print(f"deleted experiment [bold]{escape(experiment.name)}[/] (id {experiment.id})")


def _metric_columns(runs: list[Run], wanted: list[str], limit: int = 3) -> list[str]:
    if wanted:
        return wanted
    keys: list[str] = []
    for run in runs:
        keys += [k for k in sorted(run.metrics) if k not in keys]
    return keys[:limit]


@runs_app.command("list")
@handle_errors
def runs_list(
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e", help="Experiment name or id."),
    filter: Optional[str] = typer.Option(None, "--filter", "-f", help="e.g. \"metrics.acc > 0.9 and params.model = 'rf'\""),
    order_by: list[str] = typer.Option([], "--order-by", "-o", help="e.g. 'metrics.acc DESC' (repeatable)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Runs to show (1-5000)."),
    metric: list[str] = typer.Option([], "--metric", "-m", help="Metric column to show (repeatable)."),
    json_out: bool = JsonOption,
    url: Optional[str] = UrlOption,
) -> None:
    """List runs, newest first, filtered and ordered by the server."""
    page = connect(url).search_runs(experiment, filter, order_by or None, limit)
    if json_out:
        print_json(page)
        return
    columns = _metric_columns(page.runs, metric)
    table = Table(Column("RUN", no_wrap=True, min_width=8), "NAME", "STATUS", "STARTED", "TIME",
                  *[escape(c.upper()[:14]) for c in columns],
                  title=f"Runs{' in ' + experiment if experiment else ''}", title_justify="left")
    for run in page.runs:
        table.add_row(run.id[:8], escape(run.name), status_text(run.status), when(run.start_time), duration(run.duration_ms),
                      *[number(run.metrics.get(c)) for c in columns])
    console.print(table)
    if page.next_page_token:
        console.print(f"[dim]more runs exist: raise --limit (showing {len(page.runs)})[/]")


@runs_app.command("show")
@handle_errors
def runs_show(run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
              json_out: bool = JsonOption, url: Optional[str] = UrlOption) -> None:
    """Show a run: params, metrics (last, min, max), tags and environment."""
    client = connect(url)
    run = client.get_run(run_id)
    if json_out:
        print_json(run)
        return
    console.print(f"[bold]{escape(run.name)}[/]  {run.id}\nstatus {status_text(run.status)}  experiment {run.experiment_id}"
                  f"  started {when(run.start_time)}  took {duration(run.duration_ms)}")
    params = Table("PARAM", "VALUE", title="Params", title_justify="left")
    for key, value in sorted(run.params.items()):
        params.add_row(escape(key), escape(value))
    metrics = Table("METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS", title="Metrics", title_justify="left")
    for key, stats in sorted(run.metric_stats.items()):
        metrics.add_row(escape(key), number(stats.value), number(stats.min), number(stats.max), str(stats.step),
                        str(stats.count))
    tags = Table("TAG", "VALUE", title="Tags", title_justify="left")
    for key, value in sorted(run.tags.items()):
        if key == "mlops.packages":
            value = ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
        tags.add_row(escape(key), escape(value))
    for table in (params, metrics, tags):
        if table.row_count:
            console.print(table)
    files = client.list_artifacts(run.id)
    if files:
        console.print("Artifacts: " + ", ".join(escape(f.path) + ("/" if f.is_dir else "") for f in files))


@runs_app.command("compare")
@handle_errors
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or unique prefixes)."),
    only_diff: bool = typer.Option(False, "--only-diff", "-d", help="Hide params and metrics equal in every run."),
    json_out: bool = JsonOption,
    url: Optional[str] = UrlOption,
) -> None:
    """Params side by side (differences marked) and each metric's last value, best one starred."""
    if len(run_ids) < 2:
        raise ValueError("compare needs at least two runs")
    client = connect(url)
    runs = [client.get_run(r) for r in run_ids]
    params, metrics = param_rows(runs, only_diff), metric_rows(runs, only_diff)
    if json_out:
        print_json({
            "runs": [{"id": r.id, "name": r.name} for r in runs],
            "params": [{"key": p.key, "values": p.values, "differs": p.differs} for p in params],
            "metrics": [{"key": m.key, "values": m.values, "best": m.best} for m in metrics],
        })
        return
    headers = [f"{escape(r.name[:14])}\n{r.id[:8]}" for r in runs]
    table = Table("", "PARAM", *headers, title="Params (≠ differs)", title_justify="left")
    for row in params:
        style = "bold yellow" if row.differs else None
        table.add_row("≠" if row.differs else "", escape(row.key), *[escape(v) if v is not None else "-" for v in row.values],
                      style=style)
    console.print(table)
    table = Table("METRIC", *headers, title="Metrics, last value (★ best)", title_justify="left")
    for metric in metrics:
        table.add_row(escape(metric.key), *[("★ " if i == metric.best else "") + number(v) for i, v in enumerate(metric.values)])
    console.print(table)


@runs_app.command("delete")
@handle_errors
def runs_delete(run_ids: list[str] = typer.Argument(..., help="Run ids (or unique prefixes)."),
                json_out: bool = JsonOption, url: Optional[str] = UrlOption) -> None:
    """Delete runs (soft delete: hidden from listings, kept in the store)."""
    client = connect(url)
    deleted = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        client.delete_run(run.id)
        deleted.append(run.id)
    if json_out:
        print_json({"deleted": deleted})
    else:
        console.print(f"deleted {len(deleted)} run(s)")
