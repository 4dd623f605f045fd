"""One registered model: its versions, the audit history of every change, and its pending approval
requests, as tabs. `p` promotes the version under the cursor (gates computed live), `b` rolls an alias
back, `a` approves or rejects a pending request, `v` opens a version's detail, `enter` its source run,
`m` the model's Monitor view.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane

from ..client import MlopsError
from ..contract.registry import (
    ALIAS_MOVES,
    ApprovalRequest,
    Event,
    EventAction,
    EventList,
    ModelDetail,
    ModelVersion,
    PromoteOutcome,
    PromoteResult,
    RequestStatus,
)
from ..formatting import WHEN_WIDTH, aliases_line, gate_summary, number, plural, safe_text, status, when
from ..keymap import bindings
from ..widgets.tables import NavTable
from . import registry
from .jobs import clip
from .run_detail import TabbedView

HISTORY_FIXED_WIDTH = WHEN_WIDTH + 8 + 8 + 10 + 7 + 12 + 7 * 2 + 1
"""The history's columns but the reason (`✗ 5/6 forced` the widest gates cell), their padding and the
scrollbar: the reason gets the rest, cut with `…` (the line under the table shows it whole)."""


@dataclass(frozen=True)
class ModelData:
    detail: ModelDetail
    events: list[Event]
    """Oldest first."""
    requests: list[ApprovalRequest]
    """Pending ones."""
    requests_error: str | None = None
    """Why the requests could not be listed (the versions and history still show)."""


def move_text(event: Event) -> str:
    """`3→4` for an alias move, `v4` for an event about one version, `-` otherwise."""
    if event.action in ALIAS_MOVES or event.from_version is not None or event.to_version is not None:
        before = "-" if event.from_version is None else str(event.from_version)
        after = "-" if event.to_version is None else str(event.to_version)
        return f"{before}→{after}"
    version = event.version if event.version is not None else event.to_version
    return f"v{version}" if version is not None else "-"


def rollback_targets(events: list[Event]) -> dict[str, int | None]:
    """Per alias, the version a rollback would return it to (None: nothing before), as the server
    decides it: the alias's moves replayed, a promotion pushes the version it moved to, a rollback
    pops one, and the target is the one under the top (so repeated rollbacks walk back the history)."""
    stacks: dict[str, list[int | None]] = {}
    for event in sorted(events, key=lambda e: e.seq):
        if event.alias is None or event.action not in ALIAS_MOVES:
            continue
        stack = stacks.setdefault(event.alias, [])
        if event.action == EventAction.ROLLBACK:
            if stack:
                stack.pop()
        else:
            stack.append(event.to_version)
    return {alias: stack[-2] if len(stack) >= 2 else None for alias, stack in stacks.items()}


def version_columns(metric: str | None) -> list[tuple[str, str, int | None]]:
    """The versions table's columns; the metric's is named after the model's primary metric."""
    return [("version", "VER", None), ("status", "STATUS", None), ("aliases", "ALIASES", None),
            ("metric", (metric or "metric").upper(), None), ("dataset", "DATASET", None),
            ("created", "CREATED", WHEN_WIDTH), ("run", "RUN", None)]


def version_cells(version: ModelVersion, zone: tzinfo | None) -> list[Any]:
    dataset = version.dataset or ("mlflow model" if version.model_format != "skops" else "-")
    return [f"v{version.version}", status(version.status), ", ".join(version.aliases) or "-",
            number(version.primary_value), dataset, when(version.created_at, zone), version.run_id[:8] or "-"]


def event_cells(event: Event, zone: tzinfo | None, reason_width: int) -> list[Any]:
    gates = gate_summary(event.report, names=False) + (" forced" if event.forced else "")
    return [when(event.time, zone), clip(event.actor, 8), str(event.action), clip(event.alias or "-", 10),
            move_text(event), gates.strip(), clip(event.reason or "-", reason_width)]


def request_cells(request: ApprovalRequest, zone: tzinfo | None) -> list[Any]:
    return [request.id[:8], clip(request.alias, 12), f"v{request.version}", clip(request.requester, 10),
            f"{len(request.approvers)}/{request.approvals_needed}", when(request.expires_at, zone),
            gate_summary(request.report), request.reason or "-"]


