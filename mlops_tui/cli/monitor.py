"""`mlops monitor status|replay|shadow`: a served model's live health, a file sent as live traffic, and a
shadow version beside its champion.

`status NAME[@ALIAS]` prints the alias's traffic, latency, drift and performance over a window (the
backend's `GET /api/v1/models/{name}/monitor`; `--json` prints that document exactly). `replay` sends a
CSV file's rows through the predict route at `--rate` rows per second, `--batch` rows per request,
then the `--label-column` values as feedback labels by request id. `shadow NAME[@ALIAS]` prints the
champion and the version running in shadow of it on the same requests (`GET /api/v1/models/{name}/shadow`).
"""
from __future__ import annotations

import csv
import functools
import io
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..client import Client, MlopsError
from ..contract.monitoring import MAX_FEEDBACK, WINDOW_RULE, MonitorStatus
from ..contract.registry import parse_model_ref
from ..contract.retrain import ShadowComparison, ShadowSide
from ..formatting import drift_cell
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    handle_errors,
    note,
    number,
    plural,
    print_json,
    shown,
    usage_error,
    when,
)

monitor_app = typer.Typer(help="Watch served models: traffic, latency, drift, live performance; replay traffic.",
                          no_args_is_help=True)
TargetArgument = typer.Argument(..., metavar="NAME[@ALIAS]",
                                help="The model, and the alias to watch (default: production, else its only alias).")
DEFAULT_REPLAY_ALIAS = "production"
STOPPING_STATUSES = (401, 403, 404)
"""Replay stops at these (nothing that follows could succeed); a refused batch is counted and skipped."""


def _target(text: str) -> tuple[str, str | None]:
    try:
        name, ref = parse_model_ref(text)
    except ValueError as error:
        usage_error(f"{text!r}: {error}")
    if isinstance(ref, int):
        usage_error(f"{text!r}: name an alias (NAME@ALIAS), not a version: monitoring follows an alias")
    return name, ref


# --- status -------------------------------------------------------------------------------------


