"""Checks of the target column that belong to validation (a job fails with exit 5 before training):
missing values, fewer than two classes, a class too rare for the folds, an unknown positive class."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .config import PipelineConfig
from .sweep import find_label


def rows_needed(config: PipelineConfig) -> int:
    """Rows a class needs so that the stratified holdout gets one and each cross-validation fold of the
    train part gets one: ceil(folds / train share) + 1, at least 2."""
    folds = max([model.cv for model in config.models] + [1])
    return max(2, math.ceil(folds / (1 - config.data.split.test_size)) + 1)


def problems(config: PipelineConfig, frame: pd.DataFrame) -> list[str]:
    """Every problem with the target, one sentence each (empty when it is fine)."""
    target = config.data.target
    if target not in frame.columns:
        return [f"target column {target!r} is missing"]
    values = frame[target]
    found = []
    missing = int(values.isna().sum())
    if missing:
        found.append(f"target column {target!r} has {missing:,} missing value(s) (of {len(values):,} rows): "
                     "drop or fill those rows")
    present = values.dropna()
    if config.task == "regression":
        if len(present) and not pd.api.types.is_numeric_dtype(present):
            found.append(f"target column {target!r} is not numeric ({present.dtype}); regression needs numbers")
        return found
    counts = present.value_counts()
    if len(counts) < 2:
        found.append(f"target column {target!r} has {len(counts)} class(es); classification needs at least two")
        return found
    need = rows_needed(config)
    for label, count in counts[counts < need].items():
        found.append(f"target column {target!r}: class '{label}' has {count} row(s); {need} are needed for a "
                     f"holdout and {max(m.cv for m in config.models)}-fold cross-validation")
    if len(counts) == 2 and config.evaluate.pos_label is not None:
        try:
            find_label(np.unique(present), config.evaluate.pos_label)
        except ValueError as error:
            found.append(str(error))
    return found
