"""The Monitor view and the overview's health line, against the real backend holding an hour of
churn-classifier@production's traffic (tests/tui/seed.py `seed_traffic`: real predictions through the
predict route, drifted in the last 15 minutes, with feedback labels; fixed times and latencies)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Label, Static

from mlops_tui.app import MlopsApp
from mlops_tui.contract.monitoring import DriftStatus, FeatureDrift, MonitorStatus
from mlops_tui.formatting import DRIFT_GLYPHS, drift_cell, number
from mlops_tui.screens.model_detail import ModelScreen
from mlops_tui.screens.models import ModelsScreen
from mlops_tui.screens.monitor import MonitorData, MonitorScreen, worst_first
from mlops_tui.screens.overview import OverviewScreen, health_cells
from mlops_tui.widgets.monitoring import Sparklines, spark, squeeze
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import MODEL, Backend, fixed_clock
from .test_flows import SIZE, notices, row_keys, wait_until
from .test_snapshots import after

MONITOR_PATH = f"/api/v1/models/{MODEL}/monitor"


def build(backend: Backend, start: str | None = None, **config: Any) -> MlopsApp:
    return MlopsApp(client=backend.client, config=replace(QUIET, **config), clock=fixed_clock, start=start)


def plain(widget: Label | Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def cells(table: NavTable, key: str) -> list[str]:
    return [value.plain if isinstance(value, Text) else str(value) for value in table.get_row(key)]


async def open_monitor(pilot: Any, start_keys: tuple[str, ...] = ()) -> MonitorScreen:
    await settle(pilot)
    for key in start_keys:
        await pilot.press(key)
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MonitorScreen)
    return screen


# -- what the view shows -----------------------------------------------------------------------------
async def test_monitor_shows_drift_worst_first_sparklines_and_accuracy(traffic_backend: Backend) -> None:
    status = await traffic_backend.seeder.monitor(MODEL)
    statuses = [f.status for f in status.drift]
    assert DriftStatus.DRIFT in statuses and DriftStatus.WARN in statuses and DriftStatus.OK in statuses
    app = build(traffic_backend, f"monitor {MODEL}")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_monitor(pilot)
        assert screen.alias is None and f"production → v{status.version}" in plain(screen.query_one("#monitor-title"))
        assert f"{status.requests:,} requests" in plain(screen.query_one("#monitor-title"))
        table = screen.query_one("#drift", NavTable)
        ranks = {DriftStatus.DRIFT: 0, DriftStatus.WARN: 1, DriftStatus.OK: 2, DriftStatus.TOO_FEW: 3}
        expected = sorted(status.drift, key=lambda f: (ranks[f.status], -(f.psi or 0.0)))
        assert row_keys(table) == [f.feature for f in expected]
        for feature in status.drift:
            row = cells(table, feature.feature)
            assert row[1] == DRIFT_GLYPHS[feature.status][0] and row[2] == number(feature.psi)
            assert row[4].startswith(number(feature.p_value))
        assert cells(table, expected[0].feature)[1] == "▲ drift"
        assert "2 drifting, 1 warn of 6 features" in plain(screen.query_one("#drift-title"))

        lines = screen.query_one(Sparklines).drawing().plain.splitlines()
        assert [line.split()[0] for line in lines] == ["req/s", "p50", "p95", "p99", "errors"]
        busy = [point.requests > 0 for point in status.series]
        requests_line = lines[0][7:7 + len(status.series)]
        assert [cell != " " for cell in lines[1][7:7 + len(status.series)]] == busy  # no latency without traffic
        assert requests_line[busy.index(True) - 1] == "▁" and max(requests_line) == "█"
        errors_line = lines[4][7:7 + len(status.series)]
        assert [cell not in " ▁" for cell in errors_line] == [point.errors > 0 for point in status.series]

        performance = plain(screen.query_one("#performance"))
        accuracy = next(line for line in performance.splitlines() if line.startswith("accuracy"))
        assert accuracy.split() == ["accuracy", number(status.performance.actual["accuracy"]),
                                    number(status.performance.estimated["accuracy"]),
                                    number(status.performance.training["accuracy"])]
        assert f"{status.performance.labeled:,} labeled rows" in performance
        predictions = plain(screen.query_one("#predictions")).splitlines()
        assert predictions[0].split() == ["training", "live"]
        assert status.prediction_distribution is not None
        assert [line.split()[0] for line in predictions[1:]] == status.prediction_distribution.labels


async def test_window_keys_ask_for_that_window(traffic_backend: Backend) -> None:
    fifteen = await traffic_backend.seeder.monitor(MODEL, window="15m")
    app = build(traffic_backend, f"monitor {MODEL}")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(pilot)
        assert "window 1h" in plain(screen.query_one("#monitor-title"))
        await pilot.press("f")
        await settle(pilot)
        assert screen.window == "15m" and "window 15m" in plain(screen.query_one("#monitor-title"))
        table = screen.query_one("#drift", NavTable)
        assert cells(table, "usage_gb")[1] == DRIFT_GLYPHS[next(
            f.status for f in fifteen.drift if f.feature == "usage_gb")][0] == "▲ drift"  # a warning over 1h
        await pilot.press("d")
        await settle(pilot)
        assert "window 24h" in plain(screen.query_one("#monitor-title"))
        await pilot.press("h")
        await settle(pilot)
        assert "window 1h" in plain(screen.query_one("#monitor-title"))


# -- how it opens ------------------------------------------------------------------------------------
async def test_m_opens_the_monitor_from_the_models_list_and_the_model(traffic_backend: Backend) -> None:
    app = build(traffic_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        screen = await open_monitor(pilot, ("m",))
        assert screen.model_name == MODEL and screen.loaded and screen.query_one("#monitor-body").display
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ModelScreen)
        screen = await open_monitor(pilot, ("m",))
        assert screen.model_name == MODEL and isinstance(app.screen_stack[-2], ModelScreen)


async def test_command_bar_monitor_takes_an_alias_and_says_what_is_missing(traffic_backend: Backend) -> None:
    app = build(traffic_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.run_command(f"monitor {MODEL}@staging")
        screen = await open_monitor(pilot)
        assert screen.alias == "staging" and not screen.query_one("#monitor-body").display
        assert "No traffic yet" in plain(screen.query_one("#monitor-empty"))
        assert "staging → v3" in plain(screen.query_one("#monitor-title"))

        app.run_command(f"monitor {MODEL}@canary")
        screen = await open_monitor(pilot)
        empty = plain(screen.query_one("#monitor-empty"))
        assert screen.alias == "canary" and f"{MODEL}@canary points at no version" in empty
        assert not notices(app)  # said in the view, not as an error every 2 s

        for line, message in ((f"monitor {MODEL}/2", "not a version number"), ("monitor nosuch", "nosuch"),
                              ("monitor", ":monitor needs a model")):
            app.run_command(line)
            await settle(pilot)
            assert message in notices(app)[-1] and app.screen is screen


async def test_palette_and_completion_know_the_models_aliases(traffic_backend: Backend) -> None:
    from mlops_tui.screens.command import CommandBar

    app = build(traffic_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"monitor c")
        await settle(pilot)
        bar = app.screen
        assert isinstance(bar, CommandBar)
        assert bar.suggester.candidates("monitor c") == [f"monitor {MODEL}", f"monitor {MODEL}@production",
                                                        f"monitor {MODEL}@staging"]


# -- the refresh beat ---------------------------------------------------------------------------------
async def test_a_beat_during_a_fetch_is_skipped_not_queued(traffic_backend: Backend) -> None:
    switch = traffic_backend.switch
    app = build(traffic_backend, f"monitor {MODEL}", live_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(pilot)
        await wait_until(pilot, lambda: switch.count("GET", MONITOR_PATH) >= 2)  # the beat fetches again
        switch.hold = asyncio.Event()
        sent = switch.count("GET", MONITOR_PATH)
        await wait_until(pilot, lambda: switch.count("GET", MONITOR_PATH) == sent + 1)  # one fetch is held
        skipped = screen.skipped_ticks
        await wait_until(pilot, lambda: screen.skipped_ticks >= skipped + 3)
        assert switch.count("GET", MONITOR_PATH) == sent + 1  # the beats while it waits started none
        switch.hold.set()
        switch.hold = None
        await wait_until(pilot, lambda: switch.count("GET", MONITOR_PATH) >= sent + 2)
        assert screen.last_error is None


# -- the overview's health line ---------------------------------------------------------------------
async def test_overview_shows_the_production_health_in_the_models_line(traffic_backend: Backend) -> None:
    health = next(h for h in (await traffic_backend.seeder.monitoring_health()).models
                  if h.model == MODEL and h.alias == "production")
    assert health.requests_per_second > 0 and health.p95_ms and health.error_rate > 0 and health.drifting > 0
    app = build(traffic_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        row = cells(app.screen.query_one("#production", NavTable), MODEL)
        assert row[4:] == health_cells(health)
        assert row[4:] == [f"{health.requests_per_second:.3g}", f"{health.p95_ms:.3g}ms",
                           f"{health.error_rate * 100:.2g}%", f"▲ {health.drifting}"]
        assert plain(app.screen.query_one("#title-models")) == "Models (1, 1 in production, 1 drifting)"


# -- the pure parts --------------------------------------------------------------------------------------
def feature(name: str, status: DriftStatus, psi: float | None) -> FeatureDrift:
    return FeatureDrift(feature=name, kind="numeric", rows=500, psi=psi, p_value=None, status=status)


def test_worst_first_orders_by_verdict_then_psi() -> None:
    features = [feature("a", DriftStatus.OK, 0.05), feature("b", DriftStatus.TOO_FEW, None),
                feature("c", DriftStatus.DRIFT, 0.3), feature("d", DriftStatus.WARN, 0.12),
                feature("e", DriftStatus.DRIFT, 0.9), feature("f", DriftStatus.OK, 0.07)]
    assert [f.feature for f in worst_first(features)] == ["e", "c", "d", "f", "a", "b"]


def test_drift_glyphs_read_without_colour() -> None:
    assert [drift_cell(status).plain for status in DriftStatus] == ["✓ ok", "! warn", "▲ drift", "… too few"]


def test_sparkline_blocks_scale_and_squeeze() -> None:
    assert spark([None, 0.0, 1.0, 2.0, 4.0]) == " ▁▂▄█"
    assert spark([1.0, 2.0], top=4.0) == "▂▄"
    assert spark([0.0, 0.01, 8.0]) == "▁▂█"  # a little is never drawn as nothing
    assert squeeze([1.0, 3.0, None, None, 2.0, 8.0], 3) == [3.0, None, 8.0]
    assert squeeze([1.0, 2.0], 5) == [1.0, 2.0]


def test_status_without_traffic_is_an_empty_state() -> None:
    screen = MonitorScreen(MODEL, "production")
    quiet = MonitorStatus.model_validate({
        "model": MODEL, "alias": "production", "version": 1, "window": "1h", "since": 0, "requests": 0,
        "errors": 0, "rows": 0, "requests_per_second": 0.0, "latency_ms": {"p50": None, "p95": None, "p99": None},
        "drift": [], "performance": {"task": None, "labeled": 0, "actual": {}, "estimated": {}}})
    assert "No traffic yet" in (screen._empty_reason(MonitorData(quiet)) or "")  # noqa: SLF001
    assert "points at no version" in (screen._empty_reason(  # noqa: SLF001
        MonitorData(quiet.model_copy(update={"version": None}))) or "")


# -- pictures (latencies and times are fixed by the seed, so nothing here changes run to run) --------
SNAPSHOTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "monitor": (f"monitor {MODEL}", ()),
    "monitor_15m": (f"monitor {MODEL}", ("f",)),
    "monitor_no_traffic": (f"monitor {MODEL}@staging", ()),
    "monitor_no_alias": (f"monitor {MODEL}@canary", ()),
    "overview_health": (None, ()),
}
SNAPSHOT_CASES = [pytest.param(name, size, id=f"{name}-{w}x{h}") for name in SNAPSHOTS
                  for size in ([(80, 24), (120, 40)] if name in ("monitor", "overview_health") else [(80, 24)])
                  for w, h in [size]]


@pytest.mark.parametrize(("name", "size"), SNAPSHOT_CASES)
def test_monitor_screen(snap_compare: Any, traffic_backend: Backend, name: str, size: tuple[int, int]) -> None:
    start, keys = SNAPSHOTS[name]
    assert snap_compare(build(traffic_backend, start), terminal_size=size, run_before=after(*keys))
