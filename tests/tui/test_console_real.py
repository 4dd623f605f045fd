"""The console against the REAL backend in-process (`create_app` on a temporary home, reached by the
real async client over httpx's ASGITransport): what users type and what the backend stores are
real, so these need no fake. Escapes, the `:` bar's checks, the palette and artifact previews."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label

from backend import Settings, create_app
from mlops_tui import api
from mlops_tui.app import MlopsApp
from mlops_tui.client import AsyncClient
from mlops_tui.contract import Run
from mlops_tui.screens.command import CommandBar
from mlops_tui.screens.dataset_detail import DatasetDetailScreen
from mlops_tui.screens.overview import OverviewScreen
from mlops_tui.screens.preview import PREVIEW_BYTES, ArtifactPreview, byte_range, preview_of
from mlops_tui.screens.run_detail import RunDetailScreen
from mlops_tui.screens.runs import RunsScreen
from mlops_tui.widgets.header import StatusHeader
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import fixed_clock

SIZE = (80, 24)
ESCAPES = "\x1b[2J\x1b]0;pwned\x07"
"""Clear the screen, then set the window title: what a hostile name would do to a terminal."""
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncClient]:
    backend = create_app(Settings(home=tmp_path / "home", token=None, run_jobs=False))
    real = AsyncClient(url="http://localhost", transport=httpx.ASGITransport(app=backend))
    yield real
    await real.aclose()
    backend.state.db.close()


@pytest.fixture
def console(client: AsyncClient) -> Callable[..., MlopsApp]:
    def build(start: str | None = None) -> MlopsApp:
        return MlopsApp(client=client, config=QUIET, clock=fixed_clock, start=start)
    return build


async def finished_run(client: AsyncClient, experiment: str, name: str, **batch: object) -> Run:
    run = await client.send(api.create_run(experiment=experiment, name=name))
    await client.send(api.log_batch(run.id, **batch))  # type: ignore[arg-type]
    return await client.send(api.update_run(run.id, status="FINISHED"))


def screen_text(app: MlopsApp) -> str:
    return app.export_screenshot()


async def test_names_with_terminal_escapes_show_escaped(console: Callable[..., MlopsApp],
                                                        client: AsyncClient) -> None:
    run = await finished_run(client, f"exp{ESCAPES}", f"run{ESCAPES}", params={"lr": f"0.1{ESCAPES}"},
                             tags={"note": ESCAPES}, metrics=[{"key": "acc", "value": 0.5, "step": 0}])
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        experiments = overview.query_one("#experiments", NavTable)
        cells = [str(cell) for row in experiments.ordered_rows for cell in experiments.get_row(row.key)]
        assert f"exp{SHOWN}" in cells
        latest = overview.query_one("#latest", NavTable)
        assert str(latest.get_row(run.id)[0]) == f"run{SHOWN}"[:23] + "…"  # escaped, then cut to fit
        picture = screen_text(app)
        assert "\x1b" not in picture and "\x07" not in picture
        assert "\\x1b[2J" in picture
        await pilot.press("colon", *f"run {run.id}", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run is not None
        crumb = str(detail.query_one(StatusHeader).query_one("#crumb").render())
        assert crumb == f"mlops ▸ Run › run{SHOWN}"
        assert f"run{SHOWN}" in str(detail.query_one("#run-title").render())
        params = detail.query_one("#params", NavTable)
        assert [str(cell) for cell in params.get_row("p:lr")] == ["param", "lr", f"0.1{SHOWN}"]
        assert [str(cell) for cell in params.get_row("t:note")] == ["tag", "note", SHOWN]
        picture = screen_text(app)
        assert "\x1b" not in picture and "\x07" not in picture


async def test_tab_completes_the_shared_prefix_then_cycles(console: Callable[..., MlopsApp],
                                                           client: AsyncClient) -> None:
    for experiment in ("churn", "churn-v2", "fraud"):
        await finished_run(client, experiment, f"{experiment}-run")
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await settle(pilot)
        bar = app.screen
        assert isinstance(bar, CommandBar)
        field, hint = bar.query_one(Input), bar.query_one("#command-hint", Label)
        await pilot.press("r", "tab")
        assert field.value == "run"  # `runs` and `run` agree on `run`
        await pilot.press("tab")
        assert field.value == "runs" and str(hint.render()) == "[runs]  run"
        await pilot.press("tab")
        assert field.value == "run"
        await pilot.press("shift+tab")
        assert field.value == "runs"
        await pilot.press(*" ch", "tab")
        assert field.value == "runs churn"  # as far as churn and churn-v2 agree
        await pilot.press("tab")
        assert field.value == "runs churn-v2" and str(hint.render()) == "churn  [churn-v2]"
        await pilot.press("tab")
        assert field.value == "runs churn"
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and app.screen.query_state.experiment == "churn-v2"


async def pick_in_palette(pilot: Pilot[int], typed: str) -> None:
    app = pilot.app
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*typed)
    deadline = time.monotonic() + 15
    options = app.screen.query_one(CommandList)
    while not (options.option_count and typed.split()[-1] in str(options.get_option_at_index(0).prompt)):
        assert time.monotonic() < deadline, "the palette never offered it"
        await pilot.pause(0.05)
    await pilot.press("down", "enter")
    await settle(pilot)


async def test_the_palette_jumps_to_experiments_runs_jobs_and_datasets_by_name(
        console: Callable[..., MlopsApp], client: AsyncClient) -> None:
    await finished_run(client, "churn", "warm-start")
    target = await finished_run(client, "fraud", "gradient-boost")
    await client.add_dataset_version("spend", "spend.csv", b"a,b\n1,2\n3,4\n")
    app = console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pick_in_palette(pilot, "experiment fraud")
        assert isinstance(app.screen, RunsScreen) and app.screen.query_state.experiment == "fraud"
        await pick_in_palette(pilot, "gradient-boost")
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == target.id
        await pick_in_palette(pilot, target.id[:8])  # a run by its id
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == target.id
        await pick_in_palette(pilot, "dataset spend")
        assert isinstance(app.screen, DatasetDetailScreen)


async def open_artifact(pilot: Pilot[int], detail: RunDetailScreen, path: str) -> ArtifactPreview:
    table = detail.query_one("#artifacts", NavTable)
    table.move_cursor(row=table.get_row_index(path))
    table.focus()
    await pilot.press("enter")
    await settle(pilot)
    preview = pilot.app.screen
    assert isinstance(preview, ArtifactPreview) and preview.preview is not None
    return preview


async def test_enter_on_an_artifact_file_previews_it(console: Callable[..., MlopsApp], client: AsyncClient) -> None:
    run = await finished_run(client, "churn", "with-files")
    log = "".join(f"epoch {i} loss {1 / (i + 1):.4f}\n" for i in range(5000)) + f"done {ESCAPES}\n"
    files = {"metrics.json": b'{"acc": 0.91, "per_class": {"yes": 0.8}}',
             "head.csv": b"age,plan\n34,pro\n51,free\n",
             "train.log": log.encode(),  # > 64 KiB: only its end is fetched
             "model.bin": b"\x00\x01skops\xff" * 10}
    for path, content in files.items():
        await client.send(api.upload_artifact(run.id, path, content))
    assert len(files["train.log"]) > PREVIEW_BYTES
    assert await client.download_artifact(run.id, "train.log", "-12") == files["train.log"][-12:]
    assert len(await client.download_artifact(run.id, "train.log", f"0-{PREVIEW_BYTES - 1}")) == PREVIEW_BYTES
    app = console(start=f"run {run.id}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)

        preview = await open_artifact(pilot, detail, "metrics.json")
        assert preview.preview is not None and preview.preview.kind == "json"
        assert preview.preview.lines[:3] == ["{", '  "acc": 0.91,', '  "per_class": {']
        await pilot.press("escape")
        assert app.screen is detail

        preview = await open_artifact(pilot, detail, "head.csv")
        table = preview.query_one("#preview-table", NavTable)
        assert [str(c.label) for c in table.ordered_columns] == ["age", "plan"]
        assert [str(cell) for cell in table.get_row("1")] == ["51", "free"]
        await pilot.press("q")

        preview = await open_artifact(pilot, detail, "train.log")
        assert preview.preview is not None and preview.preview.kind == "text"
        assert preview.preview.lines[-1] == f"done {ESCAPES}" and "epoch 0 " not in preview.preview.lines[0]
        assert preview.preview.note.startswith("last 64.0 KB of 111.2 KB")
        shown = str(preview.query_one("#preview-text").render())
        assert f"done {SHOWN}" in shown and "\x1b" not in shown
        await pilot.press("escape")

        preview = await open_artifact(pilot, detail, "model.bin")
        assert preview.preview is not None and preview.preview.kind == "binary"
        assert preview.preview.note == "binary file (80 B): not shown"


def test_a_preview_asks_only_for_the_bytes_it_shows() -> None:
    assert byte_range("notes.md", 10) is None
    assert byte_range("big.json", PREVIEW_BYTES + 1) == f"0-{PREVIEW_BYTES - 1}"
    assert byte_range("train.log", PREVIEW_BYTES + 1) == f"-{PREVIEW_BYTES}"
    head = preview_of("a.json", b'{"a": [1, 2', 100)  # cut JSON: text, not a parse error
    assert head.kind == "text" and head.note.startswith("first")
    assert preview_of("x.txt", "é".encode() * 10, 20).kind == "text"
    assert preview_of("x.txt", "é".encode()[1:] + b"ok\nfine", 100).lines == ["fine"]
