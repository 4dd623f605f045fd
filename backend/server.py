"""Run the backend under uvicorn: `python -m backend.server --host H --port P --home DIR`.

Binds loopback by default and refuses any other address unless auth is on (`MLOPS_TOKEN` or `MLOPS_AUTH=1`).
Writes `<home>/server.pid` while it runs and removes it on a clean stop (SIGTERM or SIGINT). Holds
`<home>/server.lock` (`backend.home_lock`) for its whole life: a second server on the same home is refused.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from types import FrameType

import uvicorn
from pydantic import ValidationError

from mlops_tui.contract.defaults import (
    AUTH_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    PidFile,
    bind_refusal,
    pid_file_path,
)

from .app import create_app
from .db import NotADatabase
from .home_lock import HomeBusy, HomeLock, HomeUnusable
from .internal_errors import configure_logging
from .limits import header_deadline
from .settings import Settings, default_home


class UnsafeBind(ValueError):
    pass


def check_bind(host: str, auth: bool) -> None:
    refusal = bind_refusal(host, auth)
    if refusal:
        raise UnsafeBind(refusal)


def serve(host: str, port: int, home: Path, token: str | None) -> None:
    """Serve `home` until SIGTERM/SIGINT. Refused before anything is written: an unsafe bind, a home that
    another server holds (`HomeBusy`) or that cannot be written (`HomeUnusable`), a damaged database
    (`NotADatabase`), auth on with no one able to manage tokens."""
    pid_file = pid_file_path(home)
    settings = Settings(home=home, token=token, pid_file=pid_file, bind_host=host)
    check_bind(host, settings.auth_required)
    with HomeLock(home).acquire(host, port):  # held until this process ends, however it ends
        app = create_app(settings)
        if settings.auth_required and not app.state.tokens.has_admin():
            app.state.db.close()
            raise UnsafeBind(f"{AUTH_ENV}=1 but no token can manage tokens: set {TOKEN_ENV} (the server's own "
                             "admin token), or make an admin token first (`mlops auth token create --name NAME "
                             "--role admin` against this home served on loopback with auth off)")
        PidFile(os.getpid(), host, port).save(pid_file)
        # proxy_headers=False: uvicorn would believe X-Forwarded-* from 127.0.0.1, every peer of a loopback
        # server; `backend.forwarded` believes them only from MLOPS_TRUSTED_PROXIES.
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                proxy_headers=False, http=header_deadline(settings.header_timeout_seconds))
        configure_logging((token,) if token else ())
        StoppingServer(config).run()


class StoppingServer(uvicorn.Server):
    """uvicorn's server that also sets the app's `stopping` event on SIGTERM/SIGINT: uvicorn waits for
    requests in flight before the app's shutdown runs, so long polls must hear of it first."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        stopping = getattr(getattr(self.config.app, "state", None), "stopping", None)
        if isinstance(stopping, threading.Event):
            stopping.set()
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.server")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    home = (args.home or default_home()).expanduser().resolve()
    try:
        serve(args.host, args.port, home, os.environ.get(TOKEN_ENV) or None)
    except ValidationError as error:  # a setting from the environment that does not parse: its name and why
        first = error.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 1
    except STARTUP_REFUSALS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


STARTUP_REFUSALS = (UnsafeBind, HomeBusy, HomeUnusable, NotADatabase, ValidationError)
"""Why a server does not start, each said in one line on stderr (exit 1), never as a traceback."""


if __name__ == "__main__":
    sys.exit(main())
