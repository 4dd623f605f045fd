"""The banner shown while the backend is unreachable; hidden otherwise."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..formatting import safe_text
from .header import BackendState


class UnreachableBanner(Static):
    """`✗ backend unreachable at URL: retrying every 2 s` plus the last error, in words."""

    DEFAULT_CSS = """
    UnreachableBanner { height: 1; display: none;
                        background: $error 30%; color: $text; padding: 0 1; }
    UnreachableBanner.-shown { display: block; }
    """

    def show_state(self, state: BackendState) -> None:
        shown = state.up is False
        self.set_class(shown, "-shown")
        if shown:
            text = Text()
            text.append("✗ BACKEND UNREACHABLE ", style="bold")
            text.append(f"at {safe_text(state.url)} · retrying every {state.retry_seconds:g} s")
            self.update(text)
