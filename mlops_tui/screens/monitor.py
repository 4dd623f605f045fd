"""A model's live health (`m` on a model, `:monitor NAME[@ALIAS]`): traffic, latency and errors as
sparklines over the last hour, drift per feature against the training reference (worst first), the
predictions beside training's, and live accuracy (actual from feedback labels, estimated before).

It refreshes on a fixed `live_seconds` beat (2 s); a beat that finds the last fetch still running is
skipped, so fetches never overlap however slow the backend is. `f`, `h`, `d` pick the window (15 min,
1 hour, 24 hours); the sparklines always cover the last hour.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Label, Static

from ..client import MlopsError
from ..contract.monitoring import DriftStatus, FeatureDrift, MonitorStatus, Performance
from ..formatting import DRIFT_GLYPHS, drift_cell, number, plural, safe_text
from ..keymap import bindings
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


@dataclass(frozen=True)
class MonitorData:
    """What one fetch brought: the status, or why there is none (the model or alias is gone)."""

    status: MonitorStatus | None
    missing: str | None = None


class MonitorScreen(View[MonitorData]):
    """The live view of one model (one alias, or the backend's default when none is named)."""

    view_name = "monitor"
    RENDER_ON_RESIZE = True
    BINDINGS: ClassVar[list[BindingType]] = bindings("monitor")

    def __init__(self, name: str, alias: str | None = None) -> None:
        super().__init__()
        self.model_name = name
        self.alias = alias
        self.window: str | None = None
        """None: the model's default window (its `[monitor]` table), until a key picks one."""
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
            yield Label("Drift", classes="section-title", id="drift-title")
            yield NavTable(id="drift")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#drift", NavTable).set_columns(DRIFT_COLUMNS)
        self.query_one("#monitor-body").display = False
        self.query_one("#monitor-empty").display = False
        self.query_one("#drift", NavTable).focus()

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
        try:
            return MonitorData(await self.client.monitor(self.model_name, self.alias, self.window))
        except MlopsError as error:
            if error.status == 404 or (error.status == 422 and error.field == "alias"):
                return MonitorData(None, error.message)  # no such alias, or none to watch: said in the view
            raise

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
        status = data.status
        empty = self._empty_reason(data)
        self.query_one("#monitor-empty", Static).update(Text(empty or ""))
        self.query_one("#monitor-empty").display = empty is not None
        self.query_one("#monitor-body").display = empty is None and status is not None
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
        self.query_one("#drift-title", Label).update(Text(title))
        self.query_one("#drift", NavTable).sync_rows([(f.feature, drift_cells(f)) for f in features])


    # -- keys --------------------------------------------------------------------------------
    def action_window(self, window: str) -> None:
        """Pick the window (`15m`, `1h`, `24h`) and fetch at once (after the fetch in flight, if one is)."""
        if window not in WINDOWS or window == self.window:
            return
        self.window = window
        self.request_refresh()
