"""The alert rules' evaluator: every round, each model's `[[monitor.alerts]]` rules are read against the
alias's live health in each of the rule's last `of_windows` windows, and alerts open, stay, or resolve.

Windows: the latest is the one `mlops monitor status --window` shows (from the start of the minute
`window` ago to now); the earlier ones lie before it, back to back, each `window` long (a window is a
whole number of minutes: the rollups are per minute). A rule fires when at least `min_breaches` of them
breach; a window with fewer rows than the rule's `min_rows` never breaches (except `no_traffic`), and
does not clear either: an active alert resolves only when enough windows with enough rows no longer
breach (a drift alert stays open while nobody calls the model, `no_traffic` says that).

A round reads each window of a (model, alias, version) once, whatever the number of rules reading it,
and only what its rules need (traffic from the per-minute rollups, drift from the per-minute drift
summaries, performance from the labeled or probability rows).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops_tui.contract.alerts import RULE_KINDS, Alert, AlertKind, AlertRule
from mlops_tui.contract.monitoring import FeatureDrift, Performance

from ..db import Database
from ..monitoring.drift import rules_of
from ..monitoring.estimate import estimate
from ..monitoring.latency import Traffic
from ..monitoring.rollup import MINUTE_MS, minute_of
from ..monitoring.watch import VALUE_ROWS, WindowDrift, profile_of, window_drift
from ..monitoring.windows import Window
from ..pipelines.promote import duration_ms
from ..services import alerts as alert_service
from ..services import lifecycle
from ..services.monitoring import merged, performance
from ..store import alerts as alert_store
from ..store import monitoring as monitoring_store
from ..store import registry as registry_store
from ..store.rows import VersionRow

DRIFT_KINDS = (AlertKind.DRIFT, AlertKind.PREDICTION_DRIFT)
T = TypeVar("T")


@dataclass(frozen=True)
class Span:
    """One window: epoch ms, `start` inclusive, `end` exclusive."""

    start: int
    end: int


def spans(now: int, window_ms: int, count: int) -> list[Span]:
    """The last `count` windows of `window_ms` (rounded up to whole minutes), latest first, the latest
    ending at `now` (inclusive)."""
    length = max(math.ceil(window_ms / MINUTE_MS), 1) * MINUTE_MS
    found, end = [], now + 1
    for index in range(count):
        start = max(minute_of(now - (index + 1) * length), 0)
        found.append(Span(start, end))
        end = start
    return found


@dataclass(frozen=True)
class Reading:
    """A rule's value in one window and whether it breached there."""

    value: float | None
    breached: bool
    bound: float | None = None
    """The threshold the value was compared with (a drift rule's calibrated `drift_at` without one)."""
    subject: str = ""
    """What the value is of: a feature's name, `live` or `estimated` accuracy."""
    judged: bool = True
    """False when the window had too few rows to tell: it neither breaches nor clears."""


