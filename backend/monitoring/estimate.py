"""Performance before labels arrive: accuracy and ROC AUC estimated from the served probabilities,
through the calibration the version's profile fitted on its holdout (confidence-based estimation).

- accuracy: each row's top probability, mapped through the holdout's isotonic fit of "top probability
  → the prediction was right", is the chance that row is predicted right; their mean is the expected
  accuracy of the window.
- ROC AUC (binary): each row's positive-class probability, mapped through the holdout's isotonic fit of
  "probability → the row is positive", is the chance the row is positive; the expected AUC is the
  share of (positive, negative) pairs the score orders right, each pair weighted by the chance it is
  such a pair (ties count half).

The estimate holds while the relation between inputs and the target stays as at training (covariate
shift is fine: it is what the calibration maps); when that relation changes, only feedback labels see it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def estimate(profile: Mapping[str, Any] | None,
             probabilities: Sequence[Sequence[float]] | np.ndarray) -> dict[str, float]:
    """`{"accuracy": .., "roc_auc": ..}` (roc_auc for binary classifiers) from the window's served class
    probabilities (one row per prediction, in the model's class order); empty without a calibration or
    without rows."""
    calibration = (profile or {}).get("calibration")
    rows = np.asarray(probabilities, dtype="float64")
    if not calibration or rows.ndim != 2 or not len(rows):
        return {}
    found: dict[str, float] = {}
    confidence = calibration.get("confidence")
    if confidence:
        found["accuracy"] = float(_mapped(confidence, rows.max(axis=1)).mean())
    positive = calibration.get("positive")
    if positive and rows.shape[1] == 2:
        auc = expected_auc(rows[:, 1], _mapped(positive, rows[:, 1]))
        if auc is not None:
            found["roc_auc"] = auc
    return found


def _mapped(points: Mapping[str, Sequence[float]], values: np.ndarray) -> np.ndarray:
    """The isotonic fit at `values` (linear between its points, flat beyond them, as scikit-learn's)."""
    return np.interp(values, np.asarray(points["x"], dtype="float64"), np.asarray(points["y"], dtype="float64"))


def expected_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Σ over pairs i ≠ j of P(i positive)·P(j negative)·[score i > score j, ½ if equal], over the sum of
    the pair weights; None when no pair can be told apart (all positive or all negative)."""
    order = np.argsort(scores, kind="stable")
    s, p = scores[order], positive[order]
    n = 1.0 - p
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_group, neg_group = np.add.reduceat(p, starts), np.add.reduceat(n, starts)
    negatives_below = np.cumsum(neg_group) - neg_group
    ordered = float((pos_group * (negatives_below + 0.5 * neg_group)).sum() - 0.5 * (p * n).sum())
    weight = float(p.sum() * n.sum() - (p * n).sum())
    return ordered / weight if weight > 1e-12 else None
