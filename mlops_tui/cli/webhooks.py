"""`mlops webhooks deliveries|test`: what the server sent to webhooks, and a test event.

The server sends each event (alerts, registrations, alias moves, retrains) to its `MLOPS_WEBHOOK_URL`
and to a model's `[notify] url`; `deliveries` is its log (newest first), `test` queues a `webhook.test`
event for the server's webhook and waits for its first attempt.
"""
from __future__ import annotations

import time

import typer
from rich.table import Column, Table

from ..client import Client
from ..contract.alerts import Delivery, DeliveryStatus
from .output import JsonOption, UrlOption, connect, console, errors, handle_errors, print_json, shown, when

webhooks_app = typer.Typer(help="Webhooks: the delivery log, and a test event.", no_args_is_help=True)
STATUSES = tuple(status.value for status in DeliveryStatus)
COLOURS = {DeliveryStatus.PENDING: "blue", DeliveryStatus.DELIVERED: "green", DeliveryStatus.FAILED: "red"}
POLL_SECONDS = 0.25


def _check_status(value: str | None) -> str | None:
    if value is not None and value.lower() not in STATUSES:
        raise typer.BadParameter(f"{value!r} is not a delivery status; use one of {', '.join(STATUSES)}")
    return value.lower() if value is not None else None


def outcome(delivery: Delivery) -> str:
    """The last attempt in words: `HTTP 200`, `HTTP 500: ...`, the error, or `-` before any attempt."""
    if delivery.last_error:
        return delivery.last_error
    return f"HTTP {delivery.last_status_code}" if delivery.last_status_code is not None else "-"


@webhooks_app.command("deliveries")
@handle_errors
def deliveries(model: str | None = typer.Option(None, "--model", help="Only this model's events."),
               status: str | None = typer.Option(None, "--status", callback=_check_status,
                                                 help=f"Only deliveries in this status: {', '.join(STATUSES)}."),
               limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Deliveries to show (1-1000)."),
               json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """The webhook delivery log, newest first: target, attempts, last outcome, next attempt."""
    found = connect(url).list_deliveries(model, status, limit).deliveries
    if json_out:
        print_json({"deliveries": found})
        return
    table = Table(Column("DELIVERY", no_wrap=True), Column("EVENT", no_wrap=True), "MODEL",
                  Column("URL", overflow="fold"), Column("STATUS", no_wrap=True), Column("TRIES", justify="right"),
                  Column("LAST", overflow="fold"), Column("CREATED", no_wrap=True), Column("NEXT", no_wrap=True),
                  title="Webhook deliveries", title_justify="left")
    for item in found:
        upcoming = when(item.next_attempt_at) if item.status == DeliveryStatus.PENDING else "-"
        table.add_row(item.id[:8], item.event.value, shown(item.model or "-"), shown(item.url),
                      f"[{COLOURS[item.status]}]{item.status.value}[/]", str(item.attempts), shown(outcome(item)),
                      when(item.created_at), upcoming)
    console.print(table)
    if not found:
        console.print("no deliveries (the server sends to MLOPS_WEBHOOK_URL and to a model's [notify] url)",
                      markup=False)


def _first_attempt(client: Client, event_id: str, timeout: float) -> Delivery | None:
    """The test event's delivery once it was attempted (None when it was not within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [d for d in client.list_deliveries(limit=50).deliveries if d.event_id == event_id]
        if mine and (mine[0].attempts or mine[0].status != DeliveryStatus.PENDING):
            return mine[0]
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


@webhooks_app.command("test")
@handle_errors
def test(wait: float = typer.Option(30.0, "--wait", min=0, max=600,
                                    help="Seconds to wait for the first attempt (0: only queue it)."),
         json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Send a `webhook.test` event to the server's webhook (MLOPS_WEBHOOK_URL). Exits 0 when it was
    delivered (or only queued, with --wait 0), 1 when the attempt failed or none was made in time."""
    client = connect(url)
    queued = client.webhook_test()
    delivery = _first_attempt(client, queued.id, wait) if wait else None
    if json_out:
        print_json({"event": queued, "delivery": delivery})
    elif not wait:
        console.print(f"queued {queued.event.value} event {queued.id} for {shown(queued.url)}")
    elif delivery is None:
        errors.print(f"queued event {queued.id} for {shown(queued.url)}: not attempted within {wait:g} s (the "
                     "server delivers only with MLOPS_AUTOMATION on); see: mlops webhooks deliveries", highlight=False)
    elif delivery.status == DeliveryStatus.DELIVERED:
        console.print(f"[green]delivered[/] {queued.event.value} to {shown(delivery.url)} ({outcome(delivery)})",
                      highlight=False)
    else:
        retry = " (retrying; see: mlops webhooks deliveries)" if delivery.status == DeliveryStatus.PENDING else ""
        errors.print(f"[red]not delivered[/] to {shown(delivery.url)}: {shown(outcome(delivery))}{retry}",
                     highlight=False)
    if wait and (delivery is None or delivery.status != DeliveryStatus.DELIVERED):
        raise typer.Exit(1)
