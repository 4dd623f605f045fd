"""The `/` filter: an input line and, under it, the error the server gave for the last attempt."""
from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Label

_ENTITIES = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
             "parameter": "params", "parameters": "params", "tag": "tags", "tags": "tags"}
_REFERENCE = re.compile(r"""
    '(?:[^'\\]|\\.|'')*'                                    # a string value: skipped
  | \b(?P<entity>[A-Za-z]+)\.(?P<key>`[^`]*`|"(?:[^"\\]|\\.)*"|[A-Za-z_][\w\-:/]*(?:\.[A-Za-z_][\w\-:/]*)*)
  | "(?:[^"\\]|\\.)*"                                       # a string value: skipped
""", re.VERBOSE)


def filter_keys(text: str) -> list[tuple[str, str]]:
    """The (entity, key) pairs a filter names, e.g. `metrics.acc > 0.9` → [("metrics", "acc")]."""
    found: list[tuple[str, str]] = []
    for match in _REFERENCE.finditer(text):
        entity = _ENTITIES.get((match.group("entity") or "").lower())
        if entity is None:
            continue
        key = match.group("key")
        if key[0] in "`\"":
            key = key[1:-1]
        if (entity, key) not in found:
            found.append((entity, key))
    return found


class WordSuggester(Suggester):
    """Completes the word being typed (e.g. `metrics.ac` → `metrics.acc`) from a list of words."""

    def __init__(self, words: list[str] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.words = words or []

    async def get_suggestion(self, value: str) -> str | None:
        head, _, word = value.rpartition(" ")
        if not word:
            return None
        for candidate in self.words:
            if candidate.startswith(word) and candidate != word:
                return f"{head} {candidate}" if head else candidate
        return None


class FilterBar(Vertical):
    """Hidden until `/`; `enter` posts `Applied`, `esc` posts `Cancelled`; errors stay under the input."""

    DEFAULT_CSS = """
    FilterBar { height: auto; display: none; }
    FilterBar.-open { display: block; }
    FilterBar #filter-error { color: $error; padding: 0 1; display: none; }
    FilterBar #filter-error.-shown { display: block; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    class Applied(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Cancelled(Message):
        pass

    def __init__(self, placeholder: str, words: list[str] | None = None) -> None:
        super().__init__()
        self._placeholder = placeholder
        self.suggester = WordSuggester(words)

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self._placeholder, suggester=self.suggester, id="filter-input",
                    select_on_focus=False)
        yield Label("", id="filter-error", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, text: str) -> None:
        self.add_class("-open")
        self.input.value = text
        self.input.cursor_position = len(text)
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.show_error(None)

    def show_error(self, message: str | None) -> None:
        label = self.query_one("#filter-error", Label)
        label.update(f"✗ {message}" if message else "")
        label.set_class(bool(message), "-shown")

    @property
    def error(self) -> str | None:
        label = self.query_one("#filter-error", Label)
        return str(label.render()) if label.has_class("-shown") else None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(event.value.strip()))

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
