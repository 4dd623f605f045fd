"""Backend settings: where the home folder is, how to bind, and the limits on requests.

Built with pydantic-settings: a field that names an environment variable (its `validation_alias`) is read
from it when not given; the others are only ever given (by `backend.server` or a test).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from mlops_tui.contract import defaults

from .forwarded import networks, split_commas

DEFAULT_MAX_CANDIDATES = 500


def default_home() -> Path:
    """The home folder: `MLOPS_HOME`, else the platform's user data dir."""
    return defaults.default_home(platformdirs.user_data_dir)


class _DeclaredVariables(EnvSettingsSource):
    """Only fields that name their environment variable are read from the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field.validation_alias is None:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class Settings(BaseSettings):
    """Everything `create_app` needs; build one per test on a temporary home."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, case_sensitive=True,
                                      use_attribute_docstrings=True)

    home: Path = Field(default_factory=default_home)
    token: str | None = Field(None, validation_alias=defaults.TOKEN_ENV)
    """The server's own token: an admin's (`server-token`), and it turns auth on."""
    auth: bool = Field(False, validation_alias=defaults.AUTH_ENV)
    """`MLOPS_AUTH=1`: every request needs a token made with `mlops auth token create`, even without `token`."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest request body accepted (artifacts included); larger bodies get 413."""
    max_batch_metrics: int = 10_000
    max_batch_params: int = 1_000
    max_batch_tags: int = 1_000
    max_running_jobs: int = Field(2, validation_alias="MLOPS_MAX_JOBS")
    """Training jobs run at once; more wait in the queue."""
    max_candidates: int = Field(DEFAULT_MAX_CANDIDATES, validation_alias="MLOPS_MAX_CANDIDATES")
    """Candidates one training job may train; a larger sweep is refused with 422."""
    dask_schedulers: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="MLOPS_DASK_SCHEDULERS")
    """Dask scheduler addresses jobs may use (the first is the default); none: no Dask jobs. A scheduler is
    trusted like this machine: the job's worker unpickles what it returns."""
    cancel_grace_seconds: float = 5.0
    """A cancelled job's worker gets SIGTERM, then SIGKILL after this long."""
    heartbeat_timeout_seconds: float = Field(600.0, validation_alias="MLOPS_HEARTBEAT_TIMEOUT")
    """A RUNNING run that has sent heartbeats (SDK runs do) and then sent none for this long is marked
    FAILED with tag `mlops.failure_reason = heartbeat lost`; runs that never sent one are left alone."""
    pid_file: Path | None = None
    """Removed when the app shuts down (uvicorn re-raises SIGTERM after shutdown, skipping `finally`)."""
    warm_worker: bool = Field(True, validation_alias="MLOPS_WARM_WORKER")
    """Keep one job worker loaded and waiting (MLOPS_WARM_WORKER=0 turns it off)."""
    run_jobs: bool = True
    """Start the job manager with the app (off for read-only tools)."""
    bind_host: str | None = None
    """The address the server binds; requests naming it in `Host` are answered."""
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="MLOPS_ALLOWED_HOSTS")
    """More `Host` names to answer besides loopback and the bind address (`*`: any)."""
    max_columns: int = Field(2000, validation_alias="MLOPS_MAX_COLUMNS")
    """Widest dataset accepted (columns); a wider upload is refused with 422 naming `file`."""

    max_predict_rows: int = Field(10_000, validation_alias="MLOPS_MAX_PREDICT_ROWS")
    """Rows one prediction request may carry; more are refused with 413 naming the cap."""
    model_cache_count: int = Field(8, validation_alias="MLOPS_MODEL_CACHE_COUNT")
    """Loaded models kept in memory for serving (least recently used leave first)."""
    model_cache_mb: int = Field(1024, validation_alias="MLOPS_MODEL_CACHE_MB")
    """The loaded models' file sizes kept in memory add up to at most this."""
    monitor_sample_share: float = Field(1.0, ge=0.0, le=1.0, validation_alias="MLOPS_MONITOR_SAMPLE")
    """Share of predicted rows whose inputs and outputs are kept (at up to `monitor_full_rate` requests/s;
    above it the share falls so that about that many rows per second are kept)."""
    monitor_full_rate: float = Field(50.0, validation_alias="MLOPS_MONITOR_FULL_RATE")
    monitor_retention_days: float = Field(30.0, validation_alias="MLOPS_MONITOR_RETENTION_DAYS")
    """Prediction rows and per-minute rollups older than this are deleted."""
    monitor_retention_rows: int = Field(1_000_000, validation_alias="MLOPS_MONITOR_RETENTION_ROWS")
    """At most this many prediction rows are kept (the oldest leave first)."""
    max_alias_wait_seconds: float = Field(60.0, ge=0, validation_alias="MLOPS_MAX_ALIAS_WAIT")
    """The alias long poll waits at most this long, whatever `wait_seconds` asks (60 s at most)."""
    monitoring: bool = Field(True, validation_alias="MLOPS_MONITORING")
    """Record predictions (MLOPS_MONITORING=0 turns recording off: for benchmarks)."""

    automation: bool = Field(True, validation_alias="MLOPS_AUTOMATION")
    """Run the backend's timers: alert rules, retrain triggers, shadow and rollback watch (MLOPS_AUTOMATION=0
    turns them off; alerts then neither open nor resolve by themselves)."""
    control_interval_seconds: float = Field(15.0, gt=0, le=3600, validation_alias="MLOPS_CONTROL_INTERVAL")
    """How often alert rules and retrain triggers are checked."""
    webhook_url: str | None = Field(None, validation_alias="MLOPS_WEBHOOK_URL")
    """A webhook every model's events go to (trusted: set by whoever runs the server)."""
    webhook_secret: str | None = Field(None, validation_alias="MLOPS_WEBHOOK_SECRET")
    """The HMAC-SHA256 key webhook bodies are signed with (unsigned without one)."""
    webhook_hosts: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="MLOPS_WEBHOOK_HOSTS")
    """Hosts (`host` or `host:port`) a pipeline file's `[notify] url` may name; none: pipeline files name no
    webhook. The server makes these requests, so only list receivers you trust it to reach."""
    webhook_max_attempts: int = Field(6, ge=1, le=50, validation_alias="MLOPS_WEBHOOK_ATTEMPTS")
    """Attempts per delivery before it is marked failed."""
    webhook_backoff_seconds: float = Field(2.0, gt=0, le=3600, validation_alias="MLOPS_WEBHOOK_BACKOFF")
    """The wait before the first retry; it doubles after each failed attempt."""
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60, validation_alias="MLOPS_WEBHOOK_TIMEOUT")

    # jobs (issue 13): a bounded queue, a time limit, a capped log, a warm worker that leaves when idle
    max_queued_jobs: int = Field(100, ge=1, le=100_000, validation_alias="MLOPS_MAX_QUEUED_JOBS")
    """Jobs that may wait in the queue; one more is refused with 429 and `Retry-After`."""
    job_timeout_seconds: float = Field(86_400.0, ge=0, validation_alias="MLOPS_JOB_TIMEOUT")
    """The longest a job may run (0: no limit). A pipeline's `[executor] timeout_seconds` may ask for less,
    never more; a job past its limit is stopped (SIGTERM, then SIGKILL) and FAILED with kind `timeout`."""
    job_log_max_bytes: int = Field(10 * 1024 * 1024, ge=4096, validation_alias="MLOPS_JOB_LOG_MAX_BYTES")
    """A job's log keeps at most about this much: its first half, then a line saying how much was cut,
    then its latest quarter to half."""
    warm_worker_idle_seconds: float = Field(300.0, ge=0, validation_alias="MLOPS_WARM_WORKER_IDLE")
    """The warm worker leaves after this long without a job starting (0: it never leaves), and comes back
    once a job has run: an idle server gives its ~250 MB back, the next job starts cold."""
    synchronous: Literal["NORMAL", "FULL"] = Field("NORMAL", validation_alias="MLOPS_SYNCHRONOUS")
    """SQLite's `synchronous` (the database runs in WAL mode). NORMAL: a write the server acknowledged survives
    a crash of the server (SIGKILL included); a power loss or an OS crash may lose the last acknowledged
    transactions but never corrupts the database. FULL: every commit is fsynced before the answer, so
    acknowledged writes survive a power loss too, at a cost per write (`bench/durability.py`)."""
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="MLOPS_CORS_ORIGINS")
    """Origins (`https://app.example:8443`, exact, comma list) whose pages may call the API from a browser;
    none: no CORS header on any answer and every preflight refused."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="MLOPS_TRUSTED_PROXIES")
    """Reverse proxies (addresses or networks, comma list) whose `X-Forwarded-For/-Proto/-Host` are believed;
    none: those headers are ignored from everyone."""
    request_timeout_seconds: float = Field(60.0, gt=0, le=86_400, validation_alias="MLOPS_REQUEST_TIMEOUT")
    """A client has this long to send its request's body (408 after), and each part of an answer must be
    taken within this long (the connection is dropped after). The server's own work is not cut short."""
    header_timeout_seconds: float = Field(10.0, gt=0, le=3600, validation_alias="MLOPS_HEADER_TIMEOUT")
    """A connection must send a request's headers within this long of starting it (408 and closed after)."""
    max_concurrency: int = Field(64, ge=1, le=100_000, validation_alias="MLOPS_MAX_CONCURRENCY")
    """Requests the server works on at once (a request still sending its body does not count; `/healthz`
    never counts); beyond it, 503 with `Retry-After`."""

    @field_validator("token", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("dask_schedulers", "allowed_hosts", "webhook_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """`MLOPS_ALLOWED_HOSTS=" a, b,,"` -> `("a", "b")`."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _exposure_lists(cls, value: Any, info: ValidationInfo) -> Any:
        """Comma lists like the others; an origin is exact (no `*`), a proxy an address or a network."""
        items = split_commas(value)
        if info.field_name == "cors_origins" and any("*" in item or item.count("/") != 2 for item in items):
            raise ValueError("list exact origins, as scheme://host[:port] (no '*', no path)")
        if info.field_name == "trusted_proxies":
            networks(items)
        return items

    @field_validator("synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("warm_worker", "automation", "auth", mode="before")
    @classmethod
    def _zero_turns_off(cls, value: Any) -> Any:
        return value != "0" if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _DeclaredVariables(settings_cls)

    @property
    def auth_required(self) -> bool:
        """Whether every request (but `/healthz`) needs a valid token."""
        return self.auth or bool(self.token)

    @property
    def db_path(self) -> Path:
        return self.home / "mlops.db"

    @property
    def artifacts_root(self) -> Path:
        return self.home / "artifacts"
