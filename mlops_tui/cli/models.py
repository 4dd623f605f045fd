"""`mlops models ...`: the model registry from the terminal.

A version is named `NAME VERSION`, `NAME/VERSION` or `NAME@ALIAS`. `promote` and `gates` exit with a
code per outcome (documented in the README): 0 moved (gates passed), 9 a gate failed (nothing
moved), 10 waiting for approval (a request was opened), 1 any other error, 2 usage. The actor of
every change is `MLOPS_USER`, else the OS user (the client sends it).
"""
from __future__ import annotations

import re
from datetime import datetime

import typer
from rich.console import RenderableType

from ..client import Client, MlopsError
from ..contract.registry import (
    ALIAS_RULE,
    AWAITING_APPROVAL_EXIT,
    GATE_FAILED_EXIT,
    ApprovalRequest,
    GateReport,
    ModelVersion,
    PromoteOutcome,
    PromoteResult,
    RequestStatus,
    parse_model_ref,
)
from . import model_views as views
from .output import (
    JsonOption,
    UrlOption,
    connect,
    console,
    errors,
    fail,
    handle_errors,
    plural,
    print_json,
    shown,
    usage_error,
    when,
)
from .retrain import lifecycle_view

models_app = typer.Typer(help="Model registry: versions, aliases, gated promotion, approvals, audit history.",
                         no_args_is_help=True)

REQUEST_STATUSES = tuple(RequestStatus)
NameArgument = typer.Argument(..., metavar="NAME", help="The model's name.")
RefArgument = typer.Argument(..., metavar="NAME", help="NAME with VERSION, or NAME/VERSION, or NAME@ALIAS.")
VersionArgument = typer.Argument(None, min=1, help="The version number (or write NAME/VERSION, NAME@ALIAS).")
ToOption = typer.Option(..., "--to", help="The alias to move (production, staging, ...).")
ReasonOption = typer.Option("", "--reason", help="Why: recorded with the event.")


# --- naming a model, a version, an alias ----------------------------------------------------


def _parse(text: str) -> tuple[str, int | str | None]:
    try:
        return parse_model_ref(text)
    except ValueError as error:
        usage_error(f"{text!r}: {error}")


def _name(text: str) -> str:
    """A model's name alone (a command about the whole model)."""
    name, part = _parse(text)
    if part is not None:
        usage_error(f"{text!r}: write the model's name alone here, not NAME/VERSION or NAME@ALIAS")
    return name


def _alias(text: str, option: str) -> str:
    if not re.match(ALIAS_RULE, text):
        usage_error(f"{option} {text!r} is not an alias name (a letter, then letters, digits, '_' or '-')")
    return text


def _target(text: str, version: int | None) -> tuple[str, int | str]:
    """`NAME VERSION`, `NAME/VERSION` or `NAME@ALIAS` → (name, version or alias), checked before anything is sent."""
    name, part = _parse(text)
    if version is not None and part is not None:
        usage_error(f"{text!r} already names a version: drop VERSION, or write NAME VERSION")
    found = version if version is not None else part
    if found is None:
        usage_error(f"{text!r}: name a version: NAME VERSION, NAME/VERSION or NAME@ALIAS")
    return name, found


def _resolve(client: Client, name: str, part: int | str) -> int:
    """The version number `part` names (an alias is looked up now)."""
    return part if isinstance(part, int) else client.get_alias(name, part).version


def alias_holder(client: Client, name: str, alias: str) -> int | None:
    """The version `alias` points at now, None when it points nowhere (yet)."""
    try:
        return client.get_alias(name, alias).version
    except MlopsError as error:
        if error.status == 404:
            return None
        raise


