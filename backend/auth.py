"""`Authenticate`: who each request acts as, set before any route runs.

With auth on (the server has `MLOPS_TOKEN` or `MLOPS_AUTH=1`), a request needs `Authorization: Bearer
<token>` naming a valid token (401 otherwise), `/healthz` excepted. With auth off (the loopback default),
a request without a valid token acts as the local user, an admin. Either way the route then checks the
principal's role (`backend.access`). A token is never logged, echoed or put in an error body.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_tui.contract.auth import Role
from mlops_tui.contract.registry import USER_HEADER

from .mlflow_api.protocol import is_mlflow_path
from .responses import send_json
from .services.tokens import Principal, TokenRegistry

PUBLIC_PATHS = frozenset({"/healthz"})
LOCAL_USER = "local"
_USER_HEADER = USER_HEADER.lower().encode()


def bearer(authorization: bytes) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None (taken exactly: no space trimmed)."""
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token or None if scheme.lower() == "bearer" else None


class Authenticate:
    def __init__(self, app: ASGIApp, tokens: TokenRegistry, required: bool) -> None:
        self.app = app
        self.tokens = tokens
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        presented = bearer(headers.get(b"authorization", b""))
        principal = self.tokens.authenticate(presented) if presented else None
        if principal is None and self.required:
            if scope["path"] not in PUBLIC_PATHS:
                detail = "this token is not valid (unknown or revoked)" if presented else \
                    "this server needs a bearer token: set MLOPS_TOKEN (mlops auth token create makes one)"
                body = {"error_code": "UNAUTHENTICATED", "message": detail} if is_mlflow_path(scope["path"]) else \
                    {"detail": detail, "field": "authorization", "code": "unauthorized"}
                await send_json(send, 401, body, headers=[(b"www-authenticate", b'Bearer realm="mlops"')])
                return
        elif principal is None:
            principal = Principal(LOCAL_USER, Role.admin, authenticated=False)
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
