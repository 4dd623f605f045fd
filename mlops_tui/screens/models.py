"""Every registered model with its aliases (`production→3 staging→4`), its latest version and that
version's primary metric, and its pending approval requests (the status line counts the versions);
`enter` opens one, `m` its Monitor view."""
from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label

from ..contract.registry import ModelList, RegisteredModel
from ..formatting import aliases_line, number, plural
from ..keymap import bindings
from ..widgets.tables import NavTable
from . import registry
from .base import View


def metric_text(name: str | None, value: float | None) -> str:
    """`roc_auc 0.912`: a primary metric and its value, `-` when none was logged."""
    if value is None:
        return "-"
    return f"{name} {number(value)}" if name else number(value)


def model_cells(model: RegisteredModel) -> list[object]:
    return [model.name, aliases_line(model.aliases), f"v{model.latest_version}" if model.latest_version else "-",
            metric_text(model.primary_metric, model.latest_value),
            str(model.pending_requests) if model.pending_requests else "-"]


class ModelsScreen(View[ModelList]):
    """The models table (the server keeps them sorted by name)."""

    view_name = "models"
    BINDINGS: ClassVar[list[BindingType]] = bindings("models")

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="status")
        yield NavTable(id="models")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(NavTable).set_columns([
            ("name", "MODEL", None), ("aliases", "ALIASES", None), ("latest", "LATEST", None),
            ("metric", "METRIC", None), ("pending", "PENDING", None)])
        self.query_one(NavTable).focus()

    async def fetch(self) -> ModelList:
        return await self.client.list_models()

    def render_data(self, data: ModelList) -> None:
        self.query_one(NavTable).sync_rows([(m.name, model_cells(m)) for m in data.models])
        versions = sum(m.version_count for m in data.models)
        pending = sum(m.pending_requests for m in data.models)
        text = f"{plural(len(data.models), 'model')}, {plural(versions, 'version')}"
        if pending:
            text += f", {plural(pending, 'request')} waiting for approval"
        if not data.models:
            text += " │ a pipeline's [register] name registers its best model when the job succeeds"
        else:
            text += " │ enter opens a model, m monitors it"
        self.query_one("#status", Label).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(registry.model_detail(event.row_key.value))

    def action_monitor(self) -> None:
        name = self.query_one(NavTable).cursor_key
        if name is not None:
            self.app.push_screen(registry.monitor(name))
