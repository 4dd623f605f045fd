"""A model's live health (`m` on a model, `:monitor NAME[@ALIAS]`): traffic, latency and errors as
sparklines over the last hour, drift per feature against the training reference (worst first), the
predictions beside training's, and live accuracy (actual from feedback labels, estimated before).
A line under the title names the model's active alerts; the lower panel shows, in turn (`]`, `[`), the
drift table, the model's alerts, its retrain history (trigger, job, version, outcome, why) and, while a
new version runs in shadow, the champion beside the shadow.

It refreshes on a fixed `live_seconds` beat (2 s); a beat that finds the last fetch still running is
skipped, so fetches never overlap however slow the backend is. `f`, `h`, `d` pick the window (15 min,
1 hour, 24 hours); the sparklines always cover the hour before the moment shown. Opened from an alert,
it shows the moment the alert opened (the title says so); `l` returns it to live.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Label, Static

from ..client import MlopsError
from ..contract.alerts import ACTIVE_STATUSES, Alert
from ..contract.monitoring import DriftStatus, FeatureDrift, MonitorStatus, Performance
from ..contract.retrain import Retrain, ShadowComparison
from ..formatting import ALERT_GLYPHS, DRIFT_GLYPHS, SEVERITY_GLYPHS, ago, drift_cell, number, plural, safe_text, when
from ..keymap import bindings, key_label
from ..widgets.alerts import (
    MODEL_ALERT_COLUMNS,
    RETRAIN_COLUMNS,
    alert_value,
    last_column_width,
    model_alert_cells,
    retrain_cells,
    retrain_detail,
    shadow_text,
)
from ..widgets.monitoring import Sparklines, SparkSeries, distribution_text, mean
from ..widgets.tables import NavTable
from .base import View

WINDOWS = ("15m", "1h", "24h")
"""The windows the keys pick (the first fetch uses the model's own default)."""

DRIFT_RANK = {DriftStatus.DRIFT: 0, DriftStatus.WARN: 1, DriftStatus.OK: 2, DriftStatus.TOO_FEW: 3}


def worst_first(features: list[FeatureDrift]) -> list[FeatureDrift]:
    """`drift`, then `warn`, `ok`, `too few`; within each, the largest PSI first, then by name."""
    return sorted(features, key=lambda f: (DRIFT_RANK[f.status], -(f.psi if f.psi is not None else -1.0),
                                           f.feature))


def drift_cells(feature: FeatureDrift) -> list[object]:
    limits = "-" if feature.warn_at is None or feature.drift_at is None else \
        f"{number(feature.warn_at)}/{number(feature.drift_at)}"
    test = f" {feature.test}" if feature.test and feature.p_value is not None else ""
    return [feature.feature, drift_cell(feature.status), number(feature.psi), limits,
            number(feature.p_value) + test, number(feature.distance), f"{feature.rows:,}"]


DRIFT_COLUMNS = [("feature", "FEATURE", None), ("status", "STATUS", None), ("psi", "PSI", None),
                 ("limits", "WARN/DRIFT", None), ("p", "P-VALUE", None), ("distance", "DISTANCE", None),
                 ("rows", "ROWS", None)]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def rate(value: float) -> str:
    return f"{value:.3g}/s"


def percent(part: int, whole: int) -> str:
    return "-" if whole <= 0 else f"{100 * part / whole:.2g}%"


def traffic_series(status: MonitorStatus) -> list[SparkSeries]:
    """Requests/s, p50, p95, p99 and the error rate, a value per minute of the last hour; a minute
    without requests has no latency nor error rate (None), and the latencies share one scale."""
    points = status.series
    latency_top = max((p.p99 or p.p95 or p.p50 or 0.0 for p in points), default=0.0) or None
    latency = status.latency_ms
    return [
        SparkSeries("req/s", [p.requests / 60 for p in points], rate(status.requests_per_second), aggregate=mean),
        SparkSeries("p50", [p.p50 for p in points], ms(latency.p50), top=latency_top),
        SparkSeries("p95", [p.p95 for p in points], ms(latency.p95), top=latency_top),
        SparkSeries("p99", [p.p99 for p in points], ms(latency.p99), top=latency_top),
        SparkSeries("errors", [p.errors / p.requests if p.requests else None for p in points],
                    percent(status.errors, status.requests)),
    ]


def performance_text(performance: Performance) -> Text:
    """Each metric: the live value from feedback labels, the estimate from the served probabilities,
    the training holdout's; a line says what is missing when there are no labels yet."""
    names = list(dict.fromkeys([*performance.actual, *performance.estimated]))
    text = Text(no_wrap=True, overflow="ellipsis")
    if performance.labeled:
        text.append(f"{plural(performance.labeled, 'labeled row')}", style="bold")
    else:
        text.append("no feedback labels yet", style="bold")
    if performance.estimated:
        text.append(f" · estimated on {performance.estimated_rows:,}")
    if not names:
        text.append("\npredict with ?proba=true for an estimate,\nsend labels for accuracy "
                    "(POST …/feedback)")
        return text
    text.append(f"\n{'':<9}{'actual':>8}{'estimated':>10}{'training':>9}", style="dim")
    for name in names:
        actual, estimated, trained = (performance.actual.get(name), performance.estimated.get(name),
                                      performance.training.get(name))
        text.append(f"\n{safe_text(name)[:9]:<9}")
        text.append(f"{number(actual):>8}", style="bold")
        text.append(f"{number(estimated):>10}{number(trained):>9}")
    return text


PANELS = ("drift", "alerts", "retrains", "shadow")
"""The lower panel's contents, in the order `]` shows them."""
RETRAINS_SHOWN = 20


@dataclass(frozen=True)
class MonitorData:
    """What one fetch brought: the status, or why there is none (the model or alias is gone); the
    model's alerts, retrains and shadow comparison (None: the backend has none to give)."""

    status: MonitorStatus | None
    missing: str | None = None
    alerts: list[Alert] | None = None
    retrains: list[Retrain] | None = None
    shadow: ShadowComparison | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    """Panel → why the backend gave nothing for it (a backend without alerts or retrains)."""


def alerts_line(alerts: list[Alert], now: Any) -> Text:
    """`▲ 2 active alerts: charges-drift ‼ ● 12m 1.224 vs 0.25 · latency ! ◐ 3m 120 ms vs 100 ms`."""
    active = [a for a in alerts if a.status in ACTIVE_STATUSES]
    text = Text(no_wrap=True, overflow="ellipsis")
    if not active:
        return text
    critical = any(a.severity == "critical" for a in active)
    text.append("▲", style="bold red" if critical else "bold yellow")
    text.append(f" {plural(len(active), 'active alert')}: ", style="bold")
    for index, alert in enumerate(active):
        if index:
            text.append(" · ")
        text.append(safe_text(alert.rule), style="bold")
        severity, status = SEVERITY_GLYPHS[alert.severity], ALERT_GLYPHS[alert.status]
        text.append(f" {severity[0]}", style=severity[2])
        text.append(f" {status[1]} {ago(alert.opened_at, now)} {alert_value(alert)}")
    return text


class MonitorScreen(View[MonitorData]):
    """The live view of one model (one alias, or the backend's default when none is named)."""

    view_name = "monitor"
    RENDER_ON_RESIZE = True
    BINDINGS: ClassVar[list[BindingType]] = bindings("monitor")

    def __init__(self, name: str, alias: str | None = None, at: int | None = None,
                 window: str | None = None) -> None:
        super().__init__()
        self.model_name = name
        self.alias = alias
        self.at = at
        """Epoch ms of the past moment shown (an alert's); None: live."""
        self.window: str | None = window
        """None: the model's default window (its `[monitor]` table), until a key picks one."""
        self.panel = PANELS[0]
        """The lower panel shown."""
        self.data: MonitorData | None = None
        self._drift_title = Text("Drift")
        self.ticks = 0
        self.skipped_ticks = 0
        """Beats that found the previous fetch still running (so none was started)."""
        self._beat: Timer | None = None
        self._error_shown: str | None = None

    @property
    def target(self) -> str:
        return f"{self.model_name}@{self.alias}" if self.alias else self.model_name

    @property
    def crumb(self) -> str:
        return f"Monitor › {self.target}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="monitor-title")
        yield Label("", classes="status-line", id="alerts-line")
        yield Static("", id="monitor-empty", classes="empty")
        with Vertical(id="monitor-body"):
            yield Label("Traffic, last hour: a block per minute, newest right", classes="section-title",
                        id="traffic-title")
            yield Sparklines(id="traffic")
            with Horizontal(id="monitor-middle"):
                with Vertical(id="predictions-panel"):
                    yield Label("Predictions", classes="section-title", id="predictions-title")
                    yield Static("", id="predictions")
                with Vertical(id="performance-panel"):
                    yield Label("Performance", classes="section-title", id="performance-title")
                    yield Static("", id="performance")
        with Vertical(id="monitor-lower"):  # shown without traffic too: the alerts and retrains still say something
            with Horizontal(id="lower-titles"):
                yield Label("Drift", classes="section-title", id="drift-title")
                yield Label("", classes="section-title", id="panel-strip")
            yield NavTable(id="drift", classes="lower")
            yield NavTable(id="model-alerts", classes="lower")
            yield NavTable(id="retrains", classes="lower")
            yield Static("", id="shadow", classes="lower")
            yield Label("", classes="status-line", id="lower-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#drift", NavTable).set_columns(DRIFT_COLUMNS)
        self.query_one("#model-alerts", NavTable).set_columns(MODEL_ALERT_COLUMNS)
        self.query_one("#retrains", NavTable).set_columns(RETRAIN_COLUMNS)
        self.query_one("#monitor-body").display = False
        self.query_one("#monitor-lower").display = False
        self.query_one("#monitor-empty").display = False
        self.query_one("#alerts-line").display = False
        self._show_panel()

    # -- the beat: a fetch every live_seconds, skipped while one runs --------------------------
    def refresh_seconds(self) -> float:
        return self.mlops.config.live_seconds

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self._stop_beat()
        self._beat = self.set_interval(self.refresh_seconds(), self._on_beat)

    def on_screen_suspend(self) -> None:
        super().on_screen_suspend()
        self._stop_beat()

    def _stop_beat(self) -> None:
        if self._beat is not None:
            self._beat.stop()
            self._beat = None

    def _arm_timer(self) -> None:
        """The beat drives the refresh: no one-shot timer after a fetch."""

    def _on_beat(self) -> None:
        if self.app.screen is not self or self.mlops.backend_state.up is False:
            return
        self.ticks += 1
        if self._fetching:
            self.skipped_ticks += 1
            return
        self.request_refresh()

    # -- data --------------------------------------------------------------------------------
    async def fetch(self) -> MonitorData:
        """The status, the model's alerts, retrains and shadow, asked for together."""
        client, name = self.client, self.model_name
        status, alerts, retrains, shadow = await asyncio.gather(
            client.monitor(name, self.alias, self.window, self.at), client.list_alerts(model=name, limit=50),
            client.list_retrains(name, limit=RETRAINS_SHOWN), client.shadow(name), return_exceptions=True)
        for answer in (status, alerts, retrains, shadow):
            if isinstance(answer, MlopsError) and answer.unreachable:
                raise answer
            if isinstance(answer, BaseException) and not isinstance(answer, MlopsError):
                raise answer
        unavailable: dict[str, str] = {}
        found = MonitorData(
            None, alerts=self._optional(alerts, "alerts", unavailable),
            retrains=self._optional(retrains, "retrains", unavailable),
            shadow=None if isinstance(shadow, BaseException) else shadow, unavailable=unavailable)
        if isinstance(status, MlopsError):
            if status.status == 404 or (status.status == 422 and status.field == "alias"):
                return replace(found, missing=status.message)  # no such alias, or none to watch: said in the view
            raise status
        assert not isinstance(status, BaseException)
        return replace(found, status=status)

    @staticmethod
    def _optional(answer: Any, panel: str, unavailable: dict[str, str]) -> Any:
        """A panel's list, or None with why in `unavailable` (the backend refused: it has none to give)."""
        if isinstance(answer, MlopsError):
            unavailable[panel] = answer.message
            return None
        return getattr(answer, panel)

    def on_fetch_error(self, error: MlopsError) -> None:
        """A refused fetch is said once (not every 2 s) and stays on the title line until one succeeds."""
        if error.unreachable:
            super().on_fetch_error(error)
            return
        self.query_one("#monitor-title", Label).update(Text(f"✗ {safe_text(error.message)}"))
        if error.message != self._error_shown:
            self._error_shown = error.message
            super().on_fetch_error(error)

    def render_data(self, data: MonitorData) -> None:
        self._error_shown = None
        self.data = data
        self._render_lifecycle(data)
        status = data.status
        empty = self._empty_reason(data)
        self.query_one("#monitor-empty", Static).update(Text(empty or ""))
        self.query_one("#monitor-empty").display = empty is not None
        self.query_one("#monitor-body").display = empty is None and status is not None
        self.query_one("#monitor-lower").display = True
        self.query_one("#monitor-title", Label).update(self._title(status))
        if status is None or empty is not None:
            return
        self.query_one("#traffic", Sparklines).show(traffic_series(status))
        self._render_predictions(status)
        performance = status.performance
        self.query_one("#performance-title", Label).update(
            "Performance" + (f" ({performance.task})" if performance.task else ""))
        self.query_one("#performance", Static).update(performance_text(performance))
        self._render_drift(status)

    def _title(self, status: MonitorStatus | None) -> Text:
        """`production → v3 · window 1h · 6,123 requests, 18 errors, 7,000 rows` (the crumb names the model)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.at is not None:
            now = self.mlops.clock()
            text.append(f"◷ at {when(self.at, now.tzinfo)} ({ago(self.at, now)} ago; "
                        f"{key_label('monitor.live', self.mlops.config.keys)}: live)", style="bold reverse")
            text.append(" ")
        if status is None:
            text.append(safe_text(self.target), style="bold")
            return text
        text.append(safe_text(status.alias) if status.alias else "every alias", style="bold")
        text.append(f" → v{status.version}" if status.version is not None else " → no version")
        text.append(f" · window {safe_text(status.window)} · {plural(status.requests, 'request')}, "
                    f"{plural(status.errors, 'error')}, {plural(status.rows, 'row')}")
        if status.dropped:
            text.append(f" · {status.dropped:,} records dropped", style="bold")
        return text

    def _empty_reason(self, data: MonitorData) -> str | None:
        """Why there is nothing to draw, in words, or None when there is."""
        status = data.status
        if status is None:
            return f"{safe_text(data.missing or self.target + ': not found')}\n\n" \
                   "Check the name and the alias in the models view (6); this view keeps asking every few seconds."
        if status.version is None and not status.requests:
            return f"{safe_text(self.target)} points at no version: nothing is served under it.\n\n" \
                   "Promote a version to it (p in the model's view), then send predictions."
        if not status.requests and not any(point.requests for point in status.series):
            alias = status.alias or "ALIAS"
            return (f"No traffic yet for {safe_text(status.model)}@{safe_text(alias)} in the last hour.\n\n"
                    f"Send predictions: mlops predict {safe_text(status.model)}@{safe_text(alias)} --input rows.csv,\n"
                    f"or mlops monitor replay {safe_text(status.model)}@{safe_text(alias)} traffic.csv "
                    "--label-column y (with labels).")
        return None

    def _render_predictions(self, status: MonitorStatus) -> None:
        title = "Predictions"
        drift = status.prediction_drift
        if drift is not None:
            title += f": {DRIFT_GLYPHS[drift.status][0]}"
            title += f", PSI {number(drift.psi)}" if drift.psi is not None else ""
        self.query_one("#predictions-title", Label).update(Text(title))
        box = self.query_one("#predictions", Static)
        distribution = status.prediction_distribution
        if distribution is None or not distribution.labels:
            box.update(Text("no predictions sampled in the window", style="dim"))
            return
        width = box.content_size.width or (self.size.width // 2 - 2)
        box.update(distribution_text(distribution, width))

    def _render_drift(self, status: MonitorStatus) -> None:
        features = worst_first(status.drift)
        counts = {kind: sum(f.status == kind for f in features) for kind in DriftStatus}
        title = f"Drift: {counts[DriftStatus.DRIFT]} drifting, {counts[DriftStatus.WARN]} warn" \
                f" of {plural(len(features), 'feature')}, worst first"
        if status.sampled_rows:
            title += f" · on {plural(status.sampled_rows, 'sampled row')}"
        self._drift_title = Text(title, no_wrap=True, overflow="ellipsis")
        self.query_one("#drift-title", Label).update(self._panel_title())
        self.query_one("#drift", NavTable).sync_rows([(f.feature, drift_cells(f)) for f in features])

    # -- alerts, retrains, shadow ------------------------------------------------------------
    def _render_lifecycle(self, data: MonitorData) -> None:
        now = self.mlops.clock()
        line = alerts_line(data.alerts or [], now)
        self.query_one("#alerts-line", Label).update(line)
        self.query_one("#alerts-line").display = bool(line)
        alerts, retrains = data.alerts or [], data.retrains or []
        table = self.query_one("#model-alerts", NavTable)
        width = self._last_width(table, MODEL_ALERT_COLUMNS, [model_alert_cells(a, now) for a in alerts])
        table.sync_rows([(alert.id, model_alert_cells(alert, now, width)) for alert in alerts])
        table = self.query_one("#retrains", NavTable)
        width = self._last_width(table, RETRAIN_COLUMNS, [retrain_cells(r, now) for r in retrains])
        table.sync_rows([(retrain.id, retrain_cells(retrain, now, width)) for retrain in retrains])
        self.query_one("#shadow", Static).update(
            shadow_text(data.shadow, now) if data.shadow is not None else
            Text("No shadow runs: a retrain policy's `shadow = \"1h\"` runs a new staging version beside "
                 "production on live requests before it may be promoted.", style="dim"))
        if self.panel == "shadow" and data.shadow is None:
            self.panel = PANELS[0]
        self._show_panel()

    def _last_width(self, table: NavTable, columns: list[tuple[str, str, None]], rows: list[list[object]]) -> int:
        """The last column's width in `table` (the message, the why): what the others leave, at least 12."""
        return last_column_width(table.size.width or self.size.width or 80, [label for _, label, _ in columns],
                                 rows, 12) or 12

    def _show_lower_detail(self) -> None:
        """Under the alerts and retrains panels: the row under the cursor in full (its message, its why)."""
        line = self.query_one("#lower-detail", Label)
        data, found = self.data, Text()
        if data is not None and self.panel == "alerts":
            key = self.query_one("#model-alerts", NavTable).cursor_key
            alert = next((a for a in data.alerts or [] if a.id == key), None)
            found = Text(safe_text(alert.message), no_wrap=True, overflow="ellipsis") if alert else found
        elif data is not None and self.panel == "retrains":
            key = self.query_one("#retrains", NavTable).cursor_key
            retrain = next((r for r in data.retrains or [] if r.id == key), None)
            found = retrain_detail(retrain) if retrain else found
        line.update(found)
        line.display = bool(found)

    def on_data_table_row_highlighted(self, event: Any) -> None:
        self._show_lower_detail()

    def panels(self) -> list[str]:
        """The panels `]` goes through: the shadow only while one runs."""
        shadow = self.data is not None and self.data.shadow is not None
        return [panel for panel in PANELS if panel != "shadow" or shadow]

    def _panel_title(self) -> Text:
        data = self.data
        if self.panel == "alerts":
            alerts = data.alerts if data is not None else None
            if alerts is None:
                why = data.unavailable.get("alerts", "") if data is not None else ""
                return Text(f"Alerts: none to show{': ' + safe_text(why) if why else ''}")
            active = sum(a.status in ACTIVE_STATUSES for a in alerts)
            return Text(f"Alerts: {active} active of {len(alerts)}, open first")
        if self.panel == "retrains":
            retrains = data.retrains if data is not None else None
            if retrains is None:
                why = data.unavailable.get("retrains", "") if data is not None else ""
                return Text(f"Retrains: none to show{': ' + safe_text(why) if why else ''}")
            if not retrains:
                return Text("Retrains: none yet ([retrain] in the pipeline file: on_drift, schedule, on_new_data)")
            return Text(f"Retrains: the last {plural(len(retrains), 'trigger')}, newest first")
        if self.panel == "shadow":
            return Text("Shadow: champion and shadow on the same requests")
        return self._drift_title

    def _strip(self) -> Text:
        """`] drift · alerts 2 · retrains 3`: where `]` goes, the panel shown in reverse."""
        data = self.data
        counts = {"alerts": sum(a.status in ACTIVE_STATUSES for a in (data.alerts or [])) if data else 0,
                  "retrains": len(data.retrains or []) if data else 0}
        text = Text(no_wrap=True)
        text.append(f"{key_label('monitor.next_panel', self.mlops.config.keys)} ", style="dim")
        for index, panel in enumerate(self.panels()):
            if index:
                text.append(" ")
            label = panel + (f" {counts[panel]}" if counts.get(panel) else "")
            text.append(f" {label} ", style="reverse" if panel == self.panel else "")
        return text

    def _show_panel(self) -> None:
        ids = {"drift": "#drift", "alerts": "#model-alerts", "retrains": "#retrains", "shadow": "#shadow"}
        for panel, selector in ids.items():
            self.query_one(selector).display = panel == self.panel
        self.query_one("#drift-title", Label).update(self._panel_title())
        self.query_one("#panel-strip", Label).update(self._strip())
        shown = self.query_one(ids[self.panel])
        (shown if isinstance(shown, NavTable) else self).focus()
        self._show_lower_detail()

    def action_next_panel(self) -> None:
        self._step_panel(1)

    def action_prev_panel(self) -> None:
        self._step_panel(-1)

    def _step_panel(self, step: int) -> None:
        panels = self.panels()
        index = panels.index(self.panel) if self.panel in panels else 0
        self.panel = panels[(index + step) % len(panels)]
        self._show_panel()

    # -- keys --------------------------------------------------------------------------------
    def action_live(self) -> None:
        """Leave the past moment: fetch now, at the backend's present."""
        if self.at is None:
            return
        self.at = None
        self.refresh_bindings()
        self.request_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`l` only while a past moment is shown."""
        if super().check_action(action, parameters) is not True:
            return None  # the role may not
        if action == "live":
            return self.at is not None
        return True

    def action_window(self, window: str) -> None:
        """Pick the window (`15m`, `1h`, `24h`) and fetch at once (after the fetch in flight, if one is)."""
        if window not in WINDOWS or window == self.window:
            return
        self.window = window
        self.request_refresh()
