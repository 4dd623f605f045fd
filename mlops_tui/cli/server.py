"""`mlops server start|status|stop|backup|restore`: the backend as a foreground or background process, and
its database copied out and back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
from ..formatting import size
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


ARTIFACTS_NOTE = "artifacts are not in it: copy {home}/artifacts apart (rsync -a)"


@server_app.command("backup")
@handle_errors
def backup(
    file: Path = typer.Argument(..., help="Where to write the copy (an existing file there is replaced)."),
    home: Path | None = HomeOption,
    url: str | None = typer.Option(None, "--url", help="Back up the server at this URL (default: the server "
                                   "serving the home, else the home's database directly)."),
    json_out: bool = JsonOption,
) -> None:
    """Write a consistent copy of the database to FILE, while the server runs or not (SQLite's backup API)."""
    folder, target = _home(home), file.expanduser().resolve()
    if url is None:
        running, stale = locate_server(folder)
        _say_stale(stale, folder)
        url = running.url if running is not None else None
    if url is not None:
        with Client(url, timeout=600) as client:
            info: dict[str, Any] = {"file": str(target), **client.save_backup(target), "source": url}
    else:
        info = {**_maintenance("backup", target, folder), "source": str(folder)}
    if json_out:
        print_json(info)
        return
    origin = f"the server at {url}" if url is not None else f"{shown_home(folder)} (no server running)"
    console.print(f"backup of {origin} written to {shown(str(target))}: {size(info['bytes'])}, schema "
                  f"{info['schema_version']}; {ARTIFACTS_NOTE.format(home=shown_home(folder))}", highlight=False,
                  soft_wrap=True)


@server_app.command("restore")
@handle_errors
def restore(
    file: Path = typer.Argument(..., help="A backup made by `mlops server backup`."),
    home: Path | None = HomeOption,
    json_out: bool = JsonOption,
) -> None:
    """Replace the home's database with FILE; refused while a server serves the home. The database it
    replaces is kept beside it as mlops.db.before-restore-<time>."""
    folder = _home(home)
    info = _maintenance("restore", file.expanduser().resolve(), folder)
    if json_out:
        print_json(info)
        return
    kept = f"; the database it replaced is kept as {shown(info['kept'])}" if info.get("kept") else ""
    console.print(f"restored {shown(str(file))} into {shown(info['file'])}: {size(info['bytes'])}, schema "
                  f"{info['schema_version']}{kept}", highlight=False, soft_wrap=True)


def _maintenance(action: str, file: Path, home: Path) -> dict[str, Any]:
    """`python -m backend.maintenance ACTION FILE --home HOME`: the backend's own code opens the database,
    in its own process (the CLI never imports the backend); its one JSON line, or its error."""
    done = subprocess.run([sys.executable, "-m", "backend.maintenance", action, str(file), "--home", str(home)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        fail(lines[-1].removeprefix("error: ") if lines else f"{action} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
