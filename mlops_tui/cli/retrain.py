"""`mlops retrain NAME`: fire a model's `[retrain]` policy by hand, or say what it would do (`--dry-run`).

Exit codes (documented in the README; the same as `train --wait` and `models promote`): 0 promoted,
staged, shadowing, coalesced into a running retrain (or started, without `--wait`); 1 skipped by a guard
(the message names it) or any other error; 5 data validation failed; 6 training failed (3, 4, 7, 8 as
`train --wait`); 9 a gate refused the new version; 10 it waits for an approval.
"""
from __future__ import annotations

import time

import typer
from rich import box
from rich.console import RenderableType
from rich.table import Table

from ..client import Client
from ..contract.registry import AWAITING_APPROVAL_EXIT, GATE_FAILED_EXIT
from ..contract.retrain import Lifecycle, Retrain, RetrainPlan, RetrainStatus
from .jobs import EXIT_CODES, job_exit_code
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    errors,
    handle_errors,
    number,
    print_json,
    shown,
    when,
)

WAIT_SECONDS = 1.0
EXIT_BY_STATUS = {RetrainStatus.RUNNING: 0, RetrainStatus.COALESCED: 0, RetrainStatus.SHADOWING: 0,
                  RetrainStatus.STAGED: 0, RetrainStatus.PROMOTED: 0, RetrainStatus.SKIPPED: 1,
                  RetrainStatus.REJECTED: GATE_FAILED_EXIT, RetrainStatus.AWAITING_APPROVAL: AWAITING_APPROVAL_EXIT,
                  RetrainStatus.ROLLED_BACK: 1}


