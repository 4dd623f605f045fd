"""The Alerts view (`7`, `:alerts`), the header's count of open alerts, and the Monitor view's alerts and
retrain panels, against the real backend holding churn-classifier's traffic, alerts (opened by the
backend's `open_alert`, acknowledged and resolved through the API) and retrain history
(tests/tui/seed.py `seed_alerts`)."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Label

from backend.services.alerts import open_alert
from mlops_tui.app import MlopsApp
from mlops_tui.contract.alerts import Alert, AlertKind, AlertStatus
from mlops_tui.contract.retrain import ShadowComparison
from mlops_tui.formatting import ago
from mlops_tui.screens.alerts import AlertsScreen, ResolveModal, alert_moment
from mlops_tui.screens.base import View
from mlops_tui.screens.monitor import MonitorScreen
from mlops_tui.widgets.alerts import alert_value, shadow_text
from mlops_tui.widgets.header import StatusHeader
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import ALERT_IDS, CONSOLE_USER, MINUTE, MODEL, NOW, NOW_MS, RETRAIN_ROWS, RUNNING_JOB, Backend, fixed_clock
from .test_flows import notices, row_keys, wait_until
from .test_snapshots import after

pytest.importorskip("backend.routers.alerts", reason="the alerts routes have not landed")  # until they do

SIZE = (120, 40)


def build(backend: Backend, start: str | None = None, **config: Any) -> MlopsApp:
    return MlopsApp(client=backend.client, config=replace(QUIET, **config), clock=fixed_clock, start=start)


def plain(widget: Any) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def cells(table: NavTable, key: str) -> list[str]:
    return [value.plain if isinstance(value, Text) else str(value) for value in table.get_row(key)]


def header_alerts(app: MlopsApp) -> str:
    """What the current view's header says about alerts ('' when it shows nothing)."""
    label = app.screen.query_one(StatusHeader).query_one("#alerts", Label)
    return plain(label).strip() if label.display else ""


async def open_alerts(pilot: Any) -> AlertsScreen:
    """The Alerts view: the start view (`mlops tui -e alerts`), else `7`."""
    await settle(pilot)
    if not isinstance(pilot.app.screen, AlertsScreen):
        await pilot.press("7")
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AlertsScreen)
    return screen


