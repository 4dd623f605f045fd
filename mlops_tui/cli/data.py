"""`mlops data add|list|show|diff|schema`: dataset versions, their statistics and validation rules."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..contract import ColumnShift, DatasetVersion
from ..formatting import size, status_markup
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    handle_errors,
    number,
    plural,
    print_json,
    shown,
    usage_error,
    when,
)

data_app = typer.Typer(help="Data versions: add, list, show, diff; infer validation rules.", no_args_is_help=True)


def _read(file: Path) -> bytes:
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    return file.read_bytes()


def _split_ref(ref: str) -> tuple[str, str]:
    """"name" -> (name, "latest"); "name@3" -> (name, "3")."""
    name, at, version = ref.rpartition("@")
    if not at:
        return version, "latest"
    if not version.isdigit():
        raise ValueError(f"{ref!r}: write NAME or NAME@VERSION (a number)")
    return name, version


def _headline(version: DatasetVersion) -> str:
    return (f"[bold]{shown(version.ref)}[/]  {version.rows:,} rows × {len(version.columns)} columns  "
            f"{size(version.size_bytes)} {version.format}  sha256 {version.sha256[:12]}")


@data_app.command("add")
@handle_errors
def data_add(
    file: Path = typer.Argument(..., help="A .csv or .parquet file."),
    name: str | None = typer.Option(None, "--name", "-n", help="Dataset name (default: the file's stem)."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Store FILE as a version of NAME (content-addressed: the same bytes are the same version)."""
    content = _read(file)
    version = connect(url).add_dataset_version(name or file.stem, file.name, content)
    if json_out:
        print_json(version)
        return
    if version.created:
        console.print(f"stored {_headline(version)}")
    else:
        console.print(f"unchanged: [bold]{shown(version.ref)}[/] already holds these bytes "
                      f"(sha256 {version.sha256[:12]})")


