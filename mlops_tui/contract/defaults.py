"""Shared defaults both sides rely on: the home folder, the backend's address, and the files a server
keeps in its home (`server.pid`, `server.log`).

Standard library only, so `backend/` and `mlops_tui/` can both import it.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "mlops-tui"
"""The home's folder name under the platform's user data dir."""
HOME_ENV = "MLOPS_HOME"
TOKEN_ENV = "MLOPS_TOKEN"
AUTH_ENV = "MLOPS_AUTH"
"""`MLOPS_AUTH=1` on the server: every request needs a token, even without a server token (`MLOPS_TOKEN`)."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
PID_FILE_NAME = "server.pid"
LOG_FILE_NAME = "server.log"


def default_home(user_data_dir: Callable[[str], str]) -> Path:
    """`MLOPS_HOME`, else the platform's user data dir for the app. Callers pass
    `platformdirs.user_data_dir` (kept out of here so this module needs nothing beyond the standard library)."""
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path(user_data_dir(APP_NAME))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_from_environment() -> bool:
    """Whether the environment turns auth on: `MLOPS_TOKEN` set, or `MLOPS_AUTH` set and not 0."""
    return bool(os.environ.get(TOKEN_ENV)) or os.environ.get(AUTH_ENV, "") not in ("", "0")


def bind_refusal(host: str, auth: str | bool | None) -> str | None:
    """Why serving on `host` is refused (beyond loopback with auth off), or None when it is allowed.
    `auth`: whether auth is on (or the server token, whose presence turns it on)."""
    if is_loopback(host) or auth:
        return None
    return (f"refusing to bind {host}: turn auth on before serving beyond loopback ({TOKEN_ENV}=<server token>, "
            f"or {AUTH_ENV}=1 with tokens made by `mlops auth token create`)")


def local_url(host: str, port: int) -> str:
    """The URL that reaches a server bound to `host:port` from this machine (a wildcard bind: via loopback)."""
    host = DEFAULT_HOST if host in ("0.0.0.0", "::") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def pid_file_path(home: Path) -> Path:
    return home / PID_FILE_NAME


def server_log_path(home: Path) -> Path:
    """Where a background server started from `home` writes its output."""
    return home / LOG_FILE_NAME


@dataclass(frozen=True)
class PidFile:
    """What `<home>/server.pid` says while a server serves that home: `pid host port` on one line."""

    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        return local_url(self.host, self.port)

    def save(self, path: Path) -> None:
        path.write_text(f"{self.pid} {self.host} {self.port}\n")

    @classmethod
    def load(cls, path: Path) -> PidFile | None:
        """The pid file at `path`, or None when there is none or it does not read as one."""
        try:
            pid, host, port = path.read_text().split()[:3]
            return cls(int(pid), host, int(port))
        except (FileNotFoundError, ValueError):
            return None
