"""How `mlops models` shows the registry to people: versions, gate reports, the audit timeline,
policies and approval requests as rich tables. `--json` never comes here."""
from __future__ import annotations

from rich.console import RenderableType
from rich.table import Column, Table

from ..contract.registry import (
    AliasPolicy,
    ApprovalRequest,
    Event,
    EventAction,
    GateReport,
    ModelDetail,
    ModelVersion,
    Policy,
    RegisteredModel,
)
from ..formatting import size, status_markup
from .data import column_summary
from .output import number, shown, when


def version_label(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def aliases_text(aliases: dict[str, int]) -> str:
    """`production=v3, staging=v4`."""
    return ", ".join(f"{alias}={version_label(version)}" for alias, version in sorted(aliases.items())) or "-"


def metric_text(metric: str | None, value: float | None) -> str:
    return "-" if metric is None else f"{metric} {number(value)}"


def models_table(models: list[RegisteredModel]) -> Table:
    table = Table(Column("NAME", overflow="fold"), "LATEST", "VERSIONS", Column("ALIASES", overflow="fold"),
                  "LATEST METRIC", "PENDING", Column("UPDATED", no_wrap=True), title="Models", title_justify="left")
    for model in models:
        table.add_row(shown(model.name), version_label(model.latest_version), str(model.version_count),
                      shown(aliases_text(model.aliases)), shown(metric_text(model.primary_metric, model.latest_value)),
                      str(model.pending_requests or "-"), when(model.updated_at))
    return table


def versions_table(model: ModelDetail) -> Table:
    table = Table("VERSION", "STATUS", Column("ALIASES", overflow="fold"), "METRIC", "DATASET",
                  Column("CREATED", no_wrap=True), "BY", Column("RUN", no_wrap=True),
                  title=f"{shown(model.name)}: versions", title_justify="left")
    for version in model.versions:
        table.add_row(version_label(version.version), status_markup(version.status),
                      shown(", ".join(version.aliases)) or "-",
                      shown(metric_text(version.primary_metric, version.primary_value)), shown(version.dataset or "-"),
                      when(version.created_at), shown(version.created_by), version.run_id[:8])
    return table


def version_detail(version: ModelVersion) -> list[RenderableType]:
    """One version: where it came from, its file, its scores, its inputs and its last gate report."""
    lines = [
        f"[bold]{shown(version.name)}/{version.version}[/]  {status_markup(version.status)}  "
        f"aliases {shown(', '.join(version.aliases)) or '-'}",
        f"created {when(version.created_at)} by {shown(version.created_by)}  run {version.run_id[:8]}  "
        f"job {shown(version.job_id or '-')}  dataset {shown(version.dataset or '-')}",
        f"file {shown(version.model_path)}  {size(version.size_bytes)}  sha256 {version.sha256}",
    ]
    if version.description:
        lines.append(f"description: {shown(version.description)}")
    if version.metrics:
        scores = ", ".join(f"{key} {number(value)}" for key, value in sorted(version.metrics.items()))
        lines.append(f"metrics (holdout, at training): {shown(scores)}")
    parts: list[RenderableType] = ["\n".join(lines)]
    if version.signature.get("inputs"):
        parts.append(_signature_table(version))
    target = (version.reference or {}).get("target") or {}
    for column, stats in target.items() if isinstance(target, dict) else ():
        if isinstance(stats, dict):
            parts.append(f"target {shown(column)} at training: {shown(column_summary(stats))}")
    if version.last_report is not None:
        parts.extend(gate_report(version.last_report))
    return parts


def _signature_table(version: ModelVersion) -> Table:
    features = (version.reference or {}).get("features") or {}
    table = Table("INPUT", "DTYPE", Column("REFERENCE (training)", overflow="fold"), title="Signature",
                  title_justify="left")
    for column in version.signature["inputs"]:
        name = str(column.get("name", ""))
        stats = features.get(name)
        table.add_row(shown(name), shown(column.get("dtype", "-")),
                      shown(column_summary(stats)) if isinstance(stats, dict) else "-")
    return table


def _value(value: float | str | None) -> str:
    if value is None:
        return "-"
    return shown(value) if isinstance(value, str) else number(value)


def gate_report(report: GateReport) -> list[RenderableType]:
    """The table (gate, check, threshold, candidate, champion, PASS/FAIL, detail) and what it was
    computed on."""
    champion = version_label(report.champion_version) if report.champion_version else "none"
    table = Table(Column("GATE", no_wrap=True), Column("CHECK", overflow="fold"), "THRESHOLD",
                  f"CANDIDATE {version_label(report.candidate_version)}", f"CHAMPION {champion}",
                  Column("RESULT", no_wrap=True), Column("DETAIL", overflow="fold"),
                  title=f"Gates: {shown(report.model)}/{report.candidate_version} → {shown(report.alias)} "
                        f"(holder {champion})", title_justify="left")
    for gate in report.gates:
        table.add_row(gate.gate.value, shown(gate.name), _value(gate.threshold), _value(gate.candidate),
                      _value(gate.champion), "[green]PASS[/]" if gate.passed else "[bold red]FAIL[/]",
                      shown(gate.detail))
    data = f" on {shown(report.data)}" if report.data else ""
    footer = f"[dim]computed {when(report.computed_at)}{data} in {report.seconds:.1f}s[/]"
    return [table, footer]


def gates_summary(report: GateReport | None) -> str:
    """`6/6 passed` or `FAIL champion, threshold`."""
    if report is None:
        return "-"
    failed = report.failed
    if not failed:
        return f"{len(report.gates)}/{len(report.gates)} passed"
    return "FAIL " + ", ".join(gate.gate.value for gate in failed)


def _versions_moved(event: Event) -> str:
    if event.action in (EventAction.PROMOTE, EventAction.ROLLBACK):
        return f"{version_label(event.from_version)} → {version_label(event.to_version)}"
    return version_label(event.version if event.version is not None else event.to_version)


def _action(event: Event) -> str:
    request = f" {event.request_id[:8]}" if event.request_id else ""
    return f"{event.action.value}{request}"


def events_table(events: list[Event], model: str) -> Table:
    table = Table(Column("#", justify="right"), Column("TIME", no_wrap=True), "ACTOR", Column("ACTION", no_wrap=True),
                  "ALIAS", Column("VERSION", no_wrap=True), Column("REASON", overflow="fold"), "FORCED",
                  Column("GATES", overflow="fold"), title=f"{shown(model)}: history", title_justify="left")
    for event in events:
        table.add_row(str(event.seq), when(event.time), shown(event.actor), _action(event), shown(event.alias or "-"),
                      _versions_moved(event), shown(event.reason) or "-",
                      "[bold red]forced[/]" if event.forced else "", shown(gates_summary(event.report)))
    return table


POLICY_FIELDS: list[tuple[str, str]] = [
    ("signature", "signature"), ("thresholds", "thresholds"), ("min_improvement", "min improvement"),
    ("max_latency_ms", "max latency ms"), ("latency_rows", "latency rows"), ("max_size_mb", "max size MB"),
    ("approval", "approval"), ("approvals", "approvals"), ("approval_expires", "expires"), ("protected", "protected"),
]


def _setting(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} {number(bound)}" for key, bound in value.items()) or "-"
    if isinstance(value, float):
        return number(value)
    return shown(value)


def policy_table(policy: Policy) -> Table:
    """One column per alias with its own table (`*` is the default every other alias gets)."""
    named: list[tuple[str, AliasPolicy]] = [("* (default)", policy.default), *sorted(policy.aliases.items())]
    table = Table("SETTING", *(Column(shown(alias), overflow="fold") for alias, _ in named),
                  title=f"{shown(policy.name)}: promotion policy (from {version_label(policy.version)})",
                  title_justify="left")
    for field, label in POLICY_FIELDS:
        table.add_row(label, *(_setting(getattr(rules, field)) for _, rules in named))
    return table


def requests_table(requests: list[ApprovalRequest], model: str) -> Table:
    table = Table(Column("REQUEST", no_wrap=True), "ALIAS", Column("MOVE", no_wrap=True), "STATUS", "BY",
                  "APPROVALS", Column("CREATED", no_wrap=True), Column("EXPIRES", no_wrap=True),
                  Column("REASON", overflow="fold"), title=f"{shown(model)}: approval requests", title_justify="left")
    for request in requests:
        approvers = f"{len(request.approvers)}/{request.approvals_needed}"
        if request.approvers:
            approvers += f" ({shown(', '.join(request.approvers))})"
        forced = " [bold red]forced[/]" if request.forced else ""
        table.add_row(request.id, shown(request.alias),
                      f"{version_label(request.expected_version)} → {version_label(request.version)}",
                      status_markup(request.status), shown(request.requester), approvers, when(request.created_at),
                      when(request.expires_at), (shown(request.reason) or "-") + forced)
    return table
