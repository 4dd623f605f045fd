"""The model registry in SQL: models, their numbered versions, aliases, and the append-only,
hash-chained event log.

- A version's number is allocated inside the transaction that inserts it, from
  `models.latest_version`: parallel registrations never collide.
- An alias moves by compare-and-set in one write transaction (`move_alias`).
- Events are only ever appended (`append_event`, inside the caller's write transaction): `seq` is the
  previous event's + 1, `prev_hash` its hash, `hash` = sha256(prev_hash + canonical JSON of the event);
  `models.head_hash` and `event_count` move with them. There is no update or delete path (and triggers
  refuse one). `verify_chain` walks the chain and reports the first event altered or removed.

Plain reads and inserts go through sqlite-utils' `Table` methods; the joins, aggregates, upserts of a
composite key and compare-and-set reads are hand-written SQL (sqlite-utils has no joins and its
upsert would not tell us what the row held before).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from mlops_tui.contract.registry import ChainCheck, EventAction, VersionStatus

from ..clock import now_ms
from ..db import Database
from ..errors import AlreadyExists, Conflict, NotFound
from .common import one, rows
from .rows import VersionRow

Then = Callable[[sqlite3.Connection, dict[str, Any]], None]
"""Called with the connection and the event, inside the transaction that records a change."""
UNSET: Any = object()
"""`move_alias(expected_version=UNSET)`: the caller did not say what it expects (no check)."""

EVENT_FIELDS = ("seq", "time", "actor", "action", "model", "alias", "from_version", "to_version", "version",
                "request_id", "reason", "forced", "report")
"""What an event's hash covers (with the previous event's hash in front)."""

_VERSIONS = ("SELECT v.*, r.experiment_id FROM model_versions v LEFT JOIN runs r ON r.id = v.run_id "
             "WHERE v.name = ?")


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same event always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    fields = {key: event.get(key) for key in EVENT_FIELDS}
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def when(ms: int) -> str:
    """Epoch ms as an ISO time, for messages."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- decoding --------------------------------------------------------------------------------


def _version(row: dict[str, Any]) -> VersionRow:
    row["metrics"] = json.loads(row.pop("metrics_json") or "{}")
    row["signature"] = json.loads(row.pop("signature_json") or "{}")
    row["tags"] = json.loads(row.pop("tags_json") or "{}")
    row["reference"] = json.loads(row.pop("reference_json") or "null")
    row["pipeline"] = json.loads(row.pop("pipeline_json") or "null")
    row.pop("profile_json", None)  # large: read on its own (`store.monitoring.version_profile`)
    if row.get("experiment_id") is not None:
        row["experiment_id"] = str(row["experiment_id"])
    return cast(VersionRow, row)


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored event as the contract's `Event` has it."""
    event = dict(row)
    event["model"] = event.pop("name")
    event["forced"] = bool(event["forced"])
    event["report"] = json.loads(event.pop("report_json") or "null")
    return event


# --- models ----------------------------------------------------------------------------------


def get_model(db: Database, name: str) -> dict[str, Any]:
    with db.read():
        found = list(db.table("models").rows_where("name = ?", [name]))
    if not found:
        raise NotFound(f"model {name!r} not found", "name")
    return found[0]


def list_models(db: Database, now: int, name: str | None = None) -> list[dict[str, Any]]:
    """Every model (or one) with its version count, the latest version's primary metric and value, and
    its approval requests still pending at `now` (a join and aggregates: hand-written)."""
    where, args = ("WHERE m.name = ?", [now, name]) if name is not None else ("", [now])
    with db.read() as conn:
        found = rows(conn.execute(
            "SELECT m.name, m.description, m.created_at, m.updated_at, m.latest_version, "
            "(SELECT count(*) FROM model_versions v WHERE v.name = m.name) AS version_count, "
            "l.primary_metric, l.primary_value AS latest_value, "
            "(SELECT count(*) FROM approval_requests q WHERE q.name = m.name AND q.status = 'PENDING' "
            "AND q.expires_at > ?) "
            "AS pending_requests "
            f"FROM models m LEFT JOIN model_versions l ON l.name = m.name AND l.version = m.latest_version {where} "
            "ORDER BY m.updated_at DESC, m.name", args))
        for model in found:
            model["aliases"] = {a["alias"]: a["version"] for a in aliases(conn, model["name"])}
    return found