@handle_errors
def retrain_command(
    name: str = typer.Argument(..., metavar="NAME", help="The model whose \\[retrain] policy fires."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be trained and on which data; start "
                                                          "nothing."),
    force: bool = typer.Option(False, "--force", help="Skip the guards (cooldown, new rows or labels, a paused "
                                                      "policy); a running retrain still coalesces."),
    wait: bool = typer.Option(False, "--wait", "-w", help="Follow the retrain until it is no longer running: job, "
                                                          "version, gates, aliases."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Fire a model's retrain policy by hand: exit 0 started (promoted, staged, shadowing with --wait), 1
    skipped by a guard, 5/6 the job failed, 9 a gate refused it, 10 awaiting approval."""
    client = connect(url)
    answer = client.retrain(name, dry_run=dry_run, force=force)
    event = answer.retrain
    if not json_out:
        _print_plan(answer.plan, dry_run)
        if event is not None:
            _print_event(event)
    if event is not None and wait and event.status == RetrainStatus.RUNNING:
        event = _follow(client, event, quiet=json_out)
    code = 0 if event is None else _exit_for(client, event)
    if json_out:
        job = client.get_job(event.job_id) if event is not None and event.job_id else None
        print_json({"plan": answer.plan, "retrain": event, "job": job})
    elif event is not None and wait:
        _print_outcome(event)
    if dry_run and not answer.plan.would_start:
        code = 1
    raise typer.Exit(code)


def _follow(client: Client, event: Retrain, quiet: bool) -> Retrain:
    shown_job = ""
    try:
        while event.status == RetrainStatus.RUNNING:
            time.sleep(WAIT_SECONDS)
            event = client.get_retrain(event.model, event.id)
            if event.job_id and not quiet:
                job = client.get_job(event.job_id)
                line = f"job {job.id} {job.status.lower()} {job.progress_done}/{job.progress_total or '?'}"
                if line != shown_job:
                    errors.print(shown(line), highlight=False)
                    shown_job = line
    except KeyboardInterrupt:
        errors.print(f"interrupted: retrain {event.id} goes on on the server; `mlops models policy "
                     f"{shown(event.model)}` shows it", highlight=False)
        raise typer.Exit(EXIT_CODES["interrupted"]) from None
    return event


def _exit_for(client: Client, event: Retrain) -> int:
    if event.status == RetrainStatus.FAILED:
        return job_exit_code(client.get_job(event.job_id)) if event.job_id else 1
    return EXIT_BY_STATUS.get(event.status, 1)


def _print_plan(plan: RetrainPlan, dry_run: bool) -> None:
    title = "would start" if plan.would_start else "held back"
    console.print(f"[bold]{shown(plan.model)}[/]: retrain {'plan' if dry_run else 'fired'} ({title})",
                  highlight=False)
    if plan.pipeline_version is not None:
        console.print(f"  pipeline  {shown(plan.pipeline_name or '-')} from version {plan.pipeline_version} "
                      f"(config {shown((plan.config_hash or '-')[:8])})", highlight=False)
    if plan.dataset:
        new = f"; {number(plan.new_rows)} new since {shown(plan.last_dataset)}" if plan.new_rows is not None else ""
        console.print(f"  data      {shown(plan.dataset)} ({number(plan.dataset_rows)} rows{new})", highlight=False)
    if plan.new_labels is not None:
        console.print(f"  labels    {number(plan.new_labels)} since the last retrain started", highlight=False)
    console.print(f"  promote   {' → '.join(plan.promote) or '-'}", highlight=False)
    console.print(f"  {shown(plan.reason)}", highlight=False)


def _print_event(event: Retrain) -> None:
    job = f" (job {event.job_id})" if event.job_id else ""
    console.print(f"retrain [bold]{event.id}[/] {event.status.value}{job}: {shown(event.reason)}", highlight=False)


def _print_outcome(event: Retrain) -> None:
    """Where a followed retrain ended: its version, the gates, the aliases moved or why not."""
    colour = "green" if EXIT_BY_STATUS.get(event.status) == 0 else "red"
    console.print(f"[{colour}]{event.status.value}[/]: {shown(event.reason)}", highlight=False)
    if event.version is not None:
        console.print(f"  version   {shown(event.model)}/{event.version} (job {event.job_id}, data "
                      f"{shown(event.dataset or '-')})", highlight=False)
    report = event.report or {}
    for gate in report.get("gates", []):
        mark = "[green]pass[/]" if gate.get("passed") else "[red]FAIL[/]"
        console.print(f"  {mark} {shown(report.get('alias'))}: {shown(gate.get('name'))}: {shown(gate.get('detail'))}",
                      highlight=False)
    console.print(f"  aliases   {', '.join(event.promoted_to) or 'none moved'}"
                  + (f"; approval request {event.request_id}" if event.request_id else ""), highlight=False)



def lifecycle_view(found: Lifecycle) -> list[RenderableType]:
    """What `mlops models policy` shows after the gates: alert rules, the retrain policy and its state,
    the webhook, the open alerts."""
    parts: list[RenderableType] = []
    if found.alerts:
        table = Table("RULE", "KIND", "ALIAS", "WINDOW", "THRESHOLD", "FIRES", "COOLDOWN", "SEVERITY",
                      title=f"{shown(found.name)}: alert rules", title_justify="left", box=box.HEAVY_HEAD,
                      show_edge=False, pad_edge=False)
        for rule in found.alerts:
            what = rule.kind.value + (f" ({rule.feature})" if rule.feature else "")
            table.add_row(shown(rule.name), shown(what), shown(rule.alias), rule.window,
                          "-" if rule.threshold is None else number(rule.threshold),
                          f"{rule.min_breaches} of {rule.of_windows}", rule.cooldown, rule.severity.value)
        parts.append(table)
    else:
        parts.append("alert rules: none (\\[\\[monitor.alerts]] in the pipeline file)")
    policy, state = found.retrain, found.state
    if policy is None:
        parts.append("retrain: no \\[retrain] policy in the latest version's pipeline file")
    else:
        triggers = [f"on_drift {', '.join(policy.on_drift)}"] if policy.on_drift else []
        if policy.schedule:
            triggers.append(f"schedule {policy.schedule!r} UTC (next {when(state.next_schedule_at)})")
        if policy.on_new_data:
            triggers.append("on_new_data")
        further = "production when every gate passes" if policy.auto_promote else "an approval request for production"
        parts += [
            f"retrain: triggers {shown('; '.join(triggers)) if triggers else 'none (by hand only)'}",
            f"  guards   min_interval {policy.min_interval}, min_new_rows {policy.min_new_rows}, "
            f"min_new_labels {policy.min_new_labels}, max_rejections {policy.max_rejections}",
            f"  promote  staging, then {further}"
            + (f"; shadow {policy.shadow} first (min {policy.shadow_min_rows} rows)" if policy.shadow else ""),
            f"  state    {'[red]PAUSED[/] (circuit breaker)' if state.paused else 'active'}; "
            f"{state.consecutive_rejections} rejected in a row; last start {when(state.last_started_at)} "
            f"on {shown(state.last_dataset or '-')}",
        ]
    parts.append(f"webhook: {shown(found.notify.url) if found.notify and found.notify.url else 'none in the file'}")
    if found.open_alerts:
        listed = ", ".join(f"{alert.rule} ({alert.status.value})" for alert in found.open_alerts)
        parts.append(f"open alerts: {shown(listed)}")
    return parts
