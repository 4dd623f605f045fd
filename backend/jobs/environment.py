"""The environment a job's worker process gets: an allowlist, never the server's whole environment.

A pipeline's estimators, a joblib pool or a Dask client run inside the worker, so whatever is in its
environment a job can read (and write to its log). The server's token (`MLOPS_TOKEN`), its webhook secret
and any credential it was started with stay out: the worker gets only what Python and the numeric
libraries need, and the few server settings the worker reads, from the server's own `Settings`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from ..settings import Settings

PASSED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT",
    "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONWARNINGS", "VIRTUAL_ENV",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS", "LOKY_MAX_CPU_COUNT",
    "JOBLIB_TEMP_FOLDER",
})
"""Variables passed as they are: where things are, the locale, and how many threads the libraries use."""
PASSED_PREFIXES = ("LC_", "DASK_")
"""Families passed too: the locale's parts, and Dask's configuration (a job may reach a Dask scheduler)."""
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE", "_KEY", "AUTH")
"""A passed family's variable whose name holds one of these still stays out (say `DASK_..._PRIVATE_KEY`)."""
WORKER_SETTINGS = ("dask_schedulers", "max_candidates", "max_columns", "job_log_max_bytes", "synchronous")
"""The server settings a worker reads (`Settings(home=...)` in `backend.jobs.worker`), set from the
server's values, so a setting given to the server in code reaches its workers too."""


def worker_environment(settings: Settings, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker started by a server with `settings`, from `parent` (this process's)."""
    parent = os.environ if parent is None else parent
    env = {name: value for name, value in parent.items()
           if name in PASSED or (name.startswith(PASSED_PREFIXES) and not _secret(name))}
    for name in WORKER_SETTINGS:
        field = Settings.model_fields[name]
        value = getattr(settings, name)
        env[str(field.validation_alias)] = ",".join(value) if isinstance(value, tuple) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)
