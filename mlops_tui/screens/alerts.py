"""Alerts of every model (`7`, `:alerts [filter]`): open first, then acknowledged, then those resolved in
the last day; each with its model, rule, severity, status, how long since it opened (ticking), its value
beside the rule's limit and its message. The alert under the cursor is shown in full below the table.

`a` acknowledges it as the console's user, `x` resolves it by hand with a note, `enter` opens the
model's Monitor view at the moment it opened (the window fitted to the windows that breached), `/`
narrows the list by words.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Static

from ..client import MlopsError
from ..contract.alerts import MAX_NOTE, Alert, AlertList, AlertStatus
from ..formatting import ago, safe_text, when
from ..keymap import bindings
from ..widgets.alerts import ALERT_COLUMNS, alert_cells, alert_detail, alert_value, clip, last_column_width
from ..widgets.filter_bar import FilterBar
from ..widgets.tables import NavTable
from . import registry
from .filtered import FilteredView
from .model_forms import ModelForm

if TYPE_CHECKING:
    from ..app import MlopsApp

RECENT_MS = 86_400_000
"""Resolved alerts stay listed this long after they resolved."""
TICK_SECONDS = 5.0
"""How often SINCE is drawn again from the data at hand (no fetch)."""
LIMIT = 200
MIN_MESSAGE = 24
"""The narrowest MESSAGE column worth showing (narrower: the message is only in the line below the table)."""
WINDOWS_MS = (("15m", 15 * 60_000), ("1h", 3_600_000), ("24h", 86_400_000))
"""The Monitor view's windows, smallest first: `enter` picks the first that holds the breach."""


def alert_moment(alert: Alert) -> tuple[int, str | None]:
    """Where `enter` takes the Monitor view: the moment the alert opened, and the smallest window that
    holds its breaching windows (from `window_start`); None keeps the model's own window."""
    if alert.window_start is None:
        return alert.opened_at, None
    span = alert.opened_at - alert.window_start
    return alert.opened_at, next((name for name, ms in WINDOWS_MS if span <= ms), "24h")


def matches(alert: Alert, words: list[str]) -> bool:
    """Every word is part of the alert's model, rule, kind, severity, status or message."""
    haystack = " ".join([alert.model, alert.alias or "", alert.rule, alert.kind, alert.severity, alert.status,
                         alert.message]).lower()
    return all(word in haystack for word in words)


