"""Time as both sides store and send it: integer milliseconds since the epoch."""
from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
