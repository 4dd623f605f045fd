"""One job: status and progress, its error and validation problems, the candidates it trained (★ on
the best; each shows as it finishes, from the job's live report, with the score that chooses the
best (the cross-validation mean) beside its holdout score), and a live tail of its log.

The log is polled with the offset the server returned last, so only new text travels and is
appended; the `Log` widget keeps at most `LOG_LINES` lines, however long the job talks. The first
poll asks for the last `LOG_LINES` lines only. While the job is queued or running the view refreshes
on the short `live_seconds` timer.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Label, Log, Static

from ..contract import Job, JobLog, JobStatus
from ..formatting import duration, number, progress, safe_text, status, when
from ..keymap import bindings
from ..widgets.tables import NavTable
from . import registry
from .jobs import JobActions, clip, job_took

LOG_LINES = 1000
"""Lines of log the view keeps (and asks for when it opens)."""


@dataclass(frozen=True)
class JobDetail:
    job: Job
    log: JobLog


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def selecting_score(item: dict[str, Any], selected_by: str | None, metric: str | None) -> float | None:
    """The candidate's score that chooses the best: its CV mean (`cv_<metric>_mean`), or its holdout score."""
    if not metric:
        return None
    if selected_by and selected_by.startswith("cv_"):
        return ((item.get("cv") or {}).get(metric) or {}).get("mean")
    return (item.get("holdout") or {}).get(metric)


def candidate_rows(job: Job, wide: bool = False) -> list[tuple[str, list[Any]]]:
    """(run id, cells) per candidate of the job's report: ★ on the best, the score that chose it (CV mean),
    the holdout score, fit time (estimator and params cut to fit 80 columns, or 120 when `wide`)."""
    estimator_width, params_width = (32, 40) if wide else (20, 14)
    report = job.report or {}
    metric = report.get("primary_metric")
    best = report.get("best_run_id")
    rows: list[tuple[str, list[Any]]] = []
    for item in report.get("candidates") or []:
        star = "★" if item.get("run_id") == best else " "
        score = (item.get("holdout") or {}).get(metric) if metric else None
        fit = item.get("fit_seconds")
        rows.append((str(item.get("run_id")), [
            Text(star, style="bold"), str(item.get("run_id", ""))[:8],
            clip(str(item.get("estimator", "")), estimator_width),
            clip(params_text(item.get("params") or {}), params_width),
            number(selecting_score(item, report.get("selected_by"), metric)), number(score),
            "-" if fit is None else f"{fit:.2f}s"]))
    return rows


