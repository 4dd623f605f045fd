"""Users and roles: the tokens the backend issues, the roles they carry, and who a request acts as.

Three roles, each allowed what the one before it may do and more:
- `viewer` reads everything;
- `operator` also logs runs, trains, predicts and sends feedback;
- `admin` also promotes, deletes, changes policies and manages tokens.

A token is `mlops_<id>_<secret>`: the id finds its row, the secret is compared in constant time with the
stored SHA-256 (the secret itself is never stored, and shown once, when the token is made).
"""
from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from .requests import Strict

TOKEN_PREFIX = "mlops_"
TOKEN_NAME_RULE = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
"""A token's name (who holds it, recorded as the actor of what it does): letters, digits, '.', '_', '@', '-'."""
SERVER_TOKEN_NAME = "server-token"
"""The name a request with the server's own `MLOPS_TOKEN` acts as (an admin)."""


class Role(StrEnum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether a holder of this role may do what needs `needed`."""
        return self.rank >= needed.rank


_RANKS = {Role.viewer: 1, Role.operator: 2, Role.admin: 3}


class TokenRequest(Strict):
    """`POST /api/v1/auth/tokens`: a new token for `name` with `role`."""

    name: str = Field(pattern=TOKEN_NAME_RULE, description="Who holds the token (the actor it records).")
    role: Role


class Token(BaseModel):
    """A token as listed: never its secret."""

    id: str
    name: str
    role: Role
    created_at: int
    created_by: str
    revoked_at: int | None = None


class TokenCreated(Token):
    """The answer to making a token: the only time its secret (`token`) is shown."""

    token: str


class TokenList(BaseModel):
    tokens: list[Token]


class WhoAmI(BaseModel):
    """`GET /api/v1/auth/whoami`: who this request acts as. With auth off, everyone is a local admin."""

    name: str
    role: Role
    auth: bool = Field(description="Whether the server requires a token.")
    token_id: str | None = None
