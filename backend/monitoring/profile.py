"""A version's monitoring profile: what live traffic is compared with, computed once when the model is
trained (`profile.json` beside the model) and stored with the version at registration.

- `features`: per input feature, its frozen reference bins (`bins`), the training rows' counts in them,
  and for numeric features a bounded random sample of the training values (for Kolmogorov–Smirnov and
  Wasserstein), their mean and standard deviation.
- `prediction`: the same for the model's predictions on the holdout (class shares of a classifier,
  binned values of a regressor).
- `noise` (inside each entry): the 95th and 99th percentiles of the PSI that chance alone gives, per
  window size, found by bootstrapping the reference against itself: `BOOTSTRAP` times, a resample of
  the reference's counts is compared with a window of n rows drawn from the same counts (both
  multinomial over the bins, which is what resampling rows does to binned counts). PSI's noise grows as
  the window shrinks (about (bins - 1) / n), so the thresholds are kept for every size in `SIZES`.
- `calibration` (classifiers with `predict_proba`): isotonic fits on the holdout of the predicted
  probability against what happened: the top probability against "the prediction was right", and
  (binary) the positive class's probability against "the row was positive". `estimate` reads them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_tui.contract import atomic

from . import bins
from .stats import psi_rows

FORMAT = 1
SAMPLE = 2_000
"""Reference values kept per numeric feature (and for a regressor's predictions): the KS sample."""
BOOTSTRAP = 400
SIZES = (20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000)
"""Window sizes (rows) the PSI noise is calibrated for; between them it is interpolated (log-log)."""


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def build(x_train: pd.DataFrame, x_holdout: pd.DataFrame, y_holdout: pd.Series, model: Any, task: str,
          seed: int = 0) -> dict[str, Any]:
    """The profile of `model` trained on `x_train` and scored on `x_holdout` (the same columns), whose true
    values are `y_holdout`."""
    rng = np.random.default_rng(seed)
    features = {str(column): reference_entry(x_train[column], rng) for column in x_train.columns}
    predicted = pd.Series(model.predict(x_holdout))
    profile: dict[str, Any] = {"format": FORMAT, "task": task, "reference_rows": len(x_train),
                               "holdout_rows": len(x_holdout), "features": features, "prediction": None,
                               "classes": None, "calibration": None}
    if task == "classification":
        classes = list(getattr(model, "classes_", pd.unique(predicted)))
        profile["classes"] = [plain(c) for c in classes]
        entry = {"kind": "categorical", "values": [str(plain(c)) for c in classes]}
        profile["prediction"] = with_reference(entry, predicted, rng)
        if hasattr(model, "predict_proba"):
            profile["calibration"] = calibration(np.asarray(model.predict_proba(x_holdout), dtype="float64"),
                                                 classes, y_holdout)
    else:
        profile["prediction"] = reference_entry(predicted.astype("float64"), rng)
    return profile


def reference_entry(values: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    """A feature's bins, counts, noise and (numeric) sample, mean and std."""
    if is_numeric(values):
        found = bins.numbers(values)
        entry = bins.numeric_entry(found)
        finite = found[~np.isnan(found)]
        sample = rng.choice(finite, size=min(SAMPLE, len(finite)), replace=False) if len(finite) else finite
        entry.update(sample=[float(f"{v:.7g}") for v in np.sort(sample)],
                     mean=float(finite.mean()) if len(finite) else None,
                     std=float(finite.std(ddof=1)) if len(finite) > 1 else None)
        return with_reference(entry, values, rng)
    return with_reference(bins.categorical_entry(values), values, rng)


def with_reference(entry: dict[str, Any], values: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    counts = bins.counts(entry, values)
    entry["counts"] = [int(c) for c in counts]
    entry["noise"] = psi_noise(counts, rng)
    return entry


def psi_noise(counts: np.ndarray, rng: np.random.Generator) -> dict[str, list[float]]:
    """The 95th and 99th percentile of PSI between a resample of `counts` and a window of n rows drawn
    from them, for each n of `SIZES`."""
    total = int(counts.sum())
    if total == 0:
        return {"sizes": [], "q95": [], "q99": []}
    shares = counts / total
    q95, q99 = [], []
    for size in SIZES:
        reference = rng.multinomial(total, shares, size=BOOTSTRAP)
        window = rng.multinomial(size, shares, size=BOOTSTRAP)
        scores = psi_rows(reference, window)
        q95.append(float(f"{np.quantile(scores, 0.95):.6g}"))
        q99.append(float(f"{np.quantile(scores, 0.99):.6g}"))
    return {"sizes": list(SIZES), "q95": q95, "q99": q99}


def calibration(probabilities: np.ndarray, classes: list[Any], y_true: pd.Series) -> dict[str, Any] | None:
    """Isotonic fits on the holdout, as the points (`x`, `y`) of a piecewise-linear non-decreasing map:
    `confidence`, the top probability → P(the prediction is right); `positive` (binary), the second
    class's probability → P(the row is of the second class). None with fewer than 10 holdout rows."""
    if len(probabilities) < 10 or probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
        return None
    truth = np.asarray(y_true)
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    right = (predicted == truth).astype("float64")
    maps = {"confidence": _isotonic(probabilities.max(axis=1), right)}
    if len(classes) == 2:
        maps["positive"] = _isotonic(probabilities[:, 1], (truth == classes[1]).astype("float64"))
    return {"rows": len(truth), **maps}


def _isotonic(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return {"x": [float(v) for v in fitted.X_thresholds_], "y": [float(v) for v in fitted.y_thresholds_]}


def plain(value: Any) -> Any:
    """numpy scalars as JSON values (`np.int64(1)` → 1)."""
    found = value.item() if hasattr(value, "item") else value
    return None if isinstance(found, float) and not math.isfinite(found) else found


def save(folder: Path, profile: dict[str, Any], name: str) -> Path:
    path = folder / name
    atomic.write_text(path, json.dumps(profile, separators=(",", ":")))
    return path
