"""The one-line header: where you are, which backend, whether it answers, when data was last fetched."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

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


class StatusHeader(Horizontal):
    """`mlops ▸ Runs › exp   host:port  ● up  12:00:00` (glyph and word, so no colour needed)."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; dock: top; background: $panel; }
    StatusHeader #crumb { width: 1fr; padding: 0 1; text-style: bold; }
    StatusHeader #backend { width: auto; padding: 0 1; }
    """

    def __init__(self, crumb: str) -> None:
        super().__init__()
        self._crumb = crumb

    def compose(self) -> ComposeResult:
        yield Label(f"mlops ▸ {safe_text(self._crumb)}", id="crumb", markup=False)
        yield Label("", id="backend")

    def set_crumb(self, crumb: str) -> None:
        self._crumb = crumb
        self.query_one("#crumb", Label).update(Text(f"mlops ▸ {safe_text(crumb)}"))

    def show_state(self, state: BackendState) -> None:
        text = Text()
        url = state.url.removeprefix("http://").removeprefix("https://")
        width = self.size.width or 80
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
