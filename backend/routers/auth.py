"""Users and roles: `/api/v1/auth` (who am I; tokens, for admins). A token's secret is answered once,
when it is made; listings never carry it."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from mlops_tui.contract.auth import Token, TokenCreated, TokenList, TokenRequest, WhoAmI

from ..access import principal_of
from ..deps import Actor, Tokens
from ..openapi import ContractRoute, errors

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=ContractRoute)


@router.get("/whoami", response_model=WhoAmI)
def whoami(request: Request, actor: Actor) -> dict[str, Any]:
    """Who this request acts as and with which role (with auth off: the local user, an admin)."""
    principal = principal_of(request)
    assert principal is not None  # only /healthz runs without one
    return {"name": actor, "role": principal.role, "auth": request.app.state.settings.auth_required,
            "token_id": principal.token_id}


@router.get("/tokens", response_model=TokenList)
def list_tokens(tokens: Tokens) -> dict[str, Any]:
    """Every token made on this server, revoked ones included, oldest first; never a secret."""
    return {"tokens": tokens.list()}


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=errors(409, 422))
def create_token(body: TokenRequest, tokens: Tokens, actor: Actor) -> dict[str, Any]:
    """A new token for `name` with `role`. The answer's `token` is the only time the secret is shown:
    only its SHA-256 is stored. 409 when an active token already has the name."""
    return tokens.create(body.name, body.role, actor)


@router.delete("/tokens/{token_id}", response_model=Token, responses=errors(404))
def revoke_token(tokens: Tokens, token_id: str = Path(max_length=64)) -> dict[str, Any]:
    """Revoke a token at once: no request carrying it gets in from now on. The row stays, marked revoked."""
    return tokens.revoke(token_id)
