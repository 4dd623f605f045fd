"""How `mlops models` shows the registry to people: versions, gate reports, the audit timeline,
policies and approval requests as rich tables. `--json` never comes here."""
from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Column, Table

from ..contract.registry import (
    AliasPolicy,
    ApprovalRequest,
    Event,
    GateReport,
    ModelDetail,
    ModelVersion,
    Policy,
    RegisteredModel,
)
from ..formatting import gate_summary, gate_value, size, status_markup
from .data import column_summary
from .output import number, shown, when, when_short


def version_label(version: int | None) -> str:
    """`v3`; `-` for none (a model created through MLflow has no version until one is registered)."""
    return f"v{version}" if version else "-"


def aliases_text(aliases: dict[str, int]) -> str:
    """`production=v3, staging=v4`."""
    return ", ".join(f"{alias}={version_label(version)}" for alias, version in sorted(aliases.items())) or "-"


def metric_text(metric: str | None, value: float | None) -> str:
    return "-" if metric is None else f"{metric} {number(value)}"


def _fixed(header: str) -> Column:
    """A column of short values (versions, statuses, times) that never wraps; free text folds."""
    return Column(header, no_wrap=True)


def _text(header: str) -> Column:
    return Column(header, overflow="fold")


def _table(title: str, *columns: Column) -> Table:
    """The house table without its outer frame: 4 columns more for the cells at 80 columns."""
    return Table(*columns, title=title, title_justify="left", box=box.HEAVY_HEAD, show_edge=False, pad_edge=False)


def models_table(models: list[RegisteredModel]) -> Table:
    table = _table("Models", _text("NAME"), _fixed("LATEST"), _text("ALIASES"), _text("LATEST METRIC"),
                   _fixed("PENDING"), _fixed("UPDATED"))
    for model in models:
        table.add_row(shown(model.name), version_label(model.latest_version), shown(aliases_text(model.aliases)),
                      shown(metric_text(model.primary_metric, model.latest_value)), str(model.pending_requests or "-"),
                      when_short(model.updated_at))
    return table


def versions_table(model: ModelDetail) -> Table:
    table = _table(f"{shown(model.name)}: versions", _fixed("VERSION"), _fixed("STATUS"), _text("ALIASES"),
                   _text("METRIC"), _text("DATASET"), _fixed("CREATED"), _text("BY"), _fixed("RUN"))
    for version in model.versions:
        table.add_row(version_label(version.version), status_markup(version.status),
                      shown(", ".join(version.aliases)) or "-",
                      shown(metric_text(version.primary_metric, version.primary_value)), shown(version.dataset or "-"),
                      when_short(version.created_at), shown(version.created_by), version.run_id[:8] or "-")
    return table


def version_detail(version: ModelVersion, width: int) -> list[RenderableType]:
    """One version: where it came from, its file, its scores, its inputs and its last gate report."""
    lines = [
        f"[bold]{shown(version.name)}/{version.version}[/]  {status_markup(version.status)}  "
        f"aliases {shown(', '.join(version.aliases)) or '-'}",
        f"created {when(version.created_at)} by {shown(version.created_by)}  run {version.run_id[:8] or '-'}  "
        f"job {shown(version.job_id or '-')}  dataset {shown(version.dataset or '-')}",
        f"file {shown(version.model_path)}  {size(version.size_bytes)}  sha256 {version.sha256}",
    ]
    if version.model_format != "skops":  # registered through the MLflow API: kept, never served here
        lines.append(f"format {shown(version.model_format)} (not served by the backend)  "
                     f"source {shown(version.source or '-')}")
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
        parts.extend(gate_report(version.last_report, width))
    return parts


def _signature_table(version: ModelVersion) -> Table:
    features = (version.reference or {}).get("features") or {}
    table = _table("Signature", _text("INPUT"), _fixed("DTYPE"), _text("REFERENCE (training)"))
    for column in version.signature["inputs"]:
        name = str(column.get("name", ""))
        stats = features.get(name)
        table.add_row(shown(name), shown(column.get("dtype", "-")),
                      shown(column_summary(stats)) if isinstance(stats, dict) else "-")
    return table


def _value(value: float | str | None) -> str:
    return shown(gate_value(value))


