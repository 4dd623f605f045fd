"""`:` the command bar, k9s style: `:runs my-exp`, `:experiments`, `:run <id>`, `:help`, `:quit`.

`tab` or `→` accepts the completion shown in grey; `enter` runs the line; `esc` closes the bar.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label

from ..client import MlopsError
from ..widgets.inputs import accept_suggestion
from . import registry

if TYPE_CHECKING:
    from ..app import MlopsApp

EXTRA_COMMANDS = ("help", "quit")


class CommandSuggester(Suggester):
    """Completes view names, then (after `runs `) experiment names."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.experiments: list[str] = []

    def candidates(self, value: str) -> list[str]:
        name, space, arg = value.partition(" ")
        if not space:
            names = [*registry.VIEWS, *EXTRA_COMMANDS]
            return [n for n in names if n.startswith(name)]
        spec = registry.find(name)
        if spec is not None and spec.name in ("runs", "experiments"):
            return [f"{name} {e}" for e in self.experiments if e.startswith(arg)]
        return []

    async def get_suggestion(self, value: str) -> str | None:
        found = [c for c in self.candidates(value) if c != value]
        return found[0] if found and value else None


class CommandBar(ModalScreen[str | None]):
    """A one-line prompt at the bottom; dismisses with the line (or None)."""

    DEFAULT_CSS = """
    CommandBar { align: left bottom; background: transparent; }
    CommandBar > Vertical { height: auto; background: $panel; }
    CommandBar #command-hint { color: $text-muted; padding: 0 1; height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close", id="command.cancel"),
                Binding("tab", "complete", "Complete", id="command.complete", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.suggester = CommandSuggester()

    def compose(self) -> ComposeResult:
        views = " ".join(f":{name}" for name in registry.VIEWS)
        with Vertical():
            yield Label(f"{views} :help :quit   (tab completes)", id="command-hint", markup=False)
            yield Input(placeholder=":", suggester=self.suggester, id="command-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.run_worker(self._load_experiments(), exit_on_error=False)

    async def _load_experiments(self) -> None:
        app = cast("MlopsApp", self.app)
        try:
            self.suggester.experiments = [e.name for e in await app.client.list_experiments()]
        except MlopsError:
            pass

    def action_complete(self) -> None:
        accept_suggestion(self.query_one(Input))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
