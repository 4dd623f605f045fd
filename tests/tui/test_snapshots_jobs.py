"""Snapshots of the jobs and datasets views at 80×24 and 120×40, from the seeded backend's jobs and
datasets (tests/tui/seed.py). Update with `pytest tests/tui --snapshot-update` and look at the SVGs
before committing."""
from __future__ import annotations

from typing import Any

import pytest

from .seed import DONE_JOB, FAILED_JOB, RUNNING_JOB, Backend
from .test_snapshots import Keys, after, build

SCREENS: dict[str, tuple[str | None, Keys]] = {
    "jobs": ("jobs", ()),
    "job_succeeded": (f"jobs {DONE_JOB}", ()),
    "job_running": (f"jobs {RUNNING_JOB}", ()),
    "job_failed": (f"jobs {FAILED_JOB}", ()),
    "job_cancel_question": ("jobs", ("j", "x")),
    "job_new_error": ("jobs", ("n", *"no-such-pipeline.toml", "enter")),
    "datasets": ("datasets", ()),
    "dataset_versions": ("datasets churn", ("space", "j", "space")),
    "dataset_diff": ("datasets churn", ("space", "j", "j", "space", "d")),
}
BOTH_SIZES = ["jobs", "job_succeeded", "dataset_versions", "dataset_diff"]
CASES = [pytest.param(name, size, id=f"{name}-{w}x{h}") for name in SCREENS
         for size in ([(80, 24), (120, 40)] if name in BOTH_SIZES else [(80, 24)]) for w, h in [size]]


@pytest.mark.parametrize(("name", "size"), CASES)
def test_screen(snap_compare: Any, backend: Backend, name: str, size: tuple[int, int]) -> None:
    start, keys = SCREENS[name]
    assert snap_compare(build(backend, start), terminal_size=size, run_before=after(*keys))
