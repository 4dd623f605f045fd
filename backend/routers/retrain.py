"""Continuous training of a model: fire its `[retrain]` policy by hand, list its retrains, read its
lifecycle (`/api/v1/models/{name}/retrain`, `/retrains`, `/lifecycle`). Plain `def` routes: the plan
reads the database, and starting a retrain submits a job (the gates run later, on the server's timer)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from mlops_tui.contract.registry import MODEL_NAME_RULE
from mlops_tui.contract.retrain import Lifecycle, Retrain, RetrainAnswer, RetrainList, RetrainRequest, RetrainTrigger

from ..clock import now_ms
from ..deps import DB, Actor, AppSettings
from ..openapi import ContractRoute, errors
from ..services import registry
from ..services import retrain as service

router = APIRouter(prefix="/api/v1/models", tags=["retrain"], route_class=ContractRoute)

ModelName = Annotated[str, Path(json_schema_extra={"pattern": MODEL_NAME_RULE})]
RetrainId = Annotated[str, Path(max_length=64)]


@router.post("/{name}/retrain", response_model=RetrainAnswer, responses=errors(404, 409, 422))
def retrain(name: ModelName, body: RetrainRequest, db: DB, settings: AppSettings, actor: Actor) -> RetrainAnswer:
    """Fire the model's retrain policy by hand (as the `X-Mlops-User`): the plan and the retrain it
    recorded (`running`, or `coalesced` into one that runs, or `skipped` naming the guard). `dry_run`
    starts nothing; `force` skips every guard but coalescing. 409 naming `retrain` when the latest
    version's pipeline file has no `[retrain]` table."""
    registry.check_name(name)
    now = now_ms()
    if body.dry_run:
        return RetrainAnswer(plan=service.plan(db, name, now, body.force))
    detail = f"by hand by {actor}" + (" (forced)" if body.force else "")
    return service.fire(db, settings, name, RetrainTrigger.MANUAL, detail, actor, now, force=body.force)


@router.get("/{name}/retrains", response_model=RetrainList, responses=errors(404, 422))
def list_retrains(name: ModelName, db: DB, limit: int = Query(50, ge=1, le=1000)) -> RetrainList:
    """The model's retrains (each trigger and its outcome), newest first."""
    return RetrainList(retrains=service.listed(db, registry.check_name(name), limit))


@router.get("/{name}/retrains/{retrain_id}", response_model=Retrain, responses=errors(404, 422))
def get_retrain(name: ModelName, retrain_id: RetrainId, db: DB) -> Retrain:
    """One retrain, as it stands now (`mlops retrain --wait` follows it)."""
    return service.get(db, registry.check_name(name), retrain_id)


@router.get("/{name}/lifecycle", response_model=Lifecycle, responses=errors(404, 422))
def lifecycle(name: ModelName, db: DB) -> Lifecycle:
    """The latest version's alert rules, retrain policy and webhook, the policy's state (paused, rejections
    in a row, last start, the schedule's next firing) and the model's open alerts."""
    return service.model_lifecycle(db, registry.check_name(name))
