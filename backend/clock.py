"""The backend's one clock: epoch milliseconds, as stored and answered everywhere (defined in the
contract, so the client and the backend tell time the same way)."""
from __future__ import annotations

from mlops_tui.contract import now_ms

__all__ = ["now_ms"]
