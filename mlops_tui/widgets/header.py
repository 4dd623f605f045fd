"""The one-line header: where you are, how many alerts are open, which backend, whether it answers,
when data was last fetched."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ..contract.alerts import AlertSummary
from ..contract.auth import WhoAmI
from ..formatting import safe_text


@dataclass(frozen=True)
class BackendState:
    """What the header and the banner show about the backend."""

    url: str
    up: bool | None = None
    """None until the first answer (or failure)."""
    last_refresh: datetime | None = None
    error: str | None = None
    retry_seconds: float = 2.0
    alerts: AlertSummary | None = None
    """The open alerts' counts (fetched with the health check); None until known, or when the backend has
    no alerts."""
    who: WhoAmI | None = None
    """Who the console acts as (asked at start and after a reconnect); None until known."""


ALERTS_WIDTH = 16
"""`▲ 12 open alerts` fits; the label keeps this width (or none at all), so the crumb never shifts as the
count changes."""


def who_text(who: WhoAmI | None) -> Text:
    """`alice (operator)`; `auth off (admin)` when the server lets everyone in as a local admin (the name
    is then only what the client said, so it is not shown); nothing until known."""
    if who is None:
        return Text()
    if not who.auth:
        return Text("auth off (admin)", style="dim")
    return Text.assemble((safe_text(who.name), "bold"), f" ({who.role.value})")


def alerts_text(summary: AlertSummary | None) -> Text:
    """`▲ 2 open alerts` (bold red when one is critical, else yellow), nothing when none is open: the
    header speaks only when something needs a look. The glyph and the words carry it without colour."""
    if summary is None or summary.open <= 0:
        return Text()
    style = "bold red" if summary.critical else "bold yellow"
    count = f"{summary.open:,}" if summary.open < 1000 else "999+"
    return Text.assemble(("▲", style), f" {count} open alert{'s' if summary.open != 1 else ''}")


class StatusHeader(Horizontal):
    """`mlops ▸ Runs › exp   host:port  ● up  12:00:00` (glyph and word, so no colour needed)."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; dock: top; background: $panel; }
    StatusHeader #crumb { width: 1fr; padding: 0 1; text-style: bold; }
    StatusHeader #backend { width: auto; padding: 0 1; }
    StatusHeader #alerts { width: auto; padding: 0 0 0 1; display: none; }
    StatusHeader #alerts.-shown { display: block; }
    StatusHeader #who { width: auto; padding: 0 0 0 1; display: none; }
    StatusHeader #who.-shown { display: block; }
    """

    def __init__(self, crumb: str) -> None:
        super().__init__()
        self._crumb = crumb

    def compose(self) -> ComposeResult:
        yield Label(f"mlops ▸ {safe_text(self._crumb)}", id="crumb", markup=False)
        yield Label("", id="alerts")
        yield Label("", id="who")
        yield Label("", id="backend")

    def set_crumb(self, crumb: str) -> None:
        self._crumb = crumb
        self.query_one("#crumb", Label).update(Text(f"mlops ▸ {safe_text(crumb)}"))

    def show_state(self, state: BackendState) -> None:
        alerts = alerts_text(state.alerts if state.up is not False else None)
        shown = self.query_one("#alerts", Label)
        shown.update(Text.assemble(alerts, " " * (ALERTS_WIDTH - alerts.cell_len)) if alerts else alerts)
        shown.set_class(bool(alerts), "-shown")
        who = who_text(state.who)
        self.query_one("#who", Label).update(who)
        self.query_one("#who", Label).set_class(bool(who), "-shown")
        text = Text()
        url = state.url.removeprefix("http://").removeprefix("https://")
        width = (self.size.width or 80) - (ALERTS_WIDTH + 1 if alerts else 0) - (who.cell_len + 1 if who else 0)
        if width >= 72:
            text.append(safe_text(url) + "  ", style="dim")
        if state.up is None:
            text.append("○ connecting", style="dim")
        elif state.up:
            text.append("● up", style="green")
        else:
            text.append("✗ down", style="bold red")
        if state.last_refresh is not None:
            label = "  refreshed " if width >= 100 else "  "
            text.append(label + state.last_refresh.strftime("%H:%M:%S"), style="dim")
        self.query_one("#backend", Label).update(text)
