"""Every registered dataset with its version count and its latest version; `enter` opens one."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from ..contract import Dataset
from ..formatting import number, when
from ..widgets.tables import NavTable
from . import registry
from .base import View


def split_ref(ref: str) -> tuple[str, int | None]:
    """`churn@3` → (`churn`, 3); `churn` → (`churn`, None)."""
    name, at, version = ref.strip().rpartition("@")
    if at and version.isdigit():
        return name, int(version)
    return ref.strip(), None


class DatasetsScreen(View[list[Dataset]]):
    """The datasets table (the server keeps them sorted by name)."""

    view_name = "datasets"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="status")
        yield NavTable(id="datasets")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(NavTable).set_columns([
            ("name", "DATASET", None), ("versions", "VERSIONS", None), ("latest", "LATEST", None),
            ("rows", "ROWS", None), ("updated", "UPDATED", None)])
        self.query_one(NavTable).focus()

    async def fetch(self) -> list[Dataset]:
        return await self.client.list_datasets()

    def render_data(self, data: list[Dataset]) -> None:
        zone = self.mlops.clock().tzinfo
        self.query_one(NavTable).sync_rows([
            (d.name, [d.name, number(d.version_count), f"v{d.latest_version}" if d.latest_version else "-",
                      "-" if d.latest_rows is None else f"{d.latest_rows:,}",
                      when(d.updated_at, zone, with_year=True)]) for d in data])
        versions = sum(d.version_count for d in data)
        text = f"{len(data)} dataset{'s' if len(data) != 1 else ''}, {versions:,} versions"
        if not data:
            text += " │ a pipeline's data.path becomes one when it is trained (n in :jobs)"
        self.query_one("#status", Label).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(registry.dataset_detail(event.row_key.value))
