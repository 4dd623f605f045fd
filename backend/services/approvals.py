"""Approval requests: a move of an alias whose policy says `approval = true` (or `protected = true`)
waits for its approvers instead of happening at once.

The rules:
- `promote` opens a PENDING request (`open_request`) carrying the gate report, the reason, whether it
  was forced, and the version the alias held then (`expected_version`); event `request`.
- `approvals = N` distinct approvers are needed, never the requester (403). Each approval is an event
  `approve`; the same approver twice is a conflict (409).
- The approval that reaches N moves the alias by compare-and-set against `expected_version` and marks
  the request APPROVED, in one transaction; the `promote` event carries the request's id, the
  requester as its actor, the request's reason and whether it was forced. When the alias moved
  meanwhile (or the version can no longer take it), nothing moves: the request is closed REJECTED
  (event `reject`, its `decision_reason` naming what came first) and the answer is that 409.
- `reject` needs a reason; anyone may reject, the requester too (that withdraws the request).
- A request not approved by `expires_at` (opened + `approval_expires`) is closed EXPIRED, never
  approved. Expiry is applied lazily, whenever the model's requests are read or decided, each with an
  event `expire` whose actor is `EXPIRY_ACTOR`.
- Only a PENDING request can be approved or rejected (409 naming its status).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from mlops_tui.contract.registry import AliasPolicy, ApprovalRequest, EventAction, GateReport, RequestStatus

from ..clock import now_ms
from ..db import Database
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..pipelines.promote import duration_ms
from ..settings import Settings
from ..store import approvals as store
from ..store import registry as registry_store
from ..store.rows import RequestRow
from . import registry

EXPIRY_ACTOR = "system"
"""The actor of `expire` events: nobody decided, the request's time ran out."""


def open_request(db: Database, name: str, alias: str, version: int, expected_version: int | None, actor: str,
                 reason: str, forced: bool, report: GateReport | None, policy: AliasPolicy) -> ApprovalRequest:
    """A PENDING request to move `alias` of `name` from `expected_version` (what it holds now) to
    `version`, with its gate report: it needs `policy.approvals` approvers within `approval_expires`."""
    created = now_ms()
    report_json = report.model_dump(mode="json") if report is not None else None
    with db.write() as conn:
        request_id = store.insert(db, name, alias, version, expected_version, actor, reason, forced,
                                  policy.approvals, created, created + duration_ms(policy.approval_expires),
                                  report_json)
        registry_store.append_event(conn, name, actor, EventAction.REQUEST, alias=alias,
                                    from_version=expected_version, to_version=version, version=version,
                                    request_id=request_id, reason=reason, forced=forced, report=report_json,
                                    time=created)
    return _answer(db, name, request_id)


def list_requests(db: Database, name: str, status: RequestStatus | None = None) -> list[ApprovalRequest]:
    """The model's requests, newest first (those past their time closed first)."""
    registry_store.get_model(db, name)
    expire_due(db, name)
    return [ApprovalRequest.model_validate(row) for row in store.list_for_model(db, name, status)]


def get_request(db: Database, name: str, request_id: str) -> ApprovalRequest:
    expire_due(db, name)
    return _answer(db, name, request_id)


def approve(settings: Settings, db: Database, name: str, request_id: str, actor: str,
            reason: str) -> ApprovalRequest:
    """Record `actor`'s approval; the approval that completes the request moves the alias."""
    expire_due(db, name)
    with db.write() as conn:
        request = _pending(db, name, request_id)
        if actor == request["requester"]:
            raise Forbidden(f"the requester cannot approve their own request ({request_id}, opened by {actor})",
                            "actor")
        if actor in request["approvers"]:
            raise Conflict(f"{actor} already approved request {request_id}", "actor")
        request["approvers"] = [*request["approvers"], actor]
        store.set_approvers(db, request_id, request["approvers"])
        _event(conn, request, actor, EventAction.APPROVE, reason)
    if len(request["approvers"]) >= request["approvals_needed"]:
        _carry_out(settings, db, request, actor, reason)
    return _answer(db, name, request_id)


def reject(db: Database, name: str, request_id: str, actor: str, reason: str) -> ApprovalRequest:
    """Close a PENDING request without moving anything; `reason` is required. The requester may
    reject their own request (a withdrawal)."""
    if not reason.strip():
        raise Invalid("a rejection needs a reason", "reason")
    expire_due(db, name)
    with db.write() as conn:
        _close(conn, db, _pending(db, name, request_id), RequestStatus.REJECTED, actor, reason)
    return _answer(db, name, request_id)


def expire_due(db: Database, name: str) -> None:
    """Close the model's PENDING requests whose time ran out: status EXPIRED, event `expire`."""
    now = now_ms()
    if not store.pending_due(db, name, now):
        return
    with db.write() as conn:
        for request in store.pending_due(db, name, now):  # read again inside the transaction
            _close(conn, db, request, RequestStatus.EXPIRED, None,
                   f"not approved in time: {len(request['approvers'])} of {request['approvals_needed']} "
                   f"approvals by {registry_store.when(request['expires_at'])}")


def _carry_out(settings: Settings, db: Database, request: RequestRow, actor: str, reason: str) -> None:
    """Move the alias as the request asked (compare-and-set against the holder it was opened
    against) and mark it APPROVED in the same transaction; when the move is refused, close the
    request REJECTED and re-raise."""

    def approved(conn: sqlite3.Connection, holder: Any) -> None:
        store.decide(db, request["id"], RequestStatus.APPROVED, actor, reason, now_ms())

    report = GateReport.model_validate(request["report"]) if request["report"] is not None else None
    try:
        registry.move_alias(db, settings, request["model"], request["alias"], request["version"],
                            request["requester"], expected_version=request["expected_version"],
                            reason=request["reason"], forced=request["forced"], report=report,
                            request_id=request["id"], before=approved)
    except (Conflict, NotFound) as error:
        with db.write() as conn:
            _close(conn, db, request, RequestStatus.REJECTED, actor, f"the move was refused: {error.message}")
        raise


def _close(conn: sqlite3.Connection, db: Database, request: RequestRow, status: RequestStatus, actor: str | None,
           reason: str) -> None:
    """Inside a write transaction: decide the request (`actor` None: it expired) and append its event."""
    store.decide(db, request["id"], status, actor, reason, now_ms())
    action = EventAction.EXPIRE if status == RequestStatus.EXPIRED else EventAction.REJECT
    _event(conn, request, actor or EXPIRY_ACTOR, action, reason)


def _event(conn: sqlite3.Connection, request: RequestRow, actor: str, action: EventAction, reason: str) -> None:
    registry_store.append_event(conn, request["model"], actor, action, alias=request["alias"],
                                from_version=request["expected_version"], to_version=request["version"],
                                version=request["version"], request_id=request["id"], reason=reason, time=now_ms())


def _answer(db: Database, name: str, request_id: str) -> ApprovalRequest:
    return ApprovalRequest.model_validate(_row(db, name, request_id))


def _row(db: Database, name: str, request_id: str) -> RequestRow:
    found = store.get(db, name, request_id)
    if found is None:
        registry_store.get_model(db, name)
        raise NotFound(f"model {name!r} has no request {request_id!r}", "request_id")
    return found


def _pending(db: Database, name: str, request_id: str) -> RequestRow:
    request = _row(db, name, request_id)
    if request["status"] != RequestStatus.PENDING:
        decided = f" (by {request['decided_by']})" if request["decided_by"] else ""
        raise Conflict(f"request {request_id} is {request['status']}{decided}: only a PENDING request can be "
                       "approved or rejected", "request_id")
    return request
