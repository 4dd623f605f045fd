"""The mlops-tui backend: FastAPI on uvicorn, the only owner of the database and artifacts.

`create_app` and `Settings` load on first use, so worker processes (`backend.jobs.worker`) do not
pay for importing the web app.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
