"""The runs table: paged by the server, sorted and filtered by the server, rows updated by key.

Only a window of a few pages is in the table (see `run_window`); moving near its edge fetches the
next page in the background, `g`/`G` fetch the real first/last rows. `/` filters with the CLI's
language: a filter the server refuses shows its error under the input and leaves the table alone;
a filter naming a key no run of the experiment has says so there.

Runs are grouped: the server pages the top-level runs, `+` fetches a parent's children (one request)
and shows them under it; `★` marks the run a job chose; `L` ranks every run by the primary metric.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Label

from ..client import MlopsError
from ..columns_state import load_columns, save_columns
from ..compare import lower_is_better
from ..contract import ExperimentKeys, Run, RunStatus
from ..formatting import number, plural, run_duration, safe_text, status, when
from ..keymap import bindings
from ..widgets.filter_bar import FilterBar, filter_keys
from ..widgets.grid import GridColumn, RunGrid
from . import registry
from .base import View
from .pickers import ColumnPicker, SortPicker
from .run_groups import (
    CHILD_LIMIT,
    PREFERRED_METRICS,
    TreeRow,
    child_filter,
    common_metrics,
    common_params,
    is_best,
    leaderboard_key,
    parent_best,
    primary_metric,
    tree_rows,
)
from .run_window import RunQuery, RunWindow

__all__ = ["PREFERRED_METRICS", "RunsScreen", "server_key"]
BASE_COLUMNS = [("name", "RUN", "name"), ("status", "STATUS", "status"), ("started", "STARTED", "start_time"),
                ("time", "TIME", "duration")]
"""(column key, label, server sort key)."""
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w\-:/.]*$")


def server_key(entity: str, key: str) -> str:
    """`metrics.acc`, or ``metrics.`odd key` `` when the key needs quoting."""
    return f"{entity}.{key}" if _PLAIN_KEY.match(key) and ".." not in key else f"{entity}.`{key}`"


@dataclass
class Columns:
    """The param and metric columns shown after the fixed ones."""

    params: list[str]
    metrics: list[str]


class RunsScreen(View[None]):
    """Runs of one experiment (or of every experiment); `enter` opens a run, `space` marks, `c` compares,
    `+` shows a parent's children, `L` ranks by the primary metric."""

    view_name = "runs"
    BINDINGS: ClassVar[list[BindingType]] = bindings("lists", "runs")

    def __init__(self, experiment: str | None = None, filter_text: str | None = None) -> None:
        super().__init__()
        self.query_state = RunQuery(experiment=experiment, filter=filter_text or None)
        self.window = RunWindow(page_size=100, max_pages=4)
        self.total: int | None = None
        self.keys: ExperimentKeys | None = None
        self.columns: Columns | None = None
        self.marked: dict[str, Run] = {}
        self.expanded: dict[str, list[Run]] = {}
        """Expanded parents → their children, in the query's order."""
        self.leaderboard: str | None = None
        """The metric the runs are ranked by while the leaderboard (`L`) is on."""
        self.paging = False
        self.pages_fetched = 0
        self._lock = asyncio.Lock()
        self._rows: dict[str, Run] = {}
        self._tree: list[TreeRow] = []

    @property
    def crumb(self) -> str:
        return f"Runs › {self.query_state.experiment}" if self.query_state.experiment else "Runs (all experiments)"

    # -- layout -----------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield FilterBar("metrics.acc > 0.9 and params.model = 'rf'   (enter applies, esc clears)")
        yield Label("loading…", classes="status-line", id="status")
        yield RunGrid(id="runs")

    @property
    def table(self) -> RunGrid:
        return self.query_one("#runs", RunGrid)

    def on_mount(self) -> None:
        super().on_mount()
        self.window = RunWindow(page_size=self.mlops.config.page_size, max_pages=4)
        self.table.focus()

    # -- fetching -----------------------------------------------------------------------------------
    async def _page(self, query: RunQuery, window: RunWindow, index: int) -> None:
        page = await self.client.search_runs(query.experiment, query.server_filter, query.order_by(window.tail),
                                             window.page_size, window.tokens[index])
        window.store(index, page)
        self.pages_fetched += 1

    async def _children(self, query: RunQuery, parent_id: str) -> list[Run]:
        page = await self.client.search_runs(query.experiment, child_filter(parent_id), query.order_by(), CHILD_LIMIT)
        return page.runs

    async def _refresh_children(self, query: RunQuery) -> None:
        parents = list(self.expanded) if query.is_grouped else []
        found = await asyncio.gather(*(self._children(query, parent) for parent in parents))
        self.expanded = dict(zip(parents, found, strict=False))

    async def fetch(self) -> None:
        """Refresh: the count, the column keys (first time), every page of the window and the
        children of expanded parents."""
        async with self._lock:
            query, window = self.query_state, self.window
            indices = [i for i in window.indices if i in window.tokens] or [0]
            calls: list[Any] = [self.client.count_runs(query.experiment, query.server_filter),
                                self._refresh_children(query)]
            calls += [self._page(query, window, i) for i in indices]
            if self.keys is None and query.experiment:
                calls.append(self.client.experiment_keys(query.experiment))
            results = await asyncio.gather(*calls)
            self.total = results[0]
            if self.keys is None and query.experiment:
                self.keys = results[-1]

    def render_data(self, data: None) -> None:
        self._ensure_columns()
        rows = self._row_cells()
        if [key for key, _ in rows] == self.table.keys:
            for key, cells in rows:
                self.table.update_row(key, cells)
        else:
            self.table.set_rows(rows)
        self._show_status()
        self._maybe_page()

    def refresh_seconds(self) -> float:
        return self.mlops.config.refresh_seconds

    # -- columns and rows ---------------------------------------------------------------------------
    def _loaded_runs(self) -> list[Run]:
        return self.window.rows() + [child for found in self.expanded.values() for child in found]

    def _known_keys(self) -> tuple[list[str], list[str]]:
        if self.keys is not None:
            return self.keys.params, self.keys.metrics
        runs = self._loaded_runs()
        return sorted({k for run in runs for k in run.params}), sorted({k for run in runs for k in run.metrics})

    def _default_columns(self) -> Columns:
        """The remembered `C` choice, else the config's, else the experiment's most common keys."""
        remembered = load_columns(self.query_state.experiment)
        if remembered is not None:
            return Columns(*remembered)
        config, runs = self.mlops.config, self._loaded_runs()
        params, metrics = self._known_keys()
        return Columns(
            list(config.params) if config.params is not None else
            common_params(params, self.keys, runs)[:config.param_columns],
            list(config.metrics) if config.metrics is not None else
            common_metrics(metrics, self.keys, runs, primary_metric(runs))[:config.metric_columns])

    def _ensure_columns(self) -> None:
        if self.columns is None:
            self.columns = self._default_columns()
        self.table.set_columns(self._column_specs())

    def _best_label(self) -> str | None:
        """The BEST column's label when a job's parent is in the table (else no such column)."""
        metrics = {found[0] for run in self.window.rows() if (found := parent_best(run))}
        if not metrics:
            return None
        return f"BEST {metrics.pop()}" if len(metrics) == 1 else "BEST"

    def _column_specs(self) -> list[GridColumn]:
        assert self.columns is not None
        arrow = " ▼" if self.query_state.descending else " ▲"
        specs = [GridColumn("mark", " ", 1)]
        for key, label, sort in BASE_COLUMNS:
            specs.append(GridColumn(key, label + (arrow if sort == self.query_state.sort else "")))
        best = self._best_label()
        if best:
            specs.append(GridColumn("best", best, justify="right"))
        for entity, names in (("params", self.columns.params), ("metrics", self.columns.metrics)):
            for name in names:
                label = safe_text(name if len(name) <= 12 else name[:11] + "…")
                sorted_here = server_key(entity, name) == self.query_state.sort
                specs.append(GridColumn(f"{entity}.{name}", label + (arrow if sorted_here else ""),
                                        justify="right" if entity == "metrics" else "left"))
        return specs

    def _name_cell(self, row: TreeRow) -> Text:
        run = row.run
        text = Text()
        if row.depth:
            text.append("  └ " if row.last else "  ├ ", style="dim")
        elif self.query_state.is_grouped:
            if run is not None and run.child_count:
                text.append("▾ " if run.id in self.expanded else "▸ ", style="bold")
            else:
                text.append("  ")
        if run is None:
            text.append(row.note, style="dim italic")
            return text
        if is_best(run):
            text.append("★ ", style="bold yellow")
        text.append(safe_text(run.name))
        if not row.depth and run.child_count and self.query_state.is_grouped:
            text.append(f" ({run.child_count})", style="dim")
        return text

    def _row_cells(self) -> list[tuple[str, list[Text]]]:
        """The table's rows from the window (and the children of expanded parents when grouped)."""
        assert self.columns is not None
        now = self.mlops.clock()
        zone = now.tzinfo
        self._tree = tree_rows(self.window.rows(), self.expanded if self.query_state.is_grouped else {})
        self._rows = {row.run.id: row.run for row in self._tree if row.run is not None}
        self.table.set_columns(self._column_specs())
        with_best = self._best_label() is not None
        rows = []
        for row in self._tree:
            run = row.run
            if run is None:
                rows.append((row.key, [Text(" "), self._name_cell(row)]))
                continue
            took = run_duration(run.start_time, run.end_time, now) \
                if run.end_time is not None or run.status == RunStatus.RUNNING else "-"
            cells: list[Text] = [self._mark_cell(run.id), self._name_cell(row), status(run.status),
                                Text(when(run.start_time, zone)), Text(took)]
            if with_best:
                found = parent_best(run)
                cells.append(Text(number(found[1]), style="bold") if found else Text(""))
            cells += [Text(safe_text(run.params.get(name, "-"))) for name in self.columns.params]
            cells += [Text(number(run.metrics.get(name))) for name in self.columns.metrics]
            rows.append((run.id, cells))
        return rows

    def _mark_cell(self, run_id: str) -> Text:
        return Text("✓", style="bold") if run_id in self.marked else Text(" ")

    def _top_position(self, display_row: int) -> int | None:
        """The rank in the whole query of the top-level row at (or above) `display_row`."""
        if not self._tree:
            return None
        top_row = sum(1 for row in self._tree[:display_row + 1] if row.depth == 0) - 1
        return self.window.position(max(top_row, 0), self.total)

    def _show_status(self) -> None:
        parts = []
        total = "… runs" if self.total is None else plural(self.total, "run")
        parts.append(f"{total} (top level)" if self.query_state.is_grouped else total)
        position = self._top_position(self.table.cursor_row) if self.table.row_count else None
        if position is not None:
            parts.append(f"row {position + 1:,}")
        if self.leaderboard:
            better = "lower" if lower_is_better(self.leaderboard) else "higher"
            parts.append(f"leaderboard: {safe_text(self.leaderboard)} ({better} is better)")
        elif self.query_state.is_grouped:
            parts.append("+ children")
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if self.query_state.filter:
            parts.append(f"/{safe_text(self.query_state.filter)}")
        if self.paging:
            parts.append("loading…")
        self.query_one("#status", Label).update(" │ ".join(parts))

    # -- paging as the cursor moves -----------------------------------------------------------------
    def on_run_grid_row_highlighted(self, event: RunGrid.RowHighlighted) -> None:
        self._show_status()
        self._maybe_page()

    def _maybe_page(self) -> None:
        if self.paging or not self.table.row_count:
            return
        row, count = self.table.cursor_row, self.table.row_count
        margin = max(self.window.page_size // 2, 30)
        if count - 1 - row < margin and self.window.below() is not None:
            self._start_paging(below=True)
        elif row < margin and self.window.above() is not None:
            self._start_paging(below=False)

    def _start_paging(self, below: bool) -> None:
        self.paging = True
        self.run_worker(self._extend(below), group="paging", exit_on_error=False)

    async def _extend(self, below: bool) -> None:
        try:
            async with self._lock:
                index = self.window.below() if below else self.window.above()
                if index is None:
                    return
                before = list(self.table.keys)
                await self._page(self.query_state, self.window, index)
                self.window.trim(keep_below=below)
                rows = self._row_cells()
                with self.app.batch_update():
                    if [key for key, _ in rows[:len(before)]] == before:
                        self.table.append_rows(rows[len(before):])
                    else:
                        self.table.set_rows(rows)
        except MlopsError as error:
            self.on_fetch_error(error)
        finally:
            self.paging = False
        self._show_status()
        self._maybe_page()

    def on_run_grid_edge(self, event: RunGrid.Edge) -> None:
        """`g`/`G`: the table moved to its own edge; fetch the query's edge when it is elsewhere."""
        at_edge = self.window.at_top if event.top else self.window.at_bottom
        if not at_edge:
            self.run_worker(self._jump(top=event.top), group="jump", exit_on_error=False)

    async def _jump(self, top: bool) -> None:
        window = RunWindow(self.window.page_size, self.window.max_pages, tail=not top)
        try:
            async with self._lock:
                await self._page(self.query_state, window, 0)
                self.window = window
                rows = self._row_cells()
                with self.app.batch_update():
                    self.table.set_rows(rows, cursor_key=rows[0 if top else -1][0] if rows else None,
                                        keep_offset=False)
        except MlopsError as error:
            self.on_fetch_error(error)
        self._show_status()

    # -- groups and the leaderboard -----------------------------------------------------------------
    def _cursor_parent(self) -> Run | None:
        """The top-level run under the cursor, or the parent of the child under it."""
        row = self.table.cursor_row
        while 0 <= row < len(self._tree) and self._tree[row].depth:
            row -= 1
        return self._tree[row].run if 0 <= row < len(self._tree) else None

    def action_expand(self) -> None:
        """`+`: show (or hide) the children of the parent under the cursor."""
        parent = self._cursor_parent()
        if parent is None or not self.query_state.is_grouped:
            if not self.query_state.is_grouped:
                self.notify("runs are listed flat (a filter or the leaderboard is on)", title="runs")
            return
        if parent.id in self.expanded:
            self._collapse(parent.id)
        elif not parent.child_count:
            self.notify(f"{safe_text(parent.name)} has no child runs", title="runs")
        else:
            self.run_worker(self._expand(parent.id), group="expand", exit_on_error=False)

    def action_collapse(self) -> None:
        """`-`: hide the children around the cursor and put it back on their parent."""
        parent = self._cursor_parent()
        if parent is not None and parent.id in self.expanded:
            self._collapse(parent.id)

    def _collapse(self, parent_id: str) -> None:
        del self.expanded[parent_id]
        self.table.set_rows(self._row_cells(), cursor_key=parent_id)
        self._show_status()

    async def _expand(self, parent_id: str) -> None:
        query = self.query_state
        try:
            async with self._lock:
                found = await self._children(query, parent_id)
                if query is not self.query_state:
                    return
                self.expanded[parent_id] = found
                with self.app.batch_update():
                    self.table.set_rows(self._row_cells(), cursor_key=parent_id)
        except MlopsError as error:
            self.notify(error.message, title="runs", severity="error")
            return
        self._show_status()

    def action_leaderboard(self) -> None:
        """`L`: every run ranked by the primary metric, best first (flat); again: back to the groups."""
        if self.leaderboard is not None:
            self.leaderboard = None
            self.run_worker(self._apply(replace(self.query_state, grouped=True, sort="start_time", descending=True)),
                            group="query", exclusive=True, exit_on_error=False)
            return
        runs = self._loaded_runs()
        params, metrics = self._known_keys()
        key = leaderboard_key(runs, common_metrics(metrics, self.keys, runs, primary_metric(runs)))
        if key is None:
            self.notify("no metric to rank by: no run logged one", title="leaderboard")
            return
        self.leaderboard = key
        if self.columns is not None and key not in self.columns.metrics:
            self.columns = Columns(self.columns.params, [key, *self.columns.metrics])
        self.run_worker(self._apply(replace(self.query_state, grouped=False, sort=server_key("metrics", key),
                                            descending=not lower_is_better(key))),
                        group="query", exclusive=True, exit_on_error=False)

    # -- filter, sort, columns ----------------------------------------------------------------------
    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        params, metrics = self._known_keys()
        bar.suggester.words = ["and", "status", "name", "start_time", "end_time", "parent_id", "LIKE", "IN",
                               "IS NULL"] + [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
        bar.open(self.query_state.filter or "")

    def on_filter_bar_applied(self, event: FilterBar.Applied) -> None:
        self.run_worker(self._apply(self.query_state.with_filter(event.text), from_filter=True),
                        group="query", exclusive=True, exit_on_error=False)

    def on_filter_bar_cancelled(self, event: FilterBar.Cancelled) -> None:
        self.clear_filter()

    def clear_filter(self) -> bool:
        bar = self.query_one(FilterBar)
        had_filter = self.query_state.filter is not None
        if not (had_filter or bar.is_open):
            return False
        bar.close()
        self.table.focus()
        if had_filter:
            self.run_worker(self._apply(self.query_state.with_filter(None)), group="query", exclusive=True,
                            exit_on_error=False)
        return True

    async def _unknown_keys(self, query: RunQuery) -> list[str]:
        """The keys the filter names that no run of the experiment has (asked again: keys change)."""
        if not query.experiment or not query.filter:
            return []
        named = filter_keys(query.filter)
        if not named:
            return []
        self.keys = await self.client.experiment_keys(query.experiment)
        known = {"params": self.keys.params, "metrics": self.keys.metrics, "tags": self.keys.tags}
        return [f"{entity}.{key}" for entity, key in named if key not in known[entity]]

    async def _apply(self, query: RunQuery, from_filter: bool = False) -> None:
        """Fetch the first page of `query`; only when it succeeds does the table change."""
        window = RunWindow(self.window.page_size, self.window.max_pages)
        bar = self.query_one(FilterBar)
        unknown: list[str] = []
        try:
            async with self._lock:
                total, _ = await asyncio.gather(self.client.count_runs(query.experiment, query.server_filter),
                                                self._page(query, window, 0))
                if from_filter and total == 0:
                    unknown = await self._unknown_keys(query)
        except MlopsError as error:
            if error.unreachable:
                self.on_fetch_error(error)
            if from_filter:
                bar.show_error(error.message)
            else:
                self.notify(error.message, title="runs", severity="error")
            return
        self.query_state, self.window, self.total = query, window, total
        if not query.is_grouped:
            self.expanded = {}
        if from_filter and unknown:
            bar.show_error(f"no run in {safe_text(query.experiment or '')} has {', '.join(map(safe_text, unknown))}"
                           " (unknown key)")
        elif from_filter:
            bar.close()
            self.table.focus()
        with self.app.batch_update():
            self._ensure_columns()
            rows = self._row_cells()
            self.table.set_rows(rows, cursor_key=rows[0][0] if rows else None, keep_offset=False)
        self._show_status()

    def _sort_choices(self) -> list[tuple[str, str]]:
        assert self.columns is not None
        choices = [(sort, label.lower()) for _, label, sort in BASE_COLUMNS if sort]
        choices += [(server_key("params", k), f"params.{k}") for k in self.columns.params]
        choices += [(server_key("metrics", k), f"metrics.{k}") for k in self.columns.metrics]
        choices.append(("end_time", "end time"))
        return choices

    def action_sort(self) -> None:
        if self.columns is None:
            return

        def chosen(key: str | None) -> None:
            if key is None:
                return
            descending = not self.query_state.descending if key == self.query_state.sort else True
            self.sort_by(key, descending)

        self.app.push_screen(SortPicker(self._sort_choices(), self.query_state.sort), chosen)

    def action_reverse(self) -> None:
        self.sort_by(self.query_state.sort, not self.query_state.descending)

    def sort_by(self, key: str, descending: bool) -> None:
        if self.leaderboard is not None and key != server_key("metrics", self.leaderboard):
            self.leaderboard = None  # still flat: `L` ranks again, and again goes back to the groups
        self.run_worker(self._apply(replace(self.query_state, sort=key, descending=descending)),
                        group="query", exclusive=True, exit_on_error=False)

    def on_run_grid_header_selected(self, event: RunGrid.HeaderSelected) -> None:
        key = event.column_key
        sort = next((s for k, _, s in BASE_COLUMNS if k == key), None)
        if key.startswith(("params.", "metrics.")):
            entity, _, name = key.partition(".")
            sort = server_key(entity, name)
        if sort:
            self.sort_by(sort, not self.query_state.descending if sort == self.query_state.sort else True)

    def action_columns(self) -> None:
        if self.columns is None:
            return
        params, metrics = self._known_keys()
        keys = [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
        chosen = [f"params.{k}" for k in self.columns.params] + [f"metrics.{k}" for k in self.columns.metrics]

        def picked(selected: list[str] | None) -> None:
            if selected is None:
                return
            self.columns = Columns([k.removeprefix("params.") for k in selected if k.startswith("params.")],
                                   [k.removeprefix("metrics.") for k in selected if k.startswith("metrics.")])
            try:
                save_columns(self.query_state.experiment, self.columns.params, self.columns.metrics)
            except OSError as error:
                self.notify(f"columns not remembered: {error}", title="columns", severity="warning")
            with self.app.batch_update():
                self._ensure_columns()
                self.table.set_rows(self._row_cells())

        self.app.push_screen(ColumnPicker(keys, chosen), picked)

    # -- marks, compare, drill in -------------------------------------------------------------------
    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None or key not in self._rows:
            return
        if key in self.marked:
            del self.marked[key]
        else:
            self.marked[key] = self._rows[key]
        self._update_mark(key)
        self.table.action_cursor_down()
        self._show_status()

    def action_unmark_all(self) -> None:
        for key in list(self.marked):
            del self.marked[key]
            if key in self._rows:
                self._update_mark(key)
        self._show_status()

    def _update_mark(self, key: str) -> None:
        self.table.update_row(key, [self._mark_cell(key), *self.table.get_row(key)[1:]])

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark at least two runs with space, then press c", title="compare")
            return
        self.app.push_screen(registry.compare(list(self.marked.values())))

    def on_run_grid_row_selected(self, event: RunGrid.RowSelected) -> None:
        if event.key in self._rows:
            self.app.push_screen(registry.run_detail(event.key))
