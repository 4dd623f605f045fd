"""The model registry: register a run's model as a version, read models and versions, archive and
delete, promote (gates first, then a compare-and-set move), roll back, and the audit trail.

Gates and model loads are heavy: they run in the calling thread (a route's threadpool worker), and
always before the write transaction that moves an alias, never inside it (compute, then CAS).
Approval requests are `backend.services.approvals`'s.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from mlops_tui.contract import tags as tag
from mlops_tui.contract.alerts import NotifyEvent
from mlops_tui.contract.registry import (
    ALIAS_MOVES,
    ALIAS_RULE,
    MODEL_NAME_RULE,
    ChainCheck,
    EventAction,
    GateReport,
    Policy,
    PromoteCreate,
    PromoteOutcome,
    VersionStatus,
)

from .. import artifacts
from ..db import Database
from ..errors import Conflict, Invalid, NotFound
from ..pipelines import model_io, promote
from ..serving import aliases as served_aliases
from ..settings import Settings
from ..store import registry as store
from ..store import runs
from ..store.rows import VersionRow
from . import approvals, gates, notify

MODEL_PATH = f"model/{model_io.MODEL_FILE}"
CHUNK = 1 << 20


def check_name(name: str, field: str = "name") -> str:
    if not re.match(MODEL_NAME_RULE, name):
        raise Invalid(f"{field} {name!r} is not a model name (letters, digits, '.', '_', '-'; at most 128; "
                      "starts with a letter or digit)", field)
    return name


def check_alias(alias: str, field: str = "alias") -> str:
    if not re.match(ALIAS_RULE, alias):
        raise Invalid(f"{field} {alias!r} is not an alias (a letter, then letters, digits, '_', '-'; at most 64)",
                      field)
    return alias


# --- registering -----------------------------------------------------------------------------


def register(db: Database, settings: Settings, name: str, run_id: str, actor: str, description: str = "",
             tags: dict[str, str] | None = None) -> VersionRow:
    """The run's `model/model.skops` as the model's next version, with what the run recorded about it:
    signature and reference statistics (next to the file), dataset version, job, pipeline hash, primary
    metric and holdout scores (`best_*`), and the pipeline file (its split and `[promote]` policy)."""
    check_name(name)
    run = runs.get(db, run_id, with_metric_stats=False)
    root = artifacts.run_root(settings.artifacts_root, run["experiment_id"], run["id"])
    model_path = artifacts.resolve_inside(root, MODEL_PATH, "run_id")  # a link planted by a job leads nowhere
    if not model_path.is_file():
        raise Invalid(f"run {run_id} has no {MODEL_PATH}", "run_id")
    size, sha256 = _file_digest(model_path)
    metrics = {key.removeprefix("best_"): value for key, value in run["metrics"].items() if key.startswith("best_")}
    primary = run["params"].get("primary_metric")
    fields = {
        "run_id": run["id"], "best_run_id": run["tags"].get(tag.BEST_RUN_ID), "job_id": run["tags"].get(tag.JOB_ID),
        "dataset": run["tags"].get(tag.DATASET) or None, "pipeline_hash": run["tags"].get(tag.CONFIG_HASH),
        "primary_metric": primary, "primary_value": metrics.get(primary) if primary else None,
        "metrics_json": json.dumps(metrics), "model_path": MODEL_PATH, "sha256": sha256, "size_bytes": size,
        "signature_json": json.dumps(_json_file(root, f"model/{model_io.SIGNATURE_FILE}") or {}),
        "reference_json": _json_text(root, f"model/{model_io.REFERENCE_FILE}"),
        "profile_json": _json_text(root, f"model/{model_io.PROFILE_FILE}"),
        "pipeline_json": _json_text(root, "pipeline.json"), "description": description,
        "tags_json": json.dumps(tags or {})}
    return store.insert_version(db, name, fields, actor, then=_tell(NotifyEvent.MODEL_REGISTERED))


def insert(db: Database, name: str, fields: dict[str, Any], actor: str) -> VersionRow:
    """Store a version whose fields the caller worked out (an MLflow model folder's), with its `register`
    event and webhook, like `register`."""
    return store.insert_version(db, name, fields, actor, then=_tell(NotifyEvent.MODEL_REGISTERED))


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _json_file(root: Path, relative: str) -> Any:
    """A JSON file of the run's (beside the model), or None when it is missing, unreadable or a link
    leading out of the run's folder (the version is still registered; what it would have said is empty)."""
    try:
        return json.loads(artifacts.resolve_inside(root, relative).read_text())
    except (OSError, ValueError, Invalid):
        return None


def _json_text(root: Path, relative: str) -> str | None:
    found = _json_file(root, relative)
    return json.dumps(found) if found is not None else None


# --- reading ---------------------------------------------------------------------------------


def list_models(db: Database) -> list[dict[str, Any]]:
    return store.list_models(db, approvals.now_ms())


def get_model(db: Database, name: str) -> dict[str, Any]:
    """The model with its versions, newest first, each with the aliases pointing at it now."""
    found = store.list_models(db, approvals.now_ms(), check_name(name))
    if not found:
        raise NotFound(f"model {name!r} not found", "name")
    model = found[0]
    by_version = _aliases_by_version(model["aliases"])
    versions = []
    for version in store.list_versions(db, name):
        listed = _public(version, by_version)
        listed.pop("reference", None)
        versions.append(listed)
    return {**model, "versions": versions}


def _aliases_by_version(aliases: dict[str, int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for alias, version in sorted(aliases.items()):
        found.setdefault(version, []).append(alias)
    return found


def _public(version: VersionRow, by_version: dict[int, list[str]]) -> dict[str, Any]:
    return {**version, "aliases": by_version.get(version["version"], [])}


def get_version(db: Database, name: str, version: int) -> dict[str, Any]:
    """One version, with its reference statistics and the gate report of its last promotion."""
    found = store.get_version(db, check_name(name), version)
    detail = _public(found, _aliases_by_version(store.alias_map(db, name)))
    detail["last_report"] = store.last_report(db, name, version)
    return detail


def get_alias(db: Database, name: str, alias: str) -> dict[str, Any]:
    holder = _holder(db, check_name(name), check_alias(alias))
    if holder is None:
        raise NotFound(f"{name}@{alias} points at no version", "alias")
    return get_version(db, name, holder["version"])


def alias_version(db: Database, name: str, alias: str) -> int | None:
    """The version `alias` points at, None when it points nowhere (cheap: the long poll's check)."""
    holder = _holder(db, check_name(name), check_alias(alias))
    return None if holder is None else int(holder["version"])


def _holder(db: Database, name: str, alias: str) -> dict[str, Any] | None:
    store.get_model(db, name)
    return store.alias_holder(db, name, alias)


def archive(db: Database, name: str, version: int, actor: str, reason: str = "") -> dict[str, Any]:
    """Archive a version (refused, naming the alias, while one points at it)."""
    store.archive_version(db, check_name(name), version, actor, reason)
    return get_version(db, name, version)


def delete(db: Database, name: str, version: int, actor: str) -> dict[str, Any]:
    """Delete a version's row (refused, naming the alias, while one points at it); its events stay."""
    deleted = store.delete_version(db, check_name(name), version, actor)
    return {**deleted, "aliases": []}


def policy(db: Database, name: str, version: int | None = None) -> Policy:
    """The promotion policy of a version's pipeline file (the latest version's by default)."""
    check_name(name)
    if version is None:
        versions = store.list_versions(db, name)
        if not versions:
            store.get_model(db, name)
            raise NotFound(f"model {name!r} has no versions", "version")
        found = versions[0]
    else:
        found = store.get_version(db, name, version)
    default, per_alias = _parsed_policy(found)
    return Policy(name=name, version=found["version"], default=default, aliases=per_alias)


def _promote_table(version: VersionRow) -> dict[str, Any] | None:
    pipeline = version.get("pipeline") or {}
    table = pipeline.get("promote") if isinstance(pipeline, dict) else None
    return table if isinstance(table, dict) else None


def _parsed_policy(version: VersionRow) -> tuple[Any, Any]:
    try:
        return promote.parse(_promote_table(version))
    except ValueError as error:
        raise Invalid(f"{version['name']}/{version['version']}: its pipeline's [promote] table: {error}",
                      "promote") from None


def policy_version(db: Database, name: str) -> int | None:
    """The newest version whose pipeline file has a `[promote]` table (the model's policy), or None."""
    return next((found["version"] for found in store.list_versions(db, name) if _promote_table(found) is not None),
                None)


def events(db: Database, name: str, at: int | None = None, alias: str | None = None) -> dict[str, Any]:
    """The audit trail, oldest first. With `at`: the events up to then, and which version each alias
    held at that moment (the alias moves replayed)."""
    store.get_model(db, check_name(name))
    if alias is not None:
        check_alias(alias)
    found = store.events(db, name, until=at)
    answer: dict[str, Any] = {"events": [e for e in found if alias is None or e["alias"] == alias]}
    if at is not None:
        held: dict[str, int] = {}
        for event in found:
            if event["action"] in ALIAS_MOVES:
                held[event["alias"]] = event["to_version"]
            elif event["action"] == EventAction.UNSET:
                held.pop(event["alias"], None)
        answer.update(at=at, aliases_at=held)
    return answer


def verify(db: Database, name: str) -> ChainCheck:
    return store.verify_chain(db, check_name(name))


# --- promotion -------------------------------------------------------------------------------


def _candidate(db: Database, name: str, version: int) -> VersionRow:
    found = store.get_version(db, check_name(name), version)
    if found["status"] != VersionStatus.READY:
        raise Conflict(f"{name}/{version} is {found['status']}: only a READY version can be promoted", "version")
    return found


def _champion(db: Database, name: str, holder: dict[str, Any] | None) -> VersionRow | None:
    return store.get_version(db, name, holder["version"]) if holder else None


def check_gates(db: Database, settings: Settings, name: str, version: int, alias: str) -> GateReport:
    """The gate report of moving `alias` to `version`, computed now; nothing moves."""
    candidate = _candidate(db, name, version)
    champion = _champion(db, name, _holder(db, name, check_alias(alias)))
    return gates.evaluate(settings, db, candidate, champion, alias, alias_policy(candidate, alias))


def alias_policy(candidate: VersionRow, alias: str) -> Any:
    default, per_alias = _parsed_policy(candidate)
    return per_alias.get(alias, default)


def promote_version(db: Database, settings: Settings, name: str, body: PromoteCreate, actor: str) -> dict[str, Any]:
    """Evaluate the gates, then move the alias by compare-and-set (when the caller sent
    `expected_version`). Gates failed and no force: nothing moves (`gates_failed`, with the report).
    Force needs a reason and is recorded as forced, with the report showing what failed."""
    alias = body.alias
    if body.force and not body.reason.strip():
        raise Invalid("force needs a reason (it is recorded with the move)", "reason")
    expected = body.expected_version if "expected_version" in body.model_fields_set else store.UNSET
    candidate = _candidate(db, name, body.version)
    holder = _holder(db, name, alias)
    if expected is not store.UNSET and expected != (holder["version"] if holder else None):
        # fail fast, before computing gates: the move would be refused anyway
        raise Conflict(store.moved_message(name, alias, holder, expected), "expected_version")
    policy = alias_policy(candidate, alias)
    report = gates.evaluate(settings, db, candidate, _champion(db, name, holder), alias, policy)
    answer: dict[str, Any] = {"model": name, "alias": alias, "version": body.version,
                              "from_version": holder["version"] if holder else None, "report": report}
    if not report.passed and not body.force:
        return {**answer, "outcome": PromoteOutcome.GATES_FAILED}
    if policy.needs_request:  # approval or protected: never moved here, even forced (see services/approvals)
        request = approvals.open_request(db, name, alias, body.version, answer["from_version"], actor, body.reason,
                                         body.force and not report.passed, report, policy)
        return {**answer, "outcome": PromoteOutcome.AWAITING_APPROVAL, "request": request}
    event = _move(db, name, alias, body.version, actor, expected_version=expected, reason=body.reason,
                  forced=body.force and not report.passed, report=report.model_dump(mode="json"))
    return {**answer, "outcome": PromoteOutcome.MOVED, "from_version": event["from_version"], "event": event}


def move_alias(db: Database, settings: Settings, name: str, alias: str, version: int, actor: str, *,
               expected_version: int | None = store.UNSET, reason: str = "", forced: bool = False,
               report: GateReport | None = None, request_id: str | None = None, before: Any = None) -> dict[str, Any]:
    """Move `alias` to `version` now (compare-and-set against `expected_version` when given), after
    checking the model file still matches its hash. For an approved request (`request_id`): the gates
    were computed when it was made, and `before(conn, holder)` marks it approved in the move's
    transaction. Returns the `promote` event."""
    candidate = _candidate(db, name, version)
    problem = gates.integrity_problem(settings, candidate)
    if problem is not None:
        raise Conflict(problem, "version")
    return _move(db, name, check_alias(alias), version, actor, expected_version=expected_version,
                 reason=reason, forced=forced, request_id=request_id, before=before,
                 report=report.model_dump(mode="json") if report is not None else None)


def move(db: Database, name: str, alias: str, version: int, actor: str, **how: Any) -> dict[str, Any]:
    """An alias move that needs no gates (the caller decided): compare-and-set, event, served table told."""
    return _move(db, name, alias, version, actor, **how)


def _move(db: Database, name: str, alias: str, version: int, actor: str, **how: Any) -> dict[str, Any]:
    """Every alias move goes through here: the compare-and-set, then (committed) the served alias table is
    told, so the next prediction through the alias uses the new version without reading the database."""
    event = store.move_alias(db, name, alias, version, actor, then=_tell(NotifyEvent.ALIAS_MOVED), **how)
    served_aliases.moved(db, name, alias, version)
    return event


def _tell(event: NotifyEvent) -> store.Then:
    """Queue `event` for webhooks (its data: the registry's event) in the transaction that records it."""

    def queue(conn: sqlite3.Connection, recorded: dict[str, Any]) -> None:
        notify.queue(conn, event, recorded["model"], recorded, recorded["time"])

    return queue


def rollback(db: Database, settings: Settings, name: str, alias: str, actor: str, reason: str = "") -> dict[str, Any]:
    """Move `alias` back to the version it held before its last move. The alias's history is replayed
    (a promote pushes its version, a rollback pops), so repeated rollbacks walk back. Refused when there
    is no earlier version, or when it was deleted or archived, its file changed, or it does not load."""
    holder = _holder(db, check_name(name), check_alias(alias))
    if holder is None:
        raise Conflict(f"{name}@{alias} points at no version: nothing to roll back", "alias")
    stack: list[int] = []
    for event in store.events(db, name, alias=alias):
        if event["action"] == EventAction.ROLLBACK:
            stack.pop()
        elif event["action"] == EventAction.UNSET:  # removed: what it held before is no longer its past
            stack.clear()
        elif event["action"] in ALIAS_MOVES:
            stack.append(event["to_version"])
    if len(stack) < 2:
        raise Conflict(f"{name}@{alias} held no version before {holder['version']}: nothing to roll back to", "alias")
    target = stack[-2]
    _check_loads(db, settings, name, target)
    event = _move(db, name, alias, target, actor, expected_version=holder["version"],
                  action=EventAction.ROLLBACK, reason=reason)
    return {"outcome": PromoteOutcome.MOVED, "model": name, "alias": alias, "version": target,
            "from_version": event["from_version"], "event": event}


def _check_loads(db: Database, settings: Settings, name: str, version: int) -> None:
    """The version a rollback returns to exists, is READY, matches its hash and loads."""
    why = f"cannot roll back to {name}/{version}"
    try:
        found = store.get_version(db, name, version)
    except NotFound:
        raise Conflict(f"{why}: it was deleted", "alias") from None
    if found["status"] != VersionStatus.READY:
        raise Conflict(f"{why}: it is {found['status']}", "alias")
    problem = gates.integrity_problem(settings, found)
    if problem is not None:
        raise Conflict(f"{why}: {problem}", "alias")
    if gates.is_mlflow(found):  # its files match their digest; loading it is never the backend's job
        return
    try:
        gates.load_model(settings, found)
    except Exception as error:  # skops refuses, a corrupt zip, an untrusted type...
        raise Conflict(f"{why}: its model does not load: {type(error).__name__}: {error}", "alias") from None
