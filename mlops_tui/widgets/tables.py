"""A DataTable with k9s/lazygit keys (j/k, g/G, pgup/pgdn), each with a remappable id."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, OptionList

from ..formatting import safe_text
from ..keymap import KEY_SPECS, bindings


def safe_cell(value: Any) -> Any:
    """A cell as it may reach the terminal: strings become plain `Text` (no markup, control
    characters escaped); a `Text` holding a control character is rebuilt from its escaped plain text."""
    if isinstance(value, str):
        return Text(safe_text(value))
    if isinstance(value, Text) and safe_text(value.plain) != value.plain:
        return Text(safe_text(value.plain), style=value.style)
    return value


class NavTable(DataTable[Any]):
    """Row-cursor table; `g`/`G` post `Edge` so a paged table can fetch the real first/last rows."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("tables")

    class Edge(Message):
        """The user asked for the first (`top`) or last (`bottom`) row."""

        def __init__(self, table: NavTable, top: bool) -> None:
            super().__init__()
            self.table = table
            self.top = top

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)

    def action_top(self) -> None:
        self.move_cursor(row=0)
        self.post_message(self.Edge(self, top=True))

    def action_bottom(self) -> None:
        self.move_cursor(row=max(self.row_count - 1, 0))
        self.post_message(self.Edge(self, top=False))

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows while they change
            return None

    # -- rows kept in place by key --------------------------------------------------------------
    def set_columns(self, columns: Sequence[tuple[str, str, int | None]]) -> bool:
        """Set the (key, label, width) columns; rows are cleared only when the columns changed."""
        wanted = [(key, label) for key, label, _ in columns]
        current = [(str(c.key.value), str(c.label)) for c in self.ordered_columns]
        if wanted == current:
            return False
        self.clear(columns=True)
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)
        return True

    def sync_rows(self, rows: list[tuple[str, list[Any]]], newest_first: bool = False) -> None:
        """Show `rows` (key, cells): cells change in place when the keys are the same, in the same
        order; otherwise the rows are replaced and the cursor stays on the same key if it is still there.
        `newest_first`: a list whose new rows arrive on top; a cursor on the first row (one the user
        did not move) stays on the first row, so the newest row is the one shown."""
        at_top = self.cursor_row <= 0
        rows = [(key, [safe_cell(cell) for cell in cells]) for key, cells in rows]
        keys = [key for key, _ in rows]
        current = [str(row.key.value) for row in self.ordered_rows]
        columns = [column.key for column in self.ordered_columns]
        if keys == current:
            for key, cells in rows:
                old = self.get_row(key)
                for column, before, after in zip(columns, old, cells, strict=False):
                    if before != after:
                        self.update_cell(key, column, after, update_width=True)
            return
        if newest_first and at_top and rows:
            self.replace_rows(rows, cursor_key=rows[0][0], keep_screen_offset=False)
            self.scroll_home(animate=False, immediate=True)
        else:
            self.replace_rows(rows)

    def replace_rows(self, rows: list[tuple[str, list[Any]]], cursor_key: str | None = None,
                     keep_screen_offset: bool = True) -> None:
        """Replace every row; keep `cursor_key` (default: the current one) under the cursor at the
        same height on screen."""
        cursor_key = cursor_key if cursor_key is not None else self.cursor_key
        offset = self.cursor_row - int(self.scroll_y)
        self.clear()
        for key, cells in rows:
            self.add_row(*(safe_cell(cell) for cell in cells), key=key)
        index = next((i for i, (key, _) in enumerate(rows) if key == cursor_key), None)
        if index is None:
            return
        self.move_cursor(row=index, animate=False, scroll=False)
        if keep_screen_offset:
            target = max(index - max(offset, 0), 0)
            self.call_after_refresh(self.scroll_to, y=target, animate=False, immediate=True)


class NavOptionList(OptionList):
    """An OptionList with the same remappable j/k/g/G keys as the tables."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(KEY_SPECS[spec_id].keys, action, show=False, id=spec_id)
        for spec_id, action in (("nav.down", "cursor_down"), ("nav.up", "cursor_up"), ("nav.top", "first"),
                                ("nav.bottom", "last"))
    ]
