"""`RunGrid`: a table that draws only the lines on screen, for the paged runs view.

Textual's DataTable measures and renders every cell it is given; with a few hundred rows arriving
per page that costs more than a keypress may. This grid keeps rows as ready `Text` cells, sizes
columns from their plain lengths, and renders just the visible lines (Toolong style), caching each
drawn line until its row, the cursor or the columns change.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..keymap import bindings

MAX_WIDTH = 32
GAP = 2


@dataclass
class GridColumn:
    key: str
    label: str
    width: int | None = None
    """Fixed width; None sizes the column from its content (capped at 32)."""
    justify: str = "left"


class RunGrid(ScrollView, can_focus=True):
    """Rows of `Text` cells keyed by id; row cursor; j/k, g/G, pgup/pgdn, enter like the tables."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("tables"),
        Binding("down", "cursor_down", show=False),
        Binding("up", "cursor_up", show=False),
        Binding("home", "top", show=False),
        Binding("end", "bottom", show=False),
        Binding("left", "scroll_left", show=False),
        Binding("right", "scroll_right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"run-grid--header", "run-grid--cursor"}
    DEFAULT_CSS = """
    RunGrid { height: 1fr; background: $surface; scrollbar-size-vertical: 1; }
    RunGrid > .run-grid--header { background: $panel; text-style: bold; }
    RunGrid > .run-grid--cursor { background: $block-cursor-blurred-background; }
    RunGrid:focus > .run-grid--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                         text-style: bold; }
    """

    class RowHighlighted(Message):
        def __init__(self, grid: RunGrid, row: int, key: str | None) -> None:
            super().__init__()
            self.grid, self.row, self.key = grid, row, key

    class RowSelected(Message):
        def __init__(self, grid: RunGrid, row: int, key: str) -> None:
            super().__init__()
            self.grid, self.row, self.key = grid, row, key

    class HeaderSelected(Message):
        def __init__(self, grid: RunGrid, column_key: str) -> None:
            super().__init__()
            self.grid, self.column_key = grid, column_key

    class Edge(Message):
        """`g`/`G`: the user asked for the first (`top`) or last row of the whole query."""

        def __init__(self, grid: RunGrid, top: bool) -> None:
            super().__init__()
            self.grid, self.top = grid, top

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[GridColumn] = []
        self.keys: list[str] = []
        self.cells: dict[str, list[Text]] = {}
        self.widths: list[int] = []
        self.cursor_row = 0
        self._lines: dict[tuple[str, bool], Strip] = {}

    # -- data --------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor_row] if self.keys else None

    def set_columns(self, columns: Sequence[GridColumn]) -> None:
        if [(c.key, c.label) for c in columns] != [(c.key, c.label) for c in self.columns]:
            self.columns = list(columns)
            self._resize()

    def get_row(self, key: str) -> list[Text]:
        return self.cells[key]

    def set_rows(self, rows: Sequence[tuple[str, list[Text]]], cursor_key: str | None = None,
                 keep_offset: bool = True) -> None:
        """Replace the rows; the cursor stays on `cursor_key` (default: the current row's key) at
        the same height on screen when that row is still there."""
        cursor_key = cursor_key if cursor_key is not None else self.cursor_key
        offset = self.cursor_row - round(self.scroll_y)
        self.keys = [key for key, _ in rows]
        self.cells = dict(rows)
        self._resize()
        index = self.keys.index(cursor_key) if cursor_key in self.cells else min(self.cursor_row,
                                                                                   max(self.row_count - 1, 0))
        if keep_offset and cursor_key in self.cells:
            self.scroll_to(y=max(index - offset, 0), animate=False, immediate=True)
        self.move_cursor(index)

    def append_rows(self, rows: Sequence[tuple[str, list[Text]]]) -> None:
        for key, cells in rows:
            self.keys.append(key)
            self.cells[key] = cells
        self._resize()

    def update_row(self, key: str, cells: list[Text]) -> None:
        if self.cells.get(key) != cells:
            self.cells[key] = cells
            self._lines.pop((key, False), None)
            self._lines.pop((key, True), None)
            self.refresh()

    def _resize(self) -> None:
        widths = []
        for index, column in enumerate(self.columns):
            if column.width is not None:
                widths.append(column.width)
                continue
            longest = cell_len(column.label)
            for key in self.keys:
                cells = self.cells[key]
                if index < len(cells):
                    longest = max(longest, cell_len(cells[index].plain))
            widths.append(min(longest, MAX_WIDTH))
        self.widths = widths
        total = sum(widths) + GAP * len(widths)
        self.virtual_size = Size(total, self.row_count + 1)
        self._lines.clear()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------------
    def _line(self, cells: Sequence[Text], style: Style) -> Strip:
        text = Text(no_wrap=True, end="")
        for column, width, cell in zip(self.columns, self.widths, cells, strict=False):
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis")
            pad = width - piece.cell_len
            if column.justify == "right":
                text.append(" " * (pad + 1))
                text.append_text(piece)
                text.append(" ")
            else:
                text.append(" ")
                text.append_text(piece)
                text.append(" " * (pad + 1))
        segments = [Segment(s.text, style + s.style if s.style else style, s.control)
                    for s in text.render(self.app.console)]
        return Strip(segments, text.cell_len)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = round(self.scroll_x), round(self.scroll_y)
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("run-grid--header")
            strip = self._line([Text(c.label) for c in self.columns], style)
        else:
            index = scroll_y + y - 1
            if index >= self.row_count:
                return Strip.blank(width, base)
            key = self.keys[index]
            on_cursor = index == self.cursor_row
            cache_key = (key, on_cursor)
            style = base + self.get_component_rich_style("run-grid--cursor") if on_cursor else base
            strip = self._lines.get(cache_key)  # type: ignore[assignment]
            if strip is None:
                strip = self._line(self.cells[key], style)
                if len(self._lines) > 400:
                    self._lines.clear()
                self._lines[cache_key] = strip
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, style)

    def on_focus(self) -> None:
        self._lines.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._lines.clear()
        self.refresh()

    # -- cursor --------------------------------------------------------------------------------------
    @property
    def page_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def move_cursor(self, row: int) -> None:
        if not self.keys:
            self.cursor_row = 0
            self.refresh()
            return
        row = max(0, min(row, self.row_count - 1))
        old = self.cursor_row
        self.cursor_row = row
        for index in (old, row):
            if 0 <= index < self.row_count:
                self._lines.pop((self.keys[index], True), None)
                self._lines.pop((self.keys[index], False), None)
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + self.page_height:
            self.scroll_to(y=row - self.page_height + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.RowHighlighted(self, row, self.keys[row]))

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_page_down(self) -> None:
        page = self.page_height
        self.scroll_to(y=min(round(self.scroll_y) + page, max(self.row_count - page, 0)), animate=False,
                       immediate=True)
        self.move_cursor(self.cursor_row + page)

    def action_page_up(self) -> None:
        page = self.page_height
        self.scroll_to(y=max(round(self.scroll_y) - page, 0), animate=False, immediate=True)
        self.move_cursor(self.cursor_row - page)

    def action_top(self) -> None:
        self.move_cursor(0)
        self.post_message(self.Edge(self, top=True))

    def action_bottom(self) -> None:
        self.move_cursor(self.row_count - 1)
        self.post_message(self.Edge(self, top=False))

    def action_select_cursor(self) -> None:
        if self.keys:
            self.post_message(self.RowSelected(self, self.cursor_row, self.keys[self.cursor_row]))

    def action_scroll_left(self) -> None:
        self.scroll_to(x=max(round(self.scroll_x) - 8, 0), animate=False)

    def action_scroll_right(self) -> None:
        self.scroll_to(x=round(self.scroll_x) + 8, animate=False)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + round(self.scroll_x)
            for column, width in zip(self.columns, self.widths, strict=False):
                x -= width + GAP
                if x < 0:
                    self.post_message(self.HeaderSelected(self, column.key))
                    return
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < self.row_count:
            if row == self.cursor_row and event.chain > 1:
                self.action_select_cursor()
            self.move_cursor(row)