def aliases(conn: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    return rows(conn.execute("SELECT alias, version, moved_at, moved_by FROM model_aliases WHERE name = ? "
                             "ORDER BY alias", (name,)))


def alias_map(db: Database, name: str) -> dict[str, int]:
    with db.read() as conn:
        return {a["alias"]: a["version"] for a in aliases(conn, name)}


# --- versions --------------------------------------------------------------------------------


def insert_version(db: Database, name: str, fields: dict[str, Any], actor: str, then: Then | None = None) -> VersionRow:
    """Store the model's next version (the model is created with its first) and its `register` event,
    in one transaction: the number comes from `models.latest_version` read inside it. `then(conn, event)`
    runs in that transaction too (the service queues the webhook event there)."""
    now = now_ms()
    with db.write() as conn:
        ensure_model(conn, name, now)
        version = int(conn.execute("SELECT latest_version FROM models WHERE name = ?", (name,)).fetchone()[0]) + 1
        db.table("model_versions").insert({
            **fields, "name": name, "version": version, "status": VersionStatus.READY, "created_at": now,
            "created_by": actor})
        conn.execute("UPDATE models SET latest_version = ?, updated_at = ? WHERE name = ?", (version, now, name))
        event = append_event(conn, name, actor, EventAction.REGISTER, version=version, time=now)
        if then is not None:
            then(conn, event)
    return get_version(db, name, version)


def get_version(db: Database, name: str, version: int) -> VersionRow:
    with db.read() as conn:
        found = one(conn.execute(_VERSIONS + " AND v.version = ?", (name, version)))
    if found is None:
        get_model(db, name)
        raise NotFound(f"model {name!r} has no version {version}", "version")
    return _version(found)


def list_versions(db: Database, name: str) -> list[VersionRow]:
    """Newest first."""
    with db.read() as conn:
        return [_version(row) for row in rows(conn.execute(_VERSIONS + " ORDER BY v.version DESC", (name,)))]


def versions_of_run(db: Database, run_id: str) -> list[dict[str, Any]]:
    with db.read():
        return list(db.table("model_versions").rows_where("run_id = ?", [run_id], select="name, version",
                                                          order_by="name, version"))


def _refuse_if_aliased(conn: sqlite3.Connection, name: str, version: int, doing: str) -> None:
    held = [row["alias"] for row in aliases(conn, name) if row["version"] == version]
    if held:
        names = ", ".join(held)
        raise Conflict(f"cannot {doing} {name}/{version}: alias{'es' if len(held) > 1 else ''} {names} "
                       f"point{'' if len(held) > 1 else 's'} at it (move {'them' if len(held) > 1 else 'it'} first)",
                       "version")


def archive_version(db: Database, name: str, version: int, actor: str, reason: str) -> VersionRow:
    """READY → ARCHIVED, refused while an alias points at the version."""
    with db.write() as conn:
        current = get_version(db, name, version)
        if current["status"] == VersionStatus.ARCHIVED:
            raise Conflict(f"{name}/{version} is already archived", "version")
        _refuse_if_aliased(conn, name, version, "archive")
        conn.execute("UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
                     (VersionStatus.ARCHIVED, name, version))
        append_event(conn, name, actor, EventAction.ARCHIVE, version=version, reason=reason)
    return get_version(db, name, version)


def delete_version(db: Database, name: str, version: int, actor: str, reason: str = "") -> VersionRow:
    """Remove the version's row (its events stay), refused while an alias points at it."""
    with db.write() as conn:
        current = get_version(db, name, version)
        _refuse_if_aliased(conn, name, version, "delete")
        conn.execute("DELETE FROM model_versions WHERE name = ? AND version = ?", (name, version))
        conn.execute("UPDATE models SET updated_at = ? WHERE name = ?", (now_ms(), name))
        append_event(conn, name, actor, EventAction.DELETE, version=version, reason=reason)
    return current


# --- aliases ---------------------------------------------------------------------------------


def alias_holder(db: Database, name: str, alias: str) -> dict[str, Any] | None:
    """`{"alias", "version", "moved_at", "moved_by"}` or None when the alias points nowhere."""
    with db.read() as conn:
        return _holder(conn, name, alias)


def _holder(conn: sqlite3.Connection, name: str, alias: str) -> dict[str, Any] | None:
    return one(conn.execute("SELECT alias, version, moved_at, moved_by FROM model_aliases "
                            "WHERE name = ? AND alias = ?", (name, alias)))


def move_alias(db: Database, name: str, alias: str, version: int, actor: str, *,
               expected_version: int | None = UNSET, action: EventAction = EventAction.PROMOTE,
               reason: str = "", forced: bool = False, report: dict[str, Any] | None = None,
               request_id: str | None = None, before: Any = None, then: Then | None = None) -> dict[str, Any]:
    """Point `alias` at `version`: compare-and-set in one write transaction. When `expected_version` is
    given and the alias holds something else, `Conflict` names the version holding it, who moved it
    and when; nothing moves. `before(conn, holder)` (optional) runs inside the transaction after the
    read, for checks that must see the same state; `then(conn, event)` after the move. Returns the event."""
    with db.write() as conn:
        holder = _holder(conn, name, alias)
        current = holder["version"] if holder else None
        if expected_version is not UNSET and expected_version != current:
            raise Conflict(moved_message(name, alias, holder, expected_version), "expected_version")
        if current == version:
            raise Conflict(f"{name}@{alias} already points at version {version}", "version")
        target = one(conn.execute("SELECT status FROM model_versions WHERE name = ? AND version = ?",
                                  (name, version)))
        if target is None:
            raise NotFound(f"model {name!r} has no version {version}", "version")
        if target["status"] != VersionStatus.READY:
            raise Conflict(f"{name}/{version} is {target['status']}: only a READY version takes an alias", "version")
        if before is not None:
            before(conn, holder)
        now = now_ms()
        conn.execute("INSERT INTO model_aliases (name, alias, version, moved_at, moved_by) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, "
                     "moved_at = excluded.moved_at, moved_by = excluded.moved_by",
                     (name, alias, version, now, actor))
        conn.execute("UPDATE models SET updated_at = ? WHERE name = ?", (now, name))
        event = append_event(conn, name, actor, action, alias=alias, from_version=current, to_version=version,
                             reason=reason, forced=forced, report=report, request_id=request_id, time=now)
        if then is not None:
            then(conn, event)
        return event


def moved_message(name: str, alias: str, holder: dict[str, Any] | None, expected: int | None) -> str:
    expected_text = "nothing" if expected is None else f"version {expected}"
    if holder is None:
        return f"{name}@{alias} points nowhere now (you expected {expected_text})"
    return (f"{name}@{alias} now holds version {holder['version']}, moved by {holder['moved_by']} at "
            f"{when(holder['moved_at'])} (you expected {expected_text})")


# --- events ----------------------------------------------------------------------------------


def append_event(conn: sqlite3.Connection, name: str, actor: str, action: EventAction, *,
                 alias: str | None = None, from_version: int | None = None, to_version: int | None = None,
                 version: int | None = None, request_id: str | None = None, reason: str = "",
                 forced: bool = False, report: dict[str, Any] | None = None, time: int | None = None) -> dict[str, Any]:
    """Append an event to the model's chain. Call it inside the caller's `db.write()` transaction (with
    the change it records), so both are stored or neither. Returns the event as the contract has it."""
    head = one(conn.execute("SELECT event_count, head_hash FROM models WHERE name = ?", (name,)))
    if head is None:
        raise NotFound(f"model {name!r} not found", "name")
    event: dict[str, Any] = {
        "seq": head["event_count"] + 1, "time": time if time is not None else now_ms(), "actor": actor,
        "action": str(action), "model": name, "alias": alias, "from_version": from_version,
        "to_version": to_version, "version": version, "request_id": request_id, "reason": reason,
        "forced": forced, "report": report, "prev_hash": head["head_hash"]}
    event["hash"] = event_hash(event["prev_hash"], event)
    stored = {key: value for key, value in event.items() if key not in ("model", "report")}
    stored.update(name=name, forced=int(forced), report_json=canonical(report) if report is not None else None)
    conn.execute(f"INSERT INTO model_events ({', '.join(stored)}) VALUES ({', '.join('?' * len(stored))})",
                 list(stored.values()))
    conn.execute("UPDATE models SET event_count = ?, head_hash = ? WHERE name = ?",
                 (event["seq"], event["hash"], name))
    return event


def events(db: Database, name: str, until: int | None = None, alias: str | None = None) -> list[dict[str, Any]]:
    """The model's events, oldest first; `until` keeps those up to that time, `alias` those about it."""
    where, args = "name = ?", list[Any]([name])
    if until is not None:
        where, args = where + " AND time <= ?", [*args, until]
    if alias is not None:
        where, args = where + " AND alias = ?", [*args, alias]
    with db.read():
        return [_event(row) for row in db.table("model_events").rows_where(where, args, order_by="seq")]


def last_report(db: Database, name: str, version: int) -> dict[str, Any] | None:
    """The gate report of the version's last promotion (or request)."""
    with db.read():
        found = list(db.table("model_events").rows_where(
            "name = ? AND to_version = ? AND report_json IS NOT NULL", [name, version], select="report_json",
            order_by="seq DESC", limit=1))
    return json.loads(found[0]["report_json"]) if found else None


def verify_chain(db: Database, name: str) -> ChainCheck:
    """Walk the chain from its first event: recompute each hash, check that each event links to the one
    before and that seq has no gap, and that the last one is the head the model recorded. Reports the
    first event altered (its seq) or removed (the seq missing)."""
    model = get_model(db, name)
    with db.read():
        stored = [_event(row) for row in db.table("model_events").rows_where("name = ?", [name], order_by="seq")]
    count = len(stored)

    def bad(seq: int, detail: str) -> ChainCheck:
        return ChainCheck(model=name, ok=False, events=count, first_bad=seq, detail=detail)

    previous: dict[str, Any] | None = None
    for expected_seq, event in enumerate(stored, start=1):
        if event["seq"] != expected_seq:
            return bad(expected_seq, f"event {expected_seq} was removed (the chain jumps to {event['seq']})")
        if event_hash(event["prev_hash"], event) != event["hash"]:
            return bad(event["seq"], f"event {event['seq']} was altered (its content does not match its hash)")
        if previous is not None and event["prev_hash"] != previous["hash"]:
            return bad(previous["seq"], f"event {previous['seq']} was altered (event {event['seq']} recorded "
                                        "another hash for it)")
        if previous is None and event["prev_hash"] != "":
            return bad(1, "event 1 links to a predecessor: the chain's start was altered")
        previous = event
    if count < model["event_count"]:
        return bad(count + 1, f"event {count + 1} was removed ({model['event_count']} recorded, {count} found)")
    if count > model["event_count"] or (previous["hash"] if previous else "") != model["head_hash"]:
        return bad(count, f"event {count} does not match the head the model recorded")
    return ChainCheck(model=name, ok=True, events=count, detail=f"{count} events, chain intact")


def latest_pipelines(db: Database, name: str | None = None) -> list[tuple[str, int, dict[str, Any] | None]]:
    """`(model, version, pipeline)` of each model's latest version (or of one model's): what the timers
    read every round, so only the pipeline column."""
    where, args = ("AND m.name = ?", [name]) if name is not None else ("", [])
    with db.read() as conn:
        found = conn.execute(
            "SELECT m.name, v.version, v.pipeline_json FROM models m JOIN model_versions v "
            "ON v.name = m.name AND v.version = (SELECT MAX(version) FROM model_versions WHERE name = m.name) "
            f"WHERE 1 = 1 {where} ORDER BY m.name", args).fetchall()
    return [(row[0], int(row[1]), json.loads(row[2]) if row[2] else None) for row in found]


# --- models made, changed and removed by name (the MLflow API) ------------------------------------


def ensure_model(conn: sqlite3.Connection, name: str, now: int, description: str = "",
                 tags: dict[str, str] | None = None) -> bool:
    """Create the model's row unless it exists; True when it was created. A name whose model was deleted
    still has its events (the chain is append-only): the new row continues that chain, so
    `verify_chain` walks the old events and the new ones as one."""
    if one(conn.execute("SELECT 1 AS found FROM models WHERE name = ?", (name,))) is not None:
        return False
    head = one(conn.execute("SELECT seq, hash FROM model_events WHERE name = ? ORDER BY seq DESC LIMIT 1", (name,)))
    conn.execute("INSERT INTO models (name, description, created_at, updated_at, event_count, head_hash, tags_json) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (name, description, now, now, head["seq"] if head else 0, head["hash"] if head else "",
                  json.dumps(tags or {})))
    return True


