"""Fixtures of the console's tests: a fake client with fixed data, a fixed clock, no animations."""
from __future__ import annotations

import os
import tempfile

os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read when textual is first imported
os.environ["MLOPS_CONFIG"] = "/home/you/.config/mlops-tui/config.toml"  # shown by the help screen
# the runs view's remembered columns: never the user's file, and empty at the start of every session
os.environ["MLOPS_TUI_STATE"] = os.path.join(tempfile.mkdtemp(prefix="mlops-tui-state-"), "columns.json")

from collections.abc import Callable  # noqa: E402

import pytest  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from mlops_tui.app import MlopsApp  # noqa: E402
from mlops_tui.config import TuiConfig  # noqa: E402
from mlops_tui.screens.base import View  # noqa: E402

from .fakes import FakeClient, fixed_clock  # noqa: E402

QUIET = TuiConfig(refresh_seconds=3600, live_seconds=3600, health_seconds=3600, retry_seconds=0.2, page_size=50)
"""Timers that never fire during a test, so what is drawn depends only on what the test does."""


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def make_app(fake: FakeClient) -> Callable[..., MlopsApp]:
    def build(client: FakeClient | None = None, config: TuiConfig = QUIET, start: str | None = None) -> MlopsApp:
        return MlopsApp(client=client or fake, config=config, clock=fixed_clock, start=start)

    return build


async def settle(pilot: Pilot[int], rounds: int = 3) -> None:
    """Wait until the workers are done and the screen has caught up (a few rounds: a render can
    start a new worker, e.g. a page fetch)."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
    screen = app.screen
    if isinstance(screen, View):
        assert screen.loaded or screen.last_error is not None, f"{screen} never loaded"
