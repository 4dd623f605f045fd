"""Approval requests of a model: `/api/v1/models/{name}/requests` (opened by a promotion whose alias
needs approval; see `backend.services.approvals` for the rules)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlops_tui.contract.registry import (
    ApprovalRequest,
    Decision,
    RequestFilter,
    RequestList,
    RequestStatus,
)

from ..deps import DB, Actor, AppSettings
from ..openapi import ContractRoute, errors
from ..services import approvals
from .models import ModelName

router = APIRouter(prefix="/api/v1/models/{name}/requests", tags=["models"], route_class=ContractRoute)


@router.get("", response_model=RequestList, responses=errors(404, 422))
def list_requests(name: ModelName, db: DB, status: RequestFilter | None = None) -> dict[str, Any]:
    """The model's approval requests, newest first (`status` keeps one kind). Requests past their
    expiry are closed EXPIRED first."""
    found = approvals.list_requests(db, name, RequestStatus(status) if status else None)
    return {"requests": found}


@router.post("/{request_id}/approve", response_model=ApprovalRequest, responses=errors(403, 404, 409, 422))
def approve(name: ModelName, request_id: str, body: Decision, db: DB, settings: AppSettings,
            actor: Actor) -> ApprovalRequest:
    """Approve as the `X-Mlops-User` (never the requester: 403). The approval that completes the
    request moves the alias (compare-and-set: 409 naming the move that came first, and the request
    is closed REJECTED)."""
    return approvals.approve(settings, db, name, request_id, actor, body.reason)


@router.post("/{request_id}/reject", response_model=ApprovalRequest, responses=errors(404, 409, 422))
def reject(name: ModelName, request_id: str, body: Decision, db: DB, actor: Actor) -> ApprovalRequest:
    """Reject (a reason is required); the requester rejecting their own request withdraws it."""
    return approvals.reject(db, name, request_id, actor, body.reason)
