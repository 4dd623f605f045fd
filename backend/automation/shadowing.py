"""The "shadow" task: the rollback watch after an automatic promotion, and the compared rows' retention.

A move of `production` made by a retrain (audit actor `retrain:<id>`) is watched for its model's
`[retrain] rollback_window`: the new version's live traffic since the move is compared with the previous
version's over the same length before it. When the new one is worse (error rate higher by more than
`max_regression`; p95 latency over 1.5× the previous and above 10 ms; live accuracy, from labels or
else estimated, lower by more than `max_regression`, or RMSE higher by that share), with at least
`shadow_min_rows` requests (labeled or estimated rows, for accuracy) on each side, `production` is rolled
back, a critical `rollback` alert opens and the retrain is marked `rolled_back` with the reason.

Once per move: only the alias's newest move is watched, and only while the alias still holds what it
moved to, so after the rollback (itself the newest move) that promotion is never judged again.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, cast

from mlops_tui.contract.alerts import AlertKind, Severity
from mlops_tui.contract.retrain import RetrainPolicy

from ..db import Database
from ..errors import DomainError
from ..monitoring.estimate import estimate
from ..monitoring.latency import Traffic
from ..monitoring.performance import Labeled, Task, live_metrics
from ..monitoring.rollup import minute_of, stored_traffic
from ..monitoring.watch import profile_of
from ..pipelines.promote import duration_ms
from ..services import lifecycle, registry
from ..services.alerts import open_alert
from ..services.retrain import ACTOR_PREFIX
from ..services.shadow import task_of
from ..settings import Settings
from ..store import monitoring as monitoring_store
from ..store import registry as registry_store
from ..store import shadows as store
from .controller import Controller

ALIAS = "production"
ACTOR = "system:rollback"
RULE = "rollback-production"
SLOWER = 1.5
SLOW_MS = 10.0
ESTIMATE_ROWS = 20_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RolledBack:
    model: str
    from_version: int
    to_version: int
    reason: str
    alert_id: str | None
    error: str | None = None
    """Why the rollback itself was refused (the alert says so too)."""


def install(controller: Controller, settings: Settings, db: Database) -> None:
    def task(now: int) -> None:
        watch(db, settings, now)

    controller.add("shadow", task)


def watch(db: Database, settings: Settings, now: int) -> list[RolledBack]:
    """One round: every model's newest automatic promotion checked; what was rolled back."""
    store.delete_rows_before(db, now - int(settings.monitor_retention_days * DAY_MS))
    done = []
    for found in lifecycle.all_models(db):
        if found.retrain is None or found.retrain.rollback_window is None:
            continue
        try:
            rolled = check(db, settings, found.name, found.retrain, now)
        except DomainError as error:  # e.g. the model's versions changed under us: next round sees them
            print(f"rollback watch: {found.name}: {error.message}", file=sys.stderr, flush=True)
            continue
        if rolled is not None:
            done.append(rolled)
    return done


def check(db: Database, settings: Settings, name: str, policy: RetrainPolicy, now: int) -> RolledBack | None:
    """Roll `name@production` back when its newest move was automatic, recent and regressed."""
    move = store.last_alias_event(db, name, ALIAS)
    if move is None or move["action"] != "promote" or not str(move["actor"]).startswith(ACTOR_PREFIX):
        return None
    window = duration_ms(cast(str, policy.rollback_window))
    holder = registry_store.alias_holder(db, name, ALIAS)
    if (now - move["time"] > window or move["from_version"] is None or holder is None
            or holder["version"] != move["to_version"]):
        return None
    retrain_id = str(move["actor"])[len(ACTOR_PREFIX):]
    reason = regression(db, name, move, policy, window, now)
    if reason is None:
        return None
    refused = None
    try:
        registry.rollback(db, settings, name, ALIAS, ACTOR, reason=f"live regression after an automatic "
                                                                   f"promotion: {reason}")
    except DomainError as error:
        refused = error.message
    old, new = int(move["from_version"]), int(move["to_version"])
    message = (f"{name}@{ALIAS} rolled back from version {new} to {old}: {reason}" if refused is None else
               f"{name}/{new} regressed after an automatic promotion ({reason}) but the rollback was refused: "
               f"{refused}")
    alert = open_alert(db, model=name, rule=RULE, kind=AlertKind.ROLLBACK, message=message, severity=Severity.CRITICAL,
                       alias=ALIAS, version=new, now=now)
    if refused is None:
        store.mark_rolled_back(db, retrain_id, f"rolled back to version {old}: {reason}", now)
    return RolledBack(name, new, old, reason, alert.id if alert else None, refused)


