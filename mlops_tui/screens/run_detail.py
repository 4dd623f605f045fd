"""One run: summary (metrics last/min/max, params, tags), charts, artifacts and environment.

Charts are drawn from the server's downsampled history; while the run is RUNNING the view
refreshes on the short `live_seconds` timer, so the charts grow as the run logs.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, OptionList, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ..contract import ArtifactFile, MetricHistory, Run, RunStatus
from ..contract import tags as tag
from ..formatting import number, run_duration, safe_text, size, status, when
from ..keymap import bindings
from ..widgets.charts import MetricChart, Series
from ..widgets.tables import NavOptionList, NavTable
from . import registry
from .base import View
from .runs import PREFERRED_METRICS

ENV_PREFIX = tag.PREFIX
DATASET_TAG = tag.DATASET
JOB_TAG = tag.JOB_ID
MODEL_TAG = tag.MODEL_VERSION


@dataclass
class RunDetail:
    run: Run
    artifacts: list[ArtifactFile]
    history: MetricHistory | None = None


def chart_metric(keys: Collection[str], current: str | None) -> str | None:
    """The metric to chart: the one picked, else a well-known one, else the first."""
    if current in keys:
        return current
    for name in PREFERRED_METRICS:
        if name in keys:
            return name
    return min(keys) if keys else None


def environment_rows(tags: dict[str, str]) -> list[tuple[str, str]]:
    """The run's recorded environment (`mlops.*` tags), packages one per row."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted(tags.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        name = key.removeprefix(ENV_PREFIX)
        if name == "packages":
            try:
                packages = json.loads(value)
            except ValueError:
                rows.append((name, value))
                continue
            rows += [(f"package {pkg}", str(version)) for pkg, version in sorted(packages.items())]
        else:
            rows.append((name, value))
    return rows


