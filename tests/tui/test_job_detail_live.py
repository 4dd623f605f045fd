"""The job detail view while a job runs: candidates show as they finish (from the job's live report),
with the score that chooses the best (the CV mean) beside the holdout score."""
from __future__ import annotations

from textual.widgets import Label

from mlops_tui.screens.job_detail import JobDetailScreen
from mlops_tui.widgets.tables import NavTable

from .conftest import settle
from .seed import NOW_MS, RUNNING_JOB, Backend, candidates
from .test_flows import SIZE, AppFactory, row_keys
from .test_jobs_datasets import cell


async def test_candidates_show_as_they_finish_with_the_score_that_chooses(make_app: AppFactory,
                                                                          backend: Backend) -> None:
    finished = candidates()[:2]
    report = {"primary_metric": "roc_auc", "direction": "maximize", "selected_by": "cv_roc_auc_mean",
              "candidates": finished}
    backend.worker.progress(RUNNING_JOB, 3, report)  # the worker's live report
    app = make_app(start=f"jobs {RUNNING_JOB}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        table = detail.query_one("#candidates", NavTable)
        assert table.display and row_keys(table) == [c["run_id"] for c in finished]
        key = finished[1]["run_id"]
        assert (cell(table, key, 4), cell(table, key, 5)) == ("0.864", "0.874")  # CV mean, then holdout
        title = str(detail.query_one("#candidates-title", Label).render())
        assert "2 of 8 so far" in title and "cv_roc_auc_mean" in title
        assert [cell(table, k, 0) for k in row_keys(table)] == [" ", " "]  # no ★ until the job ends

        everything = candidates()
        best = max(everything, key=lambda c: c["cv"]["roc_auc"]["mean"])
        backend.worker.progress(RUNNING_JOB, 8)
        backend.worker.finish(RUNNING_JOB, "SUCCEEDED", NOW_MS,
                              report={**report, "candidates": everything, "best_run_id": best["run_id"], "best": best})
        await pilot.press("r")
        await settle(pilot)
        assert row_keys(table) == [c["run_id"] for c in everything]
        assert cell(table, best["run_id"], 0) == "★"
        assert "★ best chosen by cv_roc_auc_mean" in str(detail.query_one("#candidates-title", Label).render())