def create_model(db: Database, name: str, description: str = "", tags: dict[str, str] | None = None) -> None:
    """A model without versions yet (`AlreadyExists` when the name is taken)."""
    with db.write() as conn:
        if not ensure_model(conn, name, now_ms(), description, tags):
            raise AlreadyExists(f"Registered Model (name={name}) already exists.", "name")


def update_model(db: Database, name: str, *, description: str | None = None, set_tags: dict[str, str] | None = None,
                 delete_tag: str | None = None) -> None:
    """Change a model's description and tags (read and written in one transaction)."""
    with db.write() as conn:
        found = one(conn.execute("SELECT tags_json FROM models WHERE name = ?", (name,)))
        if found is None:
            raise NotFound(f"Registered Model with name={name} not found", "name")
        tags = _changed_tags(found["tags_json"], set_tags, delete_tag, f"registered model {name!r}")
        conn.execute("UPDATE models SET tags_json = ?, description = coalesce(?, description), updated_at = ? "
                     "WHERE name = ?", (json.dumps(tags), description, now_ms(), name))


def _changed_tags(stored: str | None, set_tags: dict[str, str] | None, delete_tag: str | None,
                  owner: str) -> dict[str, str]:
    tags: dict[str, str] = json.loads(stored or "{}")
    tags.update(set_tags or {})
    if delete_tag is not None:
        if delete_tag not in tags:
            raise NotFound(f"No tag with name: {delete_tag} in {owner}", "key")
        del tags[delete_tag]
    return tags