class TabbedView(View[object]):
    """A view made of tabs: `]` and `[` move between them."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("tabbed views")

    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        panes = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if not panes:
            return
        current = panes.index(tabs.active) if tabs.active in panes else 0
        tabs.active = panes[(current + step) % len(panes)]
        self.focus_tab()

    def action_next_tab(self) -> None:
        self._switch_tab(1)

    def action_prev_tab(self) -> None:
        self._switch_tab(-1)

    def focus_tab(self) -> None:
        """Focus the main widget of the active tab, so keys act on what is shown."""
        tabs = self.query_one(TabbedContent)
        pane = tabs.get_pane(tabs.active)
        for widget in pane.query("NavTable, OptionList"):
            if widget.display:
                widget.focus()
                return

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.call_after_refresh(self.focus_tab)


class RunDetailScreen(TabbedView):
    """A run's details; the chart metric is picked in the list left of the chart. A run made by a
    job shows its dataset version and its job under the title (`D` and `J` open them), and the model
    version registered from it (`m`)."""

    view_name = "run"
    BINDINGS: ClassVar[list[BindingType]] = bindings("run detail")

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Run | None = None
        self.metric: str | None = None
        self.artifact_path = ""
        self.history: MetricHistory | None = None
        self.artifact_files: dict[str, ArtifactFile] = {}

    @property
    def crumb(self) -> str:
        return f"Run › {self.run.name if self.run else self.run_id[:8]}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="run-title")
        yield Label("", classes="status-line", id="run-links")
        with TabbedContent(initial="tab-summary"):
            with TabPane("Summary", id="tab-summary"):
                yield NavTable(id="metrics", classes="kv")
                yield NavTable(id="params")
            with TabPane("Charts", id="tab-charts"):
                with Horizontal(id="charts-body"):
                    yield NavOptionList(id="chart-metrics", classes="metric-picker")
                    yield MetricChart(id="chart")
            with TabPane("Artifacts", id="tab-artifacts"):
                yield Label("", classes="status-line", id="artifact-path")
                yield NavTable(id="artifacts")
            with TabPane("Environment", id="tab-env"):
                yield NavTable(id="environment")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#metrics", NavTable).set_columns([
            ("key", "METRIC", None), ("last", "LAST", None), ("min", "MIN", None), ("max", "MAX", None),
            ("step", "STEP", None), ("count", "POINTS", None)])
        self.query_one("#params", NavTable).set_columns([("kind", "", None), ("key", "PARAM / TAG", None),
                                                         ("value", "VALUE", None)])
        self.query_one("#artifacts", NavTable).set_columns([("path", "PATH", None), ("size", "SIZE", None)])
        self.query_one("#environment", NavTable).set_columns([("key", "ENVIRONMENT", None),
                                                              ("value", "VALUE", None)])
        self.query_one("#metrics", NavTable).focus()
        self.query_one("#run-links", Label).display = False

    def refresh_seconds(self) -> float:
        live = self.run is not None and self.run.status == RunStatus.RUNNING
        return self.mlops.config.live_seconds if live else self.mlops.config.refresh_seconds

    async def fetch(self) -> RunDetail:
        run = await self.client.get_run(self.run_id)
        metric = chart_metric(run.metrics, self.metric)
        artifacts, history = await asyncio.gather(
            self.client.list_artifacts(run.id, self.artifact_path),
            self.client.metric_history(run.id, metric, self.mlops.config.chart_points) if metric else _none(),
        )
        return RunDetail(run, artifacts, history)

    def render_data(self, data: object) -> None:
        assert isinstance(data, RunDetail)
        run = data.run
        self.run, self.run_id = run, run.id
        now = self.mlops.clock()
        zone = now.tzinfo
        self.set_crumb(self.crumb)
        live = run.end_time or run.status == RunStatus.RUNNING
        took = run_duration(run.start_time, run.end_time, now) if live else "-"
        title = Text()
        title.append_text(status(run.status))
        title.append(f"  {safe_text(run.name)}  ", style="bold")
        title.append(f"{run.id[:8]}  started {when(run.start_time, zone, with_year=True)}  took {took}")
        self.query_one("#run-title", Label).update(title)
        self._render_links(run)
        self.query_one("#metrics", NavTable).sync_rows([
            (key, [key, number(s.value), number(s.min), number(s.max), str(s.step), f"{s.count:,}"])
            for key, s in sorted(run.metric_stats.items())] or [
            (key, [key, number(value), "-", "-", "-", "-"]) for key, value in sorted(run.metrics.items())])
        rows = [(f"p:{k}", ["param", k, v]) for k, v in sorted(run.params.items())]
        rows += [(f"t:{k}", ["tag", k, v]) for k, v in sorted(run.tags.items())
                 if not k.startswith(ENV_PREFIX) and k != tag.RUN_NAME]  # the name is the title already
        self.query_one("#params", NavTable).sync_rows(rows)
        self._render_metric_list(run)
        self._render_chart(data.history)
        self._render_artifacts(data.artifacts)
        self.query_one("#environment", NavTable).sync_rows(
            [(key, [key, value]) for key, value in environment_rows(run.tags)])

    def _render_links(self, run: Run) -> None:
        dataset, job, model = run.tags.get(DATASET_TAG), run.tags.get(JOB_TAG), run.tags.get(MODEL_TAG)
        links = self.query_one("#run-links", Label)
        parts = []
        if dataset:
            parts.append(f"dataset {dataset}")
        if job:
            parts.append(f"job {job}")
        if model:
            parts.append(f"model {model}")
        links.update(Text(safe_text("  ·  ".join(parts))))
        if links.display != bool(parts):
            links.display = bool(parts)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`J`, `D` and `m` only show in the footer for a run that has a job / a dataset version / a
        model version."""
        if super().check_action(action, parameters) is not True:
            return None  # the role may not
        tags = self.run.tags if self.run is not None else {}
        if action == "open_job":
            return bool(tags.get(JOB_TAG))
        if action == "open_dataset":
            return bool(tags.get(DATASET_TAG))
        if action == "open_model_version":
            return bool(tags.get(MODEL_TAG))
        return True

    def action_open_job(self) -> None:
        job = self.run.tags.get(JOB_TAG) if self.run else None
        if not job:
            self.notify("no job made this run (no mlops.job_id tag)", title="job")
            return
        self.app.push_screen(registry.job_detail(job))

    def action_open_dataset(self) -> None:
        ref = self.run.tags.get(DATASET_TAG) if self.run else None
        if not ref:
            self.notify("this run records no dataset version (no mlops.dataset tag)", title="dataset")
            return
        self.app.push_screen(registry.dataset_detail(ref))

    def action_open_model_version(self) -> None:
        ref = self.run.tags.get(MODEL_TAG) if self.run else None
        if not ref:
            self.notify(f"no model version was registered from this run (no {MODEL_TAG} tag)", title="model")
            return
        open_model_version(self, ref)

    def _render_metric_list(self, run: Run) -> None:
        options = self.query_one("#chart-metrics", OptionList)
        keys = sorted(run.metrics)
        if [str(o.id) for o in options.options] != keys:
            options.clear_options()
            options.add_options([Option(Text(safe_text(key)), id=key) for key in keys])
        self.metric = chart_metric(run.metrics, self.metric)
        if self.metric in keys:
            options.highlighted = keys.index(self.metric)

    def _render_chart(self, history: MetricHistory | None) -> None:
        self.history = history
        chart = self.query_one("#chart", MetricChart)
        if history is None:
            chart.show("no metrics logged", [])
            return
        chart.show(f"{history.key} ({len(history.steps)} points shown)",
                   [Series(history.key, history.steps, history.values)])

    def _render_artifacts(self, files: list[ArtifactFile]) -> None:
        rows: list[tuple[str, list[object]]] = []
        if self.artifact_path:
            rows.append(("..", ["../", ""]))
        self.artifact_files = {item.path: item for item in files if not item.is_dir}
        for item in files:
            name = item.path.rsplit("/", 1)[-1] + ("/" if item.is_dir else "")
            rows.append((item.path + ("/" if item.is_dir else ""),
                         [name, "" if item.size is None else size(item.size)]))
        self.query_one("#artifacts", NavTable).sync_rows(rows)
        where = f"artifacts/{self.artifact_path}" if self.artifact_path else "artifacts/"
        self.query_one("#artifact-path", Label).update(Text(
            f"{safe_text(where)}  ({len(files)} item{'s' if len(files) != 1 else ''}; "
            "enter opens a folder or previews a file)"))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key and key != self.metric:
            self.metric = key
            self.run_worker(self._load_chart(key), group="chart", exclusive=True, exit_on_error=False)

    async def _load_chart(self, key: str) -> None:
        from ..client import MlopsError

        try:
            history = await self.client.metric_history(self.run_id, key, self.mlops.config.chart_points)
        except MlopsError as error:
            self.on_fetch_error(error)
            return
        if key == self.metric:
            self._render_chart(history)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "artifacts" or event.row_key.value is None:
            return
        key = event.row_key.value
        if key == "..":
            self.artifact_path = self.artifact_path.rstrip("/").rpartition("/")[0]
        elif key.endswith("/"):
            self.artifact_path = key.rstrip("/")
        else:
            file = self.artifact_files.get(key, ArtifactFile(path=key, is_dir=False, size=None))
            self.app.push_screen(registry.artifact_preview(self.run_id, file))
            return
        self.request_refresh()


def open_model_version(view: View[Any], ref: str) -> None:
    """Push the version `name/N` names; a malformed reference says so instead."""
    try:
        screen = registry.model_ref(ref)
    except ValueError as error:
        view.notify(safe_text(str(error)), title="model", severity="error", markup=False)
        return
    view.app.push_screen(screen)


async def _none() -> None:
    return None