@data_app.command("list")
@handle_errors
def data_list(json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """List datasets with their latest version."""
    found = connect(url).list_datasets()
    if json_out:
        print_json({"datasets": found})
        return
    table = Table("NAME", "VERSIONS", "LATEST", "ROWS", "UPDATED", title="Datasets", title_justify="left")
    for dataset in found:
        table.add_row(shown(dataset.name), str(dataset.version_count),
                      "-" if dataset.latest_version is None else f"@{dataset.latest_version}",
                      "-" if dataset.latest_rows is None else f"{dataset.latest_rows:,}", when(dataset.updated_at))
    console.print(table)


def column_summary(stats: dict[str, Any]) -> str:
    kind = stats.get("kind")
    if kind == "numeric":
        if not stats.get("count"):
            return "no values"
        return (f"mean {number(stats['mean'])} sd {number(stats['std'])} "
                f"[{number(stats['min'])}, {number(stats['max'])}]")
    if kind == "categorical":
        count = stats.get("count") or 0
        if count > 20 and stats.get("unique") == count:
            return f"{count:,} values, all distinct"
        top = [(k, v) for k, v in stats.get("frequencies", {}).items() if k != "__other__"][:3]
        shares = ", ".join(f"{k} {v / count:.0%}" for k, v in top) if count else ""
        return f"{stats.get('unique', 0)} values: {shares}" if shares else "no values"
    if kind == "datetime":
        return f"{stats.get('min') or '-'} … {stats.get('max') or '-'}"
    return ""


@data_app.command("show")
@handle_errors
def data_show(
    ref: str = typer.Argument(..., help="NAME (latest version) or NAME@VERSION."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Show a version: schema, per-column statistics, and the runs trained on it."""
    name, number_text = _split_ref(ref)
    client = connect(url)
    version = client.get_dataset_version(name, number_text)
    runs = client.dataset_version_runs(name, version.version)
    if json_out:
        print_json({**version.model_dump(mode="json"),
                    "runs": [{"id": r.id, "name": r.name, "experiment_id": r.experiment_id, "status": r.status,
                              "start_time": r.start_time} for r in runs]})
        return
    console.print(_headline(version))
    console.print(f"[dim]{shown(version.filename or '-')} added {when(version.created_at)}[/]")
    table = Table("COLUMN", "TYPE", "NULLS", "SUMMARY", title="Columns", title_justify="left")
    for column, dtype in version.columns.items():
        stats = (version.stats or {}).get(column, {})
        total = (stats.get("count") or 0) + (stats.get("nulls") or 0)
        nulls = f"{stats['nulls'] / total:.1%}" if total and stats.get("nulls") else "-"
        table.add_row(shown(column), shown(dtype), nulls, shown(column_summary(stats)))
    console.print(table)
    if runs:
        trained = Table("RUN", "NAME", "STATUS", "STARTED", title="Runs trained on it", title_justify="left")
        for run in runs[:20]:
            trained.add_row(run.id[:8], shown(run.name), status_markup(run.status), when(run.start_time))
        console.print(trained)
        if len(runs) > 20:
            console.print(f"[dim]{plural(len(runs) - 20, 'more run')}[/]")


def _change(column: ColumnShift) -> str:
    if column.kind == "numeric":
        text = f"mean {number(column.mean_a)} → {number(column.mean_b)}"
        if column.std_ratio is not None and abs(column.std_ratio - 1) >= 0.1:
            text += f", sd ×{column.std_ratio:.2f}"
        return text
    if column.kind == "categorical":
        text = f"{column.unique_a} → {column.unique_b} values"
        if column.new_values:
            text += ", new: " + ", ".join(column.new_values[:3])
        return text
    return ""


def diff_versions(refs: list[str]) -> tuple[str, int, int]:
    """`NAME A B` or `NAME@A NAME@B` -> (name, a, b); `ValueError` says which forms are accepted."""
    forms = "write NAME@A NAME@B (e.g. churn@1 churn@2) or NAME A B"
    if len(refs) == 3 and refs[1].isdigit() and refs[2].isdigit():
        return refs[0], int(refs[1]), int(refs[2])
    if len(refs) == 2:
        (name_a, at_a, a), (name_b, at_b, b) = (ref.rpartition("@") for ref in refs)
        if at_a and at_b and a.isdigit() and b.isdigit():
            if name_a != name_b:
                raise ValueError(f"diff compares two versions of one dataset, not {name_a!r} and {name_b!r}")
            return name_a, int(a), int(b)
    raise ValueError(f"{' '.join(refs)!r}: {forms}")


@data_app.command("diff")
@handle_errors
def data_diff(
    refs: list[str] = typer.Argument(..., metavar="NAME@A NAME@B | NAME A B",
                                     help="Two versions of a dataset: churn@1 churn@2, or churn 1 2."),
    all_columns: bool = typer.Option(False, "--all", help="List every shared column, not only those that moved."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Compare two versions: schema changes, row counts and shifted columns (PSI > 0.2)."""
    try:
        name, a, b = diff_versions(refs)
    except ValueError as error:
        usage_error(str(error))
        return
    found = connect(url).diff_datasets(name, a, b)
    if json_out:
        print_json(found)
        return
    same = "  [dim](same bytes)[/]" if found.same_content else ""
    console.print(f"[bold]{shown(found.a.ref)} → {shown(found.b.ref)}[/]  rows {found.rows_a:,} → "
                  f"{found.rows_b:,} ({found.rows_change:+,})" + same)
    console.print(f"added columns: {shown(', '.join(found.added_columns)) or '-'}")
    console.print(f"removed columns: {shown(', '.join(found.removed_columns)) or '-'}")
    changes = ", ".join(f"{c.column} {c.a} → {c.b}" for c in found.dtype_changes)
    console.print(f"dtype changes: {shown(changes) or '-'}")
    listed = [c for c in found.columns if all_columns or c.shifted or (c.psi or 0) > found.threshold / 2]
    if listed:
        table = Table("COLUMN", "KIND", "PSI", "KS P", "SHIFTED", "CHANGE", title="Columns", title_justify="left")
        for column in listed:
            flag = "[bold red]yes[/]" if column.shifted else "?" if column.verdict == "too few rows" else "no"
            psi = "-" if column.psi is None else f"{column.psi:.3f}"
            ks = "-" if column.ks_pvalue is None else f"{column.ks_pvalue:.2g}"
            table.add_row(shown(column.column), shown(column.kind), psi, ks, flag, shown(_change(column)))
        console.print(table)
    if not found.judged:
        console.print(f"too few rows to judge: PSI needs {found.min_rows:,} rows in each version")
        return
    shifted = ", ".join(found.shifted_columns)
    console.print(f"shifted (PSI > {found.threshold:g}): {shown(shifted) or 'none'}")


@data_app.command("schema")
@handle_errors
def data_schema(
    file: Path = typer.Argument(..., help="A .csv or .parquet file."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Infer `[validation]` rules from FILE and print them as TOML, to paste into a pipeline and edit."""
    found = connect(url).infer_data_schema(file.name, _read(file))
    if json_out:
        print_json({"validation": found.validation})
        return
    sys.stdout.write(found.toml)
