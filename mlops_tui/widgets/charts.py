"""Metric charts drawn in the terminal with plotext, from downsampled histories."""
from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from ..formatting import safe_text

MARKERS = ("braille", "x", "+", "o", "*", "#", "@", "%")
"""One marker per curve, so overlaid curves stay apart without colour."""


@dataclass(frozen=True)
class Series:
    """One curve: its legend label and its points."""

    label: str
    steps: list[int]
    values: list[float]


class MetricChart(PlotextPlot):
    """A line chart of one or more series; `show` replaces what is drawn."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.series: list[Series] = []
        self.title = ""

    def show(self, title: str, series: list[Series]) -> None:
        self.title, self.series = title, series
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(safe_text(title))
        drawn = [s for s in series if s.steps]
        for index, item in enumerate(drawn):
            label = safe_text(item.label) if len(drawn) > 1 else None
            plt.plot(item.steps, item.values, marker=MARKERS[index % len(MARKERS)], label=label)
        if not drawn:
            plt.text("no points yet", x=0.5, y=0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        plt.xlabel("step")
        self.refresh()
