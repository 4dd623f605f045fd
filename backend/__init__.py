"""The mlops-tui backend: FastAPI on uvicorn, the only owner of the database and artifacts."""
from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["Settings", "__version__", "create_app"]
