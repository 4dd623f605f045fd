"""Live performance from feedback labels: each labeled row's served prediction against its true label.

Classifiers: accuracy, F1 (binary: of the positive class, the pipeline's `evaluate.pos_label` or the
last sorted class, as at training; multiclass: macro) and ROC AUC when every labeled row was served
with probabilities. Regressors: RMSE and MAE. A metric that cannot be computed (one class only,
labels of another type than the predictions) is left out rather than guessed."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, roc_auc_score

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Labeled:
    """One predicted row with its true label."""

    output: Any
    probabilities: list[float] | None
    label: Any


def infer_task(rows: Sequence[Labeled]) -> Task | None:
    """The task when the pipeline does not say: probabilities or non-numeric predictions make a
    classifier, numbers that are not all whole make a regressor."""
    if not rows:
        return None
    if any(r.probabilities is not None for r in rows):
        return "classification"
    numbers = [r.output for r in rows if isinstance(r.output, int | float) and not isinstance(r.output, bool)]
    if len(numbers) == len(rows) and any(not float(n).is_integer() for n in numbers):
        return "regression"
    return "classification"


def live_metrics(rows: Sequence[Labeled], task: Task, pos_label: Any = None,
                 classes: Sequence[Any] | None = None) -> dict[str, float]:
    """The metrics of `task` over `rows` (empty without rows). `classes`: the model's, in its probability
    columns' order (the version's profile has them); else the sorted classes seen."""
    if not rows:
        return {}
    try:
        found = _regression(rows) if task == "regression" else _classification(rows, pos_label, classes)
    except (TypeError, ValueError):  # labels that are not numbers for a regressor, mixed label types
        return {}
    return {key: value for key, value in found.items() if math.isfinite(value)}


def _regression(rows: Sequence[Labeled]) -> dict[str, float]:
    truth = np.array([float(r.label) for r in rows])
    predicted = np.array([float(r.output) for r in rows])
    return {"rmse": float(math.sqrt(mean_squared_error(truth, predicted))),
            "mae": float(mean_absolute_error(truth, predicted))}


def _classification(rows: Sequence[Labeled], pos_label: Any, model_classes: Sequence[Any] | None) -> dict[str, float]:
    truth = [r.label for r in rows]
    predicted = [r.output for r in rows]
    classes = list(model_classes) if model_classes else sorted({*truth, *predicted})
    found = {"accuracy": float(accuracy_score(truth, predicted))}
    if len(classes) <= 2:
        positive = pos_label if pos_label in classes else classes[-1]
        found["f1"] = float(f1_score(truth, predicted, pos_label=positive, average="binary", zero_division=0))
    else:
        found["f1"] = float(f1_score(truth, predicted, average="macro", zero_division=0))
    auc = _roc_auc(rows, classes)
    if auc is not None:
        found["roc_auc"] = auc
    return found


def _roc_auc(rows: Sequence[Labeled], classes: list[Any]) -> float | None:
    """ROC AUC from the served probabilities (a classifier's probability columns follow its sorted
    classes); None when a row has none, their width is not the number of classes, or only one class
    was labeled."""
    if any(r.probabilities is None for r in rows) or len({r.label for r in rows}) < 2:
        return None
    scores = np.array([r.probabilities for r in rows], dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        return None
    truth = [r.label for r in rows]
    try:
        if len(classes) == 2:
            return float(roc_auc_score([label == classes[1] for label in truth], scores[:, 1]))
        return float(roc_auc_score(truth, scores, multi_class="ovr", labels=classes))
    except ValueError:  # a class never labeled (one-vs-rest needs each)
        return None
