"""The jobs queue: every training job with its status, progress, dataset and time, refreshed live.

`enter` opens a job; `x` cancels one (after a question), `R` retries a failed or cancelled one as a
new job and shows it, `n` starts a pipeline from a TOML file. The same keys work in a job's detail.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label

from ..client import MlopsError
from ..contract import JOB_ACTIVE, JOB_RETRYABLE, Job, JobStatus
from ..formatting import duration, progress, safe_text, status, when
from ..keymap import bindings, key_label
from ..widgets.tables import NavTable
from . import registry
from .base import View
from .modals import ConfirmModal, SubmitModal

T = TypeVar("T")
ACTIVE = JOB_ACTIVE
JOB_COLUMNS = [("id", "JOB", None), ("name", "NAME", None), ("status", "STATUS", None),
               ("progress", "PROGRESS", None), ("dataset", "DATASET", None), ("created", "CREATED", None),
               ("time", "TIME", None)]


def job_took(job: Job, now: datetime) -> str:
    """How long the job ran, or has been running (a trailing `+`); `-` before it starts."""
    if job.started_at is None:
        return "-"
    if job.ended_at is not None:
        return duration(job.ended_at - job.started_at)
    return duration(int(now.timestamp() * 1000) - job.started_at) + "+"


def clip(text: str, width: int) -> str:
    """`text` made safe for the terminal, cut to `width` characters with `…`."""
    text = safe_text(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def job_cells(job: Job, now: datetime) -> list[Any]:
    return [job.id[:8], clip(job.name, 16), status(job.status), progress(job.progress_done, job.progress_total),
            clip(job.dataset or "-", 14), when(job.created_at, now.tzinfo), job_took(job, now)]


class JobActions(View[T]):
    """Cancel, retry and start jobs: shared by the jobs list and a job's detail."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("jobs")

    def current_job(self) -> Job | None:
        raise NotImplementedError

    def _action_error(self, error: MlopsError, title: str) -> None:
        if error.unreachable:
            self.mlops.report_unreachable(error)
        self.notify(safe_text(error.message), title=title, severity="error", markup=False)

    # -- cancel -----------------------------------------------------------------------------------
    def action_cancel_job(self) -> None:
        job = self.current_job()
        if job is None:
            return
        if job.finished:
            self.notify(f"job {job.id} already {job.status}: nothing to cancel", title="cancel")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._cancel(job.id), group="job-action", exit_on_error=False)

        detail = "a running job's worker process is stopped" if job.status == JobStatus.RUNNING else \
            "it leaves the queue before it starts"
        self.app.push_screen(ConfirmModal(f"Cancel job {job.id} ({job.name}, {job.status})?", detail), answered)

    async def _cancel(self, job_id: str) -> None:
        try:
            job = await self.client.cancel_job(job_id)
        except MlopsError as error:
            self._action_error(error, "cancel")
            return
        self.notify(f"cancel requested for job {job.id} (now {job.status})", title="cancel")
        self.request_refresh()

    # -- retry --------------------------------------------------------------------------------------
    def action_retry_job(self) -> None:
        job = self.current_job()
        if job is None:
            return
        if job.status not in JOB_RETRYABLE:
            self.notify(f"only a failed or cancelled job can be retried; {job.id} is {job.status}", title="retry")
            return
        self.run_worker(self._retry(job.id), group="job-action", exit_on_error=False)

    async def _retry(self, job_id: str) -> None:
        try:
            job = await self.client.retry_job(job_id)
        except MlopsError as error:
            self._action_error(error, "retry")
            return
        self.notify(f"queued job {job.id} (retry of {job_id})", title="retry")
        self.open_job(job.id)

    # -- start from a file ----------------------------------------------------------------------------
    def action_new_job(self) -> None:
        def submitted(job: Job | None) -> None:
            if job is None:
                return
            self.notify(f"submitted job {job.id} ({safe_text(job.name)})", title="new job", markup=False)
            self.open_job(job.id)

        self.app.push_screen(SubmitModal(), submitted)

    def open_job(self, job_id: str) -> None:
        self.app.push_screen(registry.job_detail(job_id))


class JobsScreen(JobActions[list[Job]]):
    """The newest jobs first; rows change in place as jobs progress."""

    view_name = "jobs"
    LIMIT = 200

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, Job] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="status")
        yield NavTable(id="jobs")

    @property
    def table(self) -> NavTable:
        return self.query_one("#jobs", NavTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.set_columns(JOB_COLUMNS)
        self.table.focus()

    def refresh_seconds(self) -> float:
        live = any(job.status in ACTIVE for job in self.jobs.values())
        return self.mlops.config.live_seconds if live else self.mlops.config.refresh_seconds

    async def fetch(self) -> list[Job]:
        return await self.client.list_jobs(limit=self.LIMIT)

    def render_data(self, data: list[Job]) -> None:
        now = self.mlops.clock()
        self.jobs = {job.id: job for job in data}
        self.table.sync_rows([(job.id, job_cells(job, now)) for job in data])
        counts = {state: sum(job.status == state for job in data) for state in
                  (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED)}
        parts = [f"{len(data)} job{'s' if len(data) != 1 else ''}"]
        parts += [f"{count} {state.lower()}" for state, count in counts.items() if count]
        if not data:
            parts.append(f"{key_label('jobs.new', self.mlops.config.keys)} starts a pipeline from a TOML file")
        self.query_one("#status", Label).update(Text(" │ ".join(parts)))

    def current_job(self) -> Job | None:
        key = self.table.cursor_key
        return self.jobs.get(key) if key else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_job(event.row_key.value)
