"""Backend settings: where the home folder is, how to bind, and the limits on requests."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055


def default_home() -> Path:
    """The home folder: `MLOPS_HOME`, else the platform's user data dir."""
    env = os.environ.get("MLOPS_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("mlops-tui"))


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs; build one per test on a temporary home."""

    home: Path = field(default_factory=default_home)
    token: str | None = field(default_factory=lambda: os.environ.get("MLOPS_TOKEN") or None)
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest request body accepted (artifacts included); larger bodies get 413."""
    max_batch_metrics: int = 10_000
    max_batch_params: int = 1_000
    max_batch_tags: int = 1_000
    max_running_jobs: int = field(default_factory=lambda: int(os.environ.get("MLOPS_MAX_JOBS", "2")))
    """Training jobs run at once; more wait in the queue."""
    max_candidates: int = field(default_factory=lambda: int(os.environ.get("MLOPS_MAX_CANDIDATES", "500")))
    """Candidates one training job may train; a larger sweep is refused with 422."""
    dask_schedulers: tuple[str, ...] = field(default_factory=lambda: _env_list("MLOPS_DASK_SCHEDULERS"))
    """Dask scheduler addresses jobs may use (the first is the default); none: no Dask jobs. A scheduler is
    trusted like this machine: the job's worker unpickles what it returns."""
    cancel_grace_seconds: float = 5.0
    """A cancelled job's worker gets SIGTERM, then SIGKILL after this long."""
    heartbeat_timeout_seconds: float = field(
        default_factory=lambda: float(os.environ.get("MLOPS_HEARTBEAT_TIMEOUT", "600")))
    """A RUNNING run that has sent heartbeats (SDK runs do) and then sent none for this long is marked
    FAILED with tag `mlops.failure_reason = heartbeat lost`; runs that never sent one are left alone."""
    pid_file: Path | None = None
    """Removed when the app shuts down (uvicorn re-raises SIGTERM after shutdown, skipping `finally`)."""
    warm_worker: bool = field(default_factory=lambda: os.environ.get("MLOPS_WARM_WORKER", "1") != "0")
    """Keep one job worker loaded and waiting (MLOPS_WARM_WORKER=0 turns it off)."""
    run_jobs: bool = True
    """Start the job manager with the app (off for read-only tools)."""
    bind_host: str | None = None
    """The address the server binds; requests naming it in `Host` are answered."""
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: _env_list("MLOPS_ALLOWED_HOSTS"))
    """More `Host` names to answer besides loopback and the bind address (`*`: any)."""
    max_columns: int = field(default_factory=lambda: int(os.environ.get("MLOPS_MAX_COLUMNS", "2000")))
    """Widest dataset accepted (columns); a wider upload is refused with 422 naming `file`."""

    @property
    def db_path(self) -> Path:
        return self.home / "mlops.db"

    @property
    def artifacts_root(self) -> Path:
        return self.home / "artifacts"
