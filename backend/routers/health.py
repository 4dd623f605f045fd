"""Liveness: `GET /healthz`."""
from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter

from mlops_tui.contract import Health

from .. import __version__
from ..deps import DB, AppSettings
from ..openapi import ContractRoute

router = APIRouter(tags=["health"], route_class=ContractRoute)


@router.get("/healthz", response_model=Health)
def healthz(db: DB, settings: AppSettings) -> dict[str, Any]:
    """Alive and which server this is: `mlops server stop` signals a pid only when the server at
    the pid file's address answers that pid and home."""
    db.ping()
    return {"status": "ok", "version": __version__, "schema_version": db.schema_version, "pid": os.getpid(),
            "home": str(settings.home)}
