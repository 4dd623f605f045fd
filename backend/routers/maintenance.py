"""`GET /api/v1/server/backup`: a consistent snapshot of the database, streamed while the server runs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from ..deps import AppSettings
from ..maintenance import backup
from ..openapi import ContractRoute, errors

router = APIRouter(prefix="/api/v1/server", tags=["server"], route_class=ContractRoute)

SQLITE_MEDIA_TYPE = "application/vnd.sqlite3"
SCHEMA_HEADER = "X-Mlops-Schema-Version"


@router.get("/backup", response_class=FileResponse, responses={
    200: {"description": "The database file (SQLite), consistent as of the request; artifacts are not in it.",
          "content": {SQLITE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    **errors(507)})
async def server_backup(settings: AppSettings) -> FileResponse:
    """Snapshot the database with SQLite's backup API into a temporary file in the home, send it, delete it."""
    handle, name = tempfile.mkstemp(dir=settings.home, prefix=".backup-download-")
    os.close(handle)
    snapshot = Path(name)
    try:
        info = await run_in_threadpool(backup, settings.db_path, snapshot)
    except BaseException:
        snapshot.unlink(missing_ok=True)
        raise
    return FileResponse(snapshot, media_type=SQLITE_MEDIA_TYPE, filename="mlops.db",
                        headers={SCHEMA_HEADER: str(info.schema_version)},
                        background=BackgroundTask(snapshot.unlink, missing_ok=True))
