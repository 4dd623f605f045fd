"""Continuous training: what a retrain fired now would do (`plan`), firing one (`fire`: by hand, or by
the timer's triggers in `backend.automation.retraining`), and the reads (`listed`, `lifecycle`).

A trigger is held back by the guards, in this order, each recorded as a retrain with its reason: a
retrain of the model still running or shadowing (`coalesced`: folded into it, nothing started), the
circuit breaker (`paused`), `min_interval` since the last start (`cooldown`), too few new rows
(`min_new_rows`) or labels (`min_new_labels`). `force` skips every guard but coalescing. A trigger that
stays true round after round is recorded once per guard (the same alert, cron slot or data version).

A retrain runs the pipeline file of the model's latest version (its `pipeline.toml` next to the run, or
rebuilt from the stored pipeline) as a training job on a dataset version; the timer follows it.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from mlops_tui.contract.alerts import ACTIVE_STATUSES, NotifyEvent
from mlops_tui.contract.cron import next_after
from mlops_tui.contract.retrain import (
    Lifecycle,
    Retrain,
    RetrainAnswer,
    RetrainPlan,
    RetrainPolicy,
    RetrainStatus,
    RetrainTrigger,
)

from .. import artifacts
from ..db import Database
from ..errors import Conflict, DomainError, Invalid, NotFound
from ..pipelines.config import from_dict
from ..pipelines.promote import duration_ms
from ..settings import Settings
from ..store import alerts as alerts_store
from ..store import datasets as datasets_store
from ..store import registry as registry_store
from ..store import retrains as store
from ..store import runs as runs_store
from ..store.rows import VersionRow
from . import jobs, lifecycle, notify

STAGING = "staging"
PRODUCTION = "production"
ACTOR_PREFIX = "retrain:"
"""The actor of a retrain's promotions (`retrain:<id>`): the shadow part recognises automatic ones by it."""
PAUSED_RULE = "retrain-paused"
"""The rule name of the alert the circuit breaker opens."""
COALESCED = "coalesced"


@dataclass
class Basis:
    """What a plan is computed from: the model's latest version, its policy and state, the data."""

    name: str
    policy: RetrainPolicy
    version: VersionRow
    plan: RetrainPlan
    guard: str | None = None
    """The guard holding it back (`coalesced`, `paused`, `cooldown`, `min_new_rows`, `min_new_labels`, or
    `unrunnable` when there is nothing it could run), None when it would start."""
    active: Retrain | None = None


def basis(db: Database, name: str, now: int, *, force: bool = False, dataset: str | None = None) -> Basis:
    """The plan of a retrain fired now (on `dataset`, default the latest version of the model's data).
    NotFound for an unknown model; Conflict naming `retrain` when its latest pipeline file has no policy."""
    registry_store.get_model(db, name)
    found = lifecycle.of_model(db, name)
    if found is None:
        raise Conflict(f"model {name!r} has no versions: nothing to retrain", "retrain")
    if found.retrain is None:
        raise Conflict(f"model {name} has no [retrain] policy in its latest version's pipeline file", "retrain")
    version = registry_store.get_version(db, name, found.version)
    policy = found.retrain
    state = store.state(db, name)
    plan = RetrainPlan(model=name, would_start=True, reason="", pipeline_version=found.version,
                       pipeline_name=(found.pipeline or {}).get("name"),
                       config_hash=version["pipeline_hash"] or _config_hash(found.pipeline),
                       promote=_aliases_tried(db, name, policy))
    result = Basis(name, policy, version, plan)
    unrunnable = _unrunnable(name, found.pipeline, version)
    if unrunnable:
        return _held(result, "unrunnable", unrunnable)
    base_ref = baseline(state.last_dataset, version["dataset"])
    try:
        target = datasets_store.get_version(db, *_ref_parts(dataset or _dataset_name(base_ref)), with_stats=False)
    except NotFound as error:
        return _held(result, "unrunnable", f"no data to train on: {error.message}")
    plan.dataset, plan.dataset_rows, plan.last_dataset = target["ref"], target["rows"], base_ref
    base_rows = _rows(db, base_ref)
    plan.new_rows = target["rows"] - base_rows if base_rows is not None else None
    since = state.last_started_at if state.last_started_at is not None else version["created_at"]
    plan.new_labels = store.labels_since(db, name, since)
    active = store.active(db, name)
    if active:
        result.active = active[0]
        return _held(result, COALESCED, f"retrain {active[0].id} is {active[0].status.value} "
                                        f"(job {active[0].job_id or '-'}): this one is folded into it")
    if not force:
        guard = _guard(policy, state.paused, state.last_started_at, plan, now)
        if guard:
            return _held(result, *guard)
    plan.reason = ("forced by hand: the guards are skipped; " if force else "") + \
        f"would run the pipeline of version {found.version} on {target['ref']}"
    return result


