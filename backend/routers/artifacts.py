"""Run artifacts: upload, list and download files under the run's folder."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from mlops_tui.contract import ArtifactList, ArtifactWritten

from .. import artifacts
from ..deps import DB, AppSettings
from ..openapi import RAW_BODY, ContractRoute, errors, file_answer
from ..store import runs

router = APIRouter(prefix="/api/v1/runs/{run_id}/artifacts", tags=["artifacts"], route_class=ContractRoute)


def _root(db: DB, settings: AppSettings, run_id: str) -> Any:
    run = runs.get(db, run_id, with_metric_stats=False)
    return artifacts.run_root(settings.artifacts_root, run["experiment_id"], run["id"])


@router.get("", response_model=ArtifactList, responses=errors(404, 409, 422))
def list_artifacts(run_id: str, db: DB, settings: AppSettings, path: str = "") -> dict[str, Any]:
    """Files and folders directly under `path` (the run's root when empty)."""
    return {"files": artifacts.list_files(_root(db, settings, run_id), path)}


@router.put("/{path:path}", status_code=201, response_model=ArtifactWritten, responses=errors(404, 409, 413, 422),
            openapi_extra={"requestBody": RAW_BODY})
async def upload_artifact(run_id: str, path: str, request: Request, db: DB, settings: AppSettings) -> dict[str, Any]:
    """The request body is the file's bytes; it lands at `path` inside the run's folder."""
    return await artifacts.save_stream(_root(db, settings, run_id), path, request.stream(), settings.max_body_bytes)


@router.get("/{path:path}", response_class=FileResponse, responses={**file_answer(), **errors(404, 409, 422)})
def download_artifact(run_id: str, path: str, db: DB, settings: AppSettings) -> FileResponse:
    return FileResponse(artifacts.file_path(_root(db, settings, run_id), path))
