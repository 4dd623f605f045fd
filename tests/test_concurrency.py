"""Eight training processes logging through the SDK to the live server at once: every point is stored.

The workers are spawned, so they import this module: it stays light (no conftest, no backend) to keep
each worker's start cheap; `mlops_tui` is imported inside the worker.
"""
from __future__ import annotations

import multiprocessing
import traceback
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

    from mlops_tui import Client

WORKERS = 8
POINTS = 5_000


def train(index: int, experiment: str, url: str, barrier: Any, results: Any) -> None:
    """One 'training script': waits for the others, then logs POINTS points and a few params."""
    try:
        from mlops_tui import start_run

        barrier.wait(timeout=120)
        with start_run(experiment=experiment, name=f"worker-{index}", url=url) as run:
            run.log_params({"worker": index, "points": POINTS})
            for step in range(POINTS):
                run.log_metric("loss", index + step / POINTS, step=step)
                if step % 1000 == 0:
                    run.set_tag("progress", str(step))
            run_id = run.id
        results.put((index, run_id, None))
    except BaseException:  # report everything to the parent; a child traceback would be lost
        results.put((index, None, traceback.format_exc()))


def test_eight_processes_log_at_once(live_env: LiveServer, live_client: Client) -> None:
    experiment = f"concurrent-{uuid.uuid4().hex[:10]}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [context.Process(target=train, args=(index, experiment, live_env.url, barrier, results))
                 for index in range(WORKERS)]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=300) for _ in range(WORKERS)]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
    errors = [error for _, _, error in reports if error]
    assert errors == []
    assert all(process.exitcode == 0 for process in processes)

    run_ids = {index: run_id for index, run_id, _ in reports}
    assert sorted(run_ids) == list(range(WORKERS)) and len(set(run_ids.values())) == WORKERS
    page = live_client.search_runs(experiment, limit=100)
    assert {r.id for r in page.runs} == set(run_ids.values())
    for index, run_id in run_ids.items():
        run = live_client.get_run(run_id)
        assert run.status == "FINISHED"
        assert run.params == {"worker": str(index), "points": str(POINTS)}
        assert run.tags["progress"] == "4000"
        assert run.metric_stats["loss"].count == POINTS
        history = live_client.metric_history(run_id, "loss")
        assert [p.step for p in history.points] == list(range(POINTS))
        assert [p.value for p in history.points] == pytest.approx([index + s / POINTS for s in range(POINTS)])