def event_detail(event: Event) -> Text:
    """The event under the cursor in full: who, what, why, and why each failed gate failed."""
    text = Text()
    text.append(f"#{event.seq} {event.action}", style="bold")
    text.append(f" by {safe_text(event.actor)}")
    if event.alias:
        text.append(f" · {safe_text(event.alias)} {move_text(event)}")
    if event.forced:
        text.append(" · FORCED", style="bold")
    text.append(f" · reason: {safe_text(event.reason) or '-'}")
    if event.report is not None:
        text.append(f"\ngates {gate_summary(event.report)}")
        for gate in event.report.failed:
            text.append(f" · ✗ {safe_text(gate.name)}: {safe_text(gate.detail)}")
    return text


class ModelScreen(TabbedView):
    """A model's tabs; the title line names its aliases and its latest version."""

    view_name = "model"
    RENDER_ON_RESIZE = True
    BINDINGS: ClassVar[list[BindingType]] = bindings("model")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.model_name = name
        self.data: ModelData | None = None

    @property
    def crumb(self) -> str:
        return f"Models › {self.model_name}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="model-title")
        with TabbedContent(initial="tab-versions"):
            with TabPane("Versions", id="tab-versions"):
                yield NavTable(id="model-versions")
            with TabPane("History", id="tab-history"):
                yield NavTable(id="model-events")
                yield Static("", id="event-detail")
            with TabPane("Requests", id="tab-requests"):
                yield NavTable(id="model-requests")
                yield Label("", classes="status-line", id="requests-note")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#model-versions", NavTable).set_columns(version_columns(None))
        self.query_one("#model-events", NavTable).set_columns([
            ("time", "TIME", WHEN_WIDTH), ("actor", "ACTOR", None), ("action", "ACTION", None),
            ("alias", "ALIAS", None), ("move", "FROM→TO", None), ("gates", "GATES", None),
            ("reason", "REASON", None)])
        self.query_one("#model-requests", NavTable).set_columns([
            ("id", "REQUEST", None), ("alias", "ALIAS", None), ("version", "VER", None),
            ("requester", "BY", None), ("approvals", "OK", None), ("expires", "EXPIRES", WHEN_WIDTH),
            ("gates", "GATES", None), ("reason", "REASON", None)])
        self.query_one("#model-versions", NavTable).focus()

    async def fetch(self) -> ModelData:
        detail, events, requests = await asyncio.gather(
            self.client.get_model(self.model_name), self.client.model_events(self.model_name),
            self.client.list_requests(self.model_name, RequestStatus.PENDING), return_exceptions=True)
        for answer in (detail, events):
            if isinstance(answer, BaseException):
                raise answer
        assert isinstance(detail, ModelDetail) and isinstance(events, EventList)
        if isinstance(requests, MlopsError) and not requests.unreachable:
            return ModelData(detail, sorted(events.events, key=lambda e: e.seq), [], requests.message)
        if isinstance(requests, BaseException):
            raise requests
        return ModelData(detail, sorted(events.events, key=lambda e: e.seq),
                         [r for r in requests.requests if r.status == RequestStatus.PENDING])

    def render_data(self, data: object) -> None:
        assert isinstance(data, ModelData)
        self.data = data
        detail = data.detail
        zone = self.mlops.clock().tzinfo
        title = Text()
        title.append(safe_text(detail.name), style="bold")
        title.append(f"  {safe_text(aliases_line(detail.aliases))}  · {plural(detail.version_count, 'version')}"
                     + (f", latest v{detail.latest_version}" if detail.latest_version else ""))
        self.query_one("#model-title", Label).update(title)
        versions = self.query_one("#model-versions", NavTable)
        versions.set_columns(version_columns(detail.primary_metric))
        versions.sync_rows(
            [(str(v.version), version_cells(v, zone)) for v in detail.versions])
        table = self.query_one("#model-events", NavTable)
        reason_width = max((table.size.width or self.size.width or 80) - HISTORY_FIXED_WIDTH, 10)
        table.sync_rows([(str(e.seq), event_cells(e, zone, reason_width)) for e in reversed(data.events)],
                        newest_first=True)
        self._show_event_detail()
        self.query_one("#model-requests", NavTable).sync_rows(
            [(r.id, request_cells(r, zone)) for r in data.requests])
        note = (f"{plural(len(data.requests), 'pending request')} · a approves or rejects the one under the cursor"
                if data.requests else "no pending request")
        if data.requests_error:
            note = f"requests could not be listed: {data.requests_error}"
        self.query_one("#requests-note", Label).update(Text(safe_text(note)))
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("tab-requests").label = f"Requests ({len(data.requests)})" if data.requests else "Requests"
        tabs.get_tab("tab-history").label = f"History ({len(data.events)})"
        tabs.get_tab("tab-versions").label = f"Versions ({len(detail.versions)})"
        self.refresh_bindings()


    # -- what the cursor is on -------------------------------------------------------------------
    def cursor_version(self) -> ModelVersion | None:
        if self.data is None:
            return None
        key = self.query_one("#model-versions", NavTable).cursor_key
        return next((v for v in self.data.detail.versions if str(v.version) == key), None)

    def cursor_request(self) -> ApprovalRequest | None:
        if self.data is None:
            return None
        key = self.query_one("#model-requests", NavTable).cursor_key
        return next((r for r in self.data.requests if r.id == key), None)

    def cursor_event(self) -> Event | None:
        if self.data is None:
            return None
        key = self.query_one("#model-events", NavTable).cursor_key
        return next((e for e in self.data.events if str(e.seq) == key), None)

    def _show_event_detail(self) -> None:
        event = self.cursor_event()
        box = self.query_one("#event-detail", Static)
        box.update(event_detail(event) if event is not None else Text("no event yet"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "model-events":
            self._show_event_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "model-versions":
            version = self.cursor_version()
            if version is not None and version.run_id:  # an MLflow version may have no run
                self.app.push_screen(registry.run_detail(version.run_id))

    # -- keys ------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`b` only when an alias exists, `a` only when a request waits, `p` and `v` when a version does."""
        if super().check_action(action, parameters) is not True:
            return None  # the role may not
        if self.data is None:
            return action not in ("promote", "rollback", "decide", "open_version")
        if action == "rollback":
            return bool(self.data.detail.aliases)
        if action == "decide":
            return bool(self.data.requests)
        if action in ("promote", "open_version"):
            return bool(self.data.detail.versions)
        return True

    def action_monitor(self) -> None:
        self.app.push_screen(registry.monitor(self.model_name))

    def action_open_version(self) -> None:
        version = self.cursor_version()
        if version is not None:
            self.app.push_screen(registry.model_version(version.name, version.version))

    def action_promote(self) -> None:
        from .model_forms import PromoteModal

        version = self.cursor_version()
        if version is None or self.data is None:
            return
        if version.status != "READY":
            self.notify(f"v{version.version} is {version.status}: only a READY version can be promoted",
                        title="promote", severity="warning")
            return
        self.app.push_screen(PromoteModal(self.data.detail, version.version), self._promoted)

    def action_rollback(self) -> None:
        from .model_forms import RollbackChoice, RollbackModal

        if self.data is None or not self.data.detail.aliases:
            return
        targets = rollback_targets(self.data.events)
        choices = [RollbackChoice(alias, holder, targets.get(alias))
                   for alias, holder in sorted(self.data.detail.aliases.items())]
        cursor = self.cursor_version()
        preferred = cursor.aliases[0] if cursor is not None and cursor.aliases else "production"
        self.app.push_screen(RollbackModal(self.model_name, choices, preferred), self._promoted)

    def action_decide(self) -> None:
        from .model_forms import DecisionModal

        if self.data is None or not self.data.requests:
            self.notify("no request is waiting for approval", title="approve")
            return
        request = self.cursor_request() or self.data.requests[0]
        self.app.push_screen(DecisionModal(request), self._decided)

    def _promoted(self, result: PromoteResult | None) -> None:
        if result is None:
            return
        was = "nothing" if result.from_version is None else f"v{result.from_version}"
        if result.outcome == PromoteOutcome.AWAITING_APPROVAL:
            request = result.request
            need = f"{request.approvals_needed} approval{'s' if request.approvals_needed != 1 else ''}" \
                if request else "approval"
            self.notify(f"{result.model}@{result.alias} → v{result.version} waits for {need}"
                        + (f" (request {request.id[:8]})" if request else ""),
                        title="awaiting approval", markup=False)
        else:
            self.notify(f"{result.model}@{result.alias} → v{result.version} (was {was})", title="moved",
                        markup=False)
        self.request_refresh()

    def _decided(self, request: ApprovalRequest | None) -> None:
        if request is None:
            return
        self.notify(f"request {request.id[:8]} ({request.alias} → v{request.version}): {request.status}",
                    title="decision", markup=False)
        self.request_refresh()
