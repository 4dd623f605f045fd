"""How the CLI speaks: one JSON document with `--json`, rich tables otherwise, errors on stderr."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from ..client import BadUrl, Client, MlopsError
from ..contract.defaults import DEFAULT_URL
from ..embedded import ensure_backend
from ..formatting import duration, number, plural, safe_text  # noqa: F401  (re-exported for the commands)
from ..permissions import auth_hint

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout and nothing else.")
UrlOption = typer.Option(None, "--url", envvar="MLOPS_URL", help=f"Backend URL (default {DEFAULT_URL}).")


def shown(value: object) -> str:
    """User text for rich markup: control characters escaped (a name cannot clear the screen or set
    the window title) and brackets taken as text, not markup. `--json` never goes through this."""
    return escape(safe_text("" if value is None else str(value)))


def safe_lines(text: str) -> str:
    """Plain text (a job's log) for a terminal: each line made safe, the line breaks kept."""
    return "\n".join(safe_text(line) for line in text.split("\n"))


def handle_errors(function: F) -> F:
    """Turn backend and usage errors into `error: ...` on stderr and exit status 1, no traceback
    (a malformed backend URL is a usage error: exit 2)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BadUrl as error:
            fail(str(error), 2)
        except MlopsError as error:
            if error.status in (401, 403) and error.field == "authorization":
                fail(auth_hint(error.status, error.message))
            where = f" ({error.field})" if error.field else ""
            fail(f"{error.message}{where}")
        except (RuntimeError, OSError, ValueError) as error:
            fail(str(error))

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {shown(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    """A bad argument: `error: ...` on stderr and exit 2, as click does for its own checks."""
    fail(message, 2)


def note(message: str) -> None:
    """A hint on stderr (never on stdout, which may be JSON or piped)."""
    errors.print(f"[dim]note:[/] {shown(message)}", highlight=False, markup=True)


def connect(url: str | None) -> Client:
    """A client on `url`, starting the embedded backend when the default is what the user gets."""
    return Client(ensure_backend(url))


def print_json(data: Any) -> None:
    def default(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        raise TypeError

    sys.stdout.write(orjson.dumps(data, default=default, option=orjson.OPT_INDENT_2).decode() + "\n")


def when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def when_short(ms: int | None) -> str:
    """`12-01 22:51` this year, `2025-12-01` before: 11 characters at most, for narrow tables."""
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%m-%d %H:%M" if moment.year == datetime.now().year else "%Y-%m-%d")

