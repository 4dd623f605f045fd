"""How the CLI speaks: one JSON document with `--json`, rich tables otherwise, errors on stderr."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from ..client import Client, MlopsError
from ..formatting import duration, number  # noqa: F401  (re-exported for the commands)
from ..embedded import ensure_backend

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout and nothing else.")
UrlOption = typer.Option(None, "--url", envvar="MLOPS_URL", help="Backend URL (default http://127.0.0.1:5055).")


def handle_errors(function: F) -> F:
    """Turn backend and usage errors into `error: ...` on stderr and exit status 1, no traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except MlopsError as error:
            where = f" ({error.field})" if error.field else ""
            fail(f"{error.message}{where}")
        except (RuntimeError, OSError, ValueError) as error:
            fail(str(error))

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


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


STATUS_STYLE = {"RUNNING": "blue", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "SCHEDULED": "cyan"}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
