"""The root view: experiments with their run counts, the registered models with the version each
has in `production` and its health there (requests/s, p95 latency, error rate, features drifting),
the active jobs, the latest runs and the recently failed ones.

Later features add panels (open alerts) next to these.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Label

from ..client import MlopsError
from ..contract import Experiment, Job, JobStatus, Run, RunStatus
from ..contract.monitoring import HealthList, ModelHealth
from ..contract.registry import RegisteredModel
from ..formatting import WHEN_WIDTH, number, progress, run_duration, status, when
from ..widgets.tables import NavTable
from . import registry
from .base import View
from .jobs import clip, job_took

PANEL_ROWS = 8
RUN_FIXED_WIDTH = 10 + 11 + 7 + 5 * 2 + 1
"""Status, start and time columns, each column's padding and the scrollbar: the rest of a run
panel's width goes to the run and experiment names, cut with `…` to fit."""


@dataclass(frozen=True)
class OverviewData:
    experiments: list[Experiment]
    latest: list[Run]
    failed: list[Run]
    active: list[Job] = field(default_factory=list)
    models: list[RegisteredModel] = field(default_factory=list)
    health: dict[str, ModelHealth] = field(default_factory=dict)
    """Each model's `production` health, by model name."""


PRODUCTION = "production"
MODEL_FIXED_WIDTH = 4 + 6 + 7 + 5 + 7 + 6 + 8 + 8 * 2 + 1
"""The models panel's columns but the name, their padding and the scrollbar: the name gets the rest."""


def health_cells(health: ModelHealth | None) -> list[str]:
    """`3.2`, `4.1ms`, `0.5%`, `▲ 2` (features drifting) or `✓ 0`; `-` for a model with no health yet."""
    if health is None:
        return ["-", "-", "-", "-"]
    return [f"{health.requests_per_second:.3g}", "-" if health.p95_ms is None else f"{health.p95_ms:.3g}ms",
            f"{health.error_rate * 100:.2g}%", f"▲ {health.drifting}" if health.drifting else "✓ 0"]

