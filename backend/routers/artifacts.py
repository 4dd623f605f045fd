"""Run artifacts: upload, list and download files under the run's folder."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from mlops_tui.contract import ArtifactList, ArtifactWritten

from ..deps import DB, AppSettings
from ..openapi import RAW_BODY, ContractRoute, errors, file_answer
from ..services import artifacts

router = APIRouter(prefix="/api/v1/runs/{run_id}/artifacts", tags=["artifacts"], route_class=ContractRoute)


@router.get("", response_model=ArtifactList, responses=errors(404, 409, 422))
def list_artifacts(run_id: str, db: DB, settings: AppSettings, path: str = "") -> dict[str, Any]:
    """Files and folders directly under `path` (the run's root when empty)."""
    return {"files": artifacts.list_artifacts(db, settings, run_id, path)}


@router.put("/{path:path}", status_code=201, response_model=ArtifactWritten, responses=errors(404, 409, 413, 422),
            openapi_extra={"requestBody": RAW_BODY})
async def upload_artifact(run_id: str, path: str, request: Request, db: DB, settings: AppSettings) -> dict[str, Any]:
    """The request body is the file's bytes; it lands at `path` inside the run's folder."""
    return await artifacts.upload_artifact(db, settings, run_id, path, request.stream())


@router.get("/{path:path}", response_class=FileResponse, responses={**file_answer(), **errors(404, 409, 422)})
def download_artifact(run_id: str, path: str, db: DB, settings: AppSettings) -> FileResponse:
    """Plain bytes, never sniffed (as MLflow's proxy answers): an uploaded HTML or SVG file must not run as
    a page of this origin, and a file named `.json` need not hold JSON."""
    return FileResponse(artifacts.artifact_file(db, settings, run_id, path), media_type="application/octet-stream",
                        headers={"X-Content-Type-Options": "nosniff"})
