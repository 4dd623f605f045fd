"""`mlops experiments ...` and `mlops runs ...`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import typer
from rich.table import Column, Table
from rich.text import Text

from ..client import Client
from ..compare import metric_rows, param_rows
from ..contract import Run
from ..contract import tags as tag
from ..download import download
from ..formatting import status_markup
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    duration,
    fail,
    handle_errors,
    note,
    number,
    plural,
    print_json,
    shown,
    when,
    when_short,
)

experiments_app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: list, show, download, compare, delete.", no_args_is_help=True)


@experiments_app.command("list")
@handle_errors
def experiments_list(json_out: bool = JsonOption, url: str | None = UrlOption,
                     all: bool = typer.Option(False, "--all", help="Include deleted experiments.")) -> None:
    """List experiments with their run counts."""
    found = connect(url).list_experiments(include_deleted=all)
    if json_out:
        print_json({"experiments": found})
        return
    table = Table("ID", "NAME", "RUNS", "LAST RUN", "STATE", title="Experiments", title_justify="left")
    for experiment in found:
        table.add_row(experiment.id, shown(experiment.name), str(experiment.run_count), when(experiment.last_run_time),
                      experiment.lifecycle_stage)
    console.print(table)


@experiments_app.command("create")
@handle_errors
def experiments_create(name: str, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Create an experiment."""
    experiment = connect(url).create_experiment(name)
    if json_out:
        print_json(experiment)
    else:
        console.print(f"created experiment [bold]{shown(experiment.name)}[/] (id {experiment.id})")


@experiments_app.command("delete")
@handle_errors
def experiments_delete(ref: str = typer.Argument(..., help="Name or id."), json_out: bool = JsonOption,
                       url: str | None = UrlOption) -> None:
    """Delete an experiment and hide its runs (soft delete: data stays in the store)."""
    experiment = connect(url).delete_experiment(ref)
    if json_out:
        print_json(experiment)
    else:
        console.print(f"deleted experiment [bold]{shown(experiment.name)}[/] (id {experiment.id})")


def _metric_columns(runs: list[Run], wanted: list[str], limit: int = 3) -> list[str]:
    if wanted:
        return wanted
    keys: list[str] = []
    for run in runs:
        keys += [k for k in sorted(run.metrics) if k not in keys]
    return keys[:limit]


BEST_TAG = tag.BEST
"""Set to `true` by a training job on its best candidate; `runs list` stars that run."""


def _name_cell(run: Run) -> str:
    star = "★" if run.tags.get(BEST_TAG) == "true" else ""
    return star + shown(run.name)


def _experiment_names(client: Client) -> dict[str, str]:
    return {e.id: e.name for e in client.list_experiments(include_deleted=True)}


_FILTER_KEY = re.compile(r"(?<![\w.])(metrics|params|tags)\.(?:`([^`]+)`|\"([^\"]+)\"|([\w./:-]+))")
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")


def filter_keys(text: str) -> list[tuple[str, str]]:
    """The `(kind, key)` pairs a filter names, e.g. `("metrics", "acc")` (strings are skipped)."""
    found = []
    for match in _FILTER_KEY.finditer(_SINGLE_QUOTED.sub("''", text)):
        pair = (match.group(1), next(g for g in match.groups()[1:] if g is not None))
        if pair not in found:
            found.append(pair)
    return found


def _explain_empty(client: Client, experiment: str, filter: str) -> None:
    """Nothing matched: say which keys of the filter no run in the experiment has (on stderr)."""
    keys = client.experiment_keys(experiment)
    known = {"metrics": keys.metrics, "params": keys.params, "tags": keys.tags}
    for kind, key in filter_keys(filter):
        if key not in known[kind]:
            note(f"no run in experiment {experiment!r} has {kind[:-1]} {key!r} (known {kind}: "
                 f"{', '.join(known[kind][:10]) or 'none'}{', ...' if len(known[kind]) > 10 else ''})")


