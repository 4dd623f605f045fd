"""How a place inside a request or a file is named in messages: `metrics[3].value`."""
from __future__ import annotations

from collections.abc import Sequence


def dotted_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as one name: `('metrics', 3, 'value')` -> `'metrics[3].value'`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text
