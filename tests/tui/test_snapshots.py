"""Snapshots of every screen at 80×24 and 120×40 (plus one NO_COLOR), drawn from the real backend
seeded with fixed data (tests/tui/seed.py: fixed times and ids) and a fixed clock. Update them with
`pytest tests/tui --snapshot-update` and look at the SVGs before committing."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from mlops_tui.app import MlopsApp
from mlops_tui.config import TuiConfig

from .conftest import QUIET, settle
from .seed import Backend, fixed_clock, run_id

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
Keys = tuple[str, ...]


def build(backend: Backend, start: str | None = None, config: TuiConfig = QUIET) -> MlopsApp:
    return MlopsApp(client=backend.client, config=config, clock=fixed_clock, start=start)


def after(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the data, press `keys` (waiting after each), wait again."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


RUN = run_id(9)
SCREENS: dict[str, tuple[str | None, Keys]] = {
    "overview": (None, ()),
    "experiments": ("experiments", ()),
    "runs": ("runs churn", ()),
    "runs_filter_error": ("runs churn", ("slash", *"metrics.acc >> 1", "enter")),
    "runs_marked": ("runs churn", ("space", "space")),
    "runs_expanded": ("runs churn", ("j", "plus")),
    "runs_leaderboard": ("runs churn", ("L",)),
    "runs_columns_picker": ("runs churn", ("C", "space")),
    "run_summary": (f"run {RUN}", ()),
    "run_charts": (f"run {RUN}", ("right_square_bracket",)),
    "run_environment": (f"run {RUN}", ("left_square_bracket",)),
    "compare_params": ("runs churn", ("space", "space", "space", "c")),
    "compare_metrics": ("runs churn", ("space", "space", "space", "c", "right_square_bracket")),
    "compare_charts": ("runs churn", ("space", "space", "c", "left_square_bracket")),
    "help": (None, ("question_mark",)),
    "models": ("models", ()),
    "model_versions": ("models churn-classifier", ()),
    "model_history": ("models churn-classifier", ("right_square_bracket",)),
    "model_promote_failed_gate": ("models churn-classifier", ("j", "p")),
    "command_bar": (None, ("colon", *"ru")),
}


BOTH_SIZES = ["overview", "experiments", "runs", "runs_expanded", "run_summary", "run_charts", "compare_metrics",
              "compare_charts", "help", "models", "model_versions", "model_history", "model_promote_failed_gate"]
"""The main screens, at both sizes; the other states at 80×24 only."""
CASES = [pytest.param(name, size, id=f"{name}-{w}x{h}") for name in SCREENS
         for size in ([(80, 24), (120, 40)] if name in BOTH_SIZES else [(80, 24)]) for w, h in [size]]


@pytest.mark.parametrize(("name", "size"), CASES)
def test_screen(snap_compare: Any, backend: Backend, name: str, size: tuple[int, int]) -> None:
    start, keys = SCREENS[name]
    assert snap_compare(build(backend, start), terminal_size=size, run_before=after(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_screen_backend_down(snap_compare: Any, backend: Backend, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        backend.switch.down = True
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(build(backend, "runs churn"), terminal_size=size, run_before=run_before)


def test_screen_runs_no_color_80x24(snap_compare: Any, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(build(backend, "runs churn"), terminal_size=(80, 24), run_before=after("space"))