def _check_run_id(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("a run id cannot be empty")
    return value


def _check_run_ids(values: list[str]) -> list[str]:
    return [_check_run_id(value) for value in values]


RunIdArgument = typer.Argument(..., help="Run id or a unique prefix of it.", callback=_check_run_id)


@runs_app.command("list")
@handle_errors
def runs_list(
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Experiment name or id."),
    filter: str | None = typer.Option(None, "--filter", "-f",
                                      help="e.g. \"metrics.acc > 0.9 and params.model = 'rf'\""),
    order_by: list[str] = typer.Option([], "--order-by", "-o", help="e.g. 'metrics.acc DESC' (repeatable)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=5000, help="Runs to show (1-5000)."),
    metric: list[str] = typer.Option([], "--metric", "-m", help="Metric column to show (repeatable)."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """List runs, newest first, filtered and ordered by the server (★ marks a job's best candidate)."""
    client = connect(url)
    page = client.search_runs(experiment, filter, order_by or None, limit)
    if not page.runs and experiment and filter:
        _explain_empty(client, experiment, filter)
    if json_out:
        print_json(page)
        return
    names = _experiment_names(client) if experiment is None else None
    with_parent = any(run.parent_id for run in page.runs)
    rows = [[run.id[:8], *([shown(names.get(run.experiment_id, run.experiment_id))] if names is not None else []),
             _name_cell(run), *([(run.parent_id or "-")[:8]] if with_parent else []), status_markup(run.status),
             when_short(run.start_time), duration(run.duration_ms)] for run in page.runs]
    headers = [Column("RUN", no_wrap=True, min_width=8),
               *([Column("EXPERIMENT", overflow="fold", min_width=EXPERIMENT_MIN_WIDTH)] if names is not None else []),
               Column("NAME", overflow="fold"), *([Column("PARENT", no_wrap=True)] if with_parent else []),
               Column("STATUS", no_wrap=True), Column("STARTED", no_wrap=True), Column("TIME", no_wrap=True)]
    fixed = 1 + sum(3 + max([len(str(h.header)), *(len(_plain(r[i])) for r in rows)]) for i, h in enumerate(headers)
                    if h.header not in ("NAME", "EXPERIMENT"))
    text = (NAME_MIN_WIDTH + 3) + ((EXPERIMENT_MIN_WIDTH + 3) if names is not None else 0)
    wanted = _metric_columns(page.runs, metric)
    values = {key: [number(run.metrics.get(key)) for run in page.runs] for key in wanted}
    columns = _fitting(values, console.width - fixed - text)
    _share_text_room(headers, console.width - fixed - sum(width + 3 for width in columns.values()))
    table = Table(*headers, *[Column(shown(key.upper()), overflow="fold", justify="right", min_width=width)
                              for key, width in columns.items()],
                  title=f"Runs{' in ' + shown(experiment) if experiment else ''}", title_justify="left")
    for row, run in zip(rows, page.runs, strict=False):
        table.add_row(*row, *[number(run.metrics.get(key)) for key in columns])
    console.print(table)
    more = "; more exist: raise --limit" if page.next_page_token else ""
    console.print(f"[dim]{plural(len(page.runs), 'run')}{more}[/]", highlight=False)
    hidden = [key for key in wanted if key not in columns]
    if hidden:
        console.print(f"[dim]{plural(len(hidden), 'metric column')} left out at this width "
                      f"({shown(', '.join(hidden))}): widen the terminal or pick them with --metric[/]",
                      highlight=False)


NAME_MIN_WIDTH, EXPERIMENT_MIN_WIDTH, METRIC_MIN_WIDTH = 16, 10, 8


def _share_text_room(headers: list[Column], room: int) -> None:
    """Cap NAME (and EXPERIMENT) so the table fits `room` (rich alone overshoots narrow widths)."""
    name = next(h for h in headers if h.header == "NAME")
    experiment = next((h for h in headers if h.header == "EXPERIMENT"), None)
    if experiment is not None:
        experiment.max_width = max(EXPERIMENT_MIN_WIDTH, (room - 6) // 3)
        room -= experiment.max_width + 3
    name.max_width = max(8, room - 3)


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def _fitting(values: dict[str, list[str]], room: int) -> dict[str, int]:
    """The metric columns that fit in `room` characters, in order, with the width each needs."""
    kept: dict[str, int] = {}
    for key, cells in values.items():
        width = max([METRIC_MIN_WIDTH, *(len(cell) for cell in cells)])
        if width + 3 > room:
            break
        kept[key] = width
        room -= width + 3
    return kept


@runs_app.command("show")
@handle_errors
def runs_show(run_id: str = RunIdArgument, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Show a run: params, metrics (last, min, max), tags and environment."""
    client = connect(url)
    run = client.get_run(run_id)
    if json_out:
        print_json(run)
        return
    experiment = client.get_experiment(run.experiment_id)
    parent = f"  parent {run.parent_id[:8]}" if run.parent_id else ""
    best = "  [bold]★ best[/]" if run.tags.get(BEST_TAG) == "true" else ""
    console.print(f"[bold]{shown(run.name)}[/]  {run.id}{best}\nstatus {status_markup(run.status)}  experiment "
                  f"{shown(experiment.name)} ({experiment.id}){parent}  started {when(run.start_time)}  took "
                  f"{duration(run.duration_ms)}", highlight=False)
    params = Table("PARAM", "VALUE", title="Params", title_justify="left")
    for key, value in sorted(run.params.items()):
        params.add_row(shown(key), shown(value))
    metrics = Table("METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS", title="Metrics", title_justify="left")
    for key, stats in sorted(run.metric_stats.items()):
        metrics.add_row(shown(key), number(stats.value), number(stats.min), number(stats.max), str(stats.step),
                        str(stats.count))
    tags = Table("TAG", "VALUE", title="Tags", title_justify="left")
    for key, value in sorted(run.tags.items()):
        tags.add_row(shown(key), shown(_tag_text(key, value)))
    for table in (params, metrics, tags):
        if table.row_count:
            console.print(table)
    files = client.list_artifacts(run.id)
    if files:
        console.print("Artifacts: " + ", ".join(shown(f.path) + ("/" if f.is_dir else "") for f in files))


def _tag_text(key: str, value: str) -> str:
    if key == tag.PACKAGES:
        try:
            return ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
        except (ValueError, AttributeError):
            return value
    return value


@runs_app.command("download")
@handle_errors
def runs_download(
    run_id: str = RunIdArgument,
    path: str = typer.Argument("", help="A file or folder of the run's artifacts (default: all of them)."),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="Folder to write into (created when missing)."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Download a run's artifacts: a file, a folder, or everything; paths stay inside DEST."""
    client = connect(url)
    run = client.get_run(run_id)
    written = download(client, run.id, path, dest)
    if not written:
        fail(f"run {run.id[:8]} has no artifacts{' at ' + repr(path) if path else ''}")
    if json_out:
        print_json({"run_id": run.id, "files": [{"path": w.artifact, "to": str(w.target)} for w in written]})
        return
    for item in written:
        console.print(f"{shown(item.artifact)} → {shown(str(item.target))}", highlight=False)
    console.print(f"downloaded {plural(len(written), 'file')} to {shown(str(dest))}", highlight=False)


@runs_app.command("compare")
@handle_errors
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or unique prefixes).", callback=_check_run_ids),
    only_diff: bool = typer.Option(False, "--only-diff", "-d", help="Hide params and metrics equal in every run."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
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
    headers = [f"{shown(r.name[:14])}\n{r.id[:8]}" for r in runs]
    table = Table("", "PARAM", *headers, title="Params (≠ differs)", title_justify="left")
    for row in params:
        style = "bold yellow" if row.differs else None
        values = [shown(v) if v is not None else "-" for v in row.values]
        table.add_row("≠" if row.differs else "", shown(row.key), *values, style=style)
    console.print(table)
    table = Table("METRIC", *headers, title="Metrics, last value (★ best)", title_justify="left")
    for metric in metrics:
        values = [("★ " if i == metric.best else "") + number(v) for i, v in enumerate(metric.values)]
        table.add_row(shown(metric.key), *values)
    console.print(table)


@runs_app.command("delete")
@handle_errors
def runs_delete(run_ids: list[str] = typer.Argument(..., help="Run ids (or unique prefixes).", callback=_check_run_ids),
                json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
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
        console.print(f"deleted {plural(len(deleted), 'run')}")
