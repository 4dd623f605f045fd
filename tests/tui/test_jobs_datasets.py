"""Pilot tests of the jobs and datasets views at 80×24, against the real backend (tests/tui/seed.py):
which view is shown, which rows, what the backend was asked to do (cancel, retry, upload, submit) and
what it then holds, what the log holds. The seed's `Worker` moves jobs as the job worker would."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.widgets import Input, Label, Log

from mlops_tui.screens.dataset_detail import DatasetDetailScreen, DatasetDiffScreen
from mlops_tui.screens.datasets import DatasetsScreen
from mlops_tui.screens.job_detail import LOG_LINES, JobDetailScreen
from mlops_tui.screens.jobs import JobsScreen
from mlops_tui.screens.modals import ConfirmModal, SubmitModal
from mlops_tui.screens.overview import OverviewScreen
from mlops_tui.screens.run_detail import RunDetailScreen
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import (
    CANCELLED_JOB,
    DONE_BEST,
    DONE_CANDIDATES,
    DONE_JOB,
    DONE_PARENT,
    FAILED_JOB,
    NOW_MS,
    QUEUED_JOB,
    RUNNING_JOB,
    Backend,
    run_id,
)
from .test_flows import SIZE, AppFactory, row_keys, unique, wait_until


def cell(table: NavTable, key: str, column: int) -> str:
    value = table.get_row(key)[column]
    return value.plain if isinstance(value, Text) else str(value)


def notices(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


async def test_overview_panel_and_jobs_list_refresh_in_place(make_app: AppFactory, backend: Backend) -> None:
    app = make_app(config=replace(QUIET, live_seconds=0.2))  # the jobs view refreshes on its own
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        assert row_keys(overview.query_one("#jobs", NavTable)) == [RUNNING_JOB, QUEUED_JOB]  # active only
        assert "1 running, 1 queued" in str(overview.query_one("#title-jobs", Label).render())
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        table = screen.table
        assert row_keys(table) == [QUEUED_JOB, RUNNING_JOB, FAILED_JOB, CANCELLED_JOB, DONE_JOB]  # newest first
        assert cell(table, RUNNING_JOB, 2) == "▸ RUNNING" and cell(table, RUNNING_JOB, 3).startswith("3/8 ")
        assert cell(table, DONE_JOB, 2) == "✓ SUCCEEDED" and cell(table, QUEUED_JOB, 3) == "-"
        first_row = table.get_row(RUNNING_JOB)
        backend.worker.progress(RUNNING_JOB, 5)
        calls = backend.switch.count("GET", "/api/v1/jobs", exact=True)
        await wait_until(pilot, lambda: backend.switch.count("GET", "/api/v1/jobs", exact=True) >= calls + 2)  # live
        await settle(pilot)
        assert row_keys(table) == [QUEUED_JOB, RUNNING_JOB, FAILED_JOB, CANCELLED_JOB, DONE_JOB]  # in place
        assert cell(table, RUNNING_JOB, 3).startswith("5/8 ") and table.get_row(RUNNING_JOB) != first_row
        assert "1 running" in str(screen.query_one("#status", Label).render())
        for job_id in (RUNNING_JOB, QUEUED_JOB):
            backend.worker.finish(job_id, "SUCCEEDED", NOW_MS)
        await pilot.press("r")
        await settle(pilot)
        assert screen.refresh_seconds() == QUIET.refresh_seconds  # nothing active: the slow timer


async def test_job_detail_candidates_open_runs_and_the_log_tail_grows_bounded(make_app: AppFactory,
                                                                               backend: Backend) -> None:
    app = make_app(start=f"jobs {DONE_JOB}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, JobDetailScreen) and detail.job is not None
        candidates = detail.query_one("#candidates", NavTable)
        assert row_keys(candidates) == [run_id(i) for i in DONE_CANDIDATES]
        assert [cell(candidates, key, 0) for key in row_keys(candidates)].count("★") == 1
        assert cell(candidates, run_id(DONE_BEST), 0) == "★"
        assert cell(candidates, run_id(DONE_BEST), 4) == "0.912"
        assert "done: best" in "\n".join(detail.query_one(Log).lines)
        await pilot.press("j", "enter")  # the second candidate's run
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == run_id(DONE_CANDIDATES[1])
        await pilot.press("q", "o")  # back, then the parent run
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == run_id(DONE_PARENT)

    app = make_app(start=f"jobs {RUNNING_JOB}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        log = detail.query_one(Log)
        before = [line for line in log.lines if line]
        assert len(before) == 7 and detail.log_offset == len(backend.worker.log_text(RUNNING_JOB).encode())
        assert not detail.query_one("#candidates", NavTable).display  # none until the job ends
        await pilot.press("r")  # nothing new: nothing appended
        await settle(pilot)
        assert [line for line in log.lines if line] == before
        backend.worker.log(RUNNING_JOB, "11:59:00 candidate 4/8 LogisticRegression {'C': 0.4}: roc_auc=0.84\n")
        await pilot.press("r")
        await settle(pilot)
        assert [line for line in log.lines if line] == [*before, before[-1].replace("3/8", "4/8")
                                                        .replace("0.3", "0.4").replace("0.83", "0.84")
                                                        .replace("11:58:40", "11:59:00")]
        backend.worker.log(RUNNING_JOB, "".join(f"noise {i}\n" for i in range(LOG_LINES + 500)))
        backend.worker.progress(RUNNING_JOB, 8)
        backend.worker.finish(RUNNING_JOB, "SUCCEEDED", NOW_MS)
        await pilot.press("r")
        await settle(pilot)
        assert log.line_count <= LOG_LINES
        assert log.lines[-2] == f"noise {LOG_LINES + 499}"  # the newest line kept, the oldest dropped
        assert detail.log_offset == len(backend.worker.log_text(RUNNING_JOB).encode())
        assert "ended" in str(detail.query_one("#log-title", Label).render())


async def test_cancel_asks_first_and_the_keys_are_remappable(make_app: AppFactory, backend: Backend) -> None:
    backend.worker.stop_when_cancelled()
    cancels = lambda: backend.switch.count("POST", "/cancel")  # noqa: E731
    app = make_app(config=replace(QUIET, keys={"jobs.cancel": "K"}), start="jobs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        await pilot.press("j", "K")  # the running job
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal) and RUNNING_JOB in app.screen.question
        await pilot.press("n")  # no: nothing sent
        await settle(pilot)
        assert app.screen is screen and cancels() == 0
        await pilot.press("K")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen and backend.switch.requests.count(f"POST /api/v1/jobs/{RUNNING_JOB}/cancel") == 1
        assert cell(screen.table, RUNNING_JOB, 2) == "■ CANCELLED"  # refreshed after the cancel
        assert any("cancel requested" in text for text in notices(app))
        await pilot.press("j", "j", "j", "K")  # the succeeded job: a notice, no question
        await pilot.pause()
        assert app.screen is screen and cancels() == 1
        assert any("nothing to cancel" in text for text in notices(app))


async def test_retry_queues_a_new_job_and_shows_it(make_app: AppFactory, backend: Backend) -> None:
    retries = lambda: backend.switch.count("POST", "/retry")  # noqa: E731
    app = make_app(start=f"jobs {FAILED_JOB}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        failed = app.screen
        assert isinstance(failed, JobDetailScreen)
        error = str(failed.query_one("#job-error").render())
        assert "FAILED (validation)" in error and "value 'gold' is not allowed" in error
        await pilot.press("R")
        await settle(pilot)
        assert backend.switch.requests.count(f"POST /api/v1/jobs/{FAILED_JOB}/retry") == 1 and retries() == 1
        new = app.screen
        newest = (await backend.seeder.list_jobs())[0]
        assert isinstance(new, JobDetailScreen) and new.job is not None
        assert new.job.retry_of == FAILED_JOB and new.job.status == "QUEUED" and new.job_id == newest.id
        await pilot.press("R")  # a queued job cannot be retried: a notice, nothing sent
        await settle(pilot)
        assert retries() == 1 and app.screen is new


async def test_start_a_pipeline_from_a_file(make_app: AppFactory, backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    csv = tmp_path / "data" / "small_churn.csv"
    csv.write_bytes(b"tenure,churned\n1,0\n5,1\n")
    good = tmp_path / "pipeline.toml"
    models = 'task = "classification"\n[[models]]\nestimator = "LogisticRegression"\n'
    good.write_text('name = "small"\n' + models + '[data]\npath = "data/small_churn.csv"\ntarget = "churned"\n')
    missing_data = tmp_path / "missing.toml"
    missing_data.write_text('name = "m"\n[data]\npath = "nope.csv"\ntarget = "y"\n')
    nameless = tmp_path / "nameless.toml"
    nameless.write_text(models + '[data]\ndataset = "churn@1"\ntarget = "y"\n')
    messages: list[Message] = []
    app = make_app(start="jobs")
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        jobs = app.screen
        await pilot.press("n")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, SubmitModal)

        async def submit(path: Path) -> None:
            modal.query_one(Input).value = str(path)
            await pilot.press("enter")
            await settle(pilot)

        await submit(tmp_path / "absent.toml")
        assert app.screen is modal and modal.error and "cannot read" in modal.error
        await submit(missing_data)
        assert app.screen is modal and modal.error and "no such file" in modal.error and "nope.csv" in modal.error
        assert backend.switch.count("POST", "/api/v1/datasets/") == 0  # nothing uploaded
        assert backend.switch.count("POST", "/api/v1/jobs") == 0  # nothing submitted
        await submit(nameless)  # the server refuses it (422): shown in the form
        assert app.screen is modal and modal.error == "pipeline: missing key 'name'"
        assert len(unique(m for m in messages if isinstance(m, Input.Submitted))) == 3
        await submit(good)
        uploaded = await backend.seeder.get_dataset("small_churn")
        assert [(v.ref, v.filename) for v in uploaded.versions] == [("small_churn@1", "small_churn.csv")]
        assert uploaded.versions[0].sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()
        newest = (await backend.seeder.list_jobs())[0]
        assert (newest.name, newest.dataset) == ("small", "small_churn@1")
        assert backend.switch.count("POST", "/api/v1/jobs", exact=True) == 2  # the nameless one, then this
        shown = app.screen
        assert isinstance(shown, JobDetailScreen) and shown.job is not None
        assert shown.job.id == newest.id and shown.job.dataset == "small_churn@1"
        await pilot.press("q")
        await settle(pilot)
        assert app.screen is jobs and isinstance(jobs, JobsScreen) and row_keys(jobs.table)[0] == newest.id


async def test_datasets_versions_stats_and_diff(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, DatasetsScreen)
        table = app.screen.query_one(NavTable)
        assert row_keys(table) == ["churn", "spend"] and cell(table, "churn", 1) == "3"
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DatasetDetailScreen)
        assert row_keys(detail.query_one("#versions", NavTable)) == ["3", "2", "1"]
        numeric, categorical = detail.query_one("#numeric", NavTable), detail.query_one("#categorical", NavTable)
        assert detail.shown_version == 3 and "region" in row_keys(categorical)
        assert row_keys(numeric) == ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "churned"]
        spark = cell(numeric, "monthly_charges", 7)
        assert len(spark) == 10 and "█" in spark
        assert cell(categorical, "plan", 3) == "3" and "premium" in cell(categorical, "plan", 4)
        await pilot.press("j")  # v2: its statistics follow the cursor
        await settle(pilot)
        assert detail.shown_version == 2 and "contract" in row_keys(categorical)
        await pilot.press("d")  # nothing marked: a notice
        assert isinstance(app.screen, DatasetDetailScreen) and any("mark two" in n for n in notices(app))
        await pilot.press("k", "space", "j", "space")  # mark v3, then v1
        assert sorted(detail.marked) == [1, 3]
        assert cell(detail.query_one("#versions", NavTable), "3", 0) == "✓"
        await pilot.press("d")
        await settle(pilot)
        diff_screen = app.screen
        assert isinstance(diff_screen, DatasetDiffScreen) and (diff_screen.a, diff_screen.b) == (1, 3)
        diff = diff_screen.diff
        assert diff is not None and diff.rows_change == 1200
        summary = str(diff_screen.query_one("#diff-summary").render())
        assert "added: region, usage_gb" in summary and "removed: contract" in summary
        assert "tenure_months int → float" in summary and "4,000 → 5,200" in summary
        columns = diff_screen.query_one(NavTable)
        assert row_keys(columns)[:2] == ["monthly_charges", "plan"]  # the largest PSI first
        assert cell(columns, "monthly_charges", 4) == "▲ shifted" and cell(columns, "churned", 4).strip() == "ok"
        assert cell(columns, "monthly_charges", 3) == "0"  # the KS p-value the server computed
        assert "new: gold" in cell(columns, "plan", 5)


async def test_run_detail_shows_its_dataset_and_job_and_jumps(make_app: AppFactory) -> None:
    app = make_app(start=f"run {run_id(DONE_PARENT)}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.screen
        assert isinstance(run, RunDetailScreen)
        links = run.query_one("#run-links", Label)
        assert links.display and str(links.render()) == f"dataset churn@2  ·  job {DONE_JOB}"
        await pilot.press("J")
        await settle(pilot)
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == DONE_JOB
        await pilot.press("q", "D")
        await settle(pilot)
        dataset = app.screen
        assert isinstance(dataset, DatasetDetailScreen)
        assert dataset.dataset_name == "churn" and dataset.shown_version == 2
        assert dataset.query_one("#versions", NavTable).cursor_key == "2"

    app = make_app(start=f"run {run_id(0)}")  # no job, no dataset: no line, J and D do nothing
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.screen
        assert isinstance(run, RunDetailScreen) and not run.query_one("#run-links", Label).display
        await pilot.press("J", "D")
        await settle(pilot)
        assert app.screen is run