class AlertsScreen(FilteredView[AlertList]):
    """The alerts table; rows keep their place by id as statuses change."""

    view_name = "alerts"
    BINDINGS: ClassVar[list[BindingType]] = [*bindings("lists"), *bindings("alerts")]
    RENDER_ON_RESIZE = True

    def __init__(self, filter_text: str = "") -> None:
        super().__init__()
        self.filter_text = filter_text
        self.alerts: list[Alert] = []
        self.shown: dict[str, Alert] = {}
        self._ticker: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterBar("words of a model, rule, status or message, e.g. churn open  (enter applies, esc clears)")
        yield Label("loading…", classes="status-line", id="status")
        yield NavTable(id="alerts")
        yield Static("", id="alert-detail")

    @property
    def table(self) -> NavTable:
        return self.query_one("#alerts", NavTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._ticker is None:
            self._ticker = self.set_interval(TICK_SECONDS, self._on_tick)

    def on_screen_suspend(self) -> None:
        super().on_screen_suspend()
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _on_tick(self) -> None:
        if self.app.screen is self and self.loaded:
            self.show_rows()

    # -- data --------------------------------------------------------------------------------------
    async def fetch(self) -> AlertList:
        return await self.client.list_alerts(limit=LIMIT)

    def render_data(self, data: AlertList) -> None:
        self.alerts = data.alerts
        self.show_rows()

    def listed(self) -> list[Alert]:
        """Open, then acknowledged, then resolved in the last day (the server's order: newest first in
        each), narrowed by the filter."""
        now_ms = int(self.mlops.clock().timestamp() * 1000)
        words = self.filter_text.lower().split()
        rank = {AlertStatus.OPEN: 0, AlertStatus.ACKNOWLEDGED: 1, AlertStatus.RESOLVED: 2}
        kept = [a for a in self.alerts if a.status != AlertStatus.RESOLVED
                or (a.resolved_at or a.opened_at) >= now_ms - RECENT_MS]
        return sorted((a for a in kept if matches(a, words)), key=lambda a: (rank[a.status], -a.opened_at))

    def _message_width(self, alerts: list[Alert]) -> int:
        """What the MESSAGE column may take; 0 when less than MIN_MESSAGE is left (the column is left
        out: the line below the table shows the message)."""
        now = self.mlops.clock()
        return last_column_width(self.table.size.width or self.size.width or 80,
                                 [label for _, label, _ in ALERT_COLUMNS],
                                 [alert_cells(alert, now, 1) for alert in alerts], MIN_MESSAGE)

    def show_rows(self) -> None:
        now = self.mlops.clock()
        listed = self.listed()
        self.shown = {alert.id: alert for alert in listed}
        width = self._message_width(listed)
        self.table.set_columns(ALERT_COLUMNS if width else ALERT_COLUMNS[:-1])
        self.table.sync_rows([(alert.id, alert_cells(alert, now, width)[:None if width else -1])
                              for alert in listed])
        self.query_one("#status", Label).update(self._status_text(listed))
        self._show_detail()

    def _status_text(self, listed: list[Alert]) -> Text:
        counts = {state: sum(a.status == state for a in listed) for state in AlertStatus}
        parts = [f"{counts[AlertStatus.OPEN]} open", f"{counts[AlertStatus.ACKNOWLEDGED]} acknowledged",
                 f"{counts[AlertStatus.RESOLVED]} resolved in 24h"]
        if self.filter_text:
            parts.append(f"filter: {safe_text(self.filter_text)}")
        if listed:
            parts.append("enter: the Monitor view then")
        elif not self.alerts:
            parts.append("rules: a pipeline file's [[monitor.alerts]]")
        return Text(" │ ".join(parts), no_wrap=True, overflow="ellipsis")

    def current(self) -> Alert | None:
        key = self.table.cursor_key
        return self.shown.get(key) if key else None

    def _show_detail(self) -> None:
        alert = self.current()
        detail = self.query_one("#alert-detail", Static)
        if alert is None:
            detail.update(Text("No alert to show. The backend checks each model's rules every few seconds; "
                               "an alert opens here when one breaches." if not self.alerts else
                               "No alert matches the filter (esc clears it).", style="dim"))
            return
        detail.update(alert_detail(alert, self.mlops.clock()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # -- keys ----------------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        alert = self.shown.get(str(event.row_key.value))
        if alert is None:
            return
        at, window = alert_moment(alert)
        self.app.push_screen(registry.monitor(alert.model, alert.alias, at=at, window=window))

    def action_ack(self) -> None:
        alert = self.current()
        if alert is None:
            return
        if alert.status == AlertStatus.RESOLVED:
            self.notify(f"{alert.rule} on {alert.model} is resolved: nothing to acknowledge", title="acknowledge",
                        markup=False)
            return
        if alert.status == AlertStatus.ACKNOWLEDGED:
            self.notify(f"already acknowledged by {alert.acknowledged_by or 'someone'}", title="acknowledge",
                        markup=False)
            return
        self.run_worker(self._ack(alert), group="alert-action", exit_on_error=False)

    async def _ack(self, alert: Alert) -> None:
        try:
            changed = await self.client.ack_alert(alert.id)
        except MlopsError as error:
            self._action_error(error, "acknowledge")
            return
        self.changed(changed, f"acknowledged {changed.rule} on {changed.model}")

    def action_resolve(self) -> None:
        alert = self.current()
        if alert is None:
            return
        if alert.status == AlertStatus.RESOLVED:
            self.notify(f"{alert.rule} on {alert.model} is resolved already", title="resolve", markup=False)
            return

        def done(resolved: Alert | None) -> None:
            if resolved is not None:
                self.changed(resolved, f"resolved {resolved.rule} on {resolved.model}")

        self.app.push_screen(ResolveModal(alert), done)

    def changed(self, alert: Alert, message: str) -> None:
        """An alert the console changed: its row at once, the header's count, then a fresh list."""
        self.alerts = [alert if a.id == alert.id else a for a in self.alerts]
        self.show_rows()
        self.notify(safe_text(message), title="alerts", markup=False)
        self.mlops.recount_alerts()
        self.request_refresh()

    def _action_error(self, error: MlopsError, title: str) -> None:
        if error.unreachable:
            self.mlops.report_unreachable(error)
        self.notify(safe_text(error.message), title=title, severity="error", markup=False)


class ResolveModal(ModelForm[Alert]):
    """`x`: the alert in short, a note (required: it is kept with the alert); `ctrl+s` resolves it."""

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert

    def compose(self) -> ComposeResult:
        alert = self.alert
        with Vertical():
            yield Label(f" Resolve {clip(alert.rule, 40)} on {clip(alert.model, 40)}", classes="section-title",
                        markup=False)
            yield Static(self.summary(), classes="form-text")
            yield Input(placeholder="note: why it is resolved (required, kept with the alert)", id="form-reason",
                        max_length=MAX_NOTE)
            yield Label("", id="form-error", markup=False)
            yield Label("", id="form-hint", markup=False)

    def summary(self) -> Text:
        alert = self.alert
        now = cast("MlopsApp", self.app).clock()
        opened = f"{when(alert.opened_at, now.tzinfo)}, {ago(alert.opened_at, now)} ago"
        text = Text()
        text.append(f"{alert.status} since {opened} · {alert_value(alert)}\n")
        text.append(safe_text(alert.message))
        return text

    def on_mount(self) -> None:
        self.query_one("#form-reason", Input).focus()
        self.show_hint(self.hint())

    def hint(self) -> str:
        return (f"{self.key('modelform.confirm')} or enter resolves · {self.key('modelform.cancel')} cancels · "
                "the condition clearing resolves it by itself too")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.error and not self.busy:
            self.show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.busy:
            return
        note = self.reason()
        if not note:
            self.show_error("a note is required: say why it is resolved")
            return
        self.busy = True
        self.show_hint("resolving…")
        self.run_worker(self._resolve(note), group="resolve", exclusive=True, exit_on_error=False)

    async def _resolve(self, note: str) -> None:
        resolved: Alert | None = None
        try:
            resolved = await self.client.resolve_alert(self.alert.id, note)
        except MlopsError as error:
            self.failed(error)
        finally:
            self.busy = False
        if resolved is None:
            self.show_hint(self.hint())
        else:
            self.dismiss(resolved)

