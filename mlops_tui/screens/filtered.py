"""A view whose rows a line of text narrows: `/` opens the filter bar, `enter` applies it, `esc` clears
it (then, pressed again, goes back). The experiments and the alerts views are such lists."""
from __future__ import annotations

from typing import TypeVar

from ..widgets.filter_bar import FilterBar
from ..widgets.tables import NavTable
from .base import View

T = TypeVar("T")


class FilteredView(View[T]):
    """Subclasses keep `filter_text`, compose a `FilterBar` and a `NavTable`, and draw in `show_rows`."""

    filter_text: str = ""

    def show_rows(self) -> None:
        """Draw the rows the filter keeps (from the data at hand: no fetch)."""
        raise NotImplementedError

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_text)

    def on_filter_bar_applied(self, event: FilterBar.Applied) -> None:
        self.filter_text = event.text
        self.query_one(FilterBar).close()
        self.query_one(NavTable).focus()
        self.show_rows()

    def on_filter_bar_cancelled(self, event: FilterBar.Cancelled) -> None:
        self.clear_filter()

    def clear_filter(self) -> bool:
        bar = self.query_one(FilterBar)
        had = bool(self.filter_text) or bar.is_open
        bar.close()
        self.query_one(NavTable).focus()
        if self.filter_text:
            self.filter_text = ""
            self.show_rows()
        return had
