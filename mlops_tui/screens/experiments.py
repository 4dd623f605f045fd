"""Every experiment with its run count; `/` narrows by name, `enter` opens the runs."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label

from ..contract import Experiment
from ..formatting import number, safe_text, when
from ..keymap import bindings
from ..widgets.filter_bar import FilterBar
from ..widgets.tables import NavTable
from . import registry
from .filtered import FilteredView


class ExperimentsScreen(FilteredView[list[Experiment]]):
    """The experiments table; the filter is a case-insensitive part of the name."""

    view_name = "experiments"
    BINDINGS: ClassVar[list[BindingType]] = bindings("lists")

    def __init__(self, filter_text: str = "") -> None:
        super().__init__()
        self.filter_text = filter_text
        self.experiments: list[Experiment] = []

    def compose_body(self) -> ComposeResult:
        yield FilterBar("part of a name, e.g. churn  (enter applies, esc clears)")
        yield Label("", classes="status-line", id="status")
        yield NavTable(id="experiments")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(NavTable).set_columns([
            ("name", "NAME", None), ("id", "ID", None), ("runs", "RUNS", None), ("last", "LAST RUN", None),
            ("state", "STATE", None)])
        self.query_one(NavTable).focus()

    async def fetch(self) -> list[Experiment]:
        return await self.client.list_experiments()

    def render_data(self, data: list[Experiment]) -> None:
        self.experiments = data
        self.show_rows()

    def show_rows(self) -> None:
        zone = self.mlops.clock().tzinfo
        needle = self.filter_text.lower()
        shown = [e for e in self.experiments if needle in e.name.lower()]
        self.query_one(NavTable).sync_rows([
            (e.name, [e.name, e.id, number(e.run_count), when(e.last_run_time, zone, with_year=True),
                      e.lifecycle_stage]) for e in shown])
        text = f"{len(shown)} of {len(self.experiments)} experiments"
        if self.filter_text:
            text += f"  filter: {safe_text(self.filter_text)}"
        self.query_one("#status", Label).update(Text(text))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(registry.runs(event.row_key.value))