class JobDetailScreen(JobActions[JobDetail]):
    """A job's detail; `enter` on a candidate opens its run, `o` the job's parent run."""

    view_name = "job"
    BINDINGS: ClassVar[list[BindingType]] = bindings("job detail")

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None
        self.log_offset: int | None = None
        """Byte offset of the log already shown; None until the first poll."""

    @property
    def crumb(self) -> str:
        name = f"{self.job.name} {self.job.id[:8]}" if self.job else self.job_id[:8]
        return f"Jobs › {name}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line job-title", id="job-title")
        yield Label("", classes="status-line", id="job-info")
        yield Static("", id="job-error")
        yield Label("Candidates", classes="section-title", id="candidates-title")
        yield NavTable(id="candidates")
        yield Label("Log", classes="section-title", id="log-title")
        yield Log(max_lines=LOG_LINES, highlight=False, auto_scroll=True, id="job-log")

    def on_mount(self) -> None:
        super().on_mount()
        metric = "METRIC"
        self.query_one("#candidates", NavTable).set_columns(self._candidate_columns(metric))
        self.query_one("#candidates", NavTable).display = False
        self.query_one("#job-log", Log).focus()

    @staticmethod
    def _candidate_columns(metric: str, selected_by: str | None = None) -> list[tuple[str, str, int | None]]:
        chooser = "CV MEAN" if selected_by and selected_by.startswith("cv_") else "CHOSEN"
        return [("best", "★", None), ("run", "RUN", None), ("estimator", "ESTIMATOR", None),
                ("params", "PARAMS", None), ("chosen", chooser, None), ("metric", "TEST", None), ("fit", "FIT", None)]

    def refresh_seconds(self) -> float:
        live = self.job is None or not self.job.finished
        return self.mlops.config.live_seconds if live else self.mlops.config.refresh_seconds

    async def fetch(self) -> JobDetail:
        if self.log_offset is None:
            job, log = await asyncio.gather(self.client.get_job(self.job_id),
                                            self.client.job_logs(self.job_id, tail=LOG_LINES))
        else:
            job, log = await asyncio.gather(self.client.get_job(self.job_id),
                                            self.client.job_logs(self.job_id, self.log_offset))
        return JobDetail(job, log)

    def current_job(self) -> Job | None:
        return self.job

    # -- rendering ----------------------------------------------------------------------------------
    def render_data(self, data: JobDetail) -> None:
        job = data.job
        first = self.job is None
        self.job, self.job_id = job, job.id
        log = self.query_one("#job-log", Log)
        table = self.query_one("#candidates", NavTable)
        following = log.is_vertical_scroll_end
        had_candidates = table.display
        self.set_crumb(self.crumb)
        self._render_header(job)
        self._render_error(job)
        self._render_candidates(job)
        self._render_log(job, data.log)
        if table.display and not had_candidates:
            if first or log.has_focus:
                table.focus()  # the job ended while shown: enter now opens a candidate
        if following and (table.display != had_candidates or first):
            # the log lost or gained height: keep its newest line in sight
            self.call_after_refresh(log.scroll_end, animate=False, immediate=True, x_axis=False)

    def _render_header(self, job: Job) -> None:
        now = self.mlops.clock()
        title = Text()
        title.append_text(status(job.status))
        title.append(f"  {job.name}  ", style="bold")
        title.append(job.id)
        if job.progress_total:
            title.append(f"  {progress(job.progress_done, job.progress_total, 10)}")
        if job.status == JobStatus.QUEUED:
            title.append(f"  queued for {duration(int(now.timestamp() * 1000) - job.created_at)}")
        else:
            title.append(f"  took {job_took(job, now)}")
        if job.cancel_requested and not job.finished:
            title.append("  (cancel requested)", style="bold")
        self.query_one("#job-title", Label).update(title)
        parts = [f"dataset {job.dataset or '-'}", f"run {(job.run_id or '-')[:8]}"]
        if job.executor != "local":
            parts.append(f"executor {job.executor}" + (f" {job.scheduler}" if job.scheduler else ""))
        parts.append(f"created {when(job.created_at, now.tzinfo)}")
        if job.retry_of:
            parts.append(f"retry of {job.retry_of[:8]}")
        registered = self.registered()
        if registered:
            parts.append(f"model {registered}")
        self.query_one("#job-info", Label).update(Text(safe_text(" · ".join(parts))))
        self.refresh_bindings()

    def _render_error(self, job: Job) -> None:
        box = self.query_one("#job-error", Static)
        problems = (job.report or {}).get("validation") or []
        if not job.error and not problems:
            box.display = False
            return
        text = Text()
        if job.error:
            text.append_text(status(job.status))
            if job.error_kind and job.error_kind != job.status.lower():
                text.append(f" ({job.error_kind})", style="bold")
            text.append(f": {job.error}")
        for problem in problems:
            text.append(f"\n  - {problem}")
        box.update(text)
        box.display = True

    def _render_candidates(self, job: Job) -> None:
        table = self.query_one("#candidates", NavTable)
        title = self.query_one("#candidates-title", Label)
        rows = candidate_rows(job, wide=self.size.width >= 110)
        report = job.report or {}
        if rows:
            metric = str(report.get("primary_metric") or "metric")
            chosen_by = str(report.get("selected_by") or f"test_{metric}")
            table.set_columns(self._candidate_columns(metric, chosen_by))
            table.sync_rows(rows)
            table.display = True
            if report.get("best_run_id"):
                state = f"{len(rows)}, ★ best chosen by {chosen_by}"
            elif not job.finished:
                state = f"{len(rows)} of {job.progress_total} so far; the best is chosen by {chosen_by} at the end"
            else:
                state = f"{len(rows)} finished, no best"
            title.update(f"Candidates ({state}; enter opens the run)")
            return
        table.display = False
        if not job.finished:
            done = f"{job.progress_done}/{job.progress_total} done, " if job.progress_total else ""
            title.update(f"Candidates: each shows here as it finishes ({done}see the log)")
        elif job.status == JobStatus.SUCCEEDED:
            title.update("Candidates: none reported")
        elif job.status == JobStatus.CANCELLED:
            after = f" after {job.progress_done}/{job.progress_total}" if job.progress_total else ""
            title.update(f"Candidates: none reported (the job was cancelled{after})")
        else:
            title.update("Candidates: none (the job failed before training)")

    def _render_log(self, job: Job, chunk: JobLog) -> None:
        log = self.query_one("#job-log", Log)
        if chunk.text and (self.log_offset is None or chunk.offset > self.log_offset):
            log.write(chunk.text)
        if self.log_offset is None or chunk.offset >= self.log_offset:
            self.log_offset = chunk.offset
        state = "live" if not job.finished else "ended"
        self.query_one("#log-title", Label).update(f"Log ({state}; the last {LOG_LINES:,} lines kept)")

    # -- keys -----------------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "candidates" and event.row_key.value:
            self.app.push_screen(registry.run_detail(event.row_key.value))

    def action_open_parent_run(self) -> None:
        if self.job is None:
            return
        if not self.job.run_id:
            self.notify(f"job {self.job.id} has no run yet (it is {self.job.status})", title="run")
            return
        self.app.push_screen(registry.run_detail(self.job.run_id))

    def registered(self) -> str | None:
        """`name/N`: the model version the job registered (its report's `registered`), else None."""
        found = (self.job.report or {}).get("registered") if self.job else None
        if isinstance(found, dict) and found.get("name") and found.get("version"):
            return f"{found['name']}/{found['version']}"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_model_version":
            return self.registered() is not None
        return super().check_action(action, parameters)

    def action_open_model_version(self) -> None:
        from .run_detail import open_model_version

        ref = self.registered()
        if ref is None:
            self.notify("this job registered no model version", title="model")
            return
        open_model_version(self, ref)
