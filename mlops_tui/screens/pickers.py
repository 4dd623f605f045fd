"""Small modal pickers of the runs view: which column to sort by, which columns to show."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, SelectionList
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection


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
    """Tick the param and metric columns to show; `enter` applies, esc cancels."""

    DEFAULT_CSS = """
    ColumnPicker { align: center middle; }
    ColumnPicker > Vertical { width: 50; height: 80%; border: round $primary; background: $surface; }
    ColumnPicker SelectionList { height: 1fr; border: none; }
    """
    BINDINGS = [Binding("escape,q", "cancel", "Cancel"), Binding("enter", "apply", "Apply", priority=True),
                Binding("j", "down", show=False), Binding("k", "up", show=False)]

    def __init__(self, keys: list[str], chosen: list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(" Columns: space ticks, enter applies", classes="section-title")
            yield SelectionList[str](*[Selection(key, key, key in self.chosen) for key in self.keys])

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        selected = set(self.query_one(SelectionList).selected)
        self.dismiss([key for key in self.keys if key in selected])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_down(self) -> None:
        self.query_one(SelectionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(SelectionList).action_cursor_up()
