"""Faults of the machine rather than of the request: a full disk answers 507 with a message saying so.

SQLite reports a full disk (or a database at its size limit) as `SQLITE_FULL`; file writes (uploads, model
files) as `ENOSPC` or `EDQUOT`. The write's transaction is rolled back whole (`Database.write`), so nothing is
half-applied; reads keep working, and writes work again once space is freed. Every other error keeps its
usual path (a generic 500).
"""
from __future__ import annotations

import errno
import sqlite3

from fastapi import FastAPI, Request

from .mlflow_api import protocol as mlflow
from .responses import JSONBytes

DISK_FULL_STATUS = 507
"""HTTP's "Insufficient Storage"."""
MLFLOW_DISK_FULL_CODE = "TEMPORARILY_UNAVAILABLE"
"""MLflow's error code for a 507 on its paths (its clients do not retry 507 for minutes, as they do 5xx
statuses they know)."""
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_MESSAGE = "the server's disk is full: nothing of this request was stored; free space on the server and retry"


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(error, OSError) and error.errno in _FULL_ERRNOS


async def _disk_full(request: Request, error: Exception) -> JSONBytes:
    if not is_disk_full(error):
        raise error  # not ours: the generic 500
    if mlflow.is_mlflow_path(request.url.path):
        return JSONBytes({"error_code": MLFLOW_DISK_FULL_CODE, "message": _MESSAGE}, status_code=DISK_FULL_STATUS)
    return JSONBytes({"detail": _MESSAGE, "field": None, "code": "disk_full"}, status_code=DISK_FULL_STATUS)


def install(app: FastAPI) -> None:
    """Answer a full disk with 507, whichever route met it."""
    app.add_exception_handler(sqlite3.OperationalError, _disk_full)
    app.add_exception_handler(OSError, _disk_full)
