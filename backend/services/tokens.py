"""Bearer tokens: made (shown once), listed, revoked, and checked on every request.

Only the SHA-256 of a token's secret is stored. The active tokens are kept in memory (id -> digest,
name, role), loaded at start and changed with every create and revoke in this process (the only one
that opens the database), so checking a request reads no table. The secret's digest is compared with
`hmac.compare_digest`: the time it takes does not depend on how much of it matched.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from mlops_tui.contract.auth import SERVER_TOKEN_NAME, TOKEN_PREFIX, Role

from ..clock import now_ms
from ..db import Database
from ..errors import AlreadyExists, NotFound
from ..store import tokens as store


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token's holder, the server token (an admin), or, with auth off, the
    local user (an admin who has shown no token)."""

    name: str
    role: Role
    token_id: str | None = None
    authenticated: bool = True


@dataclass(frozen=True)
class _Active:
    digest: bytes
    name: str
    role: Role


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class TokenRegistry:
    """The tokens of one database, plus the server's own token (`MLOPS_TOKEN`) when it has one."""

    def __init__(self, db: Database, server_token: str | None = None) -> None:
        self.db = db
        self.server_digest = _digest(server_token) if server_token else None
        self._lock = threading.Lock()
        self._active = {row["id"]: _Active(bytes.fromhex(row["secret_sha256"]), row["name"], Role(row["role"]))
                        for row in store.list_all(db, "WHERE revoked_at IS NULL")}

    def create(self, name: str, role: Role, created_by: str) -> dict[str, Any]:
        """A new token for `name`: its row, and the secret (`token`), which is never shown again."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = {"id": token_id, "name": name, "role": role.value, "secret_sha256": _digest(secret).hex(),
               "created_at": now_ms(), "created_by": created_by}
        with self.db.write() as conn:
            if store.active_name_taken(conn, name):
                raise AlreadyExists(f"a token named {name!r} exists: revoke it first", "name")
            store.insert(conn, row)
        with self._lock:
            self._active[token_id] = _Active(_digest(secret), name, role)
        return {**_public(row), "token": f"{TOKEN_PREFIX}{token_id}_{secret}"}

    def list(self) -> list[dict[str, Any]]:
        return [_public(row) for row in store.list_all(self.db)]

    def revoke(self, token_id: str) -> dict[str, Any]:
        """Revoke a token: from now on, no request carrying it gets in. Revoking twice is a no-op."""
        if store.get(self.db, token_id) is None:
            raise NotFound(f"no token {token_id!r}", "token_id")
        with self.db.write() as conn:
            store.revoke(conn, token_id, now_ms())
        with self._lock:
            self._active.pop(token_id, None)
        return _public(store.get(self.db, token_id) or {})

    def has_admin(self) -> bool:
        """Whether someone can manage tokens: the server token, or an active admin token."""
        with self._lock:
            return self.server_digest is not None or any(a.role is Role.admin for a in self._active.values())

    def authenticate(self, presented: str) -> Principal | None:
        """The principal a presented token stands for, or None when it is no valid token."""
        if self.server_digest is not None and hmac.compare_digest(_digest(presented), self.server_digest):
            return Principal(SERVER_TOKEN_NAME, Role.admin)
        if not presented.startswith(TOKEN_PREFIX):
            return None
        token_id, _, secret = presented[len(TOKEN_PREFIX):].partition("_")
        with self._lock:
            active = self._active.get(token_id)
        if active is None or not hmac.compare_digest(_digest(secret), active.digest):
            return None
        return Principal(active.name, active.role, token_id)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A token's row as listed: everything but the secret's digest."""
    return {key: value for key, value in row.items() if key != "secret_sha256"}
