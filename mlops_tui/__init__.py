"""mlops-tui: a terminal-first MLOps console. The SDK and the client live here."""
from __future__ import annotations

from .client import AsyncClient, Client, MlopsError
from .sdk import ActiveRun, start_run

__version__ = "0.1.0"
__all__ = ["ActiveRun", "AsyncClient", "Client", "MlopsError", "__version__", "start_run"]
