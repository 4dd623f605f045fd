"""Run the backend under uvicorn: `python -m backend.server --host H --port P --home DIR`.

Binds loopback by default and refuses any other address unless a token is configured.
Writes `<home>/server.pid` while it runs and removes it on a clean stop (SIGTERM or SIGINT).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

import uvicorn

from .app import create_app
from .settings import DEFAULT_HOST, DEFAULT_PORT, Settings, default_home


class UnsafeBind(ValueError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UnsafeBind(
            f"refusing to bind {host}: set MLOPS_TOKEN to require a bearer token before serving beyond loopback"
        )


def pid_file(home: Path) -> Path:
    return home / "server.pid"


def serve(host: str, port: int, home: Path, token: str | None) -> None:
    check_bind(host, token)
    settings = Settings(home=home, token=token, pid_file=pid_file(home), bind_host=host)
    app = create_app(settings)
    pid_file(home).write_text(f"{os.getpid()} {host} {port}\n")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.server")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    home = (args.home or default_home()).expanduser().resolve()
    try:
        serve(args.host, args.port, home, os.environ.get("MLOPS_TOKEN") or None)
    except UnsafeBind as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
