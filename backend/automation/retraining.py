"""The timer's side of continuous training: each round, follow the retrains that run (job → version →
`staging` through the gates → shadow → `production` or an approval request), then fire the triggers
that are due (`on_drift`, `schedule`, `on_new_data`).

Gates load models: they run here, in the controller's thread, never inside a write transaction. Every
end of a retrain is told to webhooks (`retrain.finished`) in the transaction that records it, with the
circuit breaker's count: a `rejected` candidate adds one, a promoted or staged one resets it, and
reaching `max_rejections` pauses the policy and opens a `retrain_paused` alert.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlops_tui.contract import JobStatus, cron
from mlops_tui.contract.alerts import AlertKind, NotifyEvent, Severity
from mlops_tui.contract.cron import next_after
from mlops_tui.contract.registry import GateReport, PromoteCreate, PromoteOutcome
from mlops_tui.contract.retrain import Retrain, RetrainPolicy, RetrainStatus, RetrainTrigger

from ..db import Database
from ..errors import Conflict, DomainError, NotFound
from ..pipelines import promote
from ..pipelines.promote import duration_ms
from ..services import alerts, approvals, lifecycle, notify, registry, shadow
from ..services import retrain as service
from ..services.lifecycle import ModelLifecycle
from ..settings import Settings
from ..store import alerts as alerts_store
from ..store import datasets as datasets_store
from ..store import jobs as jobs_store
from ..store import registry as registry_store
from ..store import retrains as store

SYSTEM_ACTOR = "retrain"
"""Who fires the timer's triggers."""
ORPHAN_MS = 120_000
"""A retrain recorded running without a job this long after it was fired lost its job (a crash between
the record and the submission): it is failed."""
RESETS_BREAKER = (RetrainStatus.PROMOTED, RetrainStatus.STAGED, RetrainStatus.AWAITING_APPROVAL)
"""Ends whose candidate passed the gates (for `staging` at least): the breaker's count goes back to 0."""


def task(settings: Settings, db: Database) -> Callable[[int], None]:
    """The controller's `retrain` task."""

    def run(now: int) -> None:
        follow(db, settings, now)
        fire_due(db, settings, now)

    return run


# --- following -----------------------------------------------------------------------------------


def follow(db: Database, settings: Settings, now: int) -> None:
    """Move every running or shadowing retrain on as far as it can go now."""
    for event in store.active(db):
        try:
            Step(db, settings, event, now).advance()
        except Exception as error:  # one retrain's failure must not stop the others, nor stay running forever
            print(f"retrain {event.id}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            finish(db, event, RetrainStatus.FAILED, f"{type(error).__name__}: {getattr(error, 'message', error)}",
                   now)


