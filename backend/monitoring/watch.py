"""A window's drift and estimated performance for a model alias: the drift helpers (`drift.py`,
`estimate.py`) fed with the window's data.

Over a time window, the bin counts come from the per-minute drift summaries (every sampled row of
the window, merged) and KS / Wasserstein read the window's newest `VALUE_ROWS` sampled rows; over a
window of rows (`5000r`), everything reads those rows (at most `MAX_WINDOW_ROWS`, the newest). Drift is
the version's: every row the alias's current version answered in the window (through any alias, or its
version route) is compared with that version's reference, as its per-minute summaries count them."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_tui.contract.monitoring import Distribution, FeatureDrift

from ..db import Database
from ..store import monitoring as store
from . import summaries
from .drift import VALUE_ROWS, assess, prediction_drift, rules_of
from .estimate import estimate
from .windows import Window

MAX_WINDOW_ROWS = 100_000
"""Rows a window of rows reads at most."""


@dataclass
class WindowDrift:
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    distribution: Distribution | None = None
    estimated: dict[str, float] = field(default_factory=dict)
    estimated_rows: int = 0


def profile_of(db: Database, name: str, version: int) -> dict[str, Any] | None:
    text = store.version_profile_of(db, name, version)
    return json.loads(text) if text else None


def window_drift(db: Database, name: str, alias: str, version: int, pipeline: dict[str, Any] | None,
                 window: Window, since: int, counts_only: bool = False, until: int | None = None) -> WindowDrift:
    """The window's drift per feature and of the predictions, and the estimated performance (empty
    without a profile). `counts_only`: from the summaries alone (cheap: the overview, /metrics, alert
    rules). `until` (epoch ms, exclusive): the end of a past window (a time window only)."""
    profile = profile_of(db, name, version)
    if profile is None:
        return WindowDrift()
    rules = rules_of(pipeline)
    limit = 0 if counts_only else VALUE_ROWS if window.rows is None else min(window.rows, MAX_WINDOW_ROWS)
    samples = store.window_samples(db, name, version, since, limit, until) if limit else []
    frame = pd.DataFrame.from_records([json.loads(inputs) for inputs, _, _ in samples]) if samples else None
    outputs = [json.loads(output) for _, output, _ in samples if output is not None]
    if window.rows is None:
        counts, predicted = summaries.merged(db, name, version, since, until)
        found = WindowDrift(assess(profile, frame, counts, rules))
        judged = prediction_drift(profile, outputs or None, predicted, rules)
    else:
        found = WindowDrift(assess(profile, frame, None, rules))
        judged = prediction_drift(profile, outputs or None, None, rules) if outputs else None
    if judged is not None:
        found.prediction, found.distribution = judged
    probabilities = [json.loads(proba) for _, _, proba in samples if proba is not None]
    found.estimated = estimate(profile, probabilities) if probabilities else {}
    found.estimated_rows = len(probabilities) if found.estimated else 0
    return found


class DriftCache:
    """Counts-only drift per alias, computed at most once per `seconds` (the overview's health lines and
    `/metrics` ask often; drift moves by the minute)."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self._found: dict[tuple[Any, ...], tuple[float, WindowDrift]] = {}
        self._lock = threading.Lock()

    def get(self, db: Database, name: str, alias: str, version: int, pipeline: dict[str, Any] | None,
            window: Window, since: int) -> WindowDrift:
        key = (str(db.path), name, alias, version, window.text)
        now = time.monotonic()
        with self._lock:
            cached = self._found.get(key)
        if cached is not None and now - cached[0] < self.seconds:
            return cached[1]
        found = window_drift(db, name, alias, version, pipeline, window, since, counts_only=True)
        with self._lock:
            self._found = {k: v for k, v in self._found.items() if now - v[0] < self.seconds}
            self._found[key] = (now, found)
        return found