# -- the list --------------------------------------------------------------------------------------------
async def test_alerts_view_lists_open_first_with_their_columns(alerts_backend: Backend) -> None:
    app = build(alerts_backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.query_one("#alerts", NavTable)
        # open (newest first), then acknowledged, then resolved within the day; the one resolved 3 days ago is gone
        assert row_keys(table) == [ALERT_IDS[r] for r in ("accuracy-floor", "charges-drift", "latency-p95",
                                                          "error-rate")]
        assert [str(c.label) for c in table.ordered_columns] == ["MODEL", "RULE", "SEV", "STATUS", "SINCE",
                                                                 "VALUE VS LIMIT", "MESSAGE"]
        drift = cells(table, ALERT_IDS["charges-drift"])
        assert drift[:6] == [MODEL, "charges-drift", "‼ crit", "● open", "12m", "1.224 vs 0.25"]
        assert drift[6].startswith("monthly_charges drifted")
        assert cells(table, ALERT_IDS["latency-p95"])[2:6] == ["! warn", "◐ acked", "40m", "9.61 ms vs 8 ms"]
        assert cells(table, ALERT_IDS["error-rate"])[3:6] == ["✓ resolved", "3h00m", "5.1% vs 2%"]
        status = plain(screen.query_one("#status"))
        assert status == "2 open │ 1 acknowledged │ 1 resolved in 24h │ enter: the Monitor view then"
        detail = plain(screen.query_one("#alert-detail"))
        assert "accuracy-floor (accuracy)" in detail and "accuracy 0.731 < 0.75" in detail
        await pilot.press("j", "j", "j")
        await settle(pilot)
        detail = plain(screen.query_one("#alert-detail"))
        assert "resolved by alice 2h00m ago: the 422s come from a client" in detail


async def test_since_ticks_with_the_clock(alerts_backend: Backend) -> None:
    moments = [NOW]
    app = MlopsApp(client=alerts_backend.client, config=QUIET, clock=lambda: moments[-1])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.query_one("#alerts", NavTable)
        assert cells(table, ALERT_IDS["charges-drift"])[4] == "12m"
        requests = len(alerts_backend.switch.requests)
        moments.append(NOW + timedelta(minutes=50))
        screen._on_tick()  # noqa: SLF001 - the 5 s timer's callback, called at once
        assert cells(table, ALERT_IDS["charges-drift"])[4] == "1h02m"
        assert len(alerts_backend.switch.requests) == requests  # drawn again from what it had: no fetch


async def test_filter_narrows_by_words_and_esc_clears(alerts_backend: Backend) -> None:
    app = build(alerts_backend, "alerts")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await pilot.press("slash", *"warn open", "enter")
        await settle(pilot)
        assert row_keys(screen.query_one("#alerts", NavTable)) == [ALERT_IDS["accuracy-floor"]]
        await pilot.press("escape")
        await settle(pilot)
        assert len(row_keys(screen.query_one("#alerts", NavTable))) == 4 and app.screen is screen


# -- acting on one ------------------------------------------------------------------------------------------
async def test_a_acknowledges_as_the_console_user(alerts_backend: Backend) -> None:
    app = build(alerts_backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        assert header_alerts(app) == "▲ 2 open alerts"
        await pilot.press("j")  # charges-drift
        await pilot.press("a")
        await settle(pilot)
        found = await alerts_backend.seeder.get_alert(ALERT_IDS["charges-drift"])
        assert found.status == AlertStatus.ACKNOWLEDGED and found.acknowledged_by == CONSOLE_USER
        table = screen.query_one("#alerts", NavTable)
        assert cells(table, ALERT_IDS["charges-drift"])[3] == "◐ acked"
        assert row_keys(table)[0] == ALERT_IDS["accuracy-floor"]  # still open: still first
        assert header_alerts(app) == "▲ 1 open alert"
        assert "acknowledged charges-drift on churn-classifier" in notices(app)[-1]
        await pilot.press("a")  # the same one again: said, not sent
        await settle(pilot)
        assert alerts_backend.switch.count("POST", "/ack") == 1 and "already acknowledged by carol" in notices(app)[-1]


async def test_x_resolves_with_a_required_note(alerts_backend: Backend) -> None:
    app = build(alerts_backend, "alerts")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await pilot.press("x")  # accuracy-floor, the first row
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ResolveModal) and modal.alert.id == ALERT_IDS["accuracy-floor"]
        await pilot.press("enter")
        await settle(pilot)
        assert modal.error == "a note is required: say why it is resolved" and app.screen is modal
        await pilot.press(*"labels were late", "enter")
        await settle(pilot)
        assert app.screen is screen
        found = await alerts_backend.seeder.get_alert(ALERT_IDS["accuracy-floor"])
        assert (found.status, found.resolved_by, found.note) == (AlertStatus.RESOLVED, CONSOLE_USER, "labels were late")
        table = screen.query_one("#alerts", NavTable)
        assert cells(table, ALERT_IDS["accuracy-floor"])[3] == "✓ resolved"
        assert row_keys(table)[0] == ALERT_IDS["charges-drift"]
        assert header_alerts(app) == "▲ 1 open alert"


async def test_resolve_refused_by_the_server_stays_in_the_form(alerts_backend: Backend) -> None:
    app = build(alerts_backend, "alerts")
    async with app.run_test(size=SIZE) as pilot:
        await open_alerts(pilot)
        await pilot.press("x")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ResolveModal)
        await alerts_backend.seeder.resolve_alert(ALERT_IDS["accuracy-floor"], "someone else was faster")
        await pilot.press(*"mine", "enter")
        await settle(pilot)
        assert app.screen is modal and modal.error is not None and "resolved" in modal.error
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)


