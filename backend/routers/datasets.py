"""Dataset versions and validation rules: `/api/v1/datasets` and `/api/v1/data/schema`."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from mlops_tui.contract import (
    DATASET_NAME_RULE,
    FILENAME_RULE,
    VERSION_RULE,
    DataSchema,
    Dataset,
    DatasetDiff,
    DatasetList,
    DatasetVersion,
    VersionRuns,
)

from ..deps import DB, AppSettings
from ..openapi import ContractRoute, errors
from ..services import datasets

router = APIRouter(prefix="/api/v1", tags=["datasets"], route_class=ContractRoute)

_RAW_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}}
FilenameQuery = Query(..., description="The file's name; its extension (.csv or .parquet) gives the format.",
                      json_schema_extra={"pattern": FILENAME_RULE})
# The naming rules as /openapi.json states them; the service checks them, with messages naming the field.
DatasetName = Annotated[str, Path(json_schema_extra={"pattern": DATASET_NAME_RULE})]
Version = Annotated[str, Path(description="A number, or `latest`.", json_schema_extra={"pattern": VERSION_RULE})]


@router.post("/datasets/{name:path}/versions", status_code=201, response_model=DatasetVersion,
             responses={200: {"model": DatasetVersion, "description": "These bytes were already a version."},
                        **errors(404, 413, 422)}, openapi_extra=_RAW_BODY)
async def add_version(name: DatasetName, request: Request, response: Response, db: DB, settings: AppSettings,
                      filename: str = FilenameQuery) -> dict[str, Any]:
    """The body is the file's raw bytes. The same bytes again answer the existing version (200,
    `created: false`); new bytes make the next version (201). `{name:path}`: a name holding '/'
    (sent as %2F) is answered with the naming rule, not "Not Found"; one holding a line break matches no
    route (Starlette's `path` does not match it): 404."""
    record = await datasets.upload_version(db, settings, name, filename, request.stream())
    if not record["created"]:
        response.status_code = 200
    return dict(record)


@router.get("/datasets", response_model=DatasetList)
def list_datasets(db: DB) -> dict[str, Any]:
    return {"datasets": datasets.list_datasets(db)}


@router.get("/datasets/{name}", response_model=Dataset, responses=errors(404, 422))
def get_dataset(name: DatasetName, db: DB) -> dict[str, Any]:
    """The dataset and its versions, newest first (without statistics)."""
    return dict(datasets.get_dataset(db, name))


@router.get("/datasets/{name}/versions/{version}", response_model=DatasetVersion, responses=errors(404, 422))
def get_version(name: DatasetName, version: Version, db: DB) -> dict[str, Any]:
    """A version (a number or `latest`) with its schema and per-column statistics."""
    return dict(datasets.version_of(db, name, version))


@router.get("/datasets/{name}/versions/{version}/runs", response_model=VersionRuns, responses=errors(404, 422))
def version_runs(name: DatasetName, version: Version, db: DB) -> dict[str, Any]:
    """Runs that trained on this version (tag `mlops.dataset` = `name@version`), newest first."""
    return datasets.version_runs(db, name, version)


@router.get("/datasets/{name}/diff", response_model=DatasetDiff, responses=errors(404, 422))
def diff(name: DatasetName, db: DB, settings: AppSettings,
         a: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The earlier version."),
         b: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The later version.")) -> dict[str, Any]:
    """Schema changes, row counts and shifted columns (PSI over version a's bins > 0.2) from a to b."""
    return datasets.diff(db, settings, name, a, b)


@router.post("/data/schema", response_model=DataSchema, responses=errors(413, 422), openapi_extra=_RAW_BODY)
async def infer_schema(request: Request, settings: AppSettings, filename: str = FilenameQuery) -> dict[str, Any]:
    """Propose `[validation]` rules for the file in the body (nothing is stored):
    `{"validation": {...}, "toml": "[validation]\\n..."}`."""
    return await datasets.propose_rules(settings, filename, request.stream())
