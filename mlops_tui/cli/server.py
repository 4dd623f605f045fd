"""`mlops server start|status|stop`: the backend as a foreground or background process."""
from __future__ import annotations

import ipaddress
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..client import Client, MlopsError
from ..embedded import default_home, spawn_server, wait_until_up
from .output import JsonOption, console, fail, handle_errors, print_json

server_app = typer.Typer(help="Run the backend.", no_args_is_help=True)

HomeOption = typer.Option(None, "--home", help="Home folder (default: MLOPS_HOME or the user data dir).")


def _home(home: Optional[Path]) -> Path:
    return (home or default_home()).expanduser().resolve()


def _pid_file_entry(home: Path) -> tuple[int, str, int] | None:
    try:
        pid, host, port = (home / "server.pid").read_text().split()
        return int(pid), host, int(port)
    except (FileNotFoundError, ValueError):
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@server_app.command("start")
@handle_errors
def start(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; beyond loopback needs MLOPS_TOKEN."),
    port: int = typer.Option(5055, "--port", help="Port to listen on."),
    home: Optional[Path] = HomeOption,
    detach: bool = typer.Option(False, "--detach", help="Run in the background (pid file and log in the home)."),
) -> None:
    """Serve the backend, in the foreground until SIGTERM/SIGINT unless --detach."""
    folder = _home(home)
    if not _is_loopback(host) and not os.environ.get("MLOPS_TOKEN"):
        fail(f"refusing to bind {host}: set MLOPS_TOKEN to require a bearer token before serving beyond loopback")
    command = [sys.executable, "-m", "backend.server", "--host", host, "--port", str(port), "--home", str(folder)]
    if not detach:
        console.print(f"serving on http://{host}:{port} (home {folder}); Ctrl-C stops", highlight=False)
        sys.stdout.flush()
        os.execv(sys.executable, command)
    entry = _pid_file_entry(folder)
    if entry and _alive(entry[0]):
        fail(f"a server is already running from {folder} (pid {entry[0]} on port {entry[2]})")
    process = spawn_server(host, port, folder)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if not wait_until_up(url, process):
        fail(f"the server did not start; see {folder / 'server.log'}")
    console.print(f"server running at {url} (pid {process.pid}, log {folder / 'server.log'})", highlight=False)


@server_app.command("status")
@handle_errors
def status(
    url: Optional[str] = typer.Option(None, "--url", envvar="MLOPS_URL", help="Backend URL to check."),
    home: Optional[Path] = HomeOption,
    json_out: bool = JsonOption,
) -> None:
    """Say whether the backend answers (exit 0) or not (exit 1)."""
    folder = _home(home)
    entry = _pid_file_entry(folder)
    target = url or (f"http://{entry[1]}:{entry[2]}" if entry else "http://127.0.0.1:5055")
    try:
        health = Client(target, timeout=3).health()
    except MlopsError as error:
        if json_out:
            print_json({"url": target, "running": False, "error": error.message})
        else:
            console.print(f"not running at {target}", highlight=False)
        raise typer.Exit(1)
    if json_out:
        print_json({"url": target, "running": True, **health.model_dump()})
    else:
        console.print(f"running at {target}: pid {health.pid}, version {health.version}, "
                      f"schema {health.schema_version}", highlight=False)


@server_app.command("stop")
@handle_errors
def stop(home: Optional[Path] = HomeOption, json_out: bool = JsonOption) -> None:
    """Stop the background server started from this home (SIGTERM, then wait)."""
    folder = _home(home)
    entry = _pid_file_entry(folder)
    if entry is None or not _alive(entry[0]):
        fail(f"no server is running from {folder}")
        return
    pid, host, port = entry
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        fail(f"server pid {pid} did not stop within 15 s")
    if json_out:
        print_json({"stopped": pid})
    else:
        console.print(f"stopped server pid {pid} (port {port})")