def _moment(text: str) -> int:
    """`--at`: epoch milliseconds, or an ISO date or date-time (local time unless it says its zone)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        usage_error(f"--at {text!r}: write an ISO date or date-time (2026-03-14, 2026-03-14T09:30, "
                    "2026-03-14T09:30:00Z) or epoch milliseconds")
    return int(moment.astimezone().timestamp() * 1000)


def say(text: str, err: bool = False) -> None:
    """A line for people (on stderr with `err`): the terminal wraps it, so a command or an id in it
    is never broken across lines."""
    (errors if err else console).print(text, highlight=False, soft_wrap=True)


def show_parts(parts: list[RenderableType]) -> None:
    for part in parts:
        if isinstance(part, str):
            say(part)
        else:
            console.print(part)


# --- reading the registry ------------------------------------------------------------------


@models_app.command("list")
@handle_errors
def models_list(json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """List registered models with their latest version and aliases."""
    found = connect(url).list_models()
    if json_out:
        print_json(found)
        return
    console.print(views.models_table(found.models))


@models_app.command("show")
@handle_errors
def models_show(ref: str = typer.Argument(..., metavar="NAME[/VERSION|@ALIAS]",
                                          help="A model (its versions), NAME/VERSION or NAME@ALIAS (one version)."),
                json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Show a model's versions, or one version: signature, sha256, metrics, reference, last gate report."""
    name, part = _parse(ref)
    client = connect(url)
    if part is None:
        model = client.get_model(name)
        if json_out:
            print_json(model)
            return
        pending = f"  [yellow]{plural(model.pending_requests, 'pending request')}[/]" if model.pending_requests else ""
        say(f"[bold]{shown(model.name)}[/]  {plural(model.version_count, 'version')}, latest "
            f"{views.version_label(model.latest_version)}  aliases {shown(views.aliases_text(model.aliases))}{pending}")
        if model.description:
            say(shown(model.description))
        console.print(views.versions_table(model))
        return
    version = client.get_version(name, part) if isinstance(part, int) else client.get_alias(name, part)
    if json_out:
        print_json(version)
        return
    show_parts(views.version_detail(version, console.width))


