"""Monitoring: replicas' records, feedback labels, a model alias's live health over a window, the
overview's health lines and the Prometheus exposition.

Traffic over a time window is read from the per-minute rollups (whole minutes: the window starts at
the minute `window` ago began); over a window of rows (`5000r`) from the alias's last prediction rows.
Drift and performance read the window's sampled rows (and the drift summaries)."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from mlops_tui.contract.monitoring import (
    DriftStatus,
    Feedback,
    FeedbackAck,
    HealthList,
    LatencyQuantiles,
    MinutePoint,
    ModelHealth,
    MonitorStatus,
    Performance,
    RecordAck,
    RecordBatch,
)
from mlops_tui.contract.registry import ALIAS_MOVES

from ..clock import now_ms
from ..db import Database
from ..errors import Invalid, NotFound
from ..monitoring.drift import rules_of
from ..monitoring.exposition import Exposition, Labels
from ..monitoring.latency import Traffic
from ..monitoring.performance import Labeled, infer_task, live_metrics
from ..monitoring.recorder import Recorder
from ..monitoring.rollup import MINUTE_MS, minute_of, stored_traffic
from ..monitoring.watch import DriftCache, WindowDrift, profile_of, window_drift
from ..monitoring.windows import Window, parse_window
from ..store import monitoring as store
from ..store import registry as registry_store
from ..store.rows import VersionRow
from .registry import check_alias, check_name

DEFAULT_ALIAS = "production"
SERIES_MINUTES = 60
HEALTH_MINUTES = 5
"""The overview's health lines cover the last this many minutes."""
MAX_LABEL_TEXT = 200
DRIFT_CACHE = DriftCache()
"""Counts-only drift for the overview and /metrics (keyed by database file, so apps never share entries)."""
TRAINING_METRICS = {"classification": ("accuracy", "f1", "roc_auc"), "regression": ("rmse", "mae")}

# --- records from replicas ------------------------------------------------------------------


def receive_records(recorder: Recorder, batch: RecordBatch) -> RecordAck:
    """Queue a replica's records for the recorder (stored off the request path, like the backend's own)."""
    accepted = recorder.submit(batch.records, batch.source, batch.dropped)
    return RecordAck(accepted=accepted, dropped_total=recorder.dropped_total)


# --- feedback -----------------------------------------------------------------------------------


def send_feedback(db: Database, recorder: Recorder, name: str, body: Feedback) -> FeedbackAck:
    """Store the labels of this model's recorded predictions; the other request ids are listed as unknown.
    Records still queued are written first, so a label sent right after its prediction is found."""
    registry_store.get_model(db, check_name(name))
    labels = {label.request_id: _label_json(label.label, f"labels[{index}].label")
              for index, label in enumerate(body.labels)}
    ids = list(labels)
    known = store.requests_of(db, name, ids)
    if len(known) < len(ids) and recorder.pending:
        recorder.flush(timeout=5.0)
        known = store.requests_of(db, name, ids)
    store.put_labels(db, name, ((i, labels[i]) for i in ids if i in known), now_ms())
    return FeedbackAck(accepted=len(known), unknown=[i for i in ids if i not in known])


def _label_json(value: Any, field: str) -> str:
    """A true label as stored: a class (text, integer, boolean) or a finite number."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{field} must be a finite number", field)
    if isinstance(value, str) and len(value) > MAX_LABEL_TEXT:
        raise Invalid(f"{field} is longer than {MAX_LABEL_TEXT} characters", field)
    if value is None or not isinstance(value, str | int | float | bool):
        raise Invalid(f"{field} must be a class (text, integer, boolean) or a number", field)
    return json.dumps(value)


# --- a model alias's live health --------------------------------------------------------------


def resolve_alias(db: Database, name: str, alias: str | None) -> tuple[str, int]:
    """The alias to watch and the version it points at: the one named, else `production`, else the
    model's only alias; Invalid naming `alias` when the model has none or several and none is named."""
    registry_store.get_model(db, check_name(name))
    held = registry_store.alias_map(db, name)
    if alias is not None:
        if check_alias(alias) not in held:
            raise NotFound(f"{name}@{alias} points at no version", "alias")
        return alias, held[alias]
    if DEFAULT_ALIAS in held:
        return DEFAULT_ALIAS, held[DEFAULT_ALIAS]
    if len(held) == 1:
        return next(iter(held.items()))
    if not held:
        raise Invalid(f"model {name!r} has no alias to watch: promote a version first", "alias")
    raise Invalid(f"model {name!r} has several aliases ({', '.join(sorted(held))}) and none is "
                  f"{DEFAULT_ALIAS!r}: name one", "alias")


