"""Dependencies the routes declare once, as `Annotated` aliases."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .db import Database
from .settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


DB = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
