"""Dependencies the routes declare once, as `Annotated` aliases."""
from __future__ import annotations

import re
import threading
from typing import Annotated

from fastapi import Depends, Header, Request

from mlops_tui.contract.registry import USER_HEADER

from .db import Database
from .errors import Invalid
from .monitoring.recorder import Recorder
from .settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_recorder(request: Request) -> Recorder:
    return request.app.state.recorder  # type: ignore[no-any-return]


def get_stopping(request: Request) -> threading.Event:
    return request.app.state.stopping  # type: ignore[no-any-return]


DB = Annotated[Database, Depends(get_db)]
Stopping = Annotated[threading.Event, Depends(get_stopping)]
"""Set once the server is asked to stop: long waits (the alias long poll) answer at once."""
PredictionRecorder = Annotated[Recorder, Depends(get_recorder)]
"""Where a served prediction's records go (written off the request path)."""
AppSettings = Annotated[Settings, Depends(get_settings)]


MAX_ACTOR = 200
ACTOR_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""No control characters: the actor is printed in terminals and recorded in the audit trail."""


def get_actor(user: str | None = Header(None, alias=USER_HEADER, description="Who acts (recorded in the "
                                        "registry's audit trail); `anonymous` when not sent.",
                                        json_schema_extra={"maxLength": MAX_ACTOR, "pattern": ACTOR_PATTERN})) -> str:
    """The `X-Mlops-User` header: who the registry records as acting."""
    if user is None or not user.strip():
        return "anonymous"
    if len(user) > MAX_ACTOR or re.search(r"[\x00-\x1f\x7f]", user):
        raise Invalid(f"{USER_HEADER} must be at most {MAX_ACTOR} characters, without control characters",
                      USER_HEADER)
    return user.strip()


Actor = Annotated[str, Depends(get_actor)]
