"""Side-by-side comparison of runs, shared by `mlops runs compare` and the console's compare view,
and the one rule both (and the runs view's leaderboard) use to tell which value of a metric is best."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .contract import Run

_LOWER_WORDS = frozenset({
    "loss", "logloss", "error", "errors", "err", "rmse", "mse", "mae", "mape", "rmsle", "msle", "medae", "brier",
    "std", "stdev", "stddev", "sd", "deviance", "perplexity",
    "time", "seconds", "secs", "ms", "latency", "duration", "size", "bytes", "mb", "cost", "memory", "cpu",
})
"""Words that make a metric lower-is-better: losses and errors, spreads, time and size."""
_LOWER_INSIDE = ("loss", "error", "deviance", "rmse", "latency")
"""Fragments that count even inside a longer word (`valloss`, `trainerror`)."""
_WORD = re.compile(r"[a-z0-9]+")


def lower_is_better(key: str) -> bool:
    """Whether smaller values of the metric are better, judged by its name.

    Lower: losses and errors (`val_loss`, `rmse`, `test_error`), spreads (`cv_accuracy_std`),
    deviance, time and size (`fit_time_s`, `model_size_bytes`). A scikit-learn `neg_` score
    (`neg_log_loss`) is already negated, so higher is better. Everything else: higher."""
    words = _WORD.findall(key.lower())
    if words and words[0] == "neg":
        return False
    return any(word in _LOWER_WORDS for word in words) or any(
        fragment in word for word in words for fragment in _LOWER_INSIDE)


def best_index(values: list[float | None], lower: bool) -> int | None:
    """Index of the best of `values` (None ignored; the first on a tie); None when fewer than two
    values are present or all are equal."""
    present = [(value, index) for index, value in enumerate(values) if value is not None]
    if len(present) < 2 or len({value for value, _ in present}) < 2:
        return None
    return min(present, key=lambda p: (p[0] if lower else -p[0], p[1]))[1]


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
    def lower_is_better(self) -> bool:
        return lower_is_better(self.key)

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
        rows.append(MetricRow(key, values, best_index(values, lower_is_better(key))))
    return [row for row in rows if row.differs] if only_diff else rows
