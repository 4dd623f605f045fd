"""Dataset versions and validation rules: `/api/v1/datasets` and `/api/v1/data/schema`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..datasets import io, schema
from ..deps import DB, AppSettings
from ..errors import Invalid
from ..store import datasets

router = APIRouter(prefix="/api/v1", tags=["datasets"])

_RAW_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}}
FilenameQuery = Query(..., description="The file's name; its extension (.csv or .parquet) gives the format.")


async def _receive(request: Request, settings: AppSettings, filename: str) -> Path:
    """The body in a temporary file inside the datasets root, after checking the file name."""
    io.format_of(filename)
    path, size = await io.receive_upload(datasets.datasets_root(settings), request.stream(), settings.max_body_bytes)
    if size == 0:
        path.unlink(missing_ok=True)
        raise Invalid("body is empty: send the file's bytes", "body")
    return path


@router.post("/datasets/{name:path}/versions", status_code=201, openapi_extra=_RAW_BODY)
async def add_version(name: str, request: Request, response: Response, db: DB, settings: AppSettings,
                      filename: str = FilenameQuery) -> dict[str, Any]:
    """The body is the file's raw bytes. The same bytes again answer the existing version (200,
    `created: false`); new bytes make the next version (201). `{name:path}`: a name holding '/'
    (sent as %2F) is answered with the naming rule, not "Not Found"."""
    datasets.check_dataset_name(name)
    path = await _receive(request, settings, filename)
    record = await run_in_threadpool(datasets.add_version, db, settings, name, filename, path)
    if not record["created"]:
        response.status_code = 200
    return record


@router.get("/datasets")
def list_datasets(db: DB) -> dict[str, Any]:
    return {"datasets": datasets.list_datasets(db)}


@router.get("/datasets/{name}")
def get_dataset(name: str, db: DB) -> dict[str, Any]:
    """The dataset and its versions, newest first (without statistics)."""
    return datasets.get_dataset(db, name)


def _version_ref(name: str, version: str) -> str:
    if version == "latest":
        return name
    if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= datasets.MAX_VERSION:
        raise Invalid(f"version must be a number from 1 to {datasets.MAX_VERSION}, or 'latest'", "version")
    return f"{name}@{int(version)}"


@router.get("/datasets/{name}/versions/{version}")
def get_version(name: str, version: str, db: DB) -> dict[str, Any]:
    """A version (a number or `latest`) with its schema and per-column statistics."""
    datasets.check_dataset_name(name)
    return datasets.get_version(db, _version_ref(name, version))


@router.get("/datasets/{name}/versions/{version}/runs")
def version_runs(name: str, version: str, db: DB) -> dict[str, Any]:
    """Runs that trained on this version (tag `mlops.dataset` = `name@version`), newest first."""
    datasets.check_dataset_name(name)
    record = datasets.get_version(db, _version_ref(name, version), with_stats=False)
    return {"ref": record["ref"], "runs": datasets.runs_for_version(db, name, record["version"])}


@router.get("/datasets/{name}/diff")
def diff(name: str, db: DB, settings: AppSettings,
         a: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The earlier version."),
         b: int = Query(..., ge=1, le=datasets.MAX_VERSION, description="The later version.")) -> dict[str, Any]:
    """Schema changes, row counts and shifted columns (PSI over version a's bins > 0.2) from a to b."""
    return datasets.diff(db, name, a, b, settings)


@router.post("/data/schema", openapi_extra=_RAW_BODY)
async def infer_schema(request: Request, settings: AppSettings, filename: str = FilenameQuery) -> dict[str, Any]:
    """Propose `[validation]` rules for the file in the body (nothing is stored):
    `{"validation": {...}, "toml": "[validation]\\n..."}`."""
    path = await _receive(request, settings, filename)
    try:
        return await run_in_threadpool(_proposed_rules, path, io.format_of(filename), settings.max_columns)
    finally:
        path.unlink(missing_ok=True)


def _proposed_rules(path: Path, fmt: str, max_columns: int) -> dict[str, Any]:
    """Parsing and inference, all in one worker thread: never on the event loop."""
    section = schema.infer(io.read_frame(path, fmt, max_columns=max_columns))
    return {"validation": section, "toml": schema.to_toml(section)}
