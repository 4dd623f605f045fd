"""Imports from another tracker: `/api/v1/import` (what `mlops import mlflow` sends)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mlops_tui.contract.imports import ModelImport, ModelImportAnswer, RunImport, RunImportAnswer

from ..deps import DB, Actor, AppSettings
from ..openapi import ContractRoute, errors, request_body
from ..services import imports

router = APIRouter(prefix="/api/v1/import", tags=["import"], route_class=ContractRoute)


@router.post("/runs", response_model=RunImportAnswer, responses=errors(413, 422), openapi_extra=request_body(RunImport))
async def import_runs(request: Request, db: DB) -> dict[str, Any]:
    """Whole runs (their own ids, times, params, tags, every metric point, inputs) and their experiments,
    upserted in one transaction: sending a batch again adds nothing. Runs that cannot be stored as sent
    are left out and listed in `refused`; the rest is stored.

    The body is validated straight from JSON bytes: a batch holds up to 200,000 points."""
    try:
        body = RunImport.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    return await run_in_threadpool(imports.import_runs, db, body)


@router.post("/models", response_model=ModelImportAnswer, responses=errors(404, 409, 422))
def import_models(body: ModelImport, db: DB, settings: AppSettings, actor: Actor) -> dict[str, Any]:
    """Registered models (by name), their versions under their own numbers (MLflow-format versions whose
    files are already in the artifact store, named by `source`) and aliases not set here yet. What clashes
    with what is here is left as it is and listed in `refused`; sending it again adds nothing."""
    return imports.import_models(db, settings, body, actor)
