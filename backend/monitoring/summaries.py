"""Mergeable drift summaries: per version, minute and feature, the sampled inputs' counts over the
version's frozen reference bins (`drift_minutes`). A window of any length is the bin-by-bin sum of its
minutes, so memory and time stay bounded whatever the traffic; PSI, Jensen–Shannon and chi-square
are computed on the merged counts exactly as on the rows they summarize.

`DriftSummaries` is one of the recorder's writers: it runs in the recorder's thread, inside the
transaction that stores the batch's prediction rows.
"""
from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_tui.contract.monitoring import PredictionRecord, RecordStatus

from ..db import Database
from ..store import monitoring as store
from . import bins

PREDICTION_KEY = "__prediction__"
"""The `feature` under which the served predictions' counts are kept (no input column is named so)."""
MINUTE_MS = 60_000
PROFILES_KEPT = 16


class DriftSummaries:
    """The recorder writer that adds each batch's sampled rows to their minute's bin counts."""

    def __init__(self) -> None:
        self._profiles: OrderedDict[tuple[str, int], dict[str, Any] | None] = OrderedDict()
        """Profiles of recently recorded versions (a version's profile never changes once registered)."""

    def __call__(self, conn: sqlite3.Connection, batch: Sequence[tuple[str, PredictionRecord]]) -> None:
        groups: dict[tuple[str, int, int], list[PredictionRecord]] = {}
        for _, record in batch:
            if record.inputs is not None and record.status == RecordStatus.OK and record.version > 0:
                minute = record.time - record.time % MINUTE_MS
                groups.setdefault((record.name, record.version, minute), []).append(record)
        rows = []
        for (name, version, minute), records in groups.items():
            profile = self._profile(conn, name, version)
            if profile is not None:
                rows += [(name, version, minute, feature, int(found.sum()), [int(c) for c in found])
                         for feature, found in minute_counts(profile, records).items()]
        store.add_drift_counts(conn, rows)

    def _profile(self, conn: sqlite3.Connection, name: str, version: int) -> dict[str, Any] | None:
        key = (name, version)
        if key in self._profiles:
            self._profiles.move_to_end(key)
            return self._profiles[key]
        text = store.version_profile(conn, name, version)
        profile = json.loads(text) if text else None
        self._profiles[key] = profile
        if len(self._profiles) > PROFILES_KEPT:
            self._profiles.popitem(last=False)
        return profile


def minute_counts(profile: dict[str, Any], records: Sequence[PredictionRecord]) -> dict[str, np.ndarray]:
    """Counts over the profile's bins of each input feature the records carry, and of their outputs."""
    frame = pd.DataFrame.from_records([record.inputs or {} for record in records])
    found = {feature: bins.counts(entry, frame[feature])
             for feature, entry in (profile.get("features") or {}).items() if feature in frame.columns}
    outputs = [record.output for record in records if record.output is not None]
    if profile.get("prediction") and outputs:
        found[PREDICTION_KEY] = bins.counts(profile["prediction"], pd.Series(outputs, dtype="object"))
    return found


def merged(db: Database, name: str, version: int, since: int,
           until: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """A version's summed counts over `since`..`until` (epoch ms): per input feature, and the
    predictions' (None when none were kept): what `assess(counts=...)` and
    `prediction_drift(counts=...)` take."""
    totals: dict[str, np.ndarray] = {}
    with db.read() as conn:
        stored = store.drift_counts(conn, name, version, since, until)
    for feature, text in stored:
        counts = np.asarray(json.loads(text), dtype="int64")
        if feature not in totals:
            totals[feature] = counts
        elif len(totals[feature]) == len(counts):
            totals[feature] = totals[feature] + counts
    return totals, totals.pop(PREDICTION_KEY, None)