class Step:
    """One retrain moved on by one round."""

    def __init__(self, db: Database, settings: Settings, event: Retrain, now: int) -> None:
        self.db, self.settings, self.event, self.now = db, settings, event, now
        found = lifecycle.of_model(db, event.model)
        self.policy = (found.retrain if found else None) or RetrainPolicy()
        self.actor = f"{service.ACTOR_PREFIX}{event.id}"

    def advance(self) -> None:
        if self.event.status == RetrainStatus.SHADOWING:
            self.judge()
        elif self.event.job_id is None:
            if self.now - self.event.created_at > ORPHAN_MS:
                self.end(RetrainStatus.FAILED, "no training job was submitted for it")
        else:
            self.after_job()

    def after_job(self) -> None:
        job = jobs_store.get(self.db, self.event.job_id or "")
        if job["status"] in (JobStatus.QUEUED, JobStatus.RUNNING):
            return
        if job["status"] != JobStatus.SUCCEEDED:
            self.end(RetrainStatus.FAILED, f"job {job['id']} {job['status'].lower()} ({job.get('error_kind') or '-'}): "
                                           f"{job.get('error') or ''}".rstrip(": "))
            return
        registered = (job.get("report") or {}).get("registered")
        if not registered or registered.get("name") != self.event.model:
            self.end(RetrainStatus.FAILED, f"job {job['id']} registered no version of {self.event.model} "
                                           "(its pipeline's [register] table names another model, or none)")
            return
        self.event.version = int(registered["version"])
        self.stage()

    def stage(self) -> None:
        """`staging` through its gates; then the shadow, or `production`."""
        if not self.promote(service.STAGING):
            return
        if self.policy.shadow:
            shadow.start(self.db, self.event.model, self.event.version or 0, retrain_id=self.event.id)
            self.event.shadow_since = self.now
            self.save(RetrainStatus.SHADOWING, f"{self.event.model}/{self.event.version} in staging runs in shadow "
                                               f"of production for at least {self.policy.shadow}")
            return
        self.production()

    def judge(self) -> None:
        """Wait for the shadow period and the verdict. Someone moving the aliases meanwhile decides it: the
        version already in production ends it `promoted`; `staging` moved to another version abandons it."""
        name, version = self.event.model, self.event.version or 0
        production = registry_store.alias_holder(self.db, name, service.PRODUCTION)
        if production is not None and int(production["version"]) == version:
            shadow.stop(self.db, name)
            self.event.promoted_to = [*self.event.promoted_to, service.PRODUCTION]
            self.end(RetrainStatus.PROMOTED, f"{name}/{version} was moved to production by hand during its shadow")
            return
        staging = registry_store.alias_holder(self.db, name, service.STAGING)
        if staging is None or int(staging["version"]) != version:
            shadow.stop(self.db, name)
            now_there = f"version {staging['version']}" if staging else "no version"
            self.end(RetrainStatus.FAILED, f"staging was moved to {now_there} during the shadow of {name}/{version}: "
                                           "the shadow is abandoned")
            return
        since = self.event.shadow_since or self.event.updated_at
        if self.now - since < duration_ms(self.policy.shadow or "1s"):
            return
        verdict = shadow.judge(self.db, self.event.model, self.event.version or 0, since,
                               self.policy.shadow_min_rows, self.policy.max_regression)
        if verdict.state == "waiting":
            return
        shadow.stop(self.db, self.event.model)
        if verdict.state == "regressed":
            self.end(RetrainStatus.REJECTED, f"the shadow regressed against production: {verdict.reason}")
            return
        self.production()

    def production(self) -> None:
        """`auto_promote`: move `production` through its gates. Otherwise, when a version holds production,
        its gates are computed and an approval request is opened if they pass; when none does, the model
        is not served from production yet and the retrain ends `staged`."""
        name, version = self.event.model, self.event.version or 0
        if self.policy.auto_promote:
            if self.promote(service.PRODUCTION):
                self.end(RetrainStatus.PROMOTED, f"{name}/{version} moved to {' and '.join(self.event.promoted_to)}")
            return
        holder = registry_store.alias_holder(self.db, name, service.PRODUCTION)
        if holder is None:
            self.end(RetrainStatus.STAGED, f"{name}/{version} is in staging; nothing holds production and "
                                           "auto_promote is off, so it goes no further")
            return
        report = registry.check_gates(self.db, self.settings, name, version, service.PRODUCTION)
        self.event.report = report.model_dump(mode="json")
        if not report.passed:
            self.end(RetrainStatus.REJECTED, f"the gates refused production: {_failed(report)}")
            return
        request = approvals.open_request(self.db, name, service.PRODUCTION, version, int(holder["version"]),
                                         self.actor, self.reason(), False, report, self.alias_policy())
        self.event.request_id = request.id
        self.end(RetrainStatus.AWAITING_APPROVAL, f"{name}/{version} is in staging; every production gate passed and "
                                                  f"auto_promote is off: approval request {request.id} is open")

    def promote(self, alias: str) -> bool:
        """Move `alias` through its gates; False when the retrain ended here (refused, or waiting)."""
        result = registry.promote_version(self.db, self.settings, self.event.model,
                                          PromoteCreate(version=self.event.version or 0, alias=alias,
                                                        reason=self.reason()), self.actor)
        report: GateReport = result["report"]
        self.event.report = report.model_dump(mode="json")
        if result["outcome"] == PromoteOutcome.GATES_FAILED:
            self.end(RetrainStatus.REJECTED, f"the gates refused {alias}: {_failed(report)}")
            return False
        if result["outcome"] == PromoteOutcome.AWAITING_APPROVAL:
            self.event.request_id = result["request"].id
            self.end(RetrainStatus.AWAITING_APPROVAL, f"{alias} needs approval: request {result['request'].id} is open")
            return False
        self.event.promoted_to = [*self.event.promoted_to, alias]
        return True

    def alias_policy(self) -> Any:
        version = registry_store.get_version(self.db, self.event.model, self.event.version or 0)
        default, per_alias = promote.parse((version.get("pipeline") or {}).get("promote"))
        return per_alias.get(service.PRODUCTION, default)

    def reason(self) -> str:
        return f"retrain {self.event.id} ({self.event.trigger.value}: {self.event.detail})"

    def save(self, status: RetrainStatus, reason: str) -> None:
        self.event.status, self.event.reason, self.event.updated_at = status, reason, self.now
        with self.db.write() as conn:
            store.save(conn, self.event)

    def end(self, status: RetrainStatus, reason: str) -> None:
        finish(self.db, self.event, status, reason, self.now)


def _failed(report: GateReport) -> str:
    return "; ".join(f"{gate.name}: {gate.detail}" if gate.detail else gate.name for gate in report.failed) \
        or "a gate failed"


