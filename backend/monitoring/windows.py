"""Monitoring windows: `15m`, `1h`, `7d` (a time span: whole minutes of rollups) or `5000r` (the
alias's last N predicted rows)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_tui.contract.monitoring import WINDOW_RULE

from ..errors import Invalid

DEFAULT_WINDOW = "15m"
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


@dataclass(frozen=True)
class Window:
    text: str
    seconds: int | None = None
    """A time span, or None for a window of rows."""
    rows: int | None = None


def parse_window(text: str | None) -> Window:
    """`text` as a Window (the default when None); Invalid naming `window` otherwise."""
    text = DEFAULT_WINDOW if text is None else text
    if not re.fullmatch(WINDOW_RULE, text):
        raise Invalid(f"window {text[:40]!r} is not a window: write a number and a unit, s, m, h, d or r "
                      "(15m, 1h, 7d, or 5000r for the last 5000 rows)", "window")
    count, unit = int(text[:-1]), text[-1]
    return Window(text, rows=count) if unit == "r" else Window(text, seconds=count * UNIT_SECONDS[unit])
