"""Approval requests in SQL (`approval_requests`): a move of an alias that waits for its approvers.

The rules (who may approve, how many, expiry, what an approval moves) are the service's business
(`backend.services.approvals`). Writes are single statements through sqlite-utils' `Table` methods:
called inside the service's `db.write()`, they join its transaction together with the audit event.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from mlops_tui.contract.registry import RequestStatus

from ..db import Database
from .common import one, rows
from .rows import RequestRow

TABLE = "approval_requests"
_COLUMNS = ("id, name, alias, version, expected_version, requester, reason, forced, status, approvals_needed, "
            "approvers_json, decided_by, decision_reason, created_at, expires_at, decided_at, report_json")
_SELECT = f"SELECT {_COLUMNS} FROM {TABLE} "


def _request(row: dict[str, Any]) -> RequestRow:
    report = row["report_json"]
    return {
        "id": row["id"],
        "model": row["name"],
        "alias": row["alias"],
        "version": row["version"],
        "expected_version": row["expected_version"],
        "requester": row["requester"],
        "reason": row["reason"],
        "forced": bool(row["forced"]),
        "status": row["status"],
        "approvals_needed": row["approvals_needed"],
        "approvers": json.loads(row["approvers_json"]),
        "decided_by": row["decided_by"],
        "decision_reason": row["decision_reason"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "decided_at": row["decided_at"],
        "report": json.loads(report) if report is not None else None,
    }


# --- writing (inside the caller's transaction) -------------------------------------------------


def insert(db: Database, name: str, alias: str, version: int, expected_version: int | None, requester: str,
           reason: str, forced: bool, approvals_needed: int, created_at: int, expires_at: int,
           report: dict[str, Any] | None) -> str:
    """Store a PENDING request; its id."""
    request_id = uuid.uuid4().hex[:12]
    db.table(TABLE).insert({
        "id": request_id, "name": name, "alias": alias, "version": version, "expected_version": expected_version,
        "requester": requester, "reason": reason, "forced": int(forced), "status": RequestStatus.PENDING.value,
        "approvals_needed": approvals_needed, "approvers_json": "[]", "created_at": created_at,
        "expires_at": expires_at, "report_json": json.dumps(report, allow_nan=False) if report is not None else None})
    return request_id


def set_approvers(db: Database, request_id: str, approvers: list[str]) -> None:
    """Record who approved so far (in the order they did)."""
    db.table(TABLE).update(request_id, {"approvers_json": json.dumps(approvers)})


def decide(db: Database, request_id: str, status: RequestStatus, decided_by: str | None, decision_reason: str,
           decided_at: int) -> None:
    """Close a request: APPROVED, REJECTED or EXPIRED, by whom (None: the clock), why and when."""
    db.table(TABLE).update(request_id, {"status": status.value, "decided_by": decided_by,
                                        "decision_reason": decision_reason, "decided_at": decided_at})


# --- reading -----------------------------------------------------------------------------------


def get(db: Database, name: str, request_id: str) -> RequestRow | None:
    """The request `request_id` of model `name` (None: no such request for this model)."""
    with db.read() as conn:
        found = one(conn.execute(_SELECT + "WHERE id = ? AND name = ?", (request_id, name)))
    return _request(found) if found else None


def list_for_model(db: Database, name: str, status: RequestStatus | None = None) -> list[RequestRow]:
    """The model's requests, newest first (only those in `status` when given)."""
    query, params = _SELECT + "WHERE name = ?", [name]
    if status is not None:
        query, params = query + " AND status = ?", [*params, status.value]
    with db.read() as conn:
        return [_request(row) for row in rows(conn.execute(query + " ORDER BY created_at DESC, id", params))]


def pending_due(db: Database, name: str, now: int) -> list[RequestRow]:
    """The model's PENDING requests whose time ran out (`expires_at` <= now), oldest first."""
    with db.read() as conn:
        found = rows(conn.execute(_SELECT + "WHERE name = ? AND status = ? AND expires_at <= ? ORDER BY expires_at, id",
                                  (name, RequestStatus.PENDING.value, now)))
    return [_request(row) for row in found]


def count_pending(db: Database, name: str) -> int:
    with db.read():
        return int(db.table(TABLE).count_where("name = ? AND status = ?", [name, RequestStatus.PENDING.value]))