def finish(db: Database, event: Retrain, status: RetrainStatus, reason: str, now: int) -> None:
    """Record the retrain's end, count it in the circuit breaker, tell webhooks; open the `retrain_paused`
    alert when this end opened the breaker. A retrain forced by hand that passed un-pauses the policy
    (and resolves that alert)."""
    event.status, event.reason, event.updated_at, event.ended_at = status, reason, now, now
    found = lifecycle.of_model(db, event.model)
    limit = (found.retrain if found and found.retrain else RetrainPolicy()).max_rejections
    paused_now = resumed = False
    with db.write() as conn:
        store.save(conn, event)
        state = store.state(db, event.model)
        if status == RetrainStatus.REJECTED:
            count = state.consecutive_rejections + 1
            paused_now = count >= limit and not state.paused
            store.set_state(conn, event.model, consecutive_rejections=count, paused=int(state.paused or paused_now))
        elif status in RESETS_BREAKER:
            store.set_state(conn, event.model, consecutive_rejections=0)
            resumed = event.forced and state.paused
            if resumed:
                store.set_state(conn, event.model, paused=0)
        notify.queue(conn, NotifyEvent.RETRAIN_FINISHED, event.model, event.model_dump(mode="json"), now)
    if resumed:
        with db.read() as conn:
            alert = alerts_store.active(conn, event.model, service.PAUSED_RULE)
        try:
            if alert is not None:
                alerts.resolve(db, alert.id, event.actor, f"retrain {event.id} (forced by {event.actor}) passed: "
                                                          "the policy runs again", now)
        except Conflict:
            pass  # resolved by hand meanwhile
    if paused_now:
        alerts.open_alert(db, model=event.model, rule=service.PAUSED_RULE, kind=AlertKind.RETRAIN_PAUSED,
                          severity=Severity.CRITICAL, version=event.version, value=float(limit),
                          threshold=float(limit), now=now,
                          message=f"{event.model}: retraining paused after {limit} rejected candidates in a row "
                                  f"(max_rejections = {limit}); the last: {reason}. `mlops retrain {event.model} "
                                  "--force` resumes it once a candidate passes")


# --- triggers ------------------------------------------------------------------------------------


def fire_due(db: Database, settings: Settings, now: int) -> None:
    """Fire every model's due triggers: drift alerts, the cron schedule, new data (in that order; once one
    started a retrain, the others coalesce into it and are recorded so)."""
    for found in lifecycle.all_models(db):
        if found.retrain is None:
            continue
        for trigger, detail, options in _due(db, found, now):
            try:
                service.fire(db, settings, found.name, trigger, detail, SYSTEM_ACTOR, now, **options)
            except DomainError as error:  # the policy cannot run (say, no data): nothing to record each round
                print(f"retrain {found.name}: {error.message}", file=sys.stderr, flush=True)


def _due(db: Database, found: ModelLifecycle, now: int) -> list[tuple[RetrainTrigger, str, dict[str, Any]]]:
    policy = found.retrain
    assert policy is not None
    due: list[tuple[RetrainTrigger, str, dict[str, Any]]] = []
    for rule in policy.on_drift:
        with db.read() as conn:
            alert = alerts_store.active(conn, found.name, rule)
        detail = f"alert {rule} ({alert.id})" if alert else ""
        if alert and not store.consumed(db, found.name, RetrainTrigger.DRIFT, detail):
            due.append((RetrainTrigger.DRIFT, detail, {"alert_id": alert.id}))
    if policy.schedule:
        slot = _schedule_slot(db, found.name, policy.schedule, now)
        if slot:
            due.append((RetrainTrigger.SCHEDULE, slot, {}))
    if policy.on_new_data:
        ref = _new_data(db, found)  # folded into a retrain on older data, it fires once that one ended
        if ref and not store.consumed(db, found.name, RetrainTrigger.NEW_DATA, ref, coalesced=False):
            due.append((RetrainTrigger.NEW_DATA, ref, {"dataset": ref}))
    return due


def _schedule_slot(db: Database, name: str, schedule: str, now: int) -> str | None:
    """The schedule's detail when a slot passed since the last check (missed slots fire once, together),
    and the check moved to `now`."""
    checked = service.schedule_checked(db, name, store.state(db, name).schedule_checked_at)
    line = cron.parse(schedule)
    first = next_after(line, checked)
    if first > now:
        return None
    last, missed = first, 0
    while (following := next_after(line, last)) <= now and missed < 1000:
        last, missed = following, missed + 1
    with db.write() as conn:
        store.set_state(conn, name, schedule_checked_at=now)
    extra = f" (+{missed} missed slot{'s' if missed != 1 else ''})" if missed else ""
    return f"cron {schedule!r} slot {_iso(last)}{extra}"


def _new_data(db: Database, found: ModelLifecycle) -> str | None:
    """The latest version of the data the model trains on, when it is newer than what the last retrain
    (or, before any, the latest version) trained on."""
    try:
        version = registry_store.get_version(db, found.name, found.version)
    except NotFound:
        return None
    base = service.baseline(store.state(db, found.name).last_dataset, version["dataset"])
    if not base:
        return None
    try:
        latest = datasets_store.get_version(db, base.rpartition("@")[0] or base, None, with_stats=False)
    except NotFound:
        return None
    return latest["ref"] if latest["version"] > service.ref_number(base) else None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
