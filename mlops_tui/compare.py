"""Side-by-side comparison of runs, shared by `mlops runs compare` and the console's compare view."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Run

_LOWER_IS_BETTER = re.compile(r"(loss|error|err|rmse|mse|mae|mape|log_?loss|time|latency|size|cost|memory|cpu)",
                              re.IGNORECASE)


def lower_is_better(key: str) -> bool:
    """Whether smaller values of the metric are better, judged by its name (loss, rmse, ...)."""
    return bool(_LOWER_IS_BETTER.search(key))


@dataclass(frozen=True)
class ParamRow:
    key: str
    values: list[str | None]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass(frozen=True)
class MetricRow:
    key: str
    values: list[float | None]
    best: int | None
    """Index of the run with the best value (lowest for loss-like keys, else highest)."""

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def param_rows(runs: list[Run], only_diff: bool = False) -> list[ParamRow]:
    keys = sorted({key for run in runs for key in run.params})
    rows = [ParamRow(key, [run.params.get(key) for run in runs]) for key in keys]
    return [row for row in rows if row.differs] if only_diff else rows


def metric_rows(runs: list[Run], only_diff: bool = False) -> list[MetricRow]:
    keys = sorted({key for run in runs for key in run.metrics})
    rows = []
    for key in keys:
        values = [run.metrics.get(key) for run in runs]
        present = [(value, index) for index, value in enumerate(values) if value is not None]
        best = None
        if len(present) > 1 and len({v for v, _ in present}) > 1:
            best = (min(present) if lower_is_better(key) else max(present, key=lambda p: (p[0], -p[1])))[1]
        rows.append(MetricRow(key, values, best))
    return [row for row in rows if row.differs] if only_diff else rows