def regression(db: Database, name: str, move: dict[str, Any], policy: RetrainPolicy, window: int,
               now: int) -> str | None:
    """Why the new version did worse since the move than the previous one over `window` before it, or None."""
    moved_at, new, old = int(move["time"]), int(move["to_version"]), int(move["from_version"])
    least, margin = policy.shadow_min_rows, policy.max_regression
    after, before = _traffic(db, name, new, moved_at, now + 1), _traffic(db, name, old, moved_at - window, moved_at)
    if after.requests >= least and before.requests:
        rate_after, rate_before = after.errors / after.requests, before.errors / before.requests
        if rate_after - rate_before > margin:
            return (f"error rate {rate_after:.1%} since the move against {rate_before:.1%} before it "
                    f"(margin {margin:.1%})")
        p95_after, p95_before = after.quantile(0.95), before.quantile(0.95)
        if p95_after is not None and p95_before is not None and p95_after > max(SLOWER * p95_before, SLOW_MS):
            return f"p95 latency {p95_after:.1f} ms since the move against {p95_before:.1f} ms before it"
    return _worse_performance(db, name, (new, moved_at, now + 1), (old, moved_at - window, moved_at), least, margin)


def _traffic(db: Database, name: str, version: int, since: int, until: int) -> Traffic:
    """The version's traffic through production in the minutes from `since`'s to `until`'s (its rollups)."""
    traffic = Traffic()
    for minute in monitoring_store.minutes_since(db, minute_of(since), name, ALIAS):
        if minute["version"] == version and minute["minute"] < until:
            traffic.merge(stored_traffic(minute))
    return traffic


Span = tuple[int, int, int]
"""(version, since, until): a version's rows through production in a time range."""


def _labeled(db: Database, name: str, span: Span) -> list[Labeled]:
    version, since, until = span
    return [Labeled(*(json.loads(v) if v is not None else None for v in row))
            for row in monitoring_store.labeled_rows(db, name, ALIAS, since, version, until)]


def _worse_performance(db: Database, name: str, after: Span, before: Span, least: int, margin: float) -> str | None:
    """Live accuracy (or RMSE) from labels when both spans have `least` labeled rows, else accuracy estimated
    from the served probabilities when both have `least` such rows."""
    labeled = [_labeled(db, name, span) for span in (after, before)]
    if all(len(rows) >= least for rows in labeled):
        task, pos_label, classes = task_of(db, name, after[0], labeled[0])
        if task is None:
            return None
        now_metrics, then = (live_metrics(rows, cast(Task, task), pos_label, classes) for rows in labeled)
        if "accuracy" in now_metrics and "accuracy" in then and then["accuracy"] - now_metrics["accuracy"] > margin:
            return (f"live accuracy {now_metrics['accuracy']:.3f} since the move against {then['accuracy']:.3f} "
                    f"before it ({len(labeled[0])} and {len(labeled[1])} labeled rows; margin {margin:.1%})")
        if "rmse" in now_metrics and "rmse" in then and now_metrics["rmse"] > then["rmse"] * (1 + margin):
            return f"live RMSE {now_metrics['rmse']:.4g} since the move against {then['rmse']:.4g} before it"
        return None
    served = [[json.loads(p) for p in store.served_probabilities(db, name, ALIAS, *span, ESTIMATE_ROWS)]
              for span in (after, before)]
    if not all(len(rows) >= least for rows in served):
        return None
    now_estimate, then_estimate = (estimate(profile_of(db, name, span[0]), rows)
                                   for span, rows in zip((after, before), served, strict=True))
    if "accuracy" in now_estimate and "accuracy" in then_estimate and \
            then_estimate["accuracy"] - now_estimate["accuracy"] > margin:
        return (f"estimated accuracy {now_estimate['accuracy']:.3f} since the move against "
                f"{then_estimate['accuracy']:.3f} before it (margin {margin:.1%})")
    return None