class OverviewScreen(View[OverviewData]):
    """Four panels, and a fifth for the models once one is registered; `enter` on an experiment opens
    its runs, on a model the model, on a job the job, on a run the run."""

    view_name = "overview"
    RENDER_ON_RESIZE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self.experiment_names: dict[str, str] = {}
        self.data: OverviewData | None = None

    def compose_body(self) -> ComposeResult:
        with Container(id="panels"):
            with Vertical(classes="panel", id="panel-experiments"):
                yield Label("Experiments", classes="section-title", id="title-experiments")
                yield NavTable(id="experiments")
            with Vertical(classes="panel", id="panel-models"):
                yield Label("Models", classes="section-title", id="title-models")
                yield NavTable(id="production")
            with Vertical(classes="panel", id="panel-jobs"):
                yield Label("Active jobs", classes="section-title", id="title-jobs")
                yield NavTable(id="jobs")
            with Vertical(classes="panel", id="panel-latest"):
                yield Label("Latest runs", classes="section-title")
                yield NavTable(id="latest")
            with Vertical(classes="panel", id="panel-failed"):
                yield Label("Recently failed", classes="section-title", id="title-failed")
                yield NavTable(id="failed")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#experiments", NavTable).set_columns(
            [("name", "EXPERIMENT", None), ("runs", "RUNS", None), ("last", "LAST RUN", WHEN_WIDTH)])
        run_columns = [("name", "RUN", None), ("status", "STATUS", None), ("experiment", "EXPERIMENT", None),
                       ("started", "STARTED", WHEN_WIDTH), ("time", "TIME", None)]
        self.query_one("#latest", NavTable).set_columns(run_columns)
        self.query_one("#failed", NavTable).set_columns(run_columns)
        self.query_one("#jobs", NavTable).set_columns([
            ("name", "JOB", None), ("status", "STATUS", None), ("progress", "PROGRESS", None),
            ("dataset", "DATASET", None), ("time", "TIME", None)])
        self.query_one("#production", NavTable).set_columns([
            ("name", "MODEL", None), ("production", "PROD", None), ("latest", "LATEST", None),
            ("pending", "PENDING", None), ("rps", "REQ/S", None), ("p95", "P95", None), ("errors", "ERRORS", None),
            ("drift", "DRIFTING", None)])
        self.query_one("#panel-models").display = False
        self.query_one("#experiments", NavTable).focus()

    async def fetch(self) -> OverviewData:
        (experiments, latest, failed, running, queued, models), health = await asyncio.gather(asyncio.gather(
            self.client.list_experiments(),
            self.client.search_runs(limit=PANEL_ROWS),
            self.client.search_runs(filter="status = 'FAILED'", limit=PANEL_ROWS),
            self.client.list_jobs(status=JobStatus.RUNNING, limit=PANEL_ROWS),
            self.client.list_jobs(status=JobStatus.QUEUED, limit=PANEL_ROWS),
            self.client.list_models(),
        ), self._health())
        return OverviewData(experiments, latest.runs, failed.runs, running + queued, models.models,
                            {h.model: h for h in health.models if h.alias == PRODUCTION})

    async def _health(self) -> HealthList:
        """The production health; none (`-` cells) when the backend refuses it, so the rest still shows."""
        try:
            return await self.client.monitoring_health()
        except MlopsError as error:
            if error.unreachable:
                raise
            return HealthList(models=[])

    def render_data(self, data: OverviewData) -> None:
        now = self.mlops.clock()
        zone = now.tzinfo
        self.experiment_names = {e.id: e.name for e in data.experiments}
        rows: list[tuple[str, list[Any]]] = [
            (e.name, [e.name, number(e.run_count), when(e.last_run_time, zone)]) for e in data.experiments
        ]
        self.data = data
        self.query_one("#experiments", NavTable).sync_rows(rows)
        total = sum(e.run_count for e in data.experiments)
        self.query_one("#title-experiments", Label).update(
            f"Experiments ({len(data.experiments)}, {total:,} runs)")
        for table_id, runs in (("#latest", data.latest), ("#failed", data.failed)):
            table = self.query_one(table_id, NavTable)
            names = max((table.size.width or self.size.width or 80) - RUN_FIXED_WIDTH, 12)
            run_width = names * 3 // 5
            table.sync_rows([
                (run.id, [clip(run.name, run_width), status(run.status),
                          clip(self.experiment_names.get(run.experiment_id, run.experiment_id), names - run_width),
                          when(run.start_time, zone), run_duration(run.start_time, run.end_time, now)
                          if run.end_time is not None or run.status == RunStatus.RUNNING else "-"])
                for run in runs
            ], newest_first=True)
        self.query_one("#title-failed", Label).update(
            "Recently failed" + ("" if data.failed else ": none ✓"))
        self.query_one("#jobs", NavTable).sync_rows(newest_first=True, rows=[
            (job.id, [f"{clip(job.name, 14)} {job.id[:6]}", status(job.status),
                      progress(job.progress_done, job.progress_total), clip(job.dataset or "-", 12),
                      job_took(job, now)])
            for job in data.active])
        self._render_models(data.models, data.health)
        running = sum(job.status == JobStatus.RUNNING for job in data.active)
        queued = len(data.active) - running
        self.query_one("#title-jobs", Label).update(
            f"Active jobs ({running} running, {queued} queued)" if data.active else "Active jobs: none")

    def _render_models(self, models: list[RegisteredModel], health: dict[str, ModelHealth]) -> None:
        """Each model's `production` version (`-` when it has none), its latest, its waiting requests and
        its production health in the same line; the panel shows once a model is registered."""
        panel = self.query_one("#panel-models")
        if panel.display != bool(models):
            panel.display = bool(models)
            self.set_class(bool(models), "-models")
        table = self.query_one("#production", NavTable)
        name_width = min(max((table.size.width or self.size.width or 80) - MODEL_FIXED_WIDTH, 10), 24)
        table.sync_rows([
            (model.name, [clip(model.name, name_width), f"v{model.aliases[PRODUCTION]}" if PRODUCTION in model.aliases
                          else "-", f"v{model.latest_version}",
                          str(model.pending_requests) if model.pending_requests else "-",
                          *health_cells(health.get(model.name) if PRODUCTION in model.aliases else None)])
            for model in models])
        live = sum(PRODUCTION in model.aliases for model in models)
        drifting = sum(h.drifting > 0 for h in health.values())
        title = f"Models ({len(models)}, {live} in production"
        title += f", {drifting} drifting)" if drifting else ")"
        self.query_one("#title-models", Label).update(title)


    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "experiments":
            self.app.push_screen(registry.runs(key))
        elif event.data_table.id == "production":
            self.app.push_screen(registry.model_detail(key))
        elif event.data_table.id == "jobs":
            self.app.push_screen(registry.job_detail(key))
        else:
            self.app.push_screen(registry.run_detail(key))
