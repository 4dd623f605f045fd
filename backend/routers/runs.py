"""Runs, their logged data and search: `/api/v1/runs`."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mlops_tui.contract import MAX_PARAM_VALUE, MAX_TAG_VALUE, LogBatch, RunCreate, RunSearch, RunUpdate

from ..clock import now_ms
from ..deps import DB, AppSettings
from ..errors import Invalid, TooLarge
from ..responses import JSONBytes
from ..store import experiments, metrics, runs, search
from ..validation import check_key, check_name, check_text

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


@router.post("", status_code=201)
def create_run(body: RunCreate, db: DB) -> dict[str, Any]:
    if body.experiment_id is not None:
        experiment_id = experiments.resolve_id(db, body.experiment_id)
    elif body.experiment is not None:
        experiment_id = experiments.get_or_create(db, check_name(body.experiment, "experiment"))["id"]
    else:
        experiment_id = "0"
    name = check_name(body.name, "name") if body.name is not None else None
    return runs.create(db, experiment_id, name, _checked_tags(body.tags), body.start_time, body.parent_id)


@router.post("/search", response_class=JSONBytes)
def search_runs(body: RunSearch, db: DB) -> JSONBytes:
    """Runs matching a filter, ordered and paged: `{"runs": [...], "next_page_token": ...}`."""
    refs = [body.experiment] if isinstance(body.experiment, str) else body.experiment
    ids = [experiments.resolve_id(db, ref) for ref in refs] if refs else None
    order = [body.order_by] if isinstance(body.order_by, str) else body.order_by
    found, token = search.search(db, ids, body.filter, order, body.limit, body.page_token, body.include_deleted)
    return JSONBytes({"runs": found, "next_page_token": token})


@router.post("/count")
def count_runs(body: RunSearch, db: DB) -> dict[str, int]:
    refs = [body.experiment] if isinstance(body.experiment, str) else body.experiment
    ids = [experiments.resolve_id(db, ref) for ref in refs] if refs else None
    return {"count": search.count(db, ids, body.filter)}


@router.get("/{run_id}")
def get_run(run_id: str, db: DB) -> dict[str, Any]:
    """The run with its params, tags, latest metrics and per-metric min/max/count."""
    return runs.get(db, run_id)


@router.patch("/{run_id}")
def update_run(run_id: str, body: RunUpdate, db: DB) -> dict[str, Any]:
    name = check_name(body.name, "name") if body.name is not None else None
    return runs.update(db, run_id, body.status, body.end_time, name)


@router.delete("/{run_id}")
def delete_run(run_id: str, db: DB) -> dict[str, str]:
    runs.delete(db, run_id)
    return {"deleted": run_id}


@router.post("/{run_id}/restore")
def restore_run(run_id: str, db: DB) -> dict[str, str]:
    runs.restore(db, run_id)
    return {"restored": run_id}


@router.get("/{run_id}/children")
def run_children(run_id: str, db: DB) -> dict[str, Any]:
    runs.get(db, run_id)
    return {"runs": runs.list_children(db, run_id)}


@router.post("/{run_id}/batch", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": LogBatch.model_json_schema()}}}})
async def log_batch(run_id: str, request: Request, db: DB, settings: AppSettings) -> dict[str, int]:
    """Params, metric points and tags in one call (body: `LogBatch`), stored all together or not at all.

    The body is validated straight from JSON bytes (no intermediate objects): this is the hot path.
    """
    try:
        body = LogBatch.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from None
    points = body.point_count()
    if points > settings.max_batch_metrics:
        raise TooLarge(f"at most {settings.max_batch_metrics} metric points per batch", "metrics")
    if len(body.params) > settings.max_batch_params:
        raise TooLarge(f"at most {settings.max_batch_params} params per batch", "params")
    if len(body.tags) > settings.max_batch_tags:
        raise TooLarge(f"at most {settings.max_batch_tags} tags per batch", "tags")
    params = {
        check_key(k, f"params.{k}"): check_text(_param_text(v, f"params.{k}"), MAX_PARAM_VALUE, f"params.{k}")
        for k, v in body.params.items()
    }
    series = _series_columns(body)
    await run_in_threadpool(runs.log_batch, db, run_id, params, series, _checked_tags(body.tags))
    return {"params": len(params), "metrics": points, "tags": len(body.tags)}


def _series_columns(body: LogBatch) -> dict[str, runs.Columns]:
    """Both point forms as columns per key: (steps, values, timestamps)."""
    now = now_ms()
    columns: dict[str, runs.Columns] = {}
    for index, point in enumerate(body.metrics):
        if point.key not in columns:
            check_key(point.key, f"metrics[{index}].key")
        steps, values, stamps = columns.setdefault(point.key, ([], [], []))
        steps.append(point.step)
        values.append(point.value)
        stamps.append(point.timestamp)
    for index, batch in enumerate(body.series):
        check_key(batch.key, f"series[{index}].key")
        steps, values, stamps = columns.setdefault(batch.key, ([], [], []))
        steps += batch.steps
        values += batch.values
        stamps += batch.timestamps if batch.timestamps is not None else [now] * len(batch.values)
    return columns


def _param_text(value: object, field: str) -> str:
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    raise Invalid(f"{field} must be text, a number or a boolean", field)


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    return {check_key(k, f"tags.{k}"): check_text(v, MAX_TAG_VALUE, f"tags.{k}") for k, v in tags.items()}


@router.delete("/{run_id}/tags/{key:path}")
def delete_tag(run_id: str, key: str, db: DB) -> dict[str, str]:
    runs.delete_tag(db, run_id, key)
    return {"deleted": key}


@router.get("/{run_id}/metrics")
def metric_keys(run_id: str, db: DB) -> dict[str, list[str]]:
    runs.get(db, run_id, with_metric_stats=False)
    return {"keys": metrics.keys(db, run_id)}


@router.get("/{run_id}/metrics/{key:path}")
def metric_history(
    run_id: str,
    key: str,
    db: DB,
    max_points: int | None = Query(None, description="Downsample to at most this many points (min/max per bucket)."),
    format: Literal["points", "columns"] = Query(
        "points", description="`points`: a list of {step, value, timestamp}; `columns`: steps, values, timestamps."),
) -> Response:
    """`{"points": [{"step", "value", "timestamp"}]}`, ordered by step."""
    return Response(metrics.history_json(db, run_id, key, max_points, format == "columns"),
                    media_type="application/json")
