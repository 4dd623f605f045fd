"""`mlops alerts ...`: the alerts the backend opened from the models' `[[monitor.alerts]]` rules.

`list` shows open ones first; `ack` takes one on (as `MLOPS_USER`, else the OS user); `resolve` closes
one by hand and needs a note. Exit status: 0 done, 1 an error (an unknown id, resolving a resolved
alert), 2 usage (a bad `--status`, a missing `--note`).
"""
from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Column, Table
from rich.text import Text

from ..contract.alerts import Alert, AlertFilter, AlertKind, AlertStatus, Severity
from ..formatting import duration, number, safe_text
from .model_views import _table
from .output import JsonOption, UrlOption, connect, console, handle_errors, print_json, shown, usage_error, when

alerts_app = typer.Typer(help="Alerts opened by the models' alert rules: list, acknowledge, resolve.",
                         no_args_is_help=True)

FILTERS = tuple(f.value for f in AlertFilter)
IdArgument = typer.Argument(..., metavar="ID", help="The alert's id (as `mlops alerts list` shows it).")
STATUS_STYLE = {AlertStatus.OPEN: ("●", "bold red"), AlertStatus.ACKNOWLEDGED: ("◐", "yellow"),
                AlertStatus.RESOLVED: ("✓", "green")}
SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
UNITS = {AlertKind.LATENCY_P95: " ms"}
"""Shown after a value and its bound."""


def status_cell(status: AlertStatus) -> Text:
    """`● open`: the glyph carries the colour, the word reads without it."""
    glyph, style = STATUS_STYLE[status]
    return Text.assemble((glyph, style), f" {status.value}")


def since(ms: int, now: int | None = None) -> str:
    """How long ago: `4m10s`."""
    current = int(datetime.now().timestamp() * 1000) if now is None else now
    return duration(current - ms)


def value_text(alert: Alert) -> str:
    """The latest value beside the bound: `0.43/0.25`, `812/500 ms`."""
    value = alert.last_value if alert.last_value is not None else alert.value
    text = "-" if value is None else number(round(value, 3))
    if alert.threshold is not None:
        text = f"{text}/{number(round(alert.threshold, 3))}"
    return text + UNITS.get(alert.kind, "")


def alert_cell(alert: Alert) -> Text:
    """`churn age-drift warning` over the message: one column that folds, so the table fits 80 columns."""
    return Text.assemble((safe_text(alert.model), "bold"), " ", safe_text(alert.rule), " ",
                         (alert.severity.value, SEVERITY_STYLE[alert.severity]), "\n", safe_text(alert.message))


def alerts_table(alerts: list[Alert]) -> Table:
    table = _table("Alerts", Column("ID", no_wrap=True), Column("ALERT", overflow="fold", ratio=1),
                   Column("STATUS", no_wrap=True), Column("FOR", no_wrap=True), Column("VALUE/BOUND", no_wrap=True))
    for alert in alerts:
        table.add_row(alert.id, alert_cell(alert), status_cell(alert.status), since(alert.opened_at),
                      value_text(alert))
    return table


def alert_lines(alert: Alert) -> list[str]:
    """One alert, field by field (`mlops alerts show`)."""
    where = f"{alert.model}@{alert.alias}" if alert.alias else alert.model
    lines = [f"[bold]{alert.id}[/]  {shown(where)}{'' if alert.version is None else f' (v{alert.version})'}  "
             f"rule {shown(alert.rule)} ({alert.kind.value}, {alert.severity.value})",
             f"status   {alert.status.value}",
             f"message  {shown(alert.message)}",
             f"value    {value_text(alert)}",
             f"opened   {when(alert.opened_at)} ({since(alert.opened_at)} ago)",
             f"window   from {when(alert.window_start)}"]
    if alert.acknowledged_at is not None:
        lines.append(f"acked    {when(alert.acknowledged_at)} by {shown(alert.acknowledged_by)}")
    if alert.resolved_at is not None:
        lines.append(f"resolved {when(alert.resolved_at)} by {shown(alert.resolved_by)}")
    if alert.note:
        lines += [f"note     {shown(line)}" for line in alert.note.splitlines()]
    return lines


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@alerts_app.command("list")
@handle_errors
def alerts_list(status: str | None = typer.Option(None, "--status", help=f"Only these: {', '.join(FILTERS)} "
                                                                          "(active = open or acknowledged)."),
                model: str | None = typer.Option(None, "--model", metavar="NAME", help="Only this model's."),
                limit: int = typer.Option(200, "--limit", min=1, max=1000, help="At most this many."),
                json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Alerts, open first, then acknowledged, then resolved (newest first within each)."""
    if status is not None and status.lower() not in FILTERS:
        usage_error(f"--status {status!r} is not an alert status; use one of {', '.join(FILTERS)}")
    found = connect(url).list_alerts(status.lower() if status else None, model, limit)
    if json_out:
        print_json(found)
        return
    if not found.alerts:
        _say("no alerts" + (f" {status.lower()}" if status else ""))
        return
    console.print(alerts_table(found.alerts))


@alerts_app.command("show")
@handle_errors
def alerts_show(alert_id: str = IdArgument, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """One alert: what breached, since when, who acknowledged or resolved it, the notes."""
    alert = connect(url).get_alert(alert_id)
    if json_out:
        print_json(alert)
        return
    for line in alert_lines(alert):
        _say(line)


@alerts_app.command("ack")
@handle_errors
def alerts_ack(alert_id: str = IdArgument,
               note: str = typer.Option("", "--note", help="What you are doing about it (kept with the alert)."),
               json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Acknowledge an open alert: you are on it (it stays active until its condition clears)."""
    alert = connect(url).ack_alert(alert_id, note)
    if json_out:
        print_json(alert)
        return
    _say(f"{alert.id} acknowledged by {shown(alert.acknowledged_by)}: {shown(alert.message)}")


@alerts_app.command("resolve")
@handle_errors
def alerts_resolve(alert_id: str = IdArgument,
                   note: str = typer.Option(..., "--note", help="Why it is resolved (required)."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Resolve an alert by hand, with a note (its rule opens no new one before its cooldown has passed)."""
    if not note.strip():
        usage_error("--note is required: say why the alert is resolved")
    alert = connect(url).resolve_alert(alert_id, note)
    if json_out:
        print_json(alert)
        return
    _say(f"{alert.id} resolved by {shown(alert.resolved_by)}")
