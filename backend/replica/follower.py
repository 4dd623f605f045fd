"""Following an alias: the replica serves the version its alias points at, and swaps to the next one
when the alias moves.

One thread asks the backend with a long poll (`GET .../aliases/{alias}?known_version=N&wait_seconds=S`:
answered as soon as the alias points elsewhere); a backend that answers at once (no long poll) or
cannot be reached is asked again every `poll_seconds`. A new version is downloaded, checked against
its registered hash and loaded beside the old one; then `current` is swapped in one assignment, so
the next request gets the new model while requests already holding the old one finish on it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mlops_tui.client import Client, MlopsError
from mlops_tui.contract.registry import ModelVersion

from ..serving.predictor import LoadedModel

log = logging.getLogger("mlops.replica")

Loader = Callable[[ModelVersion], LoadedModel]
"""Downloads, checks and loads a version (`download.model_bytes` + `predictor.load`)."""


class Follower:
    def __init__(self, client: Client, name: str, alias: str, load: Loader, wait_seconds: float = 20.0,
                 poll_seconds: float = 2.0) -> None:
        self.client = client
        self.name = name
        self.alias = alias
        self.load = load
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.current: LoadedModel | None = None
        """The model answering requests now (None until the first load)."""
        self.swaps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alias-follower", daemon=True)

    def start(self) -> None:
        """Load what the alias points at now unless loaded already (errors raise: a replica with no model
        does not start), then follow it in the background."""
        if self.current is None:
            self.current = self.load(self.client.get_alias(self.name, self.alias))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.check()
            except (MlopsError, RuntimeError, OSError, ValueError) as error:
                # the backend is down, the alias points nowhere, or the new file is refused: keep serving
                log.warning("following %s@%s: %s", self.name, self.alias, error)
                self._stop.wait(self.poll_seconds)
                continue
            if time.monotonic() - started < min(1.0, self.wait_seconds / 2):
                self._stop.wait(self.poll_seconds)  # answered at once: no long poll here, so poll

    def check(self) -> bool:
        """Ask (waiting up to `wait_seconds` for a move) and swap when the alias moved. True on a swap."""
        held = self.current
        known = None if held is None else held.version
        found = self.client.get_alias(self.name, self.alias, known_version=known,
                                      wait_seconds=self.wait_seconds if known is not None else None)
        if held is not None and found.version == held.version:
            return False
        loaded = self.load(found)
        self.current = loaded
        self.swaps += 1
        log.info("%s@%s now serves version %s", self.name, self.alias, loaded.version)
        return True
