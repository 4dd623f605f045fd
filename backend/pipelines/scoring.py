"""Metrics by task, as scikit-learn scorers used for both cross-validation and the holdout."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, get_scorer, make_scorer, precision_score, recall_score

CLASSIFICATION = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
REGRESSION = ("rmse", "mae", "r2")
MINIMIZED = {"log_loss", "rmse", "mae"}
_NEGATED = {"log_loss": "neg_log_loss", "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"}

Scorer = Callable[[Any, Any, Any], float]


def known(task: str) -> tuple[str, ...]:
    return CLASSIFICATION if task == "classification" else REGRESSION


def default_primary(task: str, n_classes: int) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if n_classes == 2 else "accuracy"


def direction(metric: str) -> str:
    return "minimize" if metric in MINIMIZED else "maximize"


def scorers(task: str, metrics: list[str], classes: np.ndarray, estimator: Any,
            pos_label: Any = None) -> dict[str, Scorer]:
    """Scorers for the metrics that apply to this estimator (log_loss needs predict_proba). Binary f1,
    precision and recall score `pos_label` (default: the last sorted class); roc_auc does not depend on it."""
    result: dict[str, Scorer] = {}
    binary = task == "classification" and len(classes) == 2
    for metric in metrics:
        if metric == "log_loss" and not hasattr(estimator, "predict_proba"):
            continue
        if metric in ("f1", "precision", "recall"):
            function = {"f1": f1_score, "precision": precision_score, "recall": recall_score}[metric]
            if binary:
                result[metric] = make_scorer(function, pos_label=classes[-1] if pos_label is None else pos_label,
                                             zero_division=0)
            else:
                result[metric] = make_scorer(function, average="macro", zero_division=0)
        elif metric == "roc_auc":
            result[metric] = get_scorer("roc_auc" if binary else "roc_auc_ovr")
        else:
            result[metric] = get_scorer(_NEGATED.get(metric, metric))
    return result


def sign(metric: str) -> float:
    """Scorers for minimised metrics answer negative numbers; multiply by this to get the metric."""
    return -1.0 if metric in _NEGATED else 1.0
