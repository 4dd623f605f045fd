"""`mlops tui [--url URL] [--experiment NAME | --monitor MODEL]`: the console."""
from __future__ import annotations

import typer

from ..client import AsyncClient
from ..config import ConfigError, load_config
from ..embedded import ensure_backend
from .output import UrlOption, fail, handle_errors


@handle_errors
def tui(
    url: str | None = UrlOption,
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Open the runs of this experiment."),
    monitor: str | None = typer.Option(None, "--monitor", "-m", metavar="MODEL",
                                       help="Open this model's Monitor view (as `:monitor MODEL` does)."),
) -> None:
    """Open the console (k9s for models): `?` lists the keys, `:` jumps to a view, `q` goes back."""
    try:
        config = load_config()
    except ConfigError as error:
        fail(str(error))
        return
    from ..app import MlopsApp  # Textual loads only for this command

    client = AsyncClient(ensure_backend(url))
    start = f"monitor {monitor}" if monitor else f"runs {experiment}" if experiment else None
    code = MlopsApp(client=client, config=config, start=start).run()
    if code:
        raise typer.Exit(code)
