"""Runs, their logged data and search: `/api/v1/runs`."""
from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mlops_tui.contract import (
    BatchLogged,
    Deleted,
    LogBatch,
    MetricHistory,
    MetricKeys,
    MetricPoints,
    Restored,
    Run,
    RunCount,
    RunCountQuery,
    RunCreate,
    RunList,
    RunPage,
    RunSearch,
    RunUpdate,
)
from mlops_tui.contract.requests import IDEMPOTENCY_HEADER, KEY_PATTERN, MAX_IDEMPOTENCY_KEY

from ..deps import DB, AppSettings
from ..openapi import ContractRoute, errors, request_body
from ..responses import JSONBytes
from ..services import tracking

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=ContractRoute)

IdempotencyKey = Annotated[str | None, Header(
    alias=IDEMPOTENCY_HEADER, min_length=1, max_length=MAX_IDEMPOTENCY_KEY, pattern=KEY_PATTERN,
    description="A key the client picks per batch (e.g. a UUID) and sends again when it retries the batch: "
                "a batch already stored under the key is answered again and stored once.")]


@router.post("", status_code=201, response_model=Run, responses=errors(404, 409, 422))
def create_run(body: RunCreate, db: DB) -> dict[str, Any]:
    return dict(tracking.create_run(db, body.experiment_id, body.experiment, body.name, body.tags, body.start_time,
                                    body.parent_id))


@router.post("/search", response_class=JSONBytes, response_model=RunPage, responses=errors(404, 409, 422))
def search_runs(body: RunSearch, db: DB) -> JSONBytes:
    """Runs matching a filter, ordered and paged: `{"runs": [...], "next_page_token": ...}`."""
    return JSONBytes(tracking.search_runs(db, body.experiment, body.filter, body.order_by, body.limit,
                                          body.page_token, body.include_deleted))


@router.post("/count", response_model=RunCount, responses=errors(404, 409, 422))
def count_runs(body: RunCountQuery, db: DB) -> dict[str, int]:
    return {"count": tracking.count_runs(db, body.experiment, body.filter)}


@router.get("/{run_id}", response_model=Run, responses=errors(404, 409))
def get_run(run_id: str, db: DB) -> dict[str, Any]:
    """The run with its params, tags, latest metrics and per-metric min/max/count."""
    return dict(tracking.get_run(db, run_id))


@router.patch("/{run_id}", response_model=Run, responses=errors(404, 409, 422))
def update_run(run_id: str, body: RunUpdate, db: DB) -> dict[str, Any]:
    return dict(tracking.update_run(db, run_id, body.status, body.end_time, body.name))


@router.delete("/{run_id}", response_model=Deleted, responses=errors(404, 409))
def delete_run(run_id: str, db: DB) -> dict[str, str]:
    tracking.delete_run(db, run_id)
    return {"deleted": run_id}


@router.post("/{run_id}/restore", response_model=Restored, responses=errors(404, 409))
def restore_run(run_id: str, db: DB) -> dict[str, str]:
    tracking.restore_run(db, run_id)
    return {"restored": run_id}


@router.get("/{run_id}/children", response_model=RunList, responses=errors(404, 409))
def run_children(run_id: str, db: DB) -> dict[str, Any]:
    return {"runs": tracking.run_children(db, run_id)}


@router.post("/{run_id}/batch", response_model=BatchLogged, responses=errors(404, 409, 413, 422),
             openapi_extra=request_body(LogBatch))
async def log_batch(run_id: str, request: Request, db: DB, settings: AppSettings,
                    idempotency_key: IdempotencyKey = None) -> dict[str, int]:
    """Params, metric points and tags in one call (body: `LogBatch`), stored all together or not at all.

    With an `Idempotency-Key` header, sending the same batch again (its answer was lost) stores it once.
    The body is validated straight from JSON bytes (no intermediate objects): this is the hot path.
    """
    raw = await request.body()
    try:
        body = LogBatch.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    batch = (idempotency_key, hashlib.sha256(raw).hexdigest()) if idempotency_key else None
    return await run_in_threadpool(tracking.log_batch, db, settings, run_id, body, batch)


@router.delete("/{run_id}/tags/{key:path}", response_model=Deleted, responses=errors(404, 409))
def delete_tag(run_id: str, key: str, db: DB) -> dict[str, str]:
    tracking.delete_tag(db, run_id, key)
    return {"deleted": key}


@router.get("/{run_id}/metrics", response_model=MetricKeys, responses=errors(404, 409))
def metric_keys(run_id: str, db: DB) -> dict[str, list[str]]:
    return {"keys": tracking.metric_keys(db, run_id)}


@router.get("/{run_id}/metrics/{key:path}", response_model=MetricPoints | MetricHistory,
            responses=errors(404, 409, 422))
def metric_history(
    run_id: str,
    key: str,
    db: DB,
    max_points: int | None = Query(None, description="Downsample to at most this many points (min/max per bucket); "
                                   "at least 4.", json_schema_extra={"minimum": 4}),
    format: Literal["points", "columns"] = Query(
        "points", description="`points`: a list of {step, value, timestamp}; `columns`: steps, values, timestamps."),
) -> Response:
    """`{"points": [{"step", "value", "timestamp"}]}`, ordered by step."""
    return Response(tracking.metric_history_json(db, run_id, key, max_points, format == "columns"),
                    media_type="application/json")
