"""Untrusted text in the console: an experiment, a run and a tag named with terminal escape sequences (set the
window title, clear the screen) and a right-to-left override are drawn escaped (`\\x1b]0;pwned\\x07`,
`\\u202e`), never sent raw to the terminal: in the Textual pilot, and in tmux with the real `mlops tui`
(the pane's title stays, the screen is not cleared)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, LiveServer, start_backend, stop_process

from mlops_tui import Client, api
from mlops_tui.formatting import safe_text
from mlops_tui.screens.experiments import ExperimentsScreen
from mlops_tui.screens.runs import RunsScreen

from .conftest import QUIET, settle
from .seed import Backend, fixed_clock

TITLE_AND_CLEAR = "\x1b]0;pwned\x07\x1b[2J"
"""Sets the terminal's title to `pwned`, then clears the screen: if it ever reached the terminal raw."""
BIDI = "\u202egnp.exe"
"""Reads as `exe.png` when a terminal honours the override."""
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


def screen_text(app: object) -> str:
    return app.export_screenshot()  # type: ignore[attr-defined, no-any-return]


async def test_hostile_names_are_drawn_escaped_in_every_list(empty_backend: Backend) -> None:
    from mlops_tui.app import MlopsApp

    seeder = empty_backend.seeder
    experiment = f"exp{TITLE_AND_CLEAR}"
    await seeder.send(api.create_experiment(experiment, None))
    run = await seeder.send(api.create_run(experiment, f"{BIDI}{TITLE_AND_CLEAR}", {"note": TITLE_AND_CLEAR}, None))
    app = MlopsApp(client=empty_backend.client, config=QUIET, clock=fixed_clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        shown = screen_text(app)
        assert "pwned" in shown and not any(raw in shown for raw in RAW)
        assert safe_text(TITLE_AND_CLEAR)[:14] in shown  # `\x1b]0;pwned\x07`, visible
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentsScreen)
        shown = screen_text(app)
        assert "exp\\x1b]0;pwned\\x07" in shown and not any(raw in shown for raw in RAW)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        shown = screen_text(app)
        assert "\\u202egnp.exe" in shown and not any(raw in shown for raw in RAW)
        app.run_command(f"run {run.id}")
        await settle(pilot, rounds=5)
        shown = screen_text(app)
        assert "\\u202egnp.exe" in shown and not any(raw in shown for raw in RAW)


def _tmux(server: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True).stdout


def _wait_for(server: str, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(server, "capture-pane", "-p", "-t", "tui")
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; screen was:\n{screen}")


def _go(server: str, key: str, crumb: str) -> str:
    """Press `key` until the view whose header reads `crumb` is shown (a key typed while the terminal is
    still answering the console's start-up queries can be lost)."""
    for _ in range(3):
        _tmux(server, "send-keys", "-t", "tui", key)
        try:
            return _wait_for(server, crumb, timeout=10)
        except AssertionError:
            continue
    return _wait_for(server, crumb, timeout=1)


@pytest.fixture
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: on the shared one, other tests' newer runs push these off the overview."""
    home = tmp_path_factory.mktemp("hostile-home")
    server = start_backend(home, home.parent / f"{home.name}.log")
    with Client(server.url, token="") as client:
        experiment = f"tmux-{uuid.uuid4().hex[:6]}{TITLE_AND_CLEAR}"
        client.create_experiment(experiment)
        run = client.create_run(experiment, name=f"{BIDI}{TITLE_AND_CLEAR}")
        client.update_run(run.id, status="FINISHED")
    yield server
    stop_process(server.process)


def test_the_real_console_in_tmux_never_sends_them_raw(hostile_server: LiveServer, tmp_path: Path) -> None:
    assert shutil.which("tmux"), "this test needs tmux: apt-get install -y tmux (.ci/run installs it)"
    server = f"mlops-authui-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLOPS_URL": hostile_server.url, "TEXTUAL_ANIMATIONS": "none", "NO_COLOR": "1",
           "MLOPS_CONFIG": str(tmp_path / "none.toml"), "TERM": "xterm-256color"}
    env.pop("MLOPS_TOKEN", None)
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24",
                    f"{sys.executable} -m mlops_tui.cli.main tui"], env=env, check=True, cwd=ROOT)
    try:
        screen = _wait_for(server, "Latest runs")
        _tmux(server, "select-pane", "-t", "tui", "-T", "before")  # a raw OSC 0 would retitle the pane
        assert "\\x1b]0;pwned" in _wait_for(server, "\\u202egnp.exe")  # both on the overview
        _go(server, "2", "mlops ▸ Experiments")
        screen = _wait_for(server, "pwned\\x07\\x1b[2J  1")  # the row drawn after the escaped name
        assert "mlops ▸ Experiments" in screen and "NAME" in screen  # header and table: nothing cleared them
        _go(server, "3", "mlops ▸ Runs")
        screen = _wait_for(server, "\\u202egnp.exe")
        assert "mlops ▸ Runs" in screen
        title = _tmux(server, "display", "-p", "-t", "tui", "#{pane_title}").strip()
        assert "pwned" not in title and title == "before", title
    finally:
        _tmux(server, "kill-server")
        Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", server).unlink(missing_ok=True)
