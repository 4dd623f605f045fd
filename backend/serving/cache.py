"""Loaded models kept in memory: a least-recently-used cache bounded by count and by the models' total file
size. Concurrent first requests for the same version load it once (the others wait for that load)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from .predictor import LoadedModel

Key = tuple[str, int]
"""(model name, version)."""


class ModelCache:
    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count = max(1, max_count)
        self.max_bytes = max_bytes
        self.loads = 0
        """Models loaded since the cache was made (each load a miss that read and checked a file)."""
        self._models: OrderedDict[Key, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}

    def get(self, key: Key, load: Callable[[], LoadedModel]) -> LoadedModel:
        """The cached model for `key`, or `load()`'s (cached; least recently used models leave until the
        count and size limits hold). A failed load caches nothing and raises."""
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                found = self._hit(key)
                if found is not None:
                    return found
            try:
                model = load()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self.loads += 1
                self._models[key] = model
                self._evict()
            return model

    def keys(self) -> list[Key]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._models)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(model.size_bytes for model in self._models.values())

    def _hit(self, key: Key) -> LoadedModel | None:
        found = self._models.get(key)
        if found is not None:
            self._models.move_to_end(key)
        return found

    def _evict(self) -> None:
        """Drop the least recently used until both limits hold (the newest stays, even alone over the size)."""
        total = sum(model.size_bytes for model in self._models.values())
        while len(self._models) > 1 and (len(self._models) > self.max_count or total > self.max_bytes):
            _, oldest = self._models.popitem(last=False)
            total -= oldest.size_bytes
