"""mlops-tui: a terminal-first MLOps console. The SDK and the client live here.

`Client`, `start_run` and the rest load on first use, so the backend can import `mlops_tui.contract`
without pulling in httpx and the SDK."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import AsyncClient, Client, MlopsError
    from .sdk import ActiveRun, start_run

__version__ = "0.1.0"
__all__ = ["ActiveRun", "AsyncClient", "Client", "MlopsError", "__version__", "start_run"]
_LAZY = {"AsyncClient": ".client", "Client": ".client", "MlopsError": ".client", "ActiveRun": ".sdk",
         "start_run": ".sdk"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
