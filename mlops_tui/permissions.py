"""What a role may do from the console, and how a refusal reads (in the console and the CLI).

The backend decides (`backend/access.py` `ROLE_OF`, deny by default); this table only lets the console
hide what would be refused and say why before sending anything. Each console action that changes
something names the API routes it calls; its role is the highest those routes need.
`tests/tui/test_roles.py` checks every entry against the backend's table, so the two cannot disagree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from .config import config_path
from .contract.auth import Role, WhoAmI
from .contract.defaults import TOKEN_ENV


@dataclass(frozen=True)
class Gated:
    """A console action (a key binding's id) that changes something on the backend."""

    role: Role
    """The least role allowed to do it (the highest of its routes')."""
    routes: tuple[str, ...]
    """`METHOD /path/template` of each route it calls, as `backend.access.ROLE_OF` keys them."""
    doing: str
    """What it does, as a refusal names it: `promoting`."""


GATED: dict[str, Gated] = {
    "jobs.new": Gated(Role.operator, ("POST /api/v1/jobs",), "starting a job"),
    "jobs.cancel": Gated(Role.operator, ("POST /api/v1/jobs/{job_id}/cancel",), "cancelling a job"),
    "jobs.retry": Gated(Role.operator, ("POST /api/v1/jobs/{job_id}/retry",), "retrying a job"),
    "alerts.ack": Gated(Role.operator, ("POST /api/v1/alerts/{alert_id}/ack",), "acknowledging an alert"),
    "alerts.resolve": Gated(Role.operator, ("POST /api/v1/alerts/{alert_id}/resolve",), "resolving an alert"),
    "model.promote": Gated(Role.admin, ("POST /api/v1/models/{name}/gates", "POST /api/v1/models/{name}/promote"),
                           "promoting"),
    "model.rollback": Gated(Role.admin, ("POST /api/v1/models/{name}/rollback",), "rolling back"),
    "model.decide": Gated(Role.admin, ("POST /api/v1/models/{name}/requests/{request_id}/approve",
                                       "POST /api/v1/models/{name}/requests/{request_id}/reject"),
                          "approving or rejecting a request"),
}
"""Binding id (`mlops_tui.keymap`) -> what it needs. Every other console action only reads (viewer)."""


@cache
def gated_actions() -> dict[str, Gated]:
    """`GATED` by the action name a key runs (`cancel_job`), which is what Textual hands a screen.
    (Imported late: the keymap loads textual, which the CLI does not need.)"""
    from .keymap import KEY_SPECS

    return {KEY_SPECS[binding].action: gate for binding, gate in GATED.items()}


def refusal(who: WhoAmI | None, action: str) -> str | None:
    """Why `who` may not run the console action `action` (a notification's text), or None when they may
    (or when who they are is not known yet: the backend still decides)."""
    gate = gated_actions().get(action)
    if gate is None or who is None or who.role.allows(gate.role):
        return None
    return f"{who.name} is {who.role.value}: {gate.doing} needs the {gate.role.value} role"


def identity(who: WhoAmI) -> str:
    """`alice (operator)`; `ann (admin, auth off)` when the server lets everyone in as a local admin."""
    return f"{who.name} ({who.role.value}{'' if who.auth else ', auth off'})"


def token_source() -> str:
    """Where the client's token comes from, as a person would look for it."""
    return TOKEN_ENV if os.environ.get(TOKEN_ENV) else f"[auth] token in {config_path()}"


def auth_hint(status: int, message: str) -> str:
    """A 401/403 from the role check, said in one line with what to do about it."""
    if status == 401:
        if "needs a bearer token" in message:
            return (f"this server needs a token and none is set: export {TOKEN_ENV}=<token>, or put "
                    f"[auth] token = \"<token>\" in {config_path()} (chmod 600); an admin makes one with "
                    "`mlops auth token create --name NAME --role ROLE`")
        return (f"the token from {token_source()} is not valid (unknown or revoked): ask an admin for a new "
                "one (`mlops auth token create`)")
    return f"{message}: ask an admin for a token with that role, then export {TOKEN_ENV}=<token>"
