"""`mlops auth ...`: who you are on a backend, and the tokens an admin hands out.

`token create` prints the new token once (only its hash is kept, so it cannot be shown again) with how
to use it; `token list` never shows a secret; `token revoke` takes an id, or the name of an active token.
Exit status: 0 done, 1 an error (a refused role, an unknown token, a name already taken), 2 usage.
"""
from __future__ import annotations

import typer
from rich.table import Column

from ..client import Client
from ..config import config_path
from ..contract.auth import Role, Token
from ..contract.defaults import TOKEN_ENV
from ..permissions import identity
from .model_views import _table
from .output import JsonOption, UrlOption, connect, console, fail, handle_errors, print_json, shown, when_short

auth_app = typer.Typer(help="Who you are on the backend; tokens for viewers, operators and admins.",
                       no_args_is_help=True)
token_app = typer.Typer(help="Make, list and revoke tokens (admins only).", no_args_is_help=True)
auth_app.add_typer(token_app, name="token")

ROLES = ", ".join(role.value for role in Role)


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@auth_app.command("whoami")
@handle_errors
def whoami(json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Who the backend takes you for, and with which role."""
    client = connect(url)
    me = client.whoami()
    if json_out:
        print_json(me)
    elif me.auth:
        _say(f"{shown(identity(me))} on {shown(client.url)}")
    else:
        _say(f"{shown(me.name)} (admin): auth is off on {shown(client.url)}, so everyone who can reach it is an admin")


@token_app.command("create")
@handle_errors
def token_create(name: str = typer.Option(..., "--name", help="Who holds the token (recorded as the actor)."),
                 role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
                 json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Make a token and print it ONCE: only its hash is kept."""
    if role.lower() not in Role.__members__:
        fail(f"--role {role!r} is not a role; use one of {ROLES}", 2)
    created = connect(url).create_token(name, Role(role.lower()))
    if json_out:
        print_json(created)
        return
    _say(f"made token {created.id} for {shown(created.name)} ({created.role.value}):\n")
    _say(f"    {created.token}\n")
    _say("It is shown this once and cannot be shown again (only its hash is stored). To use it:")
    _say(f"    export {TOKEN_ENV}={created.token}")
    _say(f"or put it in {shown(config_path())} and chmod 600 the file:")
    _say(f'    [auth]\n    token = "{created.token}"')


@token_app.command("list")
@handle_errors
def token_list(json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Every token, revoked ones too, oldest first (never a secret)."""
    tokens = connect(url).list_tokens()
    if json_out:
        print_json(tokens)
        return
    if not tokens.tokens:
        _say("no tokens")
        return
    table = _table("Tokens", Column("ID", no_wrap=True), Column("NAME"), Column("ROLE", no_wrap=True),
                   Column("CREATED", no_wrap=True), Column("BY"), Column("REVOKED", no_wrap=True))
    for token in tokens.tokens:
        table.add_row(token.id, shown(token.name), token.role.value, when_short(token.created_at),
                      shown(token.created_by), "-" if token.revoked_at is None else when_short(token.revoked_at))
    console.print(table)


def _find(client: Client, ref: str) -> Token:
    """The token `ref` names: its id, else the active token of that name."""
    tokens = client.list_tokens().tokens
    for token in tokens:
        if token.id == ref:
            return token
    for token in tokens:
        if token.name == ref and token.revoked_at is None:
            return token
    fail(f"no token has the id {ref!r}, and no active token has that name (see `mlops auth token list`)")


@token_app.command("revoke")
@handle_errors
def token_revoke(ref: str = typer.Argument(..., metavar="ID_OR_NAME", help="A token's id, or an active token's name."),
                 json_out: bool = JsonOption, url: str | None = UrlOption) -> None:
    """Revoke a token at once: no request carrying it gets in from now on."""
    client = connect(url)
    revoked = client.revoke_token(_find(client, ref).id)
    if json_out:
        print_json(revoked)
        return
    _say(f"revoked token {revoked.id} ({shown(revoked.name)}, {revoked.role.value})")