def monitor_status(db: Database, recorder: Recorder, name: str, alias: str | None, window_text: str | None,
                   now: int | None = None, at: int | None = None) -> MonitorStatus:
    """The alias's health over the window (the model's `[monitor] window` when None). `at` (epoch ms): as
    it was then: the version the alias held at that moment, and only what was recorded before it (a
    time window; a window of the last N rows counts them back from now)."""
    if window_text is not None:
        parse_window(window_text)  # a bad window is refused before anything is looked up
    alias, version = resolve_alias(db, name, alias)
    if at is not None:
        version = held_at(db, name, alias, at) or version
        now = at
    row = registry_store.get_version(db, name, version)
    window = parse_window(window_text or rules_of(row.get("pipeline")).window)
    now = now_ms() if now is None else now
    since, traffic = window_traffic(db, name, alias, window, now, until=at)
    drift = window_drift(db, name, alias, version, row.get("pipeline"), window, since, until=at)
    found = performance(db, row, alias, since, until=at)
    found.estimated, found.estimated_rows = drift.estimated, drift.estimated_rows
    return MonitorStatus(
        model=name, alias=alias, version=version, window=window.text, since=since,
        requests=traffic.requests, errors=traffic.errors, rows=traffic.rows,
        requests_per_second=traffic.requests / max((now - since) / 1000, 1.0),
        latency_ms=quantiles(traffic), drift=drift.features, prediction_drift=drift.prediction,
        prediction_distribution=drift.distribution, performance=found,
        series=series(db, name, alias, now), dropped=recorder.dropped_total,
        sampled_rows=store.sampled_rows(db, name, alias, since, until=at))


def held_at(db: Database, name: str, alias: str, at: int) -> int | None:
    """The version `alias` pointed at at `at` (epoch ms), from the audit of its moves; None when it had
    not been set yet."""
    moves = [event for event in registry_store.events(db, name, until=at, alias=alias)
             if event["action"] in ALIAS_MOVES and event.get("to_version") is not None]
    return int(moves[-1]["to_version"]) if moves else None


def window_start(db: Database, name: str, alias: str, window: Window, now: int) -> int:
    """Epoch ms: the start of the minute `window` ago, or the time of the oldest of the alias's last rows."""
    if window.rows is None:
        return max(minute_of(now - (window.seconds or 0) * 1000), 0)
    found = store.last_rows_since(db, name, alias, window.rows)
    return now if found is None else found


def window_traffic(db: Database, name: str, alias: str, window: Window, now: int,
                   until: int | None = None) -> tuple[int, Traffic]:
    """The window's start (epoch ms) and its traffic (a time window's minutes before `until`, when given)."""
    since = window_start(db, name, alias, window, now)
    if window.rows is None:
        return since, merged(store.minutes_since(db, since, name, alias, until=until))
    rows, requests = store.raw_traffic(db, name, alias, since)
    traffic = Traffic()
    for latency, status in requests:
        traffic.add(latency, 0, status != "ok")
    traffic.rows = rows
    return since, traffic


def merged(minutes: Sequence[dict[str, Any]]) -> Traffic:
    traffic = Traffic()
    for minute in minutes:
        traffic.merge(stored_traffic(minute))
    return traffic


def quantiles(traffic: Traffic) -> LatencyQuantiles:
    return LatencyQuantiles(p50=traffic.quantile(0.5), p95=traffic.quantile(0.95), p99=traffic.quantile(0.99))


def series(db: Database, name: str, alias: str, now: int) -> list[MinutePoint]:
    """The last hour, a point per minute, the quiet minutes as zeros."""
    first = minute_of(now) - (SERIES_MINUTES - 1) * MINUTE_MS
    by_minute: dict[int, Traffic] = {}
    for stored in store.minutes_since(db, first, name, alias):
        by_minute.setdefault(stored["minute"], Traffic()).merge(stored_traffic(stored))
    points = []
    for index in range(SERIES_MINUTES):
        minute = first + index * MINUTE_MS
        traffic = by_minute.get(minute, Traffic())
        points.append(MinutePoint(minute=minute, requests=traffic.requests, errors=traffic.errors,
                                  **quantiles(traffic).model_dump()))
    return points


def performance(db: Database, version: VersionRow, alias: str, since: int, until: int | None = None) -> Performance:
    """Live performance from the feedback labels of the window's sampled rows (before `until`, when
    given), beside the holdout's."""
    labeled = [Labeled(json.loads(output), None if proba is None else json.loads(proba), json.loads(label))
               for output, proba, label in store.labeled_rows(db, version["name"], alias, since, until=until)]
    pipeline = version.get("pipeline") or {}
    profile = profile_of(db, version["name"], version["version"]) or {}
    task = next((t for t in (pipeline.get("task"), profile.get("task")) if t in TRAINING_METRICS), None)
    task = task or infer_task(labeled)
    pos_label = (pipeline.get("evaluate") or {}).get("pos_label")
    actual = live_metrics(labeled, task, pos_label, profile.get("classes")) if task else {}
    training = {k: v for k, v in version["metrics"].items() if task and k in TRAINING_METRICS[task]}
    return Performance(task=task, labeled=len(labeled), actual=actual, estimated={}, training=training)


