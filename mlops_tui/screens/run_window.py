"""The slice of a run search the runs table shows: a few consecutive pages, fetched by page token.

The server pages with opaque tokens, forward only. The window is anchored at the head of the
ordering (what `g` shows) or at its tail (what `G` shows: the same search in the reversed order),
and walks from there one page at a time, keeping at most `max_pages` pages: an experiment with
100,000 runs costs a few hundred rows in memory, whatever the scrolling.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..contract import Run, RunPage
from .run_groups import TOP_LEVEL


@dataclass(frozen=True)
class RunQuery:
    """What the table shows: experiment, filter (the CLI's language), one sort key, grouped or flat."""

    experiment: str | None = None
    filter: str | None = None
    sort: str = "start_time"
    """A key the server orders by: an attribute (`name`, `status`, `start_time`, `end_time`, `duration`) or
    `metrics.<key>` / `params.<key>`."""
    descending: bool = True
    grouped: bool = True
    """Children under their parent (the server lists top-level runs); a filter lists runs flat."""

    @property
    def is_grouped(self) -> bool:
        return self.grouped and not self.filter

    @property
    def server_filter(self) -> str | None:
        """The filter sent to the server: the user's, or the top-level runs when grouped."""
        return TOP_LEVEL if self.is_grouped else self.filter

    def order_by(self, tail: bool = False) -> list[str] | None:
        """The ordering sent to the server, reversed for the tail.

        The server breaks ties by start time (newest first), then by its index's own order; the head
        leaves that implicit (the default order is the server's own, which its index answers
        fastest), the tail states the start time reversed, and the index walks backwards."""
        def direction(descending: bool) -> str:
            return "DESC" if descending != tail else "ASC"

        if not tail:
            if self.sort == "start_time" and self.descending:
                return None
            return [f"{self.sort} {direction(self.descending)}"]
        keys = [f"{self.sort} {direction(self.descending)}"]
        if self.sort != "start_time":
            keys.append(f"start_time {direction(True)}")
        return keys

    def with_filter(self, text: str | None) -> RunQuery:
        return replace(self, filter=text or None)


class RunWindow:
    """Consecutive pages of one query, numbered from its anchor (head or tail)."""

    def __init__(self, page_size: int, max_pages: int = 3, tail: bool = False) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.tail = tail
        self.pages: dict[int, list[Run]] = {}
        self.tokens: dict[int, str | None] = {0: None}
        """The token that fetches page i (page 0 needs none); absent: not known yet or no such page."""
        self.last_page: int | None = None
        """Index of the page with no next page, once seen."""

    @property
    def indices(self) -> list[int]:
        return sorted(self.pages)

    def store(self, index: int, page: RunPage) -> None:
        """Keep a fetched page and learn the token of the one after it."""
        self.pages[index] = page.runs
        if page.next_page_token:
            self.tokens[index + 1] = page.next_page_token
            if self.last_page == index:
                self.last_page = None
        else:
            self.last_page = index
            for later in [i for i in self.tokens if i > index]:
                del self.tokens[later]
            for later in [i for i in self.pages if i > index]:
                del self.pages[later]

    def _fetchable(self, index: int) -> bool:
        return index >= 0 and index in self.tokens and index not in self.pages

    def below(self) -> int | None:
        """The page that goes under the rows shown (None when they reach the end)."""
        if not self.pages:
            return None
        index = self.indices[0] - 1 if self.tail else self.indices[-1] + 1
        return index if self._fetchable(index) else None

    def above(self) -> int | None:
        """The page that goes over the rows shown (None when they start at the beginning)."""
        if not self.pages:
            return None
        index = self.indices[-1] + 1 if self.tail else self.indices[0] - 1
        return index if self._fetchable(index) else None

    def trim(self, keep_below: bool) -> None:
        """Drop pages from the side away from where the user is going, down to `max_pages`."""
        while len(self.pages) > self.max_pages:
            indices = self.indices
            drop_display_top = keep_below
            # in head order the display top is the lowest index; in tail order the highest
            drop = (indices[0] if not self.tail else indices[-1]) if drop_display_top else \
                (indices[-1] if not self.tail else indices[0])
            del self.pages[drop]

    def rows(self) -> list[Run]:
        """The rows in display order (the query's order, whatever the anchor)."""
        found = [run for index in self.indices for run in self.pages[index]]
        return found[::-1] if self.tail else found

    @property
    def at_top(self) -> bool:
        """Whether the first row shown is the first row of the query."""
        if self.tail:
            return self.last_page is not None and self.last_page in self.pages
        return 0 in self.pages

    @property
    def at_bottom(self) -> bool:
        """Whether the last row shown is the last row of the query."""
        if self.tail:
            return 0 in self.pages
        return self.last_page is not None and self.last_page in self.pages

    def position(self, display_row: int, total: int | None) -> int | None:
        """The 0-based rank in the whole query of the row shown at `display_row`."""
        if not self.pages:
            return None
        first = self.indices[0] * self.page_size
        if not self.tail:
            return first + display_row
        if total is None:
            return None
        shown = sum(len(rows) for rows in self.pages.values())
        return total - 1 - (first + shown - 1 - display_row)
