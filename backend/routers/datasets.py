"""Dataset versions and validation rules: `/api/v1/datasets` and `/api/v1/data/schema`."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from ..deps import DB, AppSettings
from ..services import datasets

router = APIRouter(prefix="/api/v1", tags=["datasets"])

_RAW_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}}
FilenameQuery = Query(..., description="The file's name; its extension (.csv or .parquet) gives the format.")


@router.post("/datasets/{name:path}/versions", status_code=201, openapi_extra=_RAW_BODY)
async def add_version(name: str, request: Request, response: Response, db: DB, settings: AppSettings,
                      filename: str = FilenameQuery) -> dict[str, Any]:
    """The body is the file's raw bytes. The same bytes again answer the existing version (200,
    `created: false`); new bytes make the next version (201). `{name:path}`: a name holding '/'
    (sent as %2F) is answered with the naming rule, not "Not Found"."""
    record = await datasets.upload_version(db, settings, name, filename, request.stream())
    if not record["created"]:
        response.status_code = 200
    return dict(record)


@router.get("/datasets")
def list_datasets(db: DB) -> dict[str, Any]:
    return {"datasets": datasets.list_datasets(db)}


@router.get("/datasets/{name}")
def get_dataset(name: str, db: DB) -> dict[str, Any]:
    """The dataset and its versions, newest first (without statistics)."""
    return dict(datasets.get_dataset(db, name))


@router.get("/datasets/{name}/versions/{version}")
def get_version(name: str, version: str, db: DB) -> dict[str, Any]:
    """A version (a number or `latest`) with its schema and per-column statistics."""
    return dict(datasets.version_of(db, name, version))


@router.get("/datasets/{name}/versions/{version}/runs")
def version_runs(name: str, version: str, db: DB) -> dict[str, Any]:
    """Runs that trained on this version (tag `mlops.dataset` = `name@version`), newest first."""
    return datasets.version_runs(db, name, version)


@router.get("/datasets/{name}/diff")
def diff(name: str, db: DB, settings: AppSettings,
         a: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The earlier version."),
         b: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The later version.")) -> dict[str, Any]:
    """Schema changes, row counts and shifted columns (PSI over version a's bins > 0.2) from a to b."""
    return datasets.diff(db, settings, name, a, b)


@router.post("/data/schema", openapi_extra=_RAW_BODY)
async def infer_schema(request: Request, settings: AppSettings, filename: str = FilenameQuery) -> dict[str, Any]:
    """Propose `[validation]` rules for the file in the body (nothing is stored):
    `{"validation": {...}, "toml": "[validation]\\n..."}`."""
    return await datasets.propose_rules(settings, filename, request.stream())
