"""One dataset: its versions, and for the version under the cursor its schema and per-column
statistics; `space` marks two versions and `d` shows what changed between them.

Versions are immutable, so each version's statistics are fetched once and kept (a few at most).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label, Static

from ..client import MlopsError
from ..contract import ColumnShift, Dataset, DatasetDiff, DatasetVersion
from ..formatting import number, size, sparkline, when
from ..keymap import bindings
from ..widgets.tables import NavTable
from . import registry
from .base import View

CACHED_VERSIONS = 16
OTHER = "__other__"
SHIFT_GLYPH = "▲"


@dataclass(frozen=True)
class DatasetPage:
    dataset: Dataset
    version: DatasetVersion | None


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _share(count: int, total: int) -> str:
    share = count / total if total else 0.0
    return "<1%" if 0 < share < 0.01 else f"{share:.0%}"


def top_values(stats: dict[str, Any], count: int = 3, width: int = 36) -> str:
    """`basic 45%, standard 35%, premium 20%`: the most frequent values with their share."""
    frequencies: dict[str, int] = stats.get("frequencies") or {}
    total = sum(frequencies.values())
    if total and stats.get("unique") == stats.get("count"):
        return "every value distinct"
    shown = [(value, n) for value, n in frequencies.items() if value != OTHER][:count]
    parts = [f"{clip(value, 14)} {_share(n, total)}" for value, n in shown]
    rest = total - sum(n for _, n in shown)
    if rest > 0:
        parts.append(f"other {_share(rest, total)}")
    return clip(", ".join(parts), width) or "-"


def stats_rows(version: DatasetVersion, wide: bool = False) -> tuple[list[tuple[str, list[Any]]],
                                                                     list[tuple[str, list[Any]]]]:
    """(numeric rows, other rows) of a version's schema with its statistics, in column order
    (histograms and top values sized for 80 columns, or 120 when `wide`)."""
    numeric: list[tuple[str, list[Any]]] = []
    other: list[tuple[str, list[Any]]] = []
    all_stats = version.stats or {}
    for column, dtype in version.columns.items():
        stats = all_stats.get(column, {})
        name = clip(column, 20)
        nulls = number(stats.get("nulls"))
        kind = stats.get("kind")
        if kind == "numeric":
            counts = (stats.get("histogram") or {}).get("counts") or []
            numeric.append((column, [name, dtype, nulls, number(stats.get("mean")), number(stats.get("std")),
                                     number(stats.get("min")), number(stats.get("max")),
                                     sparkline(counts, 20 if wide else 10)]))
        elif kind == "datetime":
            span = f"{stats.get('min') or '-'} … {stats.get('max') or '-'}"
            other.append((column, [name, dtype, nulls, "-", span]))
        else:
            other.append((column, [name, dtype, nulls, number(stats.get("unique")),
                                   top_values(stats, 5 if wide else 3, 70 if wide else 36)]))
    return numeric, other


class DatasetDetailScreen(View[DatasetPage]):
    """A dataset's versions (newest first) and the statistics of the one under the cursor."""

    view_name = "dataset"
    BINDINGS: ClassVar[list[BindingType]] = bindings("dataset versions")

    def __init__(self, name: str, version: int | None = None) -> None:
        super().__init__()
        self.dataset_name = name
        self.selected = version
        """The version whose statistics are shown (None: the latest)."""
        self.dataset: Dataset | None = None
        self.marked: list[int] = []
        self.cache: OrderedDict[int, DatasetVersion] = OrderedDict()
        self.shown_version: int | None = None

    @property
    def crumb(self) -> str:
        return f"Datasets › {self.dataset_name}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="dataset-title")
        yield NavTable(id="versions")
        yield Label("", classes="section-title", id="stats-title")
        yield NavTable(id="numeric", classes="stats")
        yield NavTable(id="categorical", classes="stats")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#versions", NavTable).set_columns([
            ("mark", " ", None), ("version", "VERSION", None), ("rows", "ROWS", None), ("columns", "COLS", None),
            ("size", "SIZE", None), ("sha", "SHA256", None), ("created", "CREATED", None)])
        self.query_one("#numeric", NavTable).set_columns([
            ("column", "NUMERIC", None), ("type", "TYPE", None), ("nulls", "NULLS", None), ("mean", "MEAN", None),
            ("std", "STD", None), ("min", "MIN", None), ("max", "MAX", None), ("hist", "HISTOGRAM", None)])
        self.query_one("#categorical", NavTable).set_columns([
            ("column", "CATEGORICAL", None), ("type", "TYPE", None), ("nulls", "NULLS", None),
            ("unique", "UNIQUE", None), ("top", "TOP VALUES", None)])
        self.query_one("#versions", NavTable).focus()

    # -- fetching -------------------------------------------------------------------------------------
    async def fetch(self) -> DatasetPage:
        dataset = await self.client.get_dataset(self.dataset_name)
        wanted = self.selected or dataset.latest_version
        version = await self._version(wanted) if wanted else None
        return DatasetPage(dataset, version)

    async def _version(self, number: int) -> DatasetVersion:
        if number in self.cache:
            self.cache.move_to_end(number)
            return self.cache[number]
        found = await self.client.get_dataset_version(self.dataset_name, number)
        self.cache[number] = found
        while len(self.cache) > CACHED_VERSIONS:
            self.cache.popitem(last=False)
        return found

    def render_data(self, data: DatasetPage) -> None:
        first = self.dataset is None
        self.dataset = data.dataset
        table = self.query_one("#versions", NavTable)
        zone = self.mlops.clock().tzinfo
        table.sync_rows([(str(v.version), self._version_cells(v, zone)) for v in data.dataset.versions])
        if first and data.version is not None:
            keys = [str(v.version) for v in data.dataset.versions]
            if str(data.version.version) in keys:
                table.move_cursor(row=keys.index(str(data.version.version)), animate=False)
        self._show_title()
        if data.version is not None:
            self._render_stats(data.version)

    def _version_cells(self, version: DatasetVersion, zone: Any) -> list[Any]:
        mark = Text("✓", style="bold") if version.version in self.marked else Text(" ")
        return [mark, f"v{version.version}", f"{version.rows:,}", str(len(version.columns)),
                size(version.size_bytes), version.sha256[:8], when(version.created_at, zone, with_year=True)]

    def _show_title(self) -> None:
        dataset = self.dataset
        if dataset is None:
            return
        text = f"{dataset.name} · {dataset.version_count} version{'s' if dataset.version_count != 1 else ''}"
        if self.marked:
            text += " │ marked " + ", ".join(f"v{n}" for n in sorted(self.marked))
        text += " │ space marks two, d diffs them" if len(self.marked) < 2 else " │ d diffs them"
        self.query_one("#dataset-title", Label).update(text)

    def _render_stats(self, version: DatasetVersion) -> None:
        self.shown_version = version.version
        numeric, other = stats_rows(version, wide=self.size.width >= 110)
        self.query_one("#numeric", NavTable).sync_rows(numeric)
        self.query_one("#categorical", NavTable).sync_rows(other)
        self.query_one("#numeric", NavTable).display = bool(numeric)
        self.query_one("#categorical", NavTable).display = bool(other)
        where = f" · {version.filename}" if version.filename else ""
        self.query_one("#stats-title", Label).update(
            f"{version.ref}: {version.rows:,} rows · {len(version.columns)} columns{where} ({version.format}, "
            f"{size(version.size_bytes)})")

    # -- the version under the cursor -----------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "versions" or event.row_key.value is None or self.dataset is None:
            return
        if self.query_one("#versions", NavTable).cursor_key != event.row_key.value:
            return  # a highlight the cursor already left (rows being replaced)
        chosen = int(event.row_key.value)
        if chosen == self.shown_version:
            return
        self.selected = chosen
        if chosen in self.cache:
            self._render_stats(self.cache[chosen])
            return
        self.query_one("#stats-title", Label).update(f"{self.dataset_name}@{chosen}: loading…")
        self.run_worker(self._load(chosen), group="stats", exclusive=True, exit_on_error=False)

    async def _load(self, chosen: int) -> None:
        try:
            version = await self._version(chosen)
        except MlopsError as error:
            self.on_fetch_error(error)
            return
        if self.selected == chosen:
            with self.app.batch_update():
                self._render_stats(version)

    # -- marks and diff --------------------------------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one("#versions", NavTable)
        key = table.cursor_key
        if key is None or self.dataset is None:
            return
        chosen = int(key)
        if chosen in self.marked:
            self.marked.remove(chosen)
        else:
            self.marked.append(chosen)
            if len(self.marked) > 2:
                dropped = self.marked.pop(0)
                self._update_mark(dropped)
        self._update_mark(chosen)
        self._show_title()
        table.action_cursor_down()

    def _update_mark(self, number: int) -> None:
        table = self.query_one("#versions", NavTable)
        try:
            table.update_cell(str(number), "mark", Text("✓", style="bold") if number in self.marked else Text(" "))
        except Exception:  # noqa: BLE001 - the row went away with a refresh
            pass

    def action_diff(self) -> None:
        if len(self.marked) != 2:
            self.notify("mark two versions with space, then press d", title="diff")
            return
        a, b = sorted(self.marked)
        self.app.push_screen(registry.dataset_diff(self.dataset_name, a, b))


