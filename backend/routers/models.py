"""The model registry: `/api/v1/models`. Every route but the alias long poll is a plain `def`: gates and
model loads run in the threadpool, never on the event loop. The actor is the `X-Mlops-User` header."""
from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query

from mlops_tui.contract.registry import (
    ALIAS_RULE,
    MODEL_NAME_RULE,
    ArchiveCreate,
    ChainCheck,
    EventList,
    GateCheck,
    GateReport,
    ModelDetail,
    ModelList,
    ModelVersion,
    Policy,
    PromoteCreate,
    PromoteResult,
    RollbackCreate,
    VersionCreate,
)
from mlops_tui.contract.requests import MAX_SAFE_INT

from ..deps import DB, Actor, AppSettings, Stopping
from ..openapi import ContractRoute, errors
from ..services import alias_wait, registry

router = APIRouter(prefix="/api/v1/models", tags=["models"], route_class=ContractRoute)

# The naming rules as /openapi.json states them; the service checks them, with messages naming the field.
ModelName = Annotated[str, Path(json_schema_extra={"pattern": MODEL_NAME_RULE})]
AliasName = Annotated[str, Path(json_schema_extra={"pattern": ALIAS_RULE})]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_SAFE_INT)]


@router.get("", response_model=ModelList, responses=errors(422))
def list_models(db: DB) -> dict[str, Any]:
    """Every registered model: latest version, aliases, pending approval requests."""
    return {"models": registry.list_models(db)}


@router.get("/{name}", response_model=ModelDetail, responses=errors(404, 422))
def get_model(name: ModelName, db: DB) -> dict[str, Any]:
    """The model and its versions, newest first, each with the aliases pointing at it."""
    return registry.get_model(db, name)


@router.post("/{name}/versions", status_code=201, response_model=ModelVersion, responses=errors(404, 409, 422))
def register_version(name: ModelName, body: VersionCreate, db: DB, settings: AppSettings,
                     actor: Actor) -> dict[str, Any]:
    """Register the run's `model/model.skops` as the model's next version (the model is created with its
    first); 422 naming `run_id` when the run has no model file."""
    version = registry.register(db, settings, name, body.run_id, actor, body.description, body.tags)
    return registry.get_version(db, name, version["version"])


@router.get("/{name}/versions/{version}", response_model=ModelVersion, responses=errors(404, 422))
def get_version(name: ModelName, version: VersionNumber, db: DB) -> dict[str, Any]:
    """One version, with its reference statistics and its last promotion's gate report."""
    return registry.get_version(db, name, version)


@router.delete("/{name}/versions/{version}", response_model=ModelVersion, responses=errors(404, 409, 422))
def delete_version(name: ModelName, version: VersionNumber, db: DB, actor: Actor) -> dict[str, Any]:
    """Delete a version (its events stay); 409 naming the alias that points at it."""
    return registry.delete(db, name, version, actor)


@router.post("/{name}/versions/{version}/archive", response_model=ModelVersion, responses=errors(404, 409, 422))
def archive_version(name: ModelName, version: VersionNumber, body: ArchiveCreate, db: DB,
                    actor: Actor) -> dict[str, Any]:
    """Archive a version; 409 naming the alias that points at it."""
    return registry.archive(db, name, version, actor, body.reason)


@router.get("/{name}/aliases/{alias}", response_model=ModelVersion, responses=errors(404, 422))
async def get_alias(
    name: ModelName, alias: AliasName, db: DB, settings: AppSettings, stopping: Stopping,
    known_version: int | None = Query(None, ge=0, le=MAX_SAFE_INT, description="The version the caller holds."),
    wait_seconds: float | None = Query(None, ge=0, le=alias_wait.MAX_WAIT_SECONDS,
                                       description="With `known_version`: answer when the alias points elsewhere, "
                                                   "or after this long (a long poll)."),
) -> dict[str, Any]:
    """The version the alias points at (404 when it points nowhere). With `known_version` and
    `wait_seconds`, a long poll: the answer comes as soon as the alias points elsewhere, else after the
    wait (replicas follow an alias this way). The only `async` route here: it awaits, never blocks."""
    if known_version is None or not wait_seconds:
        return await anyio.to_thread.run_sync(registry.get_alias, db, name, alias)
    wait = min(wait_seconds, settings.max_alias_wait_seconds)
    return await alias_wait.wait_for_move(db, name, alias, known_version, wait, stopping)


@router.post("/{name}/gates", response_model=GateReport, responses=errors(404, 409, 422))
def check_gates(name: ModelName, body: GateCheck, db: DB, settings: AppSettings) -> GateReport:
    """The gate report of moving `alias` to `version`, computed now; nothing moves."""
    return registry.check_gates(db, settings, name, body.version, body.alias)


@router.post("/{name}/promote", response_model=PromoteResult, responses=errors(403, 404, 409, 422))
def promote(name: ModelName, body: PromoteCreate, db: DB, settings: AppSettings, actor: Actor) -> dict[str, Any]:
    """Move `alias` to `version` if the gates pass (`moved`), else `gates_failed` with the report (nothing
    moved); `force` with a `reason` moves anyway, recorded as forced. With `expected_version` the move is
    compare-and-set: 409 naming the version that holds the alias now and who moved it."""
    return registry.promote_version(db, settings, name, body, actor)


@router.post("/{name}/rollback", response_model=PromoteResult, responses=errors(404, 409, 422))
def rollback(name: ModelName, body: RollbackCreate, db: DB, settings: AppSettings, actor: Actor) -> dict[str, Any]:
    """Move the alias back to the version it held before its last move, once that version is checked to
    match its hash and load; 409 saying why not."""
    return registry.rollback(db, settings, name, body.alias, actor, body.reason)


@router.get("/{name}/policy", response_model=Policy, responses=errors(404, 422))
def policy(name: ModelName, db: DB, version: int | None = Query(None, ge=1, le=MAX_SAFE_INT)) -> Policy:
    """The promotion policy from a version's pipeline file (the latest version's by default)."""
    return registry.policy(db, name, version)


@router.get("/{name}/events", response_model=EventList, responses=errors(404, 422))
def events(name: ModelName, db: DB, at: int | None = Query(None, ge=0, le=MAX_SAFE_INT, description="Epoch ms."),
           alias: str | None = Query(None, json_schema_extra={"pattern": ALIAS_RULE})) -> dict[str, Any]:
    """The audit trail, oldest first; `at` keeps the events up to then and says which version each alias
    held at that moment; `alias` keeps the events about it."""
    return registry.events(db, name, at, alias)


@router.get("/{name}/verify", response_model=ChainCheck, responses=errors(404, 422))
def verify(name: ModelName, db: DB) -> ChainCheck:
    """Walk the event chain: the first event altered or removed, if any."""
    return registry.verify(db, name)
