"""Liveness: `GET /healthz`."""
from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter

from .. import __version__
from ..deps import DB

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(db: DB) -> dict[str, Any]:
    with db.read() as conn:
        conn.execute("SELECT 1").fetchone()
    return {"status": "ok", "version": __version__, "schema_version": db.schema_version, "pid": os.getpid()}
