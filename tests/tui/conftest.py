"""Fixtures of the console's tests: the REAL backend in-process on a temporary home, seeded once per
worker through the API (tests/tui/seed.py) and copied for each test; a fixed clock; no animations."""
from __future__ import annotations

import os
import tempfile

os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read when textual is first imported
os.environ["MLOPS_CONFIG"] = "/home/you/.config/mlops-tui/config.toml"  # shown by the help screen
# the runs view's remembered columns: never the user's file, and empty at the start of every session
os.environ["MLOPS_TUI_STATE"] = os.path.join(tempfile.mkdtemp(prefix="mlops-tui-state-"), "columns.json")

import asyncio  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

from mlops_tui.app import MlopsApp  # noqa: E402
from mlops_tui.config import TuiConfig  # noqa: E402
from mlops_tui.screens.base import View  # noqa: E402

from .seed import (  # noqa: E402
    NOW_MS,
    TEST_IDS,
    Backend,
    close_backend,
    close_traffic_backend,
    fixed_clock,
    open_backend,
    open_traffic_backend,
    seed_alerts,
    seed_everything,
    seed_traffic,
)

QUIET = TuiConfig(refresh_seconds=3600, live_seconds=3600, health_seconds=3600, retry_seconds=0.2, page_size=50)
"""Timers that never fire during a test, so what is drawn depends only on what the test does."""


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the standard data (tests/tui/seed.py), written once through the API."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    with pytest.MonkeyPatch.context() as patch:
        backend = open_backend(home, patch)
        try:
            asyncio.run(seed_everything(backend, artifacts=True))
        finally:
            close_backend(backend)
    return home


@pytest.fixture(scope="session")
def traffic_home(seeded_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded home plus an hour of churn-classifier@production's traffic and its feedback labels
    (tests/tui/seed.py `seed_traffic`: real predictions, fixed times and latencies)."""
    home = tmp_path_factory.mktemp("traffic") / "home"
    shutil.copytree(seeded_home, home)
    with pytest.MonkeyPatch.context() as patch:
        backend, timer = open_traffic_backend(home, patch)
        try:
            asyncio.run(seed_traffic(backend, timer))
        finally:
            close_traffic_backend(backend)
    return home


@pytest.fixture(scope="session")
def alerts_home(traffic_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home with traffic plus churn-classifier's alerts (open, acknowledged, resolved) and retrain
    history (tests/tui/seed.py `seed_alerts`)."""
    home = tmp_path_factory.mktemp("alerts") / "home"
    shutil.copytree(traffic_home, home)
    with pytest.MonkeyPatch.context() as patch:
        backend = open_backend(home, patch)
        try:
            asyncio.run(seed_alerts(backend))
        finally:
            close_backend(backend)
    return home


def backend_on_copy(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A real backend on a copy of the home `source`; its clock stays at NOW, and the ids it makes start
    past those of the seed (whose events and webhook notifications took the first ones)."""
    home = tmp_path / "home"
    shutil.copytree(source, home)
    backend = open_backend(home, monkeypatch)
    backend.clock.ms = NOW_MS
    backend.ids.counter = TEST_IDS
    yield backend
    close_backend(backend)


@pytest.fixture
def traffic_backend(traffic_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A real backend on a copy of the home with traffic."""
    yield from backend_on_copy(traffic_home, tmp_path, monkeypatch)


@pytest.fixture
def alerts_backend(alerts_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A real backend on a copy of the home with traffic, alerts and retrains."""
    yield from backend_on_copy(alerts_home, tmp_path, monkeypatch)


@pytest.fixture
def empty_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A fresh real backend with nothing in it (its `Default` experiment aside)."""
    backend = open_backend(tmp_path / "empty-home", monkeypatch)
    backend.clock.ms = NOW_MS
    yield backend
    close_backend(backend)


@pytest.fixture
def backend(seeded_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A real backend on a copy of the seeded home."""
    yield from backend_on_copy(seeded_home, tmp_path, monkeypatch)


@pytest.fixture
def make_app(backend: Backend) -> Callable[..., MlopsApp]:
    def build(config: TuiConfig = QUIET, start: str | None = None, on: Backend | None = None) -> MlopsApp:
        return MlopsApp(client=(on or backend).client, config=config, clock=fixed_clock, start=start)

    return build


async def settle(pilot: Pilot[int], rounds: int = 3) -> None:
    """Wait until the workers are done and the screen has caught up (a few rounds: a render can
    start a new worker, e.g. a page fetch), its tables' columns measured included."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
    steady_cursors(pilot)
    await tables_measured(pilot)
    screen = app.screen
    if isinstance(screen, View):
        assert screen.loaded or screen.last_error is not None, f"{screen} never loaded"


def steady_cursors(pilot: Pilot[int]) -> None:
    """Stop every input's cursor blinking, shown: a blink every 0.5 s would make a picture depend on how
    long the machine took to get there."""
    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
            field._cursor_visible = True  # noqa: SLF001 - Textual's own state (pausing the blink hides it)


async def tables_measured(pilot: Pilot[int], timeout: float = 10.0) -> None:
    """A DataTable measures new and changed cells (and widens its columns) when its queue is idle: a
    picture taken before that shows columns as wide as their headers. Wait until no table on the
    screen has cells left to measure."""
    deadline = time.monotonic() + timeout

    def tables() -> list[DataTable[Any]]:  # a modal's too, and those of the views it covers
        return [table for screen in pilot.app.screen_stack for table in screen.query(DataTable)]

    def pending() -> bool:
        return any(table._require_update_dimensions or table._updated_cells  # noqa: SLF001 - Textual's own state
                   for table in tables())

    while pending():
        assert time.monotonic() < deadline, "a table never measured its cells"
        await pilot.pause(0.01)
    for table in tables():
        # every row measured once more: a table refilled between two idle turns (a refresh landing just
        # then) was seen in CI drawn with columns as wide as their headers, its queue already empty
        table._update_dimensions(list(table.rows))  # noqa: SLF001 - Textual's own measuring
        # and its rendered lines dropped: `_update_dimensions` keeps the lines it cached when it drew the
        # rows before they were measured (seen under load: cells cut to their headers' widths)
        table._clear_caches()  # noqa: SLF001 - Textual's own caches
        table.refresh()  # a header line drawn before the measuring can be left as wide as its labels
    # Paint now, bottom screen first: a covered screen repaints on its own 60 Hz timer, which the
    # pilot's pause does not wait for, so a picture could show it as it was before the measuring.
    for screen in pilot.app.screen_stack:
        screen._on_timer_update()  # noqa: SLF001 - Textual's own repaint
    await pilot.pause()
