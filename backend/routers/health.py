"""Liveness: `GET /healthz`."""
from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request

from mlops_tui.contract import Health

from .. import __version__
from ..access import principal_of
from ..deps import DB, AppSettings
from ..openapi import ContractRoute

router = APIRouter(tags=["health"], route_class=ContractRoute)


@router.get("/healthz", response_model=Health)
def healthz(request: Request, db: DB, settings: AppSettings) -> dict[str, Any]:
    """Alive and which server this is: `mlops server stop` signals a pid only when the server at
    the pid file's address answers that pid and home. The only route open without a token: with auth on,
    a caller without one learns neither the pid nor the home."""
    db.ping()
    health: dict[str, Any] = {"status": "ok", "version": __version__, "schema_version": db.schema_version}
    if principal_of(request) is not None:
        health.update(pid=os.getpid(), home=str(settings.home))
    return health
