"""MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/`), as the client's `MlflowArtifactsRepository`
uses it: PUT a file, GET a file, GET a folder's listing (`artifacts?path=`), DELETE a file or folder.

The paths are `mlflow-artifacts:/<experiment>/<run>/...` (the native run folder) and
`<experiment>/models/<id>/...` (a logged model's); `services.artifact_proxy` maps and checks them.
The tracking service's own listing, `/api/2.0/mlflow/artifacts/list?run_id=&path=`, is here too.
Multipart uploads are refused with the message that makes the client fall back to a plain PUT, and
presigned downloads are an unknown endpoint (404), which makes it fall back to a plain GET (it only
tries either when told to, e.g. `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from ..access import GuardedRoute
from ..deps import DB, AppSettings
from ..responses import JSONBytes
from ..services import artifact_proxy
from .protocol import Message, MlflowError, answer, message
from .shapes import ARTIFACT_SCHEME

router = APIRouter(prefix="/api/2.0", include_in_schema=False, route_class=GuardedRoute)

MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff"}
"""Downloads are plain bytes (`application/octet-stream`, never sniffed): an uploaded HTML or SVG file
must not run as a page of this origin."""


@router.api_route("/mlflow-artifacts/artifacts", methods=["GET"])
def list_artifacts(settings: AppSettings, path: str = "") -> JSONBytes:
    """`{"files": [{"path", "is_dir", "file_size"}]}`: the names directly in the folder `path`."""
    files = artifact_proxy.listing(settings, path)
    return answer({"files": files} if files else {})


@router.api_route("/mlflow-artifacts/artifacts/{path:path}", methods=["PUT"])
async def upload_artifact(path: str, request: Request, db: DB, settings: AppSettings) -> JSONBytes:
    await artifact_proxy.upload(db, settings, path, request.stream())
    return answer({})


@router.api_route("/mlflow-artifacts/artifacts/{path:path}", methods=["GET"])
def download_artifact(path: str, settings: AppSettings) -> FileResponse:
    return FileResponse(artifact_proxy.file(settings, path), media_type="application/octet-stream",
                        headers=DOWNLOAD_HEADERS)


@router.api_route("/mlflow-artifacts/artifacts/{path:path}", methods=["DELETE"])
def delete_artifact(path: str, db: DB, settings: AppSettings) -> JSONBytes:
    artifact_proxy.delete(db, settings, path)
    return answer({})


class ListArtifacts(Message):
    run_id: str = ""
    run_uuid: str = ""
    path: str = ""


@router.api_route("/mlflow/artifacts/list", methods=["GET"])
def list_run_artifacts(db: DB, settings: AppSettings, m: Annotated[ListArtifacts, message(ListArtifacts)]) -> JSONBytes:
    """The tracking service's listing (MLflow's UI, older clients): `root_uri` and paths from the run's folder."""
    folder, files = artifact_proxy.run_listing(db, settings, m.run_id or m.run_uuid, m.path)
    return answer({"root_uri": f"{ARTIFACT_SCHEME}/{folder}", **({"files": files} if files else {})})


@router.api_route("/mlflow-artifacts/mpu/{action}/{path:path}", methods=["POST"])
def multipart_upload() -> JSONBytes:
    """Files go through the proxy in one PUT: this message (MLflow's own) makes the client fall back."""
    raise MlflowError(MULTIPART_UNSUPPORTED)
