"""The Monitor view's drawings, in text so they read over SSH and without colour: one sparkline per
traffic series (the last hour, a block per minute), and a model's predictions beside its training's
as pairs of bars.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from ..contract.monitoring import Distribution
from ..formatting import BAR_EMPTY, BAR_FULL, SPARKS, safe_text

Aggregate = Callable[[list[float]], float]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def squeeze(values: Sequence[float | None], width: int, aggregate: Aggregate = max) -> list[float | None]:
    """`values` fitted to `width` cells: neighbours merged by `aggregate` (a cell with no value at all
    stays None); a series that fits is returned as it is."""
    if width <= 0:
        return []
    if len(values) <= width:
        return list(values)
    step = len(values) / width
    cells: list[float | None] = []
    for index in range(width):
        present = [v for v in values[int(index * step):int((index + 1) * step)] if v is not None]
        cells.append(aggregate(present) if present else None)
    return cells


def spark(values: Sequence[float | None], top: float | None = None) -> str:
    """A block per value from 0 to `top` (default: the largest); None (no traffic) is a space, 0 the
    lowest block and any other value a higher one, so no data, nothing and a little read apart."""
    present = [v for v in values if v is not None]
    scale = top if top is not None else max(present, default=0.0)
    cells: list[str] = []
    for value in values:
        if value is None:
            cells.append(" ")
        elif scale <= 0:
            cells.append(SPARKS[1])
        else:
            level = round(value / scale * (len(SPARKS) - 1))
            cells.append(SPARKS[min(len(SPARKS) - 1, max(1 if value <= 0 else 2, level))])
    return "".join(cells)


@dataclass(frozen=True)
class SparkSeries:
    """One line of the traffic panel: its label, one value per minute (None: no traffic) and the
    value shown after it (the window's figure)."""

    label: str
    values: list[float | None]
    current: str
    top: float | None = None
    """The value of a full block (None: the series' largest), so related lines share a scale."""
    aggregate: Aggregate = max
    """How neighbouring minutes merge when the line is narrower than the series."""


LABEL_WIDTH = 7
VALUE_WIDTH = 11
"""` 123.4 ms`: at 80 columns the hour's 60 minutes fit a block each."""


class Sparklines(Static):
    """Series drawn one per line: `req/s     ▁▂▃▅▇█▇▅▃   3.2/s`; redrawn to the widget's width."""

    DEFAULT_CSS = """
    Sparklines { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.series: list[SparkSeries] = []

    def show(self, series: list[SparkSeries]) -> None:
        self.series = series
        self.update(self.drawing())

    def drawing(self) -> Text:
        width = max((self.content_size.width or (self.app.size.width - 2)) - LABEL_WIDTH - VALUE_WIDTH, 8)
        text = Text(no_wrap=True, overflow="crop")
        for index, line in enumerate(self.series):
            if index:
                text.append("\n")
            text.append(line.label.ljust(LABEL_WIDTH)[:LABEL_WIDTH], style="bold")
            cells = squeeze(line.values, width, line.aggregate)
            text.append(spark(cells, line.top), style="cyan")
            text.append(line.current.rjust(VALUE_WIDTH))
        return text

    def on_resize(self) -> None:
        if self.series:
            self.update(self.drawing())


def share(value: float) -> str:
    return f"{value * 100:.0f}%"


def distribution_text(distribution: Distribution, width: int) -> Text:
    """A header line, then per class or bin: its label, training's share as a bar and a number, then the
    window's (`0  █████████░░  73%  ███████░░░░  61%`); bars are scaled to the largest share."""
    label_width = min(max((len(label) for label in distribution.labels), default=1), 16)
    bar_width = max((width - label_width - 2 * len(" 100% ") - 1) // 2, 4)
    top = max([*distribution.reference, *distribution.current, 0.0]) or 1.0
    text = Text(no_wrap=True, overflow="crop")
    column = bar_width + len(" 100% ")
    text.append(" " * (label_width + 1) + "training".ljust(column) + "live", style="dim")
    for index, label in enumerate(distribution.labels):
        text.append("\n" + safe_text(label)[:label_width].ljust(label_width) + " ", style="bold")
        for values, style in ((distribution.reference, "dim"), (distribution.current, "cyan")):
            value = values[index] if index < len(values) else 0.0
            filled = round(bar_width * value / top)
            text.append(BAR_FULL * filled, style=style)
            text.append(BAR_EMPTY * (bar_width - filled), style="dim")
            text.append(f" {share(value):>4} ")
    return text