# -- enter: the Monitor view at the alert's moment -------------------------------------------------------------
async def test_enter_opens_the_monitor_at_the_alerts_moment_and_l_returns_to_live(alerts_backend: Backend) -> None:
    alert = await alerts_backend.seeder.get_alert(ALERT_IDS["charges-drift"])
    then = await alerts_backend.seeder.monitor(MODEL, "production", "15m", at=alert.opened_at)
    live = await alerts_backend.seeder.monitor(MODEL, "production", "15m")
    assert then.requests != live.requests and then.series[-1].minute < live.series[-1].minute
    app = build(alerts_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_alerts(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert (screen.model_name, screen.alias, screen.at, screen.window) == (MODEL, "production", alert.opened_at,
                                                                                "15m")
        title = plain(screen.query_one("#monitor-title"))
        assert title.startswith("◷ at 03-14 11:48 (12m ago; l: live)")
        assert f"{then.requests:,} requests" in title and screen.data is not None
        assert screen.data.status == then
        await pilot.press("l")
        await settle(pilot)
        assert screen.at is None and "◷" not in plain(screen.query_one("#monitor-title"))
        assert screen.data is not None and screen.data.status is not None
        assert screen.data.status.requests == live.requests
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)


async def test_monitor_at_a_past_moment_reads_only_what_came_before(alerts_backend: Backend) -> None:
    live = await alerts_backend.seeder.monitor(MODEL, "production", "15m")
    then = await alerts_backend.seeder.monitor(MODEL, "production", "15m", at=NOW_MS - 30 * MINUTE)
    assert live.rows and then.rows and then.rows < live.rows  # 2 requests a minute then, 3 and 10 lately
    assert then.sampled_rows == then.rows and then.performance.labeled == then.rows  # nothing after the moment
    assert all(feature.rows == then.rows for feature in then.drift)
    assert then.series[-1].minute == NOW_MS - 30 * MINUTE and live.series[-1].minute == NOW_MS
    # production held v2 (forced) from 55 to 40 minutes ago: the moment shows the version that answered then
    assert (await alerts_backend.seeder.monitor(MODEL, "production", "15m", at=NOW_MS - 50 * MINUTE)).version == 2
    assert live.version == then.version == 1


async def test_monitor_without_at_answers_as_before(alerts_backend: Backend) -> None:
    now = await alerts_backend.seeder.monitor(MODEL, "production", "1h", at=NOW_MS)
    plain_answer = await alerts_backend.seeder.monitor(MODEL, "production", "1h")
    assert now == plain_answer  # `at` = now: the same answer


# -- the header, on every view ---------------------------------------------------------------------------------
async def test_header_counts_open_alerts_on_every_view_and_follows_changes(alerts_backend: Backend) -> None:
    app = build(alerts_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen = {}
        for key in "1234567":
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, View)
            seen[type(app.screen).__name__] = header_alerts(app)
        app.run_command(f"monitor {MODEL}")
        await settle(pilot)
        seen[type(app.screen).__name__] = header_alerts(app)
        assert len(seen) == 8 and set(seen.values()) == {"▲ 2 open alerts"}, seen
        alerts_backend.clock.ms = NOW_MS
        assert open_alert(alerts_backend.db, model=MODEL, rule="errors-now", kind=AlertKind.ERROR_RATE,
                          message="error rate 9% > 2%", value=0.09, threshold=0.02) is not None
        await pilot.press("r")  # a refresh counts again (so does the health check every few seconds)
        await settle(pilot)
        assert header_alerts(app) == "▲ 3 open alerts"


async def test_header_count_polls_with_the_health_check(alerts_backend: Backend) -> None:
    app = build(alerts_backend, health_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert header_alerts(app) == "▲ 2 open alerts"
        for rule in ("accuracy-floor", "charges-drift"):
            await alerts_backend.seeder.resolve_alert(ALERT_IDS[rule], "handled elsewhere")
        await wait_until(pilot, lambda: header_alerts(app) == "")
        assert app.backend_state.alerts is not None and app.backend_state.alerts.open == 0


async def test_header_shows_nothing_without_alerts(traffic_backend: Backend) -> None:
    app = build(traffic_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.backend_state.alerts is not None and app.backend_state.alerts.open == 0
        assert header_alerts(app) == ""


# -- the Monitor view's alerts and retrains -----------------------------------------------------------------------
async def test_monitor_shows_active_alerts_and_the_retrain_history(alerts_backend: Backend) -> None:
    pytest.importorskip("backend.routers.retrain", reason="the retrain routes have not landed")  # until they do
    app = build(alerts_backend, f"monitor {MODEL}")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        line = plain(screen.query_one("#alerts-line"))
        assert line.startswith("▲ 3 active alerts: accuracy-floor ! open 4m 0.7307 vs 0.75 · charges-drift ‼ open 12m")
        assert "latency-p95 ! acked 40m" in line
        assert screen.query_one("#drift").display and "drift" in plain(screen.query_one("#panel-strip"))
        await pilot.press("right_square_bracket")
        await settle(pilot)
        alerts = screen.query_one("#model-alerts", NavTable)
        assert alerts.display and not screen.query_one("#drift").display
        assert row_keys(alerts) == [ALERT_IDS[r] for r in ("accuracy-floor", "charges-drift", "latency-p95",
                                                           "error-rate", "no-traffic")]
        assert plain(screen.query_one("#drift-title")) == "Alerts: 3 active of 5, open first"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        retrains = screen.query_one("#retrains", NavTable)
        assert retrains.display and retrains.has_focus
        assert row_keys(retrains) == [row["id"] for row in sorted(RETRAIN_ROWS, key=lambda r: r["ago"])]
        assert cells(retrains, "7e7a00000004")[:6] == ["2m", "drift", "▸ running", "-", "-", RUNNING_JOB[:8]]
        assert cells(retrains, "7e7a00000002")[1:] == [
            "manual", "… approval", "v3", "staging", "b0b0cafe", "every gate passed; production waits for approval"]
        assert cells(retrains, "7e7a00000001")[2:4] == ["✗ rejected", "v2"]
        assert plain(screen.query_one("#lower-detail")) == "drift (alert charges-drift) by system on churn@3: running"
        await pilot.press("j", "j")
        await settle(pilot)
        assert plain(screen.query_one("#lower-detail")) == (
            "manual (by alice) by alice on churn@2: approval · every gate passed; production waits for approval")
        await pilot.press("right_square_bracket")  # no shadow runs: back to the drift table
        await settle(pilot)
        assert screen.panel == "drift" and screen.query_one("#drift").display


# -- the pure parts -------------------------------------------------------------------------------------------
def alert(**fields: Any) -> Alert:
    base = {"id": "x", "model": "m", "rule": "r", "kind": "drift", "severity": "warning", "status": "open",
            "message": "", "opened_at": NOW_MS - 10 * MINUTE}
    return Alert.model_validate({**base, **fields})


def test_alert_moment_fits_the_window_to_the_breach() -> None:
    assert alert_moment(alert(window_start=NOW_MS - 25 * MINUTE)) == (NOW_MS - 10 * MINUTE, "15m")
    assert alert_moment(alert(window_start=NOW_MS - 50 * MINUTE)) == (NOW_MS - 10 * MINUTE, "1h")
    assert alert_moment(alert(window_start=NOW_MS - 3 * 86_400_000)) == (NOW_MS - 10 * MINUTE, "24h")
    assert alert_moment(alert()) == (NOW_MS - 10 * MINUTE, None)


def test_values_read_in_their_unit_beside_the_limit() -> None:
    assert alert_value(alert(kind="latency_p95", value=120.0, last_value=130.0, threshold=100.0)) == "130 ms vs 100 ms"
    assert alert_value(alert(kind="error_rate", status="resolved", value=0.051, last_value=0.0,
                             threshold=0.02)) == "5.1% vs 2%"  # resolved: the value it opened with
    assert alert_value(alert(kind="no_traffic", value=0.0)) == "0 req"
    assert alert_value(alert()) == "-"


def test_ago_is_coarse_enough_not_to_flicker() -> None:
    assert [ago(NOW_MS - ms, NOW) for ms in (0, 59_000, 61_000, 3_599_000, 3_600_000, 90_000_000)] == [
        "0s", "59s", "1m", "59m", "1h00m", "1d01h"]
    assert ago(None, NOW) == "-"


def test_shadow_reads_side_by_side() -> None:
    comparison = ShadowComparison.model_validate({
        "model": MODEL, "alias": "production", "shadow_alias": "staging", "since": NOW_MS - 30 * MINUTE,
        "rows": 400, "agreement": 0.9625, "verdict": "ok",
        "champion": {"version": 1, "rows": 400, "errors": 1, "latency_p50_ms": 2.0, "latency_p95_ms": 4.5,
                     "estimated": {"accuracy": 0.73}, "actual": {"accuracy": 0.72}, "labeled": 100},
        "shadow": {"version": 3, "rows": 400, "errors": 0, "latency_p50_ms": 2.5, "latency_p95_ms": 5.0,
                   "estimated": {"accuracy": 0.79}, "actual": {"accuracy": 0.8}, "labeled": 100}})
    lines = shadow_text(comparison, NOW).plain.splitlines()
    assert lines[0] == "production v1 vs staging v3 in shadow for 30m: ✓ ok · agreement 96.2% on 400 rows"
    assert lines[1].split() == ["champion", "v1", "shadow", "v3"]
    rows = {line[:16].strip(): line[16:].split() for line in lines[2:]}
    assert rows["rows"] == ["400", "400"] and rows["p50/p95"] == ["2/4.5", "ms", "2.5/5", "ms"]
    assert rows["accuracy est."] == ["0.73", "0.79"] and rows["accuracy"] == ["0.72", "0.8"]


def test_header_text_reads_without_colour() -> None:
    from mlops_tui.contract.alerts import AlertSummary
    from mlops_tui.widgets.header import alerts_text

    assert alerts_text(None).plain == "" and alerts_text(AlertSummary(open=0, acknowledged=3, critical=1)).plain == ""
    critical = alerts_text(AlertSummary(open=2, acknowledged=0, critical=1))
    assert critical.plain == "▲ 2 open alerts" and "red" in str(critical.spans[0].style)
    assert "yellow" in str(alerts_text(AlertSummary(open=1, acknowledged=0, critical=0)).spans[0].style)


# -- pictures --------------------------------------------------------------------------------------------------
SNAPSHOTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "alerts": ("alerts", ()),
    "alerts_resolve": ("alerts", ("x", *"labels were late")),
    "monitor_alerts": (f"monitor {MODEL}", ("right_square_bracket",)),
    "monitor_retrains": (f"monitor {MODEL}", ("right_square_bracket", "right_square_bracket")),
    "monitor_at_alert": ("alerts", ("j", "enter")),
}
SNAPSHOT_CASES = [pytest.param(name, size, id=f"{name}-{w}x{h}") for name in SNAPSHOTS
                  for size in ([(80, 24), (120, 40)] if name in ("alerts", "monitor_retrains") else [(80, 24)])
                  for w, h in [size]]


@pytest.mark.parametrize(("name", "size"), SNAPSHOT_CASES)
def test_alerts_screen(snap_compare: Any, alerts_backend: Backend, name: str, size: tuple[int, int]) -> None:
    start, keys = SNAPSHOTS[name]
    assert snap_compare(build(alerts_backend, start), terminal_size=size, run_before=after(*keys))