def update_version(db: Database, name: str, version: int, *, description: str | None = None,
                   set_tags: dict[str, str] | None = None, delete_tag: str | None = None) -> VersionRow:
    """Change a version's description and tags (what MLflow lets change; the model's files never do)."""
    with db.write() as conn:
        found = one(conn.execute("SELECT tags_json FROM model_versions WHERE name = ? AND version = ?",
                                 (name, version)))
        if found is None:
            get_model(db, name)
            raise NotFound(f"Model Version (name={name}, version={version}) not found", "version")
        tags = _changed_tags(found["tags_json"], set_tags, delete_tag, f"model version {name}/{version}")
        conn.execute("UPDATE model_versions SET tags_json = ?, description = coalesce(?, description) "
                     "WHERE name = ? AND version = ?", (json.dumps(tags), description, name, version))
        conn.execute("UPDATE models SET updated_at = ? WHERE name = ?", (now_ms(), name))
    return get_version(db, name, version)


def delete_model(db: Database, name: str, actor: str) -> list[str]:
    """Remove a model, its versions, aliases and approval requests; its events stay, closed by a `delete`
    event (a model created later under the name continues the chain). Returns the aliases it had."""
    with db.write() as conn:
        get_model(db, name)
        held = [row["alias"] for row in aliases(conn, name)]
        append_event(conn, name, actor, EventAction.DELETE, reason="registered model deleted")
        for table in ("model_aliases", "approval_requests", "model_versions", "models"):
            conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # noqa: S608 (fixed table names)
    return held