@monitor_app.command("status")
@handle_errors
def monitor_status(target: str = TargetArgument,
                   window: str | None = typer.Option(None, "--window", help="15m, 1h, 7d, or 5000r (the last 5000 "
                                                     "rows); default: the model's \\[monitor] window (1h)."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """The alias's requests, errors, latency p50/p95/p99, drift per feature and performance over a window."""
    name, alias = _target(target)
    if window is not None and not re.fullmatch(WINDOW_RULE, window):
        usage_error(f"--window {window!r}: write a number and a unit s, m, h, d or r (15m, 1h, 7d, 5000r)")
    with connect(url) as client:
        found = client.monitor(name, alias, window)
    if json_out:
        print_json(found.model_dump(mode="json"))
        return
    _print_status(found)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def _metrics(values: dict[str, float]) -> str:
    return "  ".join(f"{key} {value:.4g}" for key, value in sorted(values.items())) or "-"


def _print_status(found: MonitorStatus) -> None:
    error_rate = f" ({found.errors / found.requests:.1%})" if found.requests else ""
    console.print(f"[bold]{shown(found.model)}@{shown(found.alias)}[/]  version {found.version}  "
                  f"window {shown(found.window)} (since {when(found.since)})", highlight=False)
    console.print(f"requests {found.requests:,} ({found.requests_per_second:.3g}/s)  "
                  f"errors {found.errors:,}{error_rate}  rows {found.rows:,}  "
                  f"latency p50 {_ms(found.latency_ms.p50)}  p95 {_ms(found.latency_ms.p95)}  "
                  f"p99 {_ms(found.latency_ms.p99)}", highlight=False)
    performance = found.performance
    console.print(f"performance  actual {_metrics(performance.actual)} "
                  f"({plural(performance.labeled, 'labeled row')})  "
                  f"estimated {_metrics(performance.estimated)}  training {_metrics(performance.training)}",
                  highlight=False)
    drifts = [*found.drift, *([found.prediction_drift] if found.prediction_drift else [])]
    if not drifts:
        console.print(f"drift  - (no reference profile or no sampled rows; {found.sampled_rows:,} sampled)",
                      highlight=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("feature", "status", "PSI", "p-value", "test", "rows"):
        table.add_column(column, justify="left" if column in ("feature", "status", "test") else "right")
    for drift in drifts:
        table.add_row(shown(drift.feature), drift_cell(drift.status), number(drift.psi), number(drift.p_value),
                      shown(drift.test or "-"), f"{drift.rows:,}")
    console.print(table)
    if found.dropped:
        note(f"replicas dropped {found.dropped:,} records since the backend started")


# --- shadow -------------------------------------------------------------------------------------


@monitor_app.command("shadow")
@handle_errors
def monitor_shadow(target: str = typer.Argument(..., metavar="NAME[@ALIAS]",
                                                help="The model, and the alias whose requests are shadowed "
                                                     "(default: production)."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """The champion and its shadow on the same live requests since the shadow started: agreement, latency,
    errors, estimated and actual performance, and the verdict (exit 1 when no shadow runs)."""
    name, alias = _target(target)
    with connect(url) as client:
        found = client.shadow(name, alias or DEFAULT_REPLAY_ALIAS)
    if json_out:
        print_json(found.model_dump(mode="json"))
        return
    _print_shadow(found)


def _print_shadow(found: ShadowComparison) -> None:
    agreement = "-" if found.agreement is None else f"{found.agreement:.1%}"
    console.print(f"[bold]{shown(found.model)}@{shown(found.alias)}[/]  version {found.champion.version}, "
                  f"shadowed by version {found.shadow.version} ({shown(found.shadow_alias)}) since "
                  f"{when(found.since)}", highlight=False)
    console.print(f"rows both predicted {found.rows:,}  agreement {agreement}  verdict [bold]{shown(found.verdict)}"
                  f"[/]: {shown(found.reason)}", highlight=False)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("")
    table.add_column(f"champion (v{found.champion.version})", justify="right")
    table.add_column(f"shadow (v{found.shadow.version})", justify="right")
    for label, cell in _side_lines(found.champion, found.shadow):
        table.add_row(label, cell(found.champion), cell(found.shadow))
    console.print(table)
    if found.dropped:
        note(f"{found.dropped:,} requests were not shadowed since the backend started (the shadow's queue was full)")


def _side_lines(*sides: ShadowSide) -> list[tuple[str, Callable[[ShadowSide], str]]]:
    """The comparison's lines: counts, latency, then each metric either side has (a side without it: -)."""
    lines: list[tuple[str, Callable[[ShadowSide], str]]] = [
        ("rows", lambda side: f"{side.rows:,}"), ("errors", lambda side: f"{side.errors:,}"),
        ("latency p50", lambda side: _ms(side.latency_p50_ms)), ("latency p95", lambda side: _ms(side.latency_p95_ms))]
    for kind in ("estimated", "actual"):
        for key in sorted({key for side in sides for key in getattr(side, kind)}):
            lines.append((f"{kind} {key}", functools.partial(_metric, kind, key)))
    lines.append(("labeled rows", lambda side: f"{side.labeled:,}"))
    return lines


def _metric(kind: str, key: str, side: ShadowSide) -> str:
    value = getattr(side, kind).get(key)
    return "-" if value is None else f"{value:.3f}"


# --- replay -------------------------------------------------------------------------------------


@dataclass
class Replayed:
    """What `replay` sent (its `--json` document)."""

    rows: int = 0
    requests: int = 0
    failed_rows: int = 0
    seconds: float = 0.0
    labels_sent: int = 0
    labels_accepted: int = 0
    labels_unknown: int = 0
    first_error: str | None = None
    labels: list[tuple[str, Any]] = field(default_factory=list, repr=False)


@monitor_app.command("replay")
@handle_errors
def monitor_replay(target: str = TargetArgument,
                   file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, metavar="FILE.csv",
                                               help="A CSV file: a header row, then one row per prediction."),
                   rate: float | None = typer.Option(None, "--rate", min=0.001,
                                                     help="Rows per second (default: as fast as answers come)."),
                   label_column: str | None = typer.Option(None, "--label-column",
                                                           help="The column of true labels: left out of the rows "
                                                                "sent, then sent as feedback."),
                   batch: int = typer.Option(1, "--batch", min=1, max=10_000, help="Rows per request."),
                   proba: bool = typer.Option(False, "--proba", help="Ask a classifier for class probabilities too "
                                              "(as a caller that scores with them would): the monitor then "
                                              "estimates accuracy and ROC AUC before labels arrive."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Send FILE.csv's rows as live traffic through the predict route, then their labels as feedback."""
    name, alias = _target(target)
    header, rows = _read_csv(file)
    labels: list[str] | None = None
    if label_column is not None:
        if label_column not in header:
            usage_error(f"--label-column {label_column!r} is not a column of {file.name} "
                        f"({', '.join(header[:20])})")
        index = header.index(label_column)
        labels = [row[index] for row in rows]
        header = header[:index] + header[index + 1:]
        rows = [row[:index] + row[index + 1:] for row in rows]
    with connect(url) as client:
        done = _replay(client, name, alias or DEFAULT_REPLAY_ALIAS, header, rows, labels, batch, rate, proba)
        if done.labels:
            _send_labels(client, name, done)
    if json_out:
        print_json({k: v for k, v in asdict(done).items() if k != "labels"})
        return
    console.print(f"sent {plural(done.rows, 'row')} to [bold]{shown(name)}@{shown(alias or DEFAULT_REPLAY_ALIAS)}"
                  f"[/] in {plural(done.requests, 'request')} ({done.seconds:.1f} s, "
                  f"{done.rows / max(done.seconds, 1e-9):.0f} rows/s); {done.failed_rows:,} refused", highlight=False)
    if labels is not None:
        console.print(f"feedback: {done.labels_accepted:,} labels accepted, {done.labels_unknown:,} unknown",
                      highlight=False)
    if done.first_error:
        note(f"first refusal: {done.first_error}")


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path.name} is empty: it needs a header row")
        rows = [row for row in reader if row]
    return header, rows


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _replay(client: Client, name: str, alias: str, header: list[str], rows: list[list[str]],
            labels: list[str] | None, batch: int, rate: float | None, proba: bool = False) -> Replayed:
    """Send the rows `batch` at a time, each batch when `rate` says its first row is due."""
    done = Replayed()
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        if rate is not None:
            delay = started + start / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        chunk = rows[start:start + batch]
        done.requests += 1
        try:
            answer = client.predict_csv(name, alias, _csv_bytes(header, chunk), proba=proba)
        except MlopsError as error:
            if error.status is None or error.status in STOPPING_STATUSES:
                raise
            done.failed_rows += len(chunk)
            done.first_error = done.first_error or f"rows {start + 1}-{start + len(chunk)}: {error.message}"
            continue
        done.rows += len(chunk)
        if labels is not None:
            done.labels += [(request_id, _typed(labels[start + i], answer.predictions[i]))
                            for i, request_id in enumerate(answer.request_ids)]
    done.seconds = time.perf_counter() - started
    return done


def _typed(label: str, prediction: Any) -> Any:
    """A label read from CSV text, as the same type as the model's prediction (`1`, not `"1"`)."""
    try:
        if isinstance(prediction, bool):
            return label.strip().lower() in ("1", "true", "yes")
        if isinstance(prediction, int):
            return int(float(label))
        if isinstance(prediction, float):
            return float(label)
    except ValueError:
        pass
    return label


def _send_labels(client: Client, name: str, done: Replayed) -> None:
    for start in range(0, len(done.labels), MAX_FEEDBACK):
        chunk = done.labels[start:start + MAX_FEEDBACK]
        ack = client.send_feedback(name, [{"request_id": rid, "label": label} for rid, label in chunk])
        done.labels_sent += len(chunk)
        done.labels_accepted += ack.accepted
        done.labels_unknown += len(ack.unknown)