def _config_hash(pipeline: dict[str, Any] | None) -> str | None:
    try:
        return from_dict(pipeline).config_hash() if pipeline else None
    except DomainError:
        return None


def _held(result: Basis, guard: str, why: str) -> Basis:
    result.guard = guard
    result.plan.would_start = False
    result.plan.reason = f"{guard}: {why}"
    return result


def _guard(policy: RetrainPolicy, paused: bool, last_started: int | None, plan: RetrainPlan,
           now: int) -> tuple[str, str] | None:
    if paused:
        return "paused", (f"the circuit breaker opened after {policy.max_rejections} rejected candidates in a row; "
                          f"`mlops retrain {plan.model} --force` resumes it when it succeeds")
    if last_started is not None and now - last_started < duration_ms(policy.min_interval):
        return "cooldown", (f"the last retrain started {_ago(now - last_started)} ago; min_interval is "
                            f"{policy.min_interval}")
    if policy.min_new_rows and (plan.new_rows is None or plan.new_rows < policy.min_new_rows):
        return "min_new_rows", (f"{plan.new_rows if plan.new_rows is not None else 'unknown'} new rows in "
                                f"{plan.dataset} since {plan.last_dataset}; min_new_rows is {policy.min_new_rows}")
    if policy.min_new_labels and (plan.new_labels or 0) < policy.min_new_labels:
        return "min_new_labels", (f"{plan.new_labels} labels since the last retrain started; min_new_labels is "
                                  f"{policy.min_new_labels}")
    return None


def _unrunnable(name: str, pipeline: dict[str, Any] | None, version: VersionRow) -> str | None:
    if not pipeline:
        return f"version {version['version']} keeps no pipeline file"
    register = pipeline.get("register") or {}
    if register.get("name") != name:
        return (f"the pipeline of version {version['version']} registers {register.get('name')!r}, not {name!r}: "
                "a retrain would not make a version of this model")
    if not version["dataset"]:
        return f"version {version['version']} records no dataset version: nothing to train on"
    return None


def _aliases_tried(db: Database, name: str, policy: RetrainPolicy) -> list[str]:
    """`staging`, then `production` when `auto_promote` or when a version holds it (a request is opened)."""
    if policy.auto_promote or registry_store.alias_holder(db, name, PRODUCTION) is not None:
        return [STAGING, PRODUCTION]
    return [STAGING]


def baseline(last_dataset: str | None, version_dataset: str | None) -> str:
    """What new data is counted from: the newer of the data the last retrain trained on and the data the
    latest version trained on (a version trained by hand on newer data moves it too); the latest
    version's alone when the last retrain trained on a dataset of another name."""
    if last_dataset and version_dataset and _dataset_name(last_dataset) == _dataset_name(version_dataset):
        return max(last_dataset, version_dataset, key=ref_number)
    return version_dataset or last_dataset or ""


def _dataset_name(ref: str) -> str:
    return ref.rpartition("@")[0] if "@" in ref else ref


def _ref_parts(ref: str) -> tuple[str, int | None]:
    name, _, number = ref.rpartition("@")
    return (name, int(number)) if name and number.isdigit() else (ref, None)


def ref_number(ref: str | None) -> int:
    """The version number of `name@N` (0 when it has none)."""
    return _ref_parts(ref or "")[1] or 0


def _rows(db: Database, ref: str) -> int | None:
    try:
        return int(datasets_store.get_version(db, *_ref_parts(ref), with_stats=False)["rows"])
    except NotFound:
        return None


