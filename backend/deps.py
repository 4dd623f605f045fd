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
from .services.tokens import TokenRegistry
from .settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_recorder(request: Request) -> Recorder:
    return request.app.state.recorder  # type: ignore[no-any-return]


def get_stopping(request: Request) -> threading.Event:
    return request.app.state.stopping  # type: ignore[no-any-return]


def get_tokens(request: Request) -> TokenRegistry:
    return request.app.state.tokens  # type: ignore[no-any-return]


DB = Annotated[Database, Depends(get_db)]
Tokens = Annotated[TokenRegistry, Depends(get_tokens)]
Stopping = Annotated[threading.Event, Depends(get_stopping)]
"""Set once the server is asked to stop: long waits (the alias long poll) answer at once."""
PredictionRecorder = Annotated[Recorder, Depends(get_recorder)]
"""Where a served prediction's records go (written off the request path)."""
AppSettings = Annotated[Settings, Depends(get_settings)]


MAX_ACTOR = 200
ACTOR_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""No control characters: the actor is printed in terminals and recorded in the audit trail."""


def token_holder(request: Request) -> str | None:
    """The name of the token the request was made with (auth on), else None."""
    principal = request.scope.get("state", {}).get("principal")
    return str(principal.name) if principal is not None and principal.authenticated else None


def named_actor(user: str | None) -> str:
    """What a client says about who acts (auth off): checked, `anonymous` when it says nothing."""
    if user is None or not user.strip():
        return "anonymous"
    if len(user) > MAX_ACTOR or re.search(r"[\x00-\x1f\x7f]", user):
        raise Invalid(f"{USER_HEADER} must be at most {MAX_ACTOR} characters, without control characters",
                      USER_HEADER)
    return user.strip()


def get_actor(request: Request,
              user: str | None = Header(None, alias=USER_HEADER, description="Who acts, with auth off (recorded "
                                        "in the audit trail); `anonymous` when not sent. With auth on, the "
                                        "token's name is recorded and this header is ignored.",
                                        json_schema_extra={"maxLength": MAX_ACTOR, "pattern": ACTOR_PATTERN})) -> str:
    """Who the registry records as acting: the token's name, else (auth off) the `X-Mlops-User` header."""
    return token_holder(request) or named_actor(user)


Actor = Annotated[str, Depends(get_actor)]
