"""MLflow's artifacts API (to be written)."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/2.0", include_in_schema=False)