def _null_share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def shift_change(shift: ColumnShift) -> str:
    """What moved in a column, in a few words: the mean for numbers, unique and new values else."""
    if shift.kind == "numeric":
        if shift.mean_a is None or shift.mean_b is None:
            return "-"
        change = shift.mean_change if shift.mean_change is not None else shift.mean_b - shift.mean_a
        sign = "+" if change >= 0 else ""
        text = f"mean {number(shift.mean_a)} → {number(shift.mean_b)} ({sign}{number(change)})"
    else:
        text = f"unique {number(shift.unique_a)} → {number(shift.unique_b)}"
        if shift.new_values:
            text += f", new: {', '.join(shift.new_values[:3])}" + ("…" if len(shift.new_values) > 3 else "")
    if shift.null_share_a is not None and shift.null_share_b is not None and \
            shift.null_share_a != shift.null_share_b:
        text += f", nulls {_null_share(shift.null_share_a)} → {_null_share(shift.null_share_b)}"
    return text


class DatasetDiffScreen(View[DatasetDiff]):
    """Two versions of a dataset compared: schema changes, rows, and each shared column's PSI.

    Versions never change, so the diff is fetched once (`r` asks again)."""

    view_name = "diff"

    def __init__(self, name: str, a: int, b: int) -> None:
        super().__init__()
        self.dataset_name, self.a, self.b = name, a, b
        self.diff: DatasetDiff | None = None

    @property
    def crumb(self) -> str:
        return f"Datasets › {self.dataset_name} › v{self.a} → v{self.b}"

    def compose_body(self) -> ComposeResult:
        yield Static("loading…", id="diff-summary")
        yield NavTable(id="diff-columns")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(NavTable).set_columns([
            ("column", "COLUMN", None), ("kind", "KIND", None), ("psi", "PSI", None), ("ks", "KS P", None),
            ("shift", "SHIFT", None), ("change", "CHANGE", None)])
        self.query_one(NavTable).focus()

    def refresh_seconds(self) -> float:
        return 24 * 3600.0

    async def fetch(self) -> DatasetDiff:
        return await self.client.diff_datasets(self.dataset_name, self.a, self.b)

    def render_data(self, data: DatasetDiff) -> None:
        self.diff = data
        self.query_one("#diff-summary", Static).update(self._summary(data))
        ordered = sorted(data.columns, key=lambda c: (c.psi is None, -(c.psi or 0.0), c.column))
        rows = []
        for shift in ordered:
            mark = Text()
            if shift.shifted:
                mark.append(f"{SHIFT_GLYPH} ", style="bold red")
                mark.append("shifted", style="bold")
            elif shift.verdict == "too few rows":
                mark.append("  ?", style="dim")
            else:
                mark.append("  ok", style="dim")
            ks = "-" if shift.ks_pvalue is None else f"{shift.ks_pvalue:.2g}"
            rows.append((shift.column, [clip(shift.column, 20), shift.kind, number(shift.psi), ks, mark,
                                        shift_change(shift)]))
        self.query_one(NavTable).sync_rows(rows)

    @staticmethod
    def _summary(diff: DatasetDiff) -> Text:
        text = Text()
        sign = "+" if diff.rows_change >= 0 else ""
        text.append(f"{diff.a.ref} → {diff.b.ref}", style="bold")
        text.append(f" · rows {diff.rows_a:,} → {diff.rows_b:,} ({sign}{diff.rows_change:,})")
        shifted = len(diff.shifted_columns)
        if diff.judged:
            text.append(f" · {shifted} of {len(diff.columns)} shared column{'s' if len(diff.columns) != 1 else ''} "
                        f"shifted (PSI > {diff.threshold:g})")
        else:
            text.append(f" · too few rows to judge (PSI needs {diff.min_rows:,} in each version)", style="bold")
        if diff.same_content:
            text.append("\n= the two versions hold the same bytes")
        if diff.added_columns:
            text.append("\n+ added: ", style="green")
            text.append(", ".join(diff.added_columns))
        if diff.removed_columns:
            text.append("\n− removed: ", style="red")
            text.append(", ".join(diff.removed_columns))
        if diff.dtype_changes:
            text.append("\n≠ dtype: ", style="yellow")
            text.append(", ".join(f"{c.column} {c.a} → {c.b}" for c in diff.dtype_changes))
        if not (diff.added_columns or diff.removed_columns or diff.dtype_changes):
            text.append("\n= same columns and dtypes")
        return text
