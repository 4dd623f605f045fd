"""Retention: prediction rows older than `days` or beyond the newest `rows` are deleted, and
rollups, drift summaries and feedback labels older than `days`; run by the recorder's thread
every `EVERY_SECONDS`, a chunk per transaction so requests never wait long for the database."""
from __future__ import annotations

from dataclasses import dataclass

from ..db import Database
from ..store import monitoring as store

EVERY_SECONDS = 60.0
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Retention:
    days: float
    rows: int

    def prune(self, db: Database, now: int) -> int:
        """Delete what is past retention at `now`; how many rows went."""
        cutoff = now - int(self.days * DAY_MS)
        deleted = store.delete_predictions_before(db, cutoff)
        deleted += store.delete_predictions_beyond(db, self.rows)
        return deleted + store.delete_summaries_before(db, cutoff)