def rename_model(db: Database, name: str, new_name: str) -> None:
    """Give a model with no recorded history another name. Events are hashed with the model's name and
    never rewritten, so a model with events (a version registered, an alias moved) keeps its name."""
    with db.write() as conn:
        model = get_model(db, name)
        if model["event_count"]:
            raise Conflict(f"cannot rename {name!r}: it has {model['event_count']} audit event(s) hashed with its "
                           "name, which are never rewritten; register its versions under the new name instead",
                           "name")
        if not ensure_model(conn, new_name, now_ms(), model["description"], json.loads(model["tags_json"] or "{}")):
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists.", "new_name")
        conn.execute("UPDATE models SET created_at = ? WHERE name = ?", (model["created_at"], new_name))
        conn.execute("DELETE FROM models WHERE name = ?", (name,))


def unset_alias(db: Database, name: str, alias: str, actor: str, then: Then | None = None) -> dict[str, Any]:
    """Point `alias` nowhere (an `unset` event records which version it held). `NotFound` when it
    pointed nowhere already."""
    with db.write() as conn:
        get_model(db, name)
        holder = _holder(conn, name, alias)
        if holder is None:
            raise NotFound(f"Registered model alias {alias} not found.", "alias")
        conn.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias))
        now = now_ms()
        conn.execute("UPDATE models SET updated_at = ? WHERE name = ?", (now, name))
        event = append_event(conn, name, actor, EventAction.UNSET, alias=alias, from_version=holder["version"],
                             time=now)
        if then is not None:
            then(conn, event)
        return event


