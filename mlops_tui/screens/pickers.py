"""Small modal pickers of the runs view: which column to sort by, which columns to show."""
from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ..formatting import safe_text


class SortPicker(ModalScreen[str | None]):
    """Pick a sort key; dismisses with it (or None on esc)."""

    DEFAULT_CSS = """
    SortPicker { align: center middle; }
    SortPicker > Vertical { width: 44; height: auto; max-height: 80%; border: round $primary;
                            background: $surface; }
    SortPicker OptionList { height: auto; max-height: 16; border: none; }
    """
    BINDINGS = [Binding("escape,q", "cancel", "Cancel"), Binding("j", "down", show=False),
                Binding("k", "up", show=False)]

    def __init__(self, choices: list[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(" Sort by (again on the current key: reverse)", classes="section-title")
            yield OptionList(*[Option(label, id=key) for key, label in self.choices])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        for index, (key, _) in enumerate(self.choices):
            if key == self.current:
                options.highlighted = index
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()


class ColumnPicker(ModalScreen[list[str] | None]):
    """Tick the param and metric columns to show: `[✓]` shown, `[ ]` hidden.

    The list has the focus: `j`/`k`, `g`/`G`, `space` ticks, `enter` applies, `esc` cancels. Typing
    any other character (or `/`) starts the filter line above it; while filtering, `↑`/`↓` move,
    `enter` or `tab` go back to the list (the filter stays), `esc` clears the filter.
    """

    DEFAULT_CSS = """
    ColumnPicker { align: center middle; }
    ColumnPicker > Vertical { width: 54; height: 80%; border: round $primary; background: $surface; }
    ColumnPicker #column-filter { border: none; height: 1; padding: 0 1; }
    ColumnPicker #column-count { color: $text-muted; padding: 0 1; }
    ColumnPicker OptionList, ColumnPicker OptionList:focus { height: 1fr; border: none; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("q", "cancel", show=False),
                Binding("enter", "apply", "Apply", priority=True), Binding("space", "tick", "Tick"),
                Binding("j", "down", show=False), Binding("k", "up", show=False),
                Binding("g", "top", show=False), Binding("G", "bottom", show=False),
                Binding("slash", "filter", show=False)]

    def __init__(self, keys: list[str], chosen: list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.ticked = {key for key in chosen if key in keys}
        self.shown = list(keys)
        """The keys the filter lets through, in order."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(" Columns: space ticks, enter applies", classes="section-title")
            yield Input(placeholder="type to filter (e.g. cv_ or params.)", id="column-filter", select_on_focus=False)
            yield Label("", id="column-count")
            yield OptionList(id="column-options")

    @property
    def options(self) -> OptionList:
        return self.query_one("#column-options", OptionList)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#column-filter", Input)

    def on_mount(self) -> None:
        self._show()
        self.options.focus()

    @staticmethod
    def box(ticked: bool) -> str:
        return "[✓]" if ticked else "[ ]"

    def _prompt(self, key: str) -> Text:
        ticked = key in self.ticked
        return Text.assemble((self.box(ticked) + " ", "bold" if ticked else "dim"),
                             (safe_text(key), "bold" if ticked else ""))

    def _show(self) -> None:
        """Rebuild the list for the filter, keeping the highlighted key when it is still shown."""
        options = self.options
        current = options.highlighted_option.id if options.highlighted_option is not None else None
        words = self.filter_input.value.lower().split()
        self.shown = [key for key in self.keys if all(word in key.lower() for word in words)]
        options.clear_options()
        options.add_options([Option(self._prompt(key), id=key) for key in self.shown])
        if self.shown:
            options.highlighted = self.shown.index(current) if current in self.shown else 0
        self._count()

    def _count(self) -> None:
        shown = f"{len(self.shown)} of {len(self.keys)} shown, " if len(self.shown) != len(self.keys) else ""
        self.query_one("#column-count", Label).update(f"{shown}{len(self.ticked)} ticked")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.options.focus()

    def on_key(self, event: events.Key) -> None:
        """Type-to-filter: a printable key the list does not use goes to the filter line."""
        if self.filter_input.has_focus:
            if event.key in ("up", "down"):
                event.stop()
                self.action_down() if event.key == "down" else self.action_up()
            elif event.key == "escape":
                event.stop()
                self.filter_input.value = ""
                self.options.focus()
            elif event.key == "tab":
                event.stop()
                event.prevent_default()
                self.options.focus()
            return
        if event.is_printable and event.character and event.key not in ("j", "k", "g", "G", "q", "space",
                                                                         "slash"):
            event.stop()
            event.prevent_default()
            self.filter_input.focus()
            self.filter_input.insert_text_at_cursor(event.character)

    def action_filter(self) -> None:
        self.filter_input.focus()

    def action_tick(self) -> None:
        option = self.options.highlighted_option
        if option is None or option.id is None:
            return
        key = option.id
        self.ticked.symmetric_difference_update({key})
        self.options.replace_option_prompt(key, self._prompt(key))
        self._count()

    def action_apply(self) -> None:
        if self.filter_input.has_focus:
            self.options.focus()
            return
        self.dismiss([key for key in self.keys if key in self.ticked])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_down(self) -> None:
        self.options.action_cursor_down()

    def action_up(self) -> None:
        self.options.action_cursor_up()

    def action_top(self) -> None:
        self.options.action_first()

    def action_bottom(self) -> None:
        self.options.action_last()
