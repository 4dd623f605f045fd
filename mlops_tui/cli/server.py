"""`mlops server start|status|stop`: the backend as a foreground or background process."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..client import Client, MlopsError
from ..contract.defaults import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_URL,
    PidFile,
    auth_from_environment,
    bind_refusal,
    local_url,
    pid_file_path,
    server_log_path,
)
from ..embedded import (
    default_home,
    locate_server,
    server_command,
    shown_home,
    spawn_server,
    stop_server,
    wait_until_up,
)
from .output import JsonOption, console, fail, handle_errors, note, print_json, shown

server_app = typer.Typer(help="Run the backend.", no_args_is_help=True)

HomeOption = typer.Option(None, "--home", help="Home folder (default: MLOPS_HOME or the user data dir).")


def _home(home: Path | None) -> Path:
    return (home or default_home()).expanduser().resolve()


def _say_stale(stale: PidFile | None, folder: Path) -> None:
    if stale is not None:
        note(f"{pid_file_path(folder)} was stale (pid {stale.pid} is not an mlops server for this home); "
             "removed it")


@server_app.command("start")
@handle_errors
def start(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to bind; beyond loopback needs auth on"
                             " (MLOPS_TOKEN or MLOPS_AUTH=1)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on."),
    home: Path | None = HomeOption,
    detach: bool = typer.Option(False, "--detach", help="Run in the background (pid file and log in the home)."),
) -> None:
    """Serve the backend, in the foreground until SIGTERM/SIGINT unless --detach."""
    folder = _home(home)
    refusal = bind_refusal(host, auth_from_environment())
    if refusal:
        fail(refusal)
    command = server_command(host, port, folder)
    if not detach:
        console.print(f"serving on http://{host}:{port} (home {folder}); Ctrl-C stops", highlight=False)
        sys.stdout.flush()
        os.execv(sys.executable, command)
    running, stale = locate_server(folder)
    _say_stale(stale, folder)
    if running is not None:
        fail(f"a server is already running from {folder} (pid {running.pid} on port {running.port})")
    process = spawn_server(host, port, folder)
    url = local_url(host, port)
    if not wait_until_up(url, process):
        fail(f"the server did not start; see {server_log_path(folder)}")
    console.print(f"server running at {url} (pid {process.pid}, log {server_log_path(folder)})", highlight=False)


@server_app.command("status")
@handle_errors
def status(
    url: str | None = typer.Option(None, "--url", envvar="MLOPS_URL", help="Backend URL to check."),
    home: Path | None = HomeOption,
    json_out: bool = JsonOption,
) -> None:
    """Say whether the backend answers (exit 0) or not (exit 1), with its home, pid and version."""
    folder = _home(home)
    running, _ = locate_server(folder) if url is None else (None, None)
    target = url or (running.url if running else DEFAULT_URL)
    try:
        health = Client(target, timeout=3).health()
    except MlopsError as error:
        if json_out:
            print_json({"url": target, "running": False, "error": error.message})
        else:
            console.print(f"not running at {target}", highlight=False)
        raise typer.Exit(1) from None
    if json_out:
        print_json({"url": target, "running": True, **health.model_dump()})
    else:
        where = shown_home(Path(health.home)) if health.home else "unknown"
        console.print(f"running at {target}: home {shown(where)}, pid {health.pid}, version {health.version}, "
                      f"schema {health.schema_version}", highlight=False)


@server_app.command("stop")
@handle_errors
def stop(home: Path | None = HomeOption, json_out: bool = JsonOption) -> None:
    """Stop the background server started from this home (SIGTERM, then wait).

    Only a process that is that server (its /healthz answers its pid and this home, or its command
    line is the backend's for this home) is signalled; a stale pid file is removed instead."""
    folder = _home(home)
    running, stale = locate_server(folder)
    _say_stale(stale, folder)
    if running is None:
        fail(f"no server is running from {folder}")
        return
    if not stop_server(running):
        fail(f"server pid {running.pid} did not stop within 15 s")
    if json_out:
        print_json({"stopped": running.pid})
    else:
        console.print(f"stopped server pid {running.pid} (port {running.port})")
