"""A model version's holdout, rebuilt from its dataset version and the split its pipeline recorded,
and what is measured on it at promotion time: scores and single-row prediction latency.

The split is `sweep.split` itself on the same table with the same `[data.split]` (test size, seed,
stratify, time column) and `[features]`, so the rows are exactly the ones the version was scored on
when it trained. Any model can be scored on those rows through the columns its own signature lists.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import scoring, sweep
from .config import from_dict

WARMUP = 3
"""Predictions made before latency is timed (first calls pay for lazy imports and caches)."""


@dataclass(frozen=True)
class Holdout:
    rows: pd.DataFrame
    """The holdout rows with every column of the dataset (any version takes the columns it needs)."""
    y: pd.Series
    task: str
    classes: np.ndarray
    pos_label: Any
    """The positive class as at training (binary f1, precision, recall)."""
    metric: str
    """The primary metric of the pipeline, and whether it is maximized or minimized."""
    direction: str
    inputs: list[str]
    """The columns the pipeline's model reads, in signature order."""
    seed: int
    description: str
    """What the scores are computed on: `churn@1 holdout: 1000 rows, seed 7`."""


def rebuild(pipeline: dict[str, Any], frame: pd.DataFrame, ref: str) -> Holdout:
    """The holdout of the pipeline (as its `pipeline.json` holds it) on `frame`, the dataset version
    `ref`. Raises `Invalid` for a pipeline that no longer validates, ValueError/KeyError for data the
    split cannot use."""
    config = from_dict(pipeline)
    data = sweep.split(config, frame)
    metric, direction = sweep.primary(config, len(data.classes))
    split = config.data.split
    how = (f"the latest {split.test_size:.0%} by {split.time_column}" if split.time_column
           else f"seed {split.seed}")
    return Holdout(frame.loc[data.x_test.index], data.y_test, config.task, data.classes, data.pos_label, metric,
                   direction, list(data.columns.inputs), split.seed,
                   f"{ref} holdout: {len(data.x_test):,} rows, {how}")


def missing_columns(holdout: Holdout, columns: list[str]) -> list[str]:
    return [column for column in columns if column not in holdout.rows.columns]


def score(model: Any, holdout: Holdout, metrics: list[str], columns: list[str]) -> dict[str, float | str]:
    """Each metric of `model` on the holdout rows (through `columns`, in the model's signature order), or
    why it cannot be computed: not a metric of the task, or the model lacks what it needs."""
    known = scoring.known(holdout.task)
    scorers = scoring.scorers(holdout.task, [m for m in metrics if m in known], holdout.classes, model,
                              holdout.pos_label)
    x = holdout.rows[columns]
    found: dict[str, float | str] = {}
    for metric in metrics:
        if metric not in known:
            found[metric] = f"{metric} is not a {holdout.task} metric"
        elif metric not in scorers:
            found[metric] = f"{metric} needs predict_proba, which this model lacks"
        else:
            try:
                value = float(scorers[metric](model, x, holdout.y)) * scoring.sign(metric)
            except (ValueError, TypeError, AttributeError) as error:
                found[metric] = f"{metric} cannot be computed: {error}"
                continue
            found[metric] = value if math.isfinite(value) else f"{metric} is not finite ({value})"
    return found


def p95_latency_ms(model: Any, rows: pd.DataFrame, count: int, seed: int) -> float:
    """The 95th percentile of single-row `predict` time, in ms, over `count` rows sampled from `rows`
    (repeated when there are fewer), after `WARMUP` untimed predictions.

    The time is the CPU time this process spends (all its threads, so a model that predicts on several
    threads counts each): what the wall clock would show on an idle machine, and the same verdict for
    the same model whatever else the machine is busy with."""
    sample = rows.sample(n=count, replace=count > len(rows), random_state=seed)
    singles = [sample.iloc[[index]] for index in range(len(sample))]
    for single in singles[:WARMUP]:
        model.predict(single)
    times = []
    for single in singles:
        started = time.process_time()
        model.predict(single)
        times.append((time.process_time() - started) * 1000)
    return float(np.percentile(times, 95))
