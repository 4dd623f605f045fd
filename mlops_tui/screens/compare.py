"""Marked runs side by side: params (≠ where they differ), metrics (★ on the best of each), and
one metric's curves of every run overlaid on one chart."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, OptionList, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ..client import MlopsError
from ..compare import lower_is_better, metric_rows, param_rows
from ..contract import MetricHistory, Run
from ..formatting import number
from ..widgets.charts import MetricChart, Series
from ..widgets.tables import NavOptionList, NavTable
from .run_detail import TabbedView, chart_metric


@dataclass(frozen=True)
class CompareData:
    runs: list[Run]
    histories: list[MetricHistory | None]


def run_label(run: Run) -> str:
    name = run.name if len(run.name) <= 14 else run.name[:13] + "…"
    return f"{name} {run.id[:4]}"


class CompareScreen(TabbedView):
    """Compare the given runs; they are fetched again so the values are current."""

    view_name = "compare"

    def __init__(self, runs: list[Run]) -> None:
        super().__init__()
        self.runs = runs
        self.metric: str | None = None

    @property
    def crumb(self) -> str:
        return f"Compare › {len(self.runs)} runs"

    def compose_body(self) -> ComposeResult:
        yield Label("", classes="status-line", id="compare-title")
        with TabbedContent(initial="tab-params"):
            with TabPane("Params", id="tab-params"):
                yield NavTable(id="compare-params")
            with TabPane("Metrics", id="tab-metrics"):
                yield NavTable(id="compare-metrics")
            with TabPane("Charts", id="tab-compare-charts"):
                with Horizontal(id="compare-charts-body"):
                    yield NavOptionList(id="compare-chart-metrics", classes="metric-picker")
                    yield MetricChart(id="compare-chart")

    def on_mount(self) -> None:
        super().on_mount()
        labels = [(f"run{i}", run_label(run), None) for i, run in enumerate(self.runs)]
        self.query_one("#compare-params", NavTable).set_columns([("diff", "≠", 1), ("key", "PARAM", None), *labels])
        self.query_one("#compare-metrics", NavTable).set_columns([("key", "METRIC ★best", None), *labels])
        self.query_one("#compare-params", NavTable).focus()

    async def _histories(self, runs: list[Run], key: str | None) -> list[MetricHistory | None]:
        async def one(run: Run) -> MetricHistory | None:
            if key is None or key not in run.metrics:
                return None
            return await self.client.metric_history(run.id, key, self.mlops.config.chart_points)

        return list(await asyncio.gather(*(one(run) for run in runs)))

    async def fetch(self) -> CompareData:
        runs = list(await asyncio.gather(*(self.client.get_run(run.id) for run in self.runs)))
        self.metric = chart_metric({k for run in runs for k in run.metrics}, self.metric)
        return CompareData(runs, await self._histories(runs, self.metric))

    def render_data(self, data: object) -> None:
        assert isinstance(data, CompareData)
        self.runs = data.runs
        params = param_rows(data.runs)
        differing = sum(row.differs for row in params)
        self.query_one("#compare-title", Label).update(
            f"{len(data.runs)} runs │ {differing} of {len(params)} params differ (≠) │ ★ best metric value")
        self.query_one("#compare-params", NavTable).sync_rows([
            (row.key, [Text("≠", style="bold yellow") if row.differs else "",
                       Text(row.key, style="bold" if row.differs else ""),
                       *[Text(v if v is not None else "-", style="yellow" if row.differs else "")
                         for v in row.values]])
            for row in params])
        metric_cells = []
        for metric in metric_rows(data.runs):
            arrow = "↓" if lower_is_better(metric.key) else "↑"
            cells: list[object] = [f"{metric.key} {arrow}"]
            for index, value in enumerate(metric.values):
                best = index == metric.best
                cells.append(Text(("★ " if best else "  ") + number(value), style="bold green" if best else "",
                                  justify="right"))
            metric_cells.append((metric.key, cells))
        self.query_one("#compare-metrics", NavTable).sync_rows(metric_cells)
        self._render_metric_list(data.runs)
        self._render_chart(data.histories)

    def _render_metric_list(self, runs: list[Run]) -> None:
        options = self.query_one("#compare-chart-metrics", OptionList)
        keys = sorted({k for run in runs for k in run.metrics})
        if [str(o.id) for o in options.options] != keys:
            options.clear_options()
            options.add_options([Option(key, id=key) for key in keys])
        if self.metric in keys:
            options.highlighted = keys.index(self.metric)

    def _render_chart(self, histories: list[MetricHistory | None]) -> None:
        series = [Series(run_label(run), h.steps, h.values)
                  for run, h in zip(self.runs, histories, strict=False) if h is not None]
        self.query_one("#compare-chart", MetricChart).show(self.metric or "no metrics logged", series)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key and key != self.metric:
            self.metric = key
            self.run_worker(self._load_chart(key), group="chart", exclusive=True, exit_on_error=False)

    async def _load_chart(self, key: str) -> None:
        try:
            histories = await self._histories(self.runs, key)
        except MlopsError as error:
            self.on_fetch_error(error)
            return
        if key == self.metric:
            self._render_chart(histories)
