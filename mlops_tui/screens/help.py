"""`?`: every key of the console, its action, where it applies and the id that remaps it."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from ..config import config_path
from ..keymap import KEY_SPECS, display_keys
from ..widgets.tables import NavTable


class HelpScreen(ModalScreen[None]):
    """The keys table; `esc`, `q` or `?` closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 100%; max-width: 110; height: 100%; max-height: 40;
                            border: round $primary; background: $surface; }
    HelpScreen NavTable { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.keymap = keymap or {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(" Keys  (esc closes)", classes="section-title")
            yield NavTable(id="help-keys")
            yield Label(f" remap: [keys] \"id\" = \"key\" in {config_path()}", classes="status-line",
                        markup=False)

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        table.set_columns([("keys", "KEY", None), ("id", "ID (to remap)", None), ("what", "ACTION", None),
                           ("where", "WHERE", None)])
        table.sync_rows([
            (spec.id, [display_keys(self.keymap.get(spec.id, spec.keys)), spec.id, spec.description, spec.scope])
            for spec in KEY_SPECS.values()])
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
