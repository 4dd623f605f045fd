"""The backend's one clock: epoch milliseconds, as stored and answered everywhere."""
from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