@models_app.command("history")
@handle_errors
def models_history(ref: str = NameArgument,
                   alias: str | None = typer.Option(None, "--alias", help="Only this alias's events."),
                   at: str | None = typer.Option(None, "--at", metavar="TIME",
                                                 help="Events up to TIME (ISO date/date-time or epoch ms), and which "
                                                      "version held each alias then."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """The audit trail: every registration, alias move, request, decision, rollback and archive."""
    name = _name(ref)
    if alias is not None:
        _alias(alias, "--alias")
    moment = _moment(at) if at is not None else None
    found = connect(url).model_events(name, at=moment, alias=alias)
    if json_out:
        print_json(found)
        return
    if found.events:
        console.print(views.events_table(found.events, name))
    else:
        say("no events" + (" before then" if moment is not None else ""))
    if moment is not None:
        held = found.aliases_at or {}
        text = ", ".join(f"{a} held v{v}" for a, v in sorted(held.items())) or "no alias pointed at a version"
        say(f"at {when(moment)}: {shown(text)}")


@models_app.command("policy")
@handle_errors
def models_policy(ref: str = NameArgument,
                  version: int | None = typer.Option(None, "--version", min=1,
                                                     help="The version whose pipeline file sets it (default: latest)."),
                  json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """The promotion policy (the gates and approvals each alias needs, from the pipeline file's promote
    table), then the lifecycle of the latest version's file: alert rules, the retrain policy with its state
    (paused, rejections in a row, last start, next schedule) and the webhook."""
    client = connect(url)
    policy = client.model_policy(_name(ref), version)
    lifecycle = client.model_lifecycle(_name(ref))
    if json_out:
        print_json({**policy.model_dump(mode="json"), "lifecycle": lifecycle})
        return
    console.print(views.policy_table(policy))
    for part in lifecycle_view(lifecycle):
        console.print(part, highlight=False)


@models_app.command("verify")
@handle_errors
def models_verify(ref: str = NameArgument, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Walk the audit chain's hashes: exit 0 intact, 1 naming the first event altered or removed."""
    check = connect(url).verify_model(_name(ref))
    if json_out:
        print_json(check)
    elif check.ok:
        say(f"[green]intact[/]: {plural(check.events, 'event')}, each hash matches")
    if not check.ok:
        if not json_out:
            fail(f"{check.model}: the audit chain is broken at event {check.first_bad}: {check.detail}")
        raise typer.Exit(1)


@models_app.command("requests")
@handle_errors
def models_requests(ref: str = NameArgument,
                    status: str | None = typer.Option(None, "--status", help="Only requests in this status: "
                                                                               f"{', '.join(REQUEST_STATUSES)}."),
                    json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Approval requests, pending first."""
    name = _name(ref)
    if status is not None and status.upper() not in REQUEST_STATUSES:
        usage_error(f"--status {status!r} is not a request status; use one of {', '.join(REQUEST_STATUSES)}")
    found = connect(url).list_requests(name, status.upper() if status else None)
    if json_out:
        print_json(found)
        return
    console.print(views.requests_table(found.requests, name))


# --- changing it -----------------------------------------------------------------------------


@models_app.command("register")
@handle_errors
def models_register(run: str = typer.Argument(..., help="The run whose artifacts hold model/model.skops "
                                                        "(a pipeline job's parent run)."),
                    name: str = typer.Option(..., "--name", "-n", help="The model's name (created on first use)."),
                    description: str = typer.Option("", "--description", help="What this version is."),
                    json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Register a run's model file as the model's next version."""
    version = connect(url).register_version(_name(name), run, description)
    if json_out:
        print_json(version)
        return
    say(f"registered [bold]{shown(version.name)}/{version.version}[/] from run {version.run_id[:8]}: "
        f"{shown(views.metric_text(version.primary_metric, version.primary_value))}, sha256 {version.sha256[:12]}")


@models_app.command("gates")
@handle_errors
def models_gates(ref: str = RefArgument, version: int | None = VersionArgument, to: str = ToOption,
                 json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Compute the gate report of moving ALIAS to a version, moving nothing: exit 0 all pass, 9 a gate failed."""
    name, part = _target(ref, version)
    _alias(to, "--to")
    client = connect(url)
    report = client.check_gates(name, _resolve(client, name, part), to)
    if json_out:
        print_json(report)
    else:
        _print_report(report)
        if report.passed:
            say(f"[green]all gates pass[/]: promote would move {shown(to)}")
        else:
            say(f"[bold red]{_failed_line(report)}[/]", err=True)
    raise typer.Exit(0 if report.passed else GATE_FAILED_EXIT)


@models_app.command("promote")
@handle_errors
def models_promote(ref: str = RefArgument, version: int | None = VersionArgument, to: str = ToOption,
                   reason: str = ReasonOption,
                   force: bool = typer.Option(False, "--force", help="Move even though gates fail (needs --reason; "
                                                                     "recorded as forced)."),
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Move ALIAS to a version if every gate passes: exit 0 moved, 9 a gate failed, 10 waiting for approval.

    The move is compare-and-set: it names the version ALIAS holds now, so a move that came first
    wins and this one fails (exit 1) naming it."""
    if force and not reason.strip():
        usage_error("--force needs --reason TEXT: a forced move is recorded with why")
    name, part = _target(ref, version)
    _alias(to, "--to")
    client = connect(url)
    number = _resolve(client, name, part)
    result = client.promote(name, number, to, expected_version=alias_holder(client, name, to), reason=reason,
                            force=force)
    if json_out:
        print_json(result)
    else:
        print_promotion(result)
    raise typer.Exit(promote_exit_code(result))


def promote_exit_code(result: PromoteResult) -> int:
    return {PromoteOutcome.MOVED: 0, PromoteOutcome.GATES_FAILED: GATE_FAILED_EXIT,
            PromoteOutcome.AWAITING_APPROVAL: AWAITING_APPROVAL_EXIT}[result.outcome]


def _print_report(report: GateReport) -> None:
    show_parts(views.gate_report(report, console.width))


def _failed_line(report: GateReport) -> str:
    failed = ", ".join(gate.name for gate in report.failed)
    return f"{plural(len(report.failed), 'gate')} failed: {shown(failed)}"


def _moved_line(result: PromoteResult, verb: str) -> str:
    return (f"{verb} [bold]{shown(result.model)}@{shown(result.alias)}[/]: "
            f"{views.version_label(result.from_version)} → v{result.version}")


def print_promotion(result: PromoteResult) -> None:
    if result.report is not None:
        _print_report(result.report)
    if result.outcome == PromoteOutcome.MOVED:
        forced = result.event is not None and result.event.forced
        say(_moved_line(result, "[bold red]forced[/]" if forced else "[green]moved[/]"))
    elif result.outcome == PromoteOutcome.GATES_FAILED:
        holder = views.version_label(result.from_version) if result.from_version else "nothing"
        line = _failed_line(result.report) if result.report else "gates failed"
        say(f"[bold red]not moved[/]: {line}; {shown(result.alias)} still points at {holder}. "
            "To move it anyway: --force --reason TEXT", err=True)
    elif result.request is not None:
        _print_request_opened(result.request)


def _print_request_opened(request: ApprovalRequest) -> None:
    say(f"[yellow]waiting for approval[/]: request [bold]{request.id}[/] "
        f"({plural(request.approvals_needed, 'approval')} needed, not by {shown(request.requester)}; "
        f"expires {when(request.expires_at)})\n"
        f"approve: mlops models approve {shown(request.model)} {request.id}\n"
        f"reject:  mlops models reject {shown(request.model)} {request.id} --reason TEXT")


@models_app.command("rollback")
@handle_errors
def models_rollback(ref: str = NameArgument,
                    alias: str = typer.Option(..., "--alias", help="The alias to move back to its previous version."),
                    reason: str = ReasonOption, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Move ALIAS back to the version it held before its last move (again: further back)."""
    name = _name(ref)
    result = connect(url).rollback(name, _alias(alias, "--alias"), reason)
    if json_out:
        print_json(result)
    else:
        say(_moved_line(result, "[green]rolled back[/]"))


def _print_decision(request: ApprovalRequest) -> None:
    move = f"{shown(request.model)}@{shown(request.alias)}: {views.version_label(request.expected_version)} → " \
           f"v{request.version}"
    if request.status == RequestStatus.PENDING:
        say(f"approval recorded ({len(request.approvers)}/{request.approvals_needed}) for request {request.id}; "
            f"{move} waits for {plural(request.approvals_needed - len(request.approvers), 'more approver')}")
    elif request.status == RequestStatus.APPROVED:
        say(f"[green]approved[/] request {request.id}: moved {move}")
    else:
        say(f"{request.status.value.lower()} request {request.id} ({move})")


@models_app.command("approve")
@handle_errors
def models_approve(ref: str = NameArgument, request: str = typer.Argument(..., metavar="REQUEST",
                                                                           help="The request's id."),
                   reason: str = ReasonOption, json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Approve a pending request (never your own); the last approval needed moves the alias."""
    decided = connect(url).approve_request(_name(ref), request, reason)
    if json_out:
        print_json(decided)
    else:
        _print_decision(decided)


@models_app.command("reject")
@handle_errors
def models_reject(ref: str = NameArgument, request: str = typer.Argument(..., metavar="REQUEST",
                                                                          help="The request's id."),
                  reason: str = typer.Option(..., "--reason", help="Why (required)."),
                  json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Reject a pending request, with a reason: nothing moves."""
    if not reason.strip():
        usage_error("--reason must say why the request is rejected")
    decided = connect(url).reject_request(_name(ref), request, reason)
    if json_out:
        print_json(decided)
    else:
        _print_decision(decided)


def _print_changed(changed: ModelVersion, verb: str, json_out: bool) -> None:
    if json_out:
        print_json(changed)
    else:
        say(f"{verb} [bold]{shown(changed.name)}/{changed.version}[/]")


@models_app.command("archive")
@handle_errors
def models_archive(ref: str = RefArgument, version: int | None = VersionArgument, reason: str = ReasonOption,
                   json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Archive a version (refused while an alias points at it)."""
    name, part = _target(ref, version)
    client = connect(url)
    _print_changed(client.archive_version(name, _resolve(client, name, part), reason), "archived", json_out)


@models_app.command("delete")
@handle_errors
def models_delete(ref: str = RefArgument, version: int | None = VersionArgument,
                  json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Delete a version (refused while an alias points at it; the audit history keeps it). Asks nothing."""
    name, part = _target(ref, version)
    client = connect(url)
    _print_changed(client.delete_version(name, _resolve(client, name, part)), "deleted", json_out)