def _ago(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


# --- firing --------------------------------------------------------------------------------------


def plan(db: Database, name: str, now: int, force: bool = False) -> RetrainPlan:
    """The dry run: what a retrain fired now would train and on which data; starts nothing."""
    return basis(db, name, now, force=force).plan


def fire(db: Database, settings: Settings, name: str, trigger: RetrainTrigger, detail: str, actor: str, now: int,
         *, force: bool = False, dataset: str | None = None, alert_id: str | None = None) -> RetrainAnswer:
    """Fire the policy: start a retrain, or record why not (`coalesced`, `skipped`). A timer's trigger held
    back by the same guard as its last record is not recorded again (the answer's retrain is None)."""
    found = basis(db, name, now, force=force, dataset=dataset)
    event = Retrain(id=uuid.uuid4().hex[:12], model=name, trigger=trigger, detail=detail, actor=actor,
                    status=RetrainStatus.RUNNING, dataset=found.plan.dataset, alert_id=alert_id, forced=force,
                    created_at=now, updated_at=now)
    if found.guard is not None:
        return RetrainAnswer(plan=found.plan, retrain=_record_held(db, event, found))
    with db.write() as conn:
        if not store.insert(conn, event):  # another trigger started one since the plan was made
            active = store.active(db, name)
            found.active = active[0] if active else None
            _held(found, COALESCED, f"retrain {found.active.id if found.active else '?'} started meanwhile")
        else:
            store.set_state(conn, name, last_started_at=now, last_dataset=found.plan.dataset)
    if found.guard is not None:
        return RetrainAnswer(plan=found.plan, retrain=_record_held(db, event, found))
    return RetrainAnswer(plan=found.plan, retrain=_submit(db, settings, event, found.version))


def _record_held(db: Database, event: Retrain, found: Basis) -> Retrain | None:
    event.status = RetrainStatus.COALESCED if found.guard == COALESCED else RetrainStatus.SKIPPED
    event.reason = found.plan.reason
    event.ended_at = event.created_at
    if event.trigger != RetrainTrigger.MANUAL:
        last = store.latest_for(db, event.model, event.trigger, event.detail)
        if last is not None and last.status == event.status and last.reason.split(":")[0] == found.guard:
            return None
    with db.write() as conn:
        store.insert(conn, event)
    return event


def _submit(db: Database, settings: Settings, event: Retrain, version: VersionRow) -> Retrain:
    """Submit the training job of a recorded retrain; a pipeline that cannot be submitted fails it."""
    try:
        job = jobs.submit(db, settings, pipeline_text(db, settings, version), event.dataset, None, None)
    except DomainError as error:
        event.status, event.reason, event.ended_at = RetrainStatus.FAILED, \
            f"the pipeline of version {version['version']} was refused: {error.message}", event.created_at
        with db.write() as conn:
            store.save(conn, event)
            notify.queue(conn, NotifyEvent.RETRAIN_FINISHED, event.model, event.model_dump(mode="json"))
        return event
    event.job_id = job["id"]
    event.reason = f"job {job['id']} trains version {version['version']}'s pipeline on {event.dataset}"
    with db.write() as conn:
        store.save(conn, event)
        notify.queue(conn, NotifyEvent.RETRAIN_STARTED, event.model, event.model_dump(mode="json"))
    return event


def pipeline_text(db: Database, settings: Settings, version: VersionRow) -> str:
    """The pipeline file that trained `version`: `pipeline.toml` beside its run, else rebuilt as TOML from
    the pipeline stored with the version."""
    try:
        run = runs_store.get(db, version["run_id"], with_metric_stats=False)
        root = artifacts.run_root(settings.artifacts_root, run["experiment_id"], run["id"])
        saved = artifacts.resolve_inside(root, "pipeline.toml")
        if saved.is_file():
            return saved.read_text()
    except (NotFound, Invalid, OSError, UnicodeDecodeError):
        pass
    stored = version.get("pipeline")
    if not stored:
        raise Conflict(f"version {version['version']} keeps no pipeline file", "retrain")
    return to_toml(json.loads(from_dict(stored).snapshot()))


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def to_toml(document: dict[str, Any]) -> str:
    """A parsed pipeline back as TOML (one `key = value` line per top-level key, inline tables below;
    null values left out)."""
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in document.items() if value is not None)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise ValueError(f"cannot write {type(value).__name__} as TOML")


# --- reading -------------------------------------------------------------------------------------


def listed(db: Database, name: str, limit: int) -> list[Retrain]:
    registry_store.get_model(db, name)
    return store.listed(db, name, limit)


def get(db: Database, name: str, retrain_id: str) -> Retrain:
    registry_store.get_model(db, name)
    return store.get(db, name, retrain_id)


def model_lifecycle(db: Database, name: str) -> Lifecycle:
    """The latest version's alert rules, retrain policy and webhook, the policy's state (with the
    schedule's next firing), and the model's open or acknowledged alerts."""
    registry_store.get_model(db, name)
    found = lifecycle.of_model(db, name)
    state = store.state(db, name)
    answer = Lifecycle(name=name, version=found.version if found else None, state=state,
                       open_alerts=alerts_store.listed(db, tuple(s.value for s in ACTIVE_STATUSES), name))
    if found is None:
        return answer
    answer.alerts, answer.retrain, answer.notify = found.alerts, found.retrain, found.notify
    if found.retrain is not None and found.retrain.schedule:
        checked = schedule_checked(db, name, state.schedule_checked_at)
        state.next_schedule_at = next_after(found.retrain.schedule, checked)
    return answer


def schedule_checked(db: Database, name: str, checked_at: int | None) -> int:
    """Up to when the schedule's slots were looked at: when none was yet, since the latest version was
    registered."""
    if checked_at is not None:
        return checked_at
    found = lifecycle.of_model(db, name)
    return registry_store.get_version(db, name, found.version)["created_at"] if found else 0
