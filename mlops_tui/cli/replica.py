"""`mlops serve NAME@ALIAS`: a standalone prediction replica of one alias, on this machine or any that
reaches the backend. It runs `python -m backend.replica` in the foreground until SIGTERM/SIGINT."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..contract.defaults import DEFAULT_HOST, auth_from_environment, bind_refusal
from ..contract.registry import parse_model_ref
from ..embedded import ensure_backend
from .output import UrlOption, fail, handle_errors, usage_error

DEFAULT_REPLICA_PORT = 5056


@handle_errors
def serve_command(
    ref: str = typer.Argument(..., metavar="NAME@ALIAS", help="The alias to serve (and follow when it moves)."),
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to bind; beyond loopback needs MLOPS_TOKEN."),
    port: int = typer.Option(DEFAULT_REPLICA_PORT, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="uvicorn worker processes."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Where downloaded model files are kept "
                                          "(default: the home's replica-cache)."),
    url: str | None = UrlOption,
) -> None:
    """Serve one alias's predictions (native route, MLflow's /invocations, Open Inference Protocol /v2),
    following the alias when it moves and shipping monitoring records to the backend."""
    try:
        name, alias = parse_model_ref(ref)
    except ValueError as error:
        usage_error(str(error))
    if not isinstance(alias, str):
        usage_error(f"{ref!r}: name an alias, NAME@ALIAS (a replica follows an alias)")
    refusal = bind_refusal(host, auth_from_environment())
    if refusal:
        fail(refusal)
    backend = ensure_backend(url)
    command = [sys.executable, "-m", "backend.replica", f"{name}@{alias}", "--host", host, "--port", str(port),
               "--workers", str(workers), "--url", backend]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir.expanduser().resolve())]
    sys.stdout.flush()
    os.execv(sys.executable, command)
