"""What a replica serves and where it reports: one alias of one model, from one backend.

`python -m backend.replica` puts the settings in the environment (`MLOPS_REPLICA_*`) before uvicorn
starts, so that each of its worker processes builds the same replica from them (`from_env`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mlops_tui.contract.defaults import DEFAULT_URL, TOKEN_ENV

ENV_PREFIX = "MLOPS_REPLICA_"
BACKEND_NAMES = {"backend_url": "MLOPS_URL", "max_predict_rows": "MLOPS_MAX_PREDICT_ROWS",
                 "sample_share": "MLOPS_MONITOR_SAMPLE", "full_rate": "MLOPS_MONITOR_FULL_RATE",
                 "monitoring": "MLOPS_MONITORING"}
"""Settings a replica shares with the backend read the backend's variable when its own is not set."""


@dataclass(frozen=True)
class ReplicaConfig:
    name: str = ""
    alias: str = ""
    backend_url: str = DEFAULT_URL
    cache_dir: Path = field(default_factory=lambda: Path.cwd() / ".mlops-replica")
    """Downloaded model files, named by version and hash (kept across restarts, checked before reuse)."""
    host: str = "127.0.0.1"
    """The address it binds (the `Host` names it answers to: loopback, this, MLOPS_ALLOWED_HOSTS)."""
    source: str = "replica"
    """How the backend's records name this replica (`host:port`)."""
    token: str | None = None
    """`MLOPS_TOKEN`: sent to the backend, and required of this replica's callers (bearer) when set."""
    wait_seconds: float = 20.0
    """The alias long poll's wait."""
    poll_seconds: float = 2.0
    """Between alias checks when the backend answers at once (no long poll) or cannot be reached."""
    ship_seconds: float = 0.5
    """Between record batches sent to the backend."""
    buffer_records: int = 200_000
    """Records kept while the backend cannot be reached; beyond it the oldest are dropped (and counted)."""
    max_predict_rows: int = 10_000
    sample_share: float = 1.0
    full_rate: float = 50.0
    monitoring: bool = True

    def to_env(self) -> dict[str, str]:
        """`MLOPS_REPLICA_<FIELD>` for every field but the token (that stays `MLOPS_TOKEN`)."""
        return {f"{ENV_PREFIX}{f.name.upper()}": _text(getattr(self, f.name)) for f in fields(self)
                if f.name != "token"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReplicaConfig:
        env = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, Any] = {"token": env.get(TOKEN_ENV) or None}
        for f in fields(cls):
            raw = env.get(f"{ENV_PREFIX}{f.name.upper()}", env.get(BACKEND_NAMES.get(f.name, "")))
            if raw is not None and f.name != "token":
                values[f.name] = _parsed(getattr(defaults, f.name), raw)
        return cls(**values)


def _text(value: Any) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def _parsed(default: Any, raw: str) -> Any:
    """`raw` as the type of the field's default."""
    if isinstance(default, bool):
        return raw.strip().lower() not in ("0", "false", "no", "off", "")
    if isinstance(default, Path):
        return Path(raw)
    return type(default)(raw)
