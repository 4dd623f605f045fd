"""The runs table: paged by the server, sorted and filtered by the server, rows updated by key.

Only a window of a few pages is in the table (see `run_window`); moving near its edge fetches the
next page in the background, `g`/`G` fetch the real first/last rows. `/` filters with the CLI's
language: a filter the server refuses shows its error under the input and leaves the table alone.
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
from ..models import ExperimentKeys, Run
from ..widgets.filter_bar import FilterBar
from ..formatting import number, run_duration, status, when
from ..widgets.grid import GridColumn, RunGrid
from .base import View
from .keys import bindings
from .pickers import ColumnPicker, SortPicker
from .run_window import RunQuery, RunWindow

PREFERRED_METRICS = ("accuracy", "acc", "val_accuracy", "val_acc", "f1", "auc", "roc_auc", "r2", "rmse",
                     "mae", "loss", "val_loss")
BASE_COLUMNS = [("name", "RUN", "name"), ("status", "STATUS", "status"), ("started", "STARTED", "start_time"),
                ("time", "TIME", "duration")]
"""(column key, label, server sort key)."""
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w\-:/.]*$")


def server_key(entity: str, key: str) -> str:
    """`metrics.acc`, or ``metrics.`odd key` `` when the key needs quoting."""
    return f"{entity}.{key}" if _PLAIN_KEY.match(key) and ".." not in key else f"{entity}.`{key}`"


def default_columns(names: list[str], chosen: tuple[str, ...] | None, count: int,
                    preferred: tuple[str, ...] = ()) -> list[str]:
    if chosen is not None:
        return list(chosen)
    ordered = [n for n in preferred if n in names] + [n for n in names if n not in preferred]
    return ordered[:count]


@dataclass
class Columns:
    """The param and metric columns shown after the fixed ones."""

    params: list[str]
    metrics: list[str]


class RunsScreen(View[None]):
    """Runs of one experiment (or of every experiment); `enter` opens a run, `space` marks, `c` compares."""

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
        self.paging = False
        self.pages_fetched = 0
        self._lock = asyncio.Lock()
        self._rows: dict[str, Run] = {}

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
        page = await self.client.search_runs(query.experiment, query.filter, query.order_by(window.tail),
                                             window.page_size, window.tokens[index])
        window.store(index, page)
        self.pages_fetched += 1

    async def fetch(self) -> None:
        """Refresh: the count, the column keys (first time) and every page of the window."""
        async with self._lock:
            query, window = self.query_state, self.window
            indices = [i for i in window.indices if i in window.tokens] or [0]
            calls: list[Any] = [self.client.count_runs(query.experiment, query.filter)]
            calls += [self._page(query, window, i) for i in indices]
            if self.keys is None and query.experiment:
                calls.append(self.client.experiment_keys(query.experiment))
            results = await asyncio.gather(*calls)
            self.total = results[0]
            if self.keys is None and query.experiment:
                self.keys = results[-1]

    def render_data(self, data: None) -> None:
        self._ensure_columns()
        rows = self._row_cells(self.window.rows())
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
    def _known_keys(self) -> tuple[list[str], list[str]]:
        if self.keys is not None:
            return self.keys.params, self.keys.metrics
        params = sorted({k for run in self.window.rows() for k in run.params})
        metrics = sorted({k for run in self.window.rows() for k in run.metrics})
        return params, metrics

    def _ensure_columns(self) -> None:
        if self.columns is None:
            params, metrics = self._known_keys()
            config = self.mlops.config
            self.columns = Columns(default_columns(params, config.params, config.param_columns),
                                   default_columns(metrics, config.metrics, config.metric_columns,
                                                   PREFERRED_METRICS))
        self.table.set_columns(self._column_specs())

    def _column_specs(self) -> list[GridColumn]:
        assert self.columns is not None
        arrow = " ▼" if self.query_state.descending else " ▲"
        specs = [GridColumn("mark", " ", 1)]
        for key, label, sort in BASE_COLUMNS:
            specs.append(GridColumn(key, label + (arrow if sort == self.query_state.sort else "")))
        for entity, names in (("params", self.columns.params), ("metrics", self.columns.metrics)):
            for name in names:
                label = name if len(name) <= 12 else name[:11] + "…"
                sorted_here = server_key(entity, name) == self.query_state.sort
                specs.append(GridColumn(f"{entity}.{name}", label + (arrow if sorted_here else ""),
                                        justify="right" if entity == "metrics" else "left"))
        return specs

    def _row_cells(self, runs: list[Run]) -> list[tuple[str, list[Text]]]:
        assert self.columns is not None
        now = self.mlops.clock()
        zone = now.tzinfo
        self._rows = {run.id: run for run in runs}
        rows = []
        for run in runs:
            took = run_duration(run.start_time, run.end_time, now) \
                if run.end_time is not None or run.status == "RUNNING" else "-"
            cells: list[Text] = [self._mark_cell(run.id), Text(run.name), status(run.status),
                                Text(when(run.start_time, zone)), Text(took)]
            cells += [Text(run.params.get(name, "-")) for name in self.columns.params]
            cells += [Text(number(run.metrics.get(name))) for name in self.columns.metrics]
            rows.append((run.id, cells))
        return rows

    def _mark_cell(self, run_id: str) -> Text:
        return Text("✓", style="bold") if run_id in self.marked else Text(" ")

    def _show_status(self) -> None:
        parts = []
        total = "…" if self.total is None else f"{self.total:,}"
        parts.append(f"{total} runs")
        position = self.window.position(self.table.cursor_row, self.total) if self.table.row_count else None
        if position is not None:
            parts.append(f"row {position + 1:,}")
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if self.query_state.filter:
            parts.append(f"/{self.query_state.filter}")
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
                before = [run.id for run in self.window.rows()]
                await self._page(self.query_state, self.window, index)
                self.window.trim(keep_below=below)
                rows = self._row_cells(self.window.rows())
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
                rows = self._row_cells(window.rows())
                with self.app.batch_update():
                    self.table.set_rows(rows, cursor_key=rows[0 if top else -1][0] if rows else None,
                                        keep_offset=False)
        except MlopsError as error:
            self.on_fetch_error(error)
        self._show_status()

    # -- filter, sort, columns ----------------------------------------------------------------------
    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        params, metrics = self._known_keys()
        bar.suggester.words = ["and", "status", "name", "start_time", "end_time", "LIKE", "IN"] + \
            [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
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

    async def _apply(self, query: RunQuery, from_filter: bool = False) -> None:
        """Fetch the first page of `query`; only when it succeeds does the table change."""
        window = RunWindow(self.window.page_size, self.window.max_pages)
        bar = self.query_one(FilterBar)
        try:
            async with self._lock:
                total, _ = await asyncio.gather(self.client.count_runs(query.experiment, query.filter),
                                                self._page(query, window, 0))
        except MlopsError as error:
            if error.unreachable:
                self.on_fetch_error(error)
            if from_filter:
                bar.show_error(error.message)
            else:
                self.notify(error.message, title="runs", severity="error")
            return
        self.query_state, self.window, self.total = query, window, total
        if from_filter:
            bar.close()
            self.table.focus()
        with self.app.batch_update():
            self._ensure_columns()
            rows = self._row_cells(window.rows())
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
            with self.app.batch_update():
                self._ensure_columns()
                self.table.set_rows(self._row_cells(self.window.rows()))

        self.app.push_screen(ColumnPicker(keys, chosen), picked)

    # -- marks, compare, drill in -------------------------------------------------------------------
    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
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
        self.mlops.open_compare(list(self.marked.values()))

    def on_run_grid_row_selected(self, event: RunGrid.RowSelected) -> None:
        self.mlops.open_run(event.key)
