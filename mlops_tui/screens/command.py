"""`:` the command bar, k9s style: `:runs my-exp`, `:experiments`, `:run <id>`, `:help`, `:quit`.

`→` accepts the completion shown in grey; `tab` completes what every candidate shares, then cycles
through them (`shift+tab` backwards); `enter` runs the line; `esc` closes the bar.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label

from ..client import MlopsError
from ..formatting import safe_text
from . import registry

if TYPE_CHECKING:
    from ..app import MlopsApp

EXTRA_COMMANDS = ("help", "quit")
NAMED_ARGS = {"runs": "experiments", "experiments": "experiments", "datasets": "datasets", "models": "models",
              "monitor": "models"}
"""Views whose argument completes from a list of names (the attribute of `CommandSuggester`)."""


class CommandSuggester(Suggester):
    """Completes view names, then (after `runs `, `experiments `, `datasets `, `models `, `monitor `) the
    names they take (a model's name, and `name@alias` for each of its aliases)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.experiments: list[str] = []
        self.datasets: list[str] = []
        self.models: list[str] = []

    def candidates(self, value: str) -> list[str]:
        """Every completion of `value`, in the order tab cycles through them."""
        name, space, arg = value.partition(" ")
        if not space:
            names = [*registry.VIEWS, *EXTRA_COMMANDS]
            return [n for n in names if n.startswith(name)]
        spec = registry.find(name)
        choices: list[str] = getattr(self, NAMED_ARGS.get(spec.name, ""), []) if spec is not None else []
        return [f"{name} {choice}" for choice in choices if choice.startswith(arg)]

    async def get_suggestion(self, value: str) -> str | None:
        found = [c for c in self.candidates(value) if c != value]
        return found[0] if found and value else None


class CommandBar(ModalScreen[str | None]):
    """A one-line prompt at the bottom; dismisses with the line (or None).

    `tab` completes as far as every candidate agrees (the longest common prefix); once there,
    `tab` again cycles through the candidates (`shift+tab` backwards), listed on the hint line."""

    DEFAULT_CSS = """
    CommandBar { align: left bottom; background: transparent; }
    CommandBar > Vertical { height: auto; background: $panel; }
    CommandBar #command-hint { color: $text-muted; padding: 0 1; height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close", id="command.cancel"),
                Binding("tab", "complete(1)", "Complete", id="command.complete", priority=True),
                Binding("shift+tab", "complete(-1)", "Previous", id="command.previous", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.suggester = CommandSuggester()
        self.cycle: list[str] = []
        """The candidates tab is cycling through (empty until a tab could not complete further)."""
        self.cycle_index = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.default_hint(), id="command-hint", markup=False)
            yield Input(placeholder=":", suggester=self.suggester, id="command-input")

    @staticmethod
    def default_hint() -> str:
        views = " ".join(f":{name}" for name in registry.VIEWS)
        return f"{views} :help :quit   (tab completes)"

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.run_worker(self._load_names(), exit_on_error=False)

    async def _load_names(self) -> None:
        app = cast("MlopsApp", self.app)
        try:
            self.suggester.experiments = [e.name for e in await app.client.list_experiments()]
            self.suggester.datasets = [d.name for d in await app.client.list_datasets()]
            self.suggester.models = [ref for m in (await app.client.list_models()).models
                                     for ref in (m.name, *(f"{m.name}@{alias}" for alias in sorted(m.aliases)))]
        except MlopsError:
            pass

    def action_complete(self, step: int) -> None:
        field = self.query_one(Input)
        if self.cycle and field.value == self.cycle[self.cycle_index]:
            self.cycle_index = (self.cycle_index + step) % len(self.cycle)
        else:
            found = self.suggester.candidates(field.value)
            self.cycle = []
            if not found:
                return
            prefix = os.path.commonprefix(found)
            if len(found) > 1 and len(prefix) <= len(field.value):
                here = found.index(field.value) if field.value in found else (-1 if step > 0 else 0)
                self.cycle, self.cycle_index = found, (here + step) % len(found)
            else:
                self._set(field, prefix)
                self._hint(found)
                return
        self._set(field, self.cycle[self.cycle_index])
        self._hint(self.cycle, self.cycle[self.cycle_index])

    @staticmethod
    def _set(field: Input, value: str) -> None:
        field.value = value
        field.cursor_position = len(value)

    def _hint(self, candidates: list[str], current: str | None = None) -> None:
        """The candidates (their last word) on the hint line, the current one in brackets."""
        if len(candidates) < 2:
            self.query_one("#command-hint", Label).update(self.default_hint())
            return
        words = [safe_text(c.partition(" ")[2] or c) for c in candidates]
        self.query_one("#command-hint", Label).update(
            "  ".join(f"[{word}]" if c == current else word for c, word in zip(candidates, words, strict=False)))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