DETAIL_COLUMN_WIDTH = 120
"""From this terminal width on, a gate's detail is a column of the report; below it, a line under it."""


def gate_report(report: GateReport, width: int) -> list[RenderableType]:
    """The table (gate, check, threshold, candidate, champion, PASS/FAIL, detail) and what it was
    computed on. In a terminal narrower than DETAIL_COLUMN_WIDTH the details (sentences) follow the
    table, one line per gate, instead of folding into a narrow column."""
    inline = width >= DETAIL_COLUMN_WIDTH
    champion = version_label(report.champion_version) if report.champion_version else "none"
    table = _table(f"Gates: {shown(report.model)}/{report.candidate_version} → {shown(report.alias)} "
                   f"(candidate {version_label(report.candidate_version)}, champion {champion})",
                   _fixed("GATE"), _text("CHECK"), _fixed("THRESHOLD"), _fixed("CANDIDATE"), _fixed("CHAMPION"),
                   _fixed("RESULT"), *([_text("DETAIL")] if inline else []))
    for gate in report.gates:
        table.add_row(gate.gate.value, shown(gate.name), _value(gate.threshold), _value(gate.candidate),
                      _value(gate.champion), _verdict(gate.passed), *([shown(gate.detail)] if inline else []))
    details = [] if inline else [f"{_verdict(gate.passed)} {gate.gate.value}: {shown(gate.detail)}"
                                 for gate in report.gates if gate.detail]
    data = f" on {shown(report.data)}" if report.data else ""
    return [table, *details, f"[dim]computed {when(report.computed_at)}{data} in {report.seconds:.1f}s[/]"]


def _verdict(passed: bool) -> str:
    return "[green]PASS[/]" if passed else "[bold red]FAIL[/]"


def _versions_moved(event: Event) -> str:
    """`v1 → v2` for a move (or a request, an approval: the move asked for), `v1 → -` for an alias
    removed (`unset`), `v2` for the rest."""
    if event.to_version is not None or event.from_version is not None:
        return f"{version_label(event.from_version)} → {version_label(event.to_version)}"
    return version_label(event.version)


def _action(event: Event) -> str:
    request = f" {event.request_id[:8]}" if event.request_id else ""
    return f"{event.action.value}{request}"


def _gates_cell(event: Event) -> str:
    """`✓ 6/6`, or `forced: ✗ 5/6 champion` when failed gates were overridden."""
    summary = shown(gate_summary(event.report))
    return f"[bold red]forced[/]: {summary}" if event.forced else summary


def events_table(events: list[Event], model: str) -> Table:
    table = _table(f"{shown(model)}: history", Column("#", justify="right", no_wrap=True), _fixed("TIME"),
                   _text("ACTOR"), _text("ACTION"), _text("ALIAS"), _fixed("FROM → TO"), _text("GATES"),
                   _text("REASON"))
    for event in events:
        table.add_row(str(event.seq), when_short(event.time), shown(event.actor), _action(event),
                      shown(event.alias or "-"), _versions_moved(event), _gates_cell(event), shown(event.reason) or "-")
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
    table = _table(f"{shown(policy.name)}: promotion policy (from {version_label(policy.version)})",
                   _fixed("SETTING"), *(_text(shown(alias)) for alias, _ in named))
    for field, label in POLICY_FIELDS:
        table.add_row(label, *(_setting(getattr(rules, field)) for _, rules in named))
    return table


def requests_table(requests: list[ApprovalRequest], model: str) -> Table:
    table = _table(f"{shown(model)}: approval requests", _fixed("REQUEST"), _text("MOVE"), _fixed("STATUS"),
                   _text("BY"), _fixed("APPROVALS"), _fixed("EXPIRES"), _text("REASON"))
    for request in requests:
        forced = " [bold red]forced[/]" if request.forced else ""
        move = f"{request.alias} {version_label(request.expected_version)} → {version_label(request.version)}"
        table.add_row(request.id, shown(move), status_markup(request.status), shown(request.requester),
                      f"{len(request.approvers)}/{request.approvals_needed}", when_short(request.expires_at),
                      (shown(request.reason) or "-") + forced)
    return table
