"""Pilot tests of the console's flows at 80×24, against the real backend (tests/tui/seed.py): they
assert on the app's state (which view, which rows, which query, what the banner says), not only on pixels."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, TabbedContent

from mlops_tui.app import MlopsApp
from mlops_tui.keymap import KEY_SPECS
from mlops_tui.screens.command import CommandBar
from mlops_tui.screens.compare import CompareScreen
from mlops_tui.screens.experiments import ExperimentsScreen
from mlops_tui.screens.help import HelpScreen
from mlops_tui.screens.overview import OverviewScreen
from mlops_tui.screens.run_detail import RunDetailScreen
from mlops_tui.screens.runs import RunsScreen
from mlops_tui.widgets.banner import UnreachableBanner
from mlops_tui.widgets.charts import MetricChart
from mlops_tui.widgets.filter_bar import FilterBar
from mlops_tui.widgets.grid import RunGrid
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import Backend, add_plain_runs, add_run, all_runs, run_id

SIZE = (80, 24)
AppFactory = Callable[..., MlopsApp]


M = TypeVar("M", bound=Message)


def unique(messages: Iterable[M]) -> list[M]:
    """Messages once each (the hook sees a message again at every node it bubbles through)."""
    return list({id(m): m for m in messages}.values())


async def wait_until(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let timers fire until `condition` holds (a loaded machine may be slow, never wrong)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await pilot.pause(0.05)


def notices(app: MlopsApp) -> list[str]:
    """The texts of the notifications (toasts) the app raised, oldest first."""
    return [n.message for n in app._notifications]  # noqa: SLF001 - Textual keeps them here


def row_keys(table: NavTable | RunGrid) -> list[str]:
    if isinstance(table, RunGrid):
        return list(table.keys)
    return [str(row.key.value) for row in table.ordered_rows]


async def test_open_shows_overview(make_app: AppFactory, backend: Backend) -> None:
    runs = await all_runs(backend)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        assert row_keys(screen.query_one("#experiments", NavTable)) == ["churn", "fraud", "churn-models"]
        latest = row_keys(screen.query_one("#latest", NavTable))
        assert latest[0] == run_id(11)  # newest first
        failed = screen.query_one("#failed", NavTable)
        assert all(r.status == "FAILED" for r in runs.values() if r.id in row_keys(failed))
        assert app.backend_state.up is True
        assert app.backend_state.last_refresh is not None


async def test_navigate_with_number_keys_enter_and_back(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentsScreen)
        await pilot.press("j", "k", "enter")  # down, up, open churn
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.query_state.experiment == "churn"
        await pilot.press("escape")
        assert isinstance(app.screen, ExperimentsScreen)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and app.screen.query_state.experiment is None
        assert len(app.screen_stack) == 3  # default, overview, runs: number keys do not pile views up
        await pilot.press("q")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_filter_good_then_esc_clears_then_goes_back(make_app: AppFactory, backend: Backend) -> None:
    app = make_app(start="runs churn")
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        everything = row_keys(screen.table)
        await pilot.press("slash")
        await pilot.press(*"metrics.acc > 0.9")
        await pilot.press("enter")
        applied = unique(m for m in messages if isinstance(m, FilterBar.Applied))
        assert [m.text for m in applied] == ["metrics.acc > 0.9"]
        await settle(pilot)
        assert screen.query_state.filter == "metrics.acc > 0.9"
        shown = row_keys(screen.table)
        assert shown and len(shown) < len(everything)
        by_id = await all_runs(backend)
        assert all(by_id[key].metrics["acc"] > 0.9 for key in shown)
        assert not screen.query_one(FilterBar).is_open
        assert screen.total == len(shown)
        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        assert screen.query_state.filter is None
        assert row_keys(screen.table) == everything
        await pilot.press("escape")  # then goes back
        assert isinstance(app.screen, OverviewScreen)


async def test_bad_filter_shows_the_error_and_keeps_the_table(make_app: AppFactory) -> None:
    app = make_app(start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        before = row_keys(screen.table)
        await pilot.press("slash", *"metrics.acc >> 1", "enter")
        await settle(pilot)
        bar = screen.query_one(FilterBar)
        assert bar.is_open and bar.error and "position" in bar.error
        assert screen.query_state.filter is None
        assert row_keys(screen.table) == before
        assert screen.query_one(Input).has_focus
        await pilot.press("escape")  # closes the bar, nothing applied
        assert not bar.is_open and isinstance(app.screen, RunsScreen)


async def test_drill_into_a_run_tabs_chart_and_artifacts(make_app: AppFactory) -> None:
    app = make_app(start="runs churn")
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("j", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        selected = unique(m for m in messages if isinstance(m, RunGrid.RowSelected))
        assert [m.key for m in selected] == [row_keys(runs.table)[1]]  # what happened: one row opened
        assert detail.run is not None and detail.run.id == row_keys(runs.table)[1]
        assert set(row_keys(detail.query_one("#metrics", NavTable))) == set(detail.run.metrics)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert detail.query_one(TabbedContent).active == "tab-charts"
        chart = detail.query_one("#chart", MetricChart)
        assert chart.series and len(chart.series[0].steps) == 20 and chart.series[0].label == "acc"
        await pilot.press("j")  # next metric in the picker: loss
        await settle(pilot)
        assert detail.metric == "loss" and chart.series[0].label == "loss"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert detail.query_one(TabbedContent).active == "tab-artifacts"
        assert row_keys(detail.query_one("#artifacts", NavTable)) == ["confusion.png", "model/"]  # the server's order
        await pilot.press("j", "enter")  # into model/
        await settle(pilot)
        assert row_keys(detail.query_one("#artifacts", NavTable)) == ["..", "model/model.skops"]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        environment = row_keys(detail.query_one("#environment", NavTable))
        assert "git.commit" in environment and "package numpy" in environment
        await pilot.press("q")
        assert app.screen is runs


async def test_mark_and_compare(make_app: AppFactory) -> None:
    app = make_app(start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("c")
        assert isinstance(app.screen, RunsScreen)  # fewer than two marked: a notice, no compare
        assert notices(app) == ["mark at least two runs with space, then press c"]
        await pilot.press("space", "space", "space")
        assert len(runs.marked) == 3
        await pilot.press("k", "space")  # unmark the third
        assert len(runs.marked) == 2
        marked = list(runs.marked)
        await pilot.press("c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        assert [r.id for r in compare.runs] == marked
        params = compare.query_one("#compare-params", NavTable)
        assert set(row_keys(params)) == {"depth", "lr", "model"}
        await pilot.press("right_square_bracket")
        await settle(pilot)
        metrics = compare.query_one("#compare-metrics", NavTable)
        acc = [str(cell) for cell in metrics.get_row("acc")[1:]]
        assert sum(cell.startswith("★") for cell in acc) == 1
        best = max(compare.runs, key=lambda r: r.metrics["acc"])
        assert acc[[r.id for r in compare.runs].index(best.id)].startswith("★")
        await pilot.press("right_square_bracket")
        await settle(pilot)
        chart = compare.query_one("#compare-chart", MetricChart)
        assert len(chart.series) == 2  # both curves overlaid
        await pilot.press("escape")
        assert app.screen is runs and len(runs.marked) == 2


async def test_help_lists_every_binding_with_its_remapped_key(make_app: AppFactory) -> None:
    app = make_app(config=replace(QUIET, keys={"runs.mark": "x"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(NavTable)
        assert set(row_keys(table)) == set(KEY_SPECS)
        assert str(table.get_row("runs.mark")[0]) == "x"
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_remapped_key_works(make_app: AppFactory) -> None:
    app = make_app(config=replace(QUIET, keys={"runs.mark": "x", "nav.down": "n"}), start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await pilot.press("x", "n")
        assert len(screen.marked) == 1
        assert screen.table.cursor_row == 2


async def test_command_bar_jumps_and_completes(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await settle(pilot)
        assert isinstance(app.screen, CommandBar)
        await pilot.press(*"exp")
        await pilot.pause()
        await pilot.press("tab")
        assert app.screen.query_one(Input).value == "experiments"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentsScreen)
        await pilot.press("colon", *"runs fr")
        await pilot.pause()
        await pilot.press("tab")
        assert app.screen.query_one(Input).value == "runs fraud"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and app.screen.query_state.experiment == "fraud"
        await pilot.press("colon", *"nonsense", "enter")
        await settle(pilot)  # the notice is posted after the bar closes: a single pause can miss it under load
        assert isinstance(app.screen, RunsScreen)  # unknown command: a notice, nothing else
        assert len(notices(app)) == 1 and notices(app)[0].startswith("no view called 'nonsense'; try :overview")


async def test_backend_down_then_back(make_app: AppFactory, backend: Backend) -> None:
    app = make_app(start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        rows = row_keys(screen.table)
        backend.switch.down = True
        await pilot.press("r")
        await settle(pilot)
        assert app.backend_state.up is False
        assert screen.query_one(UnreachableBanner).has_class("-shown")
        assert row_keys(screen.table) == rows  # the last data stays on screen
        await add_run(backend, 99, "churn")
        backend.switch.down = False
        calls = len(backend.switch.requests)
        await wait_until(pilot, lambda: app.backend_state.up is True)  # health retries every 0.2 s
        await settle(pilot)
        assert app.backend_state.up is True
        assert not screen.query_one(UnreachableBanner).has_class("-shown")
        assert "POST /api/v1/runs/search" in backend.switch.requests[calls:]  # the view fetched again by itself
        assert run_id(99) in row_keys(screen.table)


async def test_large_experiment_is_paged_and_g_G_reach_both_ends(make_app: AppFactory,
                                                                  empty_backend: Backend) -> None:
    await add_plain_runs(empty_backend, "churn", 1000)
    runs = [run_id(i) for i in range(1000)]
    app = make_app(on=empty_backend, start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert screen.total == 1000
        assert screen.table.row_count <= 4 * 50
        for _ in range(12):
            await pilot.press("pagedown")
            await settle(pilot)
            assert screen.table.row_count <= 4 * 50
        position = screen.window.position(screen.table.cursor_row, screen.total)
        assert position is not None and position > 100
        key = screen.table.cursor_key
        assert key is not None and runs[999 - position] == key  # newest first
        await pilot.press("G")
        await settle(pilot)
        assert screen.table.cursor_key == runs[0]  # the oldest run, fetched from the tail
        assert screen.window.position(screen.table.cursor_row, screen.total) == 999
        await pilot.press("pageup", "pageup", "pageup", "pageup")
        await settle(pilot)
        position = screen.window.position(screen.table.cursor_row, screen.total)
        assert position is not None and screen.table.cursor_key == runs[999 - position]
        await pilot.press("g")
        await settle(pilot)
        assert screen.table.cursor_key == runs[999]


async def test_sort_reverse_and_pick(make_app: AppFactory, backend: Backend) -> None:
    app = make_app(start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        newest_first = row_keys(screen.table)
        await pilot.press("S")
        await settle(pilot)
        assert row_keys(screen.table) == newest_first[::-1]
        await pilot.press("s")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        index = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == "metrics.acc")
        options.highlighted = index
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_state.sort == "metrics.acc" and screen.query_state.descending
        by_id = await all_runs(backend)
        accs = [by_id[k].metrics["acc"] for k in row_keys(screen.table)]
        assert accs == sorted(accs, reverse=True)


async def test_running_run_refreshes_on_the_live_timer(make_app: AppFactory, backend: Backend) -> None:
    running = (await all_runs(backend))[run_id(11)]
    assert running.status == "RUNNING"
    app = make_app(config=replace(QUIET, live_seconds=0.2), start=f"run {running.id}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        before = backend.switch.count("GET", "/metrics/")
        await wait_until(pilot, lambda: backend.switch.count("GET", "/metrics/") >= before + 2)


async def test_a_wrong_argument_in_the_command_bar_says_so_once_and_stays(make_app: AppFactory) -> None:
    app = make_app(start="runs churn")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        stack = list(app.screen_stack)
        tries = [("run zzzzzzzz", "run 'zzzzzzzz' not found"),
                 ("run 3f2a", "run ids need at least 6 characters: '3f2a' is too short"),
                 ("jobs zzzz", "job 'zzzz' not found"),
                 ("jobs zz", "job ids need at least 4 characters: 'zz' is too short"),
                 ("runs nosuch", "experiment 'nosuch' not found"),
                 ("datasets churn@9", "dataset version churn@9 not found"),
                 ("datasets nosuch", "dataset 'nosuch' not found")]
        for line, said in tries:
            app.clear_notifications()
            await pilot.press("colon", *line, "enter")
            await settle(pilot)
            assert app.screen_stack == stack, line  # stayed where it was
            assert len(notices(app)) == 1 and notices(app)[0].startswith(said), (line, notices(app))
        await pilot.press("r")  # a refresh later: no new notice, nothing stuck on "loading…"
        await settle(pilot)
        assert len(notices(app)) == 1
        run = run_id(0)
        await pilot.press("colon", *f"run {run[:6]}", "enter")  # a 6-character prefix is enough
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run is not None and detail.run.id == run


async def test_a_start_view_that_does_not_exist_leaves_the_overview(make_app: AppFactory) -> None:
    app = make_app(start="runs nosuch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        await wait_until(pilot, lambda: bool(notices(app)))  # a notice is posted, then shown
        assert notices(app) == ["experiment 'nosuch' not found"]


async def test_overview_keeps_the_newest_run_in_view_and_names_fit(make_app: AppFactory, backend: Backend) -> None:
    long_name = "RandomForestClassifier-candidate-17"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        latest = overview.query_one("#latest", NavTable)
        newest = await add_run(backend, 99, "churn", name=long_name)
        await pilot.press("r")
        await settle(pilot)
        assert latest.cursor_key == newest.id and latest.cursor_row == 0 and latest.scroll_y == 0
        assert str(latest.get_row(newest.id)[0]) == "RandomForestClassifier-…"  # cut to fit 80 columns
        failed = overview.query_one("#failed", NavTable)
        for table in (latest, failed):  # every column shows whole: the status reads FAILED, not FAIL
            assert sum(column.get_render_width(table) for column in table.ordered_columns) <= table.size.width
        latest.move_cursor(row=2)  # the user moved: a refresh keeps their row
        chosen = latest.cursor_key
        await add_run(backend, 100, "churn")
        await pilot.press("r")
        await settle(pilot)
        assert latest.cursor_key == chosen and latest.cursor_row == 3


async def test_a_cell_updated_in_place_widens_its_column() -> None:
    """Rows kept by key are updated cell by cell; a longer value must widen its column, not be
    cut to the old width (the overview once read `chu  ✗ FAIL`)."""
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield NavTable(id="t")

    app = One()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NavTable)
        table.set_columns([("name", "RUN", None), ("status", "STATUS", None)])
        table.sync_rows([("a", ["x", "-"])])
        await pilot.pause()
        table.sync_rows([("a", ["RandomForestClassifier-3", "✗ FAILED"])])
        await pilot.pause()
        widths = [column.get_render_width(table) - 2 * table.cell_padding for column in table.ordered_columns]
        assert widths == [len("RandomForestClassifier-3"), len("✗ FAILED")]