class Facts:
    """What one round reads about the aliases' windows, each read once: traffic, drift, performance."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._found: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        if key not in self._found:
            self._found[key] = compute()
        return self._found[key]  # type: ignore[no-any-return]

    def version(self, name: str, version: int) -> VersionRow:
        return self._once(("version", name, version), lambda: registry_store.get_version(self.db, name, version))

    def profile(self, name: str, version: int) -> dict[str, Any] | None:
        return self._once(("profile", name, version), lambda: profile_of(self.db, name, version))

    def traffic(self, name: str, alias: str, span: Span) -> Traffic:
        return self._once(("traffic", name, alias, span), lambda: merged(
            monitoring_store.minutes_since(self.db, span.start, name, alias, until=span.end)))

    def drift(self, name: str, alias: str, version: int, span: Span) -> WindowDrift:
        """The version's drift in the window, from the per-minute summaries (PSI needs only the counts)."""
        pipeline = self.version(name, version).get("pipeline")
        window = Window(f"{(span.end - span.start) // 1000}s", seconds=(span.end - span.start) // 1000)
        return self._once(("drift", name, version, span), lambda: window_drift(
            self.db, name, alias, version, pipeline, window, span.start, counts_only=True, until=span.end))

    def performance(self, name: str, alias: str, version: int, span: Span) -> Performance:
        return self._once(("performance", name, alias, version, span), lambda: performance(
            self.db, self.version(name, version), alias, span.start, span.end))

    def estimated(self, name: str, version: int, span: Span) -> tuple[float | None, int]:
        """Accuracy estimated from the window's served probabilities, and on how many rows."""
        def compute() -> tuple[float | None, int]:
            rows = monitoring_store.window_probabilities(self.db, name, version, span.start, span.end, VALUE_ROWS)
            found = estimate(self.profile(name, version), [json.loads(row) for row in rows]) if rows else {}
            return found.get("accuracy"), len(rows)
        return self._once(("estimated", name, version, span), compute)


# --- one rule in one window -----------------------------------------------------------------------


def min_rows(rule: AlertRule, pipeline: dict[str, Any] | None) -> int:
    """The rule's `min_rows`, else the `[monitor] min_rows` for drift kinds and 1 for the others."""
    if rule.min_rows:
        return rule.min_rows
    return rules_of(pipeline).min_rows if rule.kind in DRIFT_KINDS else 1


def read(rule: AlertRule, facts: Facts, name: str, version: int, span: Span) -> Reading:
    """The rule's value in one window of the alias's traffic, and whether it breached there."""
    least = min_rows(rule, facts.version(name, version).get("pipeline"))
    if rule.kind in DRIFT_KINDS:
        drift = facts.drift(name, rule.alias, version, span)
        if rule.kind == AlertKind.PREDICTION_DRIFT:
            found = [drift.prediction] if drift.prediction else []
        else:
            found = [f for f in drift.features if rule.feature is None or f.feature == rule.feature]
        return _drift_reading(rule, found, least)
    if rule.kind in (AlertKind.ACCURACY, AlertKind.RMSE):
        return _performance_reading(rule, facts, name, version, span, least)
    traffic = facts.traffic(name, rule.alias, span)
    if rule.kind == AlertKind.NO_TRAFFIC:
        return Reading(float(traffic.requests), traffic.requests == 0, 0.0)
    if traffic.requests < max(least, 1):
        return Reading(None, False, rule.threshold, judged=False)
    if rule.kind == AlertKind.LATENCY_P95:
        value = traffic.quantile(0.95)
    else:
        value = traffic.errors / traffic.requests
    return Reading(value, value is not None and value > (rule.threshold or 0.0), rule.threshold)


def _drift_reading(rule: AlertRule, features: list[FeatureDrift], least: int) -> Reading:
    """A feature breaches when its PSI reaches the rule's threshold (the monitor's `drift_at` without
    one) on enough rows; the reading is of the worst breaching feature, else of the largest PSI."""
    readings = []
    for feature in features:
        bound = rule.threshold if rule.threshold is not None else feature.drift_at
        if feature.rows >= least and feature.psi is not None and bound is not None:
            readings.append(Reading(feature.psi, feature.psi >= bound, bound, feature.feature))
    if not readings:
        return Reading(None, False, rule.threshold, judged=False)
    return max(readings, key=lambda r: (r.breached, r.value or 0.0))


def _performance_reading(rule: AlertRule, facts: Facts, name: str, version: int, span: Span,
                         least: int) -> Reading:
    """Live accuracy (or RMSE) from the window's feedback labels; accuracy without enough labels is the
    one estimated from the served probabilities."""
    found = facts.performance(name, rule.alias, version, span)
    metric = rule.kind.value
    value, subject = found.actual.get(metric) if found.labeled >= least else None, "live"
    if value is None and rule.kind == AlertKind.ACCURACY:
        estimated, rows = facts.estimated(name, version, span)
        if estimated is not None and rows >= least:
            value, subject = estimated, "estimated"
    if value is None:
        return Reading(None, False, rule.threshold, subject, judged=False)
    bound = rule.threshold or 0.0
    breached = value < bound if rule.kind == AlertKind.ACCURACY else value > bound
    return Reading(value, breached, rule.threshold, subject)


# --- words ---------------------------------------------------------------------------------------


def describe(rule: AlertRule, reading: Reading, alias: str) -> str:
    """A reading in words: `monthly_charges drifted (PSI 0.41 ≥ 0.25)`."""
    value, bound = reading.value, reading.bound
    if rule.kind == AlertKind.NO_TRAFFIC:
        return f"no requests through {alias}" if reading.breached else f"{value:.0f} requests through {alias}"
    if value is None:
        return "no value (too few rows)"
    over = "≥" if reading.breached else "<"
    if rule.kind in DRIFT_KINDS:
        subject = "predictions" if rule.kind == AlertKind.PREDICTION_DRIFT else reading.subject
        verb = "drifted" if reading.breached else "within bounds"
        return f"{subject} {verb} (PSI {value:.2f} {over} {bound:.2f})"
    above = ">" if reading.breached else "≤"
    if rule.kind == AlertKind.LATENCY_P95:
        return f"p95 latency {value:.0f} ms {above} {bound:g} ms"
    if rule.kind == AlertKind.ERROR_RATE:
        return f"error rate {value:.1%} {above} {bound:.1%}"
    if rule.kind == AlertKind.ACCURACY:
        below = "<" if reading.breached else "≥"
        return f"{reading.subject} accuracy {value:.3f} {below} {bound:g}"
    return f"live RMSE {value:.4g} {above} {bound:g}"


def summary(rule: AlertRule, reading: Reading, breaches: int, alias: str) -> str:
    return (f"{describe(rule, reading, alias)} in {breaches} of the last {rule.of_windows} "
            f"{rule.window} window{'s' if rule.of_windows > 1 else ''}")


# --- a round ---------------------------------------------------------------------------------------


def evaluate(db: Database, now: int) -> None:
    """One round over every model's rules (see the module's docstring)."""
    active = alert_store.active_by_rule(db)
    resolved_at = alert_store.last_resolved_at(db)
    held = {(row["name"], row["alias"]): int(row["version"]) for row in monitoring_store.aliases(db)}
    facts = Facts(db)
    declared: set[tuple[str, str]] = set()
    models = lifecycle.all_models(db)
    for life in models:
        for rule in life.alerts:
            declared.add((life.name, rule.name))
            version = held.get((life.name, rule.alias))
            if version is not None:
                check(db, facts, life.name, version, rule, active.get((life.name, rule.name)),
                      resolved_at.get((life.name, rule.name)), now)
    known = {life.name for life in models}
    for (name, rule_name), alert in active.items():  # a rule taken out of the model's current pipeline file
        if alert.kind in RULE_KINDS and name in known and (name, rule_name) not in declared:
            alert_service.resolve_cleared(db, alert, f"the rule {rule_name!r} is no longer in the model's "
                                                     "pipeline file", alert.last_value, now)


def check(db: Database, facts: Facts, name: str, version: int, rule: AlertRule, alert: Alert | None,
          resolved_at: int | None, now: int) -> None:
    """One rule: open an alert when it fires (outside its cooldown), keep the active one's value while it
    fires, resolve it when it no longer does."""
    windows = spans(now, duration_ms(rule.window), rule.of_windows)
    readings = [read(rule, facts, name, version, span) for span in windows]
    breaching = [index for index, reading in enumerate(readings) if reading.breached]
    latest = readings[0]
    if len(breaching) >= rule.min_breaches:
        if alert is not None:
            alert_service.record_value(db, alert, latest.value, now)
            return
        if resolved_at is not None and now - resolved_at < duration_ms(rule.cooldown):
            return
        shown = readings[breaching[0]]  # the latest breaching window
        alert_service.open_alert(
            db, model=name, rule=rule.name, kind=rule.kind, message=summary(rule, shown, len(breaching), rule.alias),
            severity=rule.severity, alias=rule.alias, version=version, value=latest.value,
            threshold=shown.bound, window_start=windows[breaching[-1]].start, now=now)
    elif alert is not None:
        unknown = sum(not reading.judged for reading in readings)
        if len(breaching) + unknown < rule.min_breaches:  # silence is not a clearing: enough windows tell
            note = f"cleared: {summary(rule, latest, len(breaching), rule.alias)}"
            alert_service.resolve_cleared(db, alert, note, latest.value, now)


def task(db: Database) -> Callable[[int], None]:
    """The controller's periodic task."""
    return lambda now: evaluate(db, now)