def cached_drift(db: Database, held: dict[str, Any], window: Window | None = None) -> WindowDrift:
    """Counts-only drift of an alias (`{"name", "alias", "version"}`) over `window` ending now (the model's
    `[monitor] window` when None), from `DRIFT_CACHE`."""
    pipeline = registry_store.get_version(db, held["name"], held["version"]).get("pipeline")
    window = window or parse_window(rules_of(pipeline).window)
    since = window_start(db, held["name"], held["alias"], window, now_ms())
    return DRIFT_CACHE.get(db, held["name"], held["alias"], held["version"], pipeline, window, since)


# --- the overview -------------------------------------------------------------------------------


def health(db: Database, now: int | None = None) -> HealthList:
    """Each model alias's last `HEALTH_MINUTES` minutes: requests/s, p95, error rate, features drifting
    (from the drift summaries alone, cached for `DRIFT_CACHE.seconds`)."""
    now = now_ms() if now is None else now
    since = minute_of(now) - (HEALTH_MINUTES - 1) * MINUTE_MS
    by_alias: dict[tuple[str, str], Traffic] = {}
    for minute in store.minutes_since(db, since):
        by_alias.setdefault((minute["name"], minute["alias"]), Traffic()).merge(stored_traffic(minute))
    seconds = max((now - since) / 1000, 1.0)
    lines = []
    window = Window(f"{HEALTH_MINUTES}m", seconds=HEALTH_MINUTES * 60)
    for held in store.aliases(db):
        traffic = by_alias.get((held["name"], held["alias"]), Traffic())
        drift = cached_drift(db, held, window)
        lines.append(ModelHealth(model=held["name"], alias=held["alias"], version=held["version"],
                                 requests_per_second=traffic.requests / seconds, p95_ms=traffic.quantile(0.95),
                                 error_rate=traffic.errors / traffic.requests if traffic.requests else 0.0,
                                 drifting=sum(f.status == DriftStatus.DRIFT for f in drift.features)))
    return HealthList(models=lines)


# --- Prometheus --------------------------------------------------------------------------------


def metrics_text(db: Database, recorder: Recorder) -> str:
    """Every counter, gauge and histogram `GET /metrics` shows."""
    totals = sorted(recorder.traffic_totals().items())
    labeled: list[tuple[Labels, Traffic]] = [({"model": name, "version": version, "alias": alias}, t)
                                             for (name, version, alias), t in totals]
    out = Exposition()
    out.family("mlops_prediction_requests", "counter", "Prediction requests answered, since the backend started.",
               (("_total", labels, t.requests) for labels, t in labeled))
    out.family("mlops_prediction_errors", "counter", "Prediction requests that failed (refused input, model error).",
               (("_total", labels, t.errors) for labels, t in labeled))
    out.family("mlops_prediction_rows", "counter", "Rows predicted.",
               (("_total", labels, t.rows) for labels, t in labeled))
    out.histogram("mlops_prediction_latency_seconds", "Time to answer a prediction request.", labeled)
    out.family("mlops_drift_psi", "gauge", "PSI of each input feature (and `prediction`) against the training "
               "reference over the model's [monitor] window (recomputed at most every 30 s).", drift_samples(db))
    out.family("mlops_jobs", "gauge", "Jobs by status.",
               (("", {"status": status}, count) for status, count in sorted(store.job_counts(db).items())))
    ingest = store.ingest_counts(db)
    out.family("mlops_metric_points_logged", "counter", "Metric points logged to runs (as stored).",
               [("_total", {}, ingest["metric_points"])])
    out.family("mlops_params_logged", "counter", "Params logged to runs (as stored).",
               [("_total", {}, ingest["params"])])
    out.family("mlops_monitoring_records_received", "counter", "Prediction records submitted, by source.",
               (("_total", {"source": source}, count) for source, count in sorted(recorder.received.items())))
    out.family("mlops_monitoring_records_dropped", "counter",
               "Prediction records dropped (the recorder's queue or a replica's buffer was full).",
               [("_total", {}, recorder.dropped_total)])
    return out.text()


def drift_samples(db: Database) -> list[tuple[str, Labels, float]]:
    found: list[tuple[str, Labels, float]] = []
    for held in store.aliases(db):
        drift = cached_drift(db, held)
        for feature in [*drift.features, *([drift.prediction] if drift.prediction else [])]:
            if feature.psi is not None:
                found.append(("", {"model": held["name"], "alias": held["alias"], "version": held["version"],
                                   "feature": feature.feature}, feature.psi))
    return found