def registered(db: Database, name: str | None = None) -> list[dict[str, Any]]:
    """Every model (or one) as MLflow shows a registered model: its row (tags decoded), its aliases
    (`[{alias, version}]`) and its latest version per stage (the latest READY and the latest ARCHIVED
    version). Three queries, whatever the number of models."""
    where, args = ("WHERE name = ?", [name]) if name is not None else ("", [])
    with db.read() as conn:
        models = rows(conn.execute("SELECT name, description, created_at, updated_at, tags_json FROM models "
                                   f"{where} ORDER BY name", args))
        alias_rows = rows(conn.execute(f"SELECT name, alias, version FROM model_aliases {where} ORDER BY alias",
                                       args))
        latest = rows(conn.execute(
            f"SELECT {_LISTED} FROM model_versions v LEFT JOIN runs r ON r.id = v.run_id "
            "WHERE (v.name, v.version) IN (SELECT name, max(version) FROM model_versions "
            f"{where} GROUP BY name, status = 'ARCHIVED') ORDER BY v.version DESC", args))
    by_name = {model["name"]: model for model in models}
    for model in models:
        model["tags"] = json.loads(model.pop("tags_json") or "{}")
        model["aliases"], model["latest_versions"] = [], []
    for row in alias_rows:
        by_name[row["name"]]["aliases"].append({"alias": row["alias"], "version": row["version"]})
    for row in latest:
        by_name[row["name"]]["latest_versions"].append(_listed(row))
    return models


def all_versions(db: Database, name: str | None = None) -> list[VersionRow]:
    """Every version (or one model's), with the experiment of its run: what a version search filters."""
    where, args = ("WHERE v.name = ?", [name]) if name is not None else ("", [])
    with db.read() as conn:
        found = rows(conn.execute(f"SELECT {_LISTED} FROM model_versions v LEFT JOIN runs r ON r.id = v.run_id {where}",
                                  args))
    return [_listed(row) for row in found]


_LISTED = ("v.name, v.version, v.status, v.run_id, v.model_path, v.sha256, v.size_bytes, v.created_at, v.created_by, "
           "v.description, v.tags_json, v.source, v.model_format, v.logged_model_id, r.experiment_id")
"""What MLflow's ModelVersion shows (not a native version's signature, reference or pipeline: large JSON
that a search over every version would decode for nothing)."""


def _listed(row: dict[str, Any]) -> VersionRow:
    row["tags"] = json.loads(row.pop("tags_json") or "{}")
    if row.get("experiment_id") is not None:
        row["experiment_id"] = str(row["experiment_id"])
    return cast(VersionRow, row)


def all_aliases(db: Database) -> dict[tuple[str, int], list[str]]:
    """`(model, version)` → the aliases pointing at it now."""
    with db.read() as conn:
        found = conn.execute("SELECT name, version, alias FROM model_aliases ORDER BY alias").fetchall()
    held: dict[tuple[str, int], list[str]] = {}
    for name, version, alias in found:
        held.setdefault((name, int(version)), []).append(alias)
    return held

