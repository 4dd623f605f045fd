"""The alias long poll: `GET /api/v1/models/{name}/aliases/{alias}?known_version=N&wait_seconds=S`.

A replica that serves version N asks; the answer comes as soon as the alias points elsewhere (or at
nothing: 404), else when the wait is over (then it still points at N), or at once when the server
is stopping. The wait is an `await` between cheap reads in the threadpool: the event loop is never
blocked and no thread is held while waiting.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import anyio

from ..db import Database
from . import registry

MAX_WAIT_SECONDS = 60.0
"""The longest wait one request may ask for."""
CHECK_SECONDS = 0.2
"""How often a waiting request looks at the alias: a move is answered within this."""


async def wait_for_move(db: Database, name: str, alias: str, known_version: int, wait_seconds: float,
                        stopping: threading.Event) -> dict[str, Any]:
    """The version `alias` points at, once it is not `known_version` or `wait_seconds` have passed."""
    deadline = time.monotonic() + wait_seconds
    while True:
        holder = await anyio.to_thread.run_sync(registry.alias_version, db, name, alias)
        remaining = deadline - time.monotonic()
        if holder != known_version or remaining <= 0 or stopping.is_set():
            return await anyio.to_thread.run_sync(registry.get_alias, db, name, alias)
        await anyio.sleep(min(CHECK_SECONDS, remaining))
