"""Shadow deployments and their compared rows, and what the rollback watch reads and marks: SQL only."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..db import Database
from ..errors import Conflict
from .common import one, rows

SHADOW_COLUMNS = ("id", "name", "alias", "shadow_alias", "version", "champion_version", "started_at", "stopped_at",
                  "retrain_id")
ROW_COLUMNS = ("shadow_id", "request_id", "time", "champion_version", "first", "agree", "champion_output",
               "champion_proba", "champion_ms", "champion_error", "shadow_output", "shadow_proba", "shadow_ms",
               "shadow_error")
_SELECT = f"SELECT {', '.join(SHADOW_COLUMNS)} FROM shadows"
_ROWS = "FROM shadow_rows WHERE shadow_id = ? AND champion_version = ? AND time >= ?"


# --- shadows ----------------------------------------------------------------------------------------


def start(db: Database, name: str, alias: str, shadow_alias: str, version: int, champion_version: int | None,
          now: int, retrain_id: str | None) -> dict[str, Any]:
    """Stop the alias's active shadow (if any) and start this one, in one transaction."""
    with db.write() as conn:
        conn.execute("UPDATE shadows SET stopped_at = ? WHERE name = ? AND alias = ? AND stopped_at IS NULL",
                     (now, name, alias))
        try:
            cursor = conn.execute(
                "INSERT INTO shadows (name, alias, shadow_alias, version, champion_version, started_at, retrain_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (name, alias, shadow_alias, version, champion_version, now, retrain_id))
        except sqlite3.IntegrityError:  # another writer started one between our update and insert
            raise Conflict(f"{name}@{alias} already has a shadow starting", "alias") from None
        found = one(conn.execute(f"{_SELECT} WHERE id = ?", (cursor.lastrowid,)))
    assert found is not None
    return found


def stop(db: Database, name: str, alias: str, now: int) -> bool:
    """Stop the alias's active shadow; False when none ran."""
    with db.write() as conn:
        return conn.execute("UPDATE shadows SET stopped_at = ? WHERE name = ? AND alias = ? AND stopped_at IS NULL",
                            (now, name, alias)).rowcount > 0


def active(db: Database) -> list[dict[str, Any]]:
    """Every running shadow (what the serving table holds)."""
    with db.read() as conn:
        return rows(conn.execute(f"{_SELECT} WHERE stopped_at IS NULL"))


def active_of(db: Database, name: str, alias: str) -> dict[str, Any] | None:
    with db.read() as conn:
        return one(conn.execute(f"{_SELECT} WHERE name = ? AND alias = ? AND stopped_at IS NULL", (name, alias)))


def latest_of_version(db: Database, name: str, alias: str, version: int) -> dict[str, Any] | None:
    """The alias's newest shadow by `version` (running or stopped)."""
    with db.read() as conn:
        return one(conn.execute(f"{_SELECT} WHERE name = ? AND alias = ? AND version = ? ORDER BY id DESC LIMIT 1",
                                (name, alias, version)))


# --- compared rows ---------------------------------------------------------------------------------


def insert_rows(db: Database, found: Iterable[tuple[Any, ...]]) -> None:
    """Rows in `ROW_COLUMNS` order, in one transaction."""
    with db.write() as conn:
        conn.executemany(f"INSERT INTO shadow_rows ({', '.join(ROW_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})", found)


def counts(db: Database, shadow_id: int, champion_version: int, since: int) -> dict[str, int]:
    """Requests and rows compared from `since` on: `requests` and their rows (`offered`), each side's failed
    requests and predicted rows, `both` (rows both predicted) and `agreed` (of those)."""
    with db.read() as conn:
        found = one(conn.execute(
            "SELECT coalesce(sum(first), 0) AS requests, count(*) AS offered, "
            "coalesce(sum(first * (champion_error IS NOT NULL)), 0) AS champion_errors, "
            "coalesce(sum(first * (shadow_error IS NOT NULL)), 0) AS shadow_errors, "
            "coalesce(sum(champion_error IS NULL), 0) AS champion_rows, "
            "coalesce(sum(shadow_error IS NULL), 0) AS shadow_rows, "
            "coalesce(sum(agree IS NOT NULL), 0) AS both, coalesce(sum(agree), 0) AS agreed "
            f"{_ROWS}", (shadow_id, champion_version, since)))
    assert found is not None
    return {key: int(value) for key, value in found.items()}


def latencies(db: Database, shadow_id: int, champion_version: int, since: int,
              limit: int) -> list[tuple[float | None, float | None]]:
    """`(champion_ms, shadow_ms)` of the newest `limit` requests from `since` on."""
    with db.read() as conn:
        return conn.execute(f"SELECT champion_ms, shadow_ms {_ROWS} AND first = 1 ORDER BY time DESC LIMIT ?",
                            (shadow_id, champion_version, since, limit)).fetchall()


def probabilities(db: Database, shadow_id: int, champion_version: int, since: int,
                  limit: int) -> list[tuple[str, str]]:
    """`(champion_proba, shadow_proba)` JSON of the newest `limit` rows both predicted with probabilities."""
    with db.read() as conn:
        return conn.execute(f"SELECT champion_proba, shadow_proba {_ROWS} AND champion_proba IS NOT NULL "
                            "AND shadow_proba IS NOT NULL ORDER BY time DESC LIMIT ?",
                            (shadow_id, champion_version, since, limit)).fetchall()


def labeled(db: Database, shadow_id: int, champion_version: int, since: int) -> list[tuple[str, ...]]:
    """`(champion_output, champion_proba, shadow_output, shadow_proba, label)` JSON of the rows both
    predicted whose request id has a feedback label."""
    with db.read() as conn:
        return conn.execute(
            "SELECT s.champion_output, s.champion_proba, s.shadow_output, s.shadow_proba, f.label_json "
            "FROM shadow_rows s JOIN feedback f ON f.request_id = s.request_id "
            "WHERE s.shadow_id = ? AND s.champion_version = ? AND s.time >= ? AND s.agree IS NOT NULL",
            (shadow_id, champion_version, since)).fetchall()


def delete_rows_before(db: Database, time: int) -> int:
    """Retention: compared rows older than `time`."""
    with db.write() as conn:
        return int(conn.execute("DELETE FROM shadow_rows WHERE time < ?", (time,)).rowcount)


# --- the rollback watch ------------------------------------------------------------------------------


def last_alias_event(db: Database, name: str, alias: str) -> dict[str, Any] | None:
    """The newest event about `alias` that moved it (promote or rollback)."""
    with db.read() as conn:
        return one(conn.execute(
            "SELECT seq, time, actor, action, from_version, to_version FROM model_events WHERE name = ? "
            "AND alias = ? AND action IN ('promote', 'rollback') ORDER BY seq DESC LIMIT 1", (name, alias)))


def served_probabilities(db: Database, name: str, alias: str, version: int, since: int, until: int,
                         limit: int) -> list[str]:
    """Probabilities (JSON) of the newest `limit` of `version`'s sampled rows through `alias` in [since, until)."""
    with db.read() as conn:
        return [row[0] for row in conn.execute(
            "SELECT proba_json FROM predictions WHERE name = ? AND alias = ? AND version = ? AND time >= ? "
            "AND time < ? AND proba_json IS NOT NULL ORDER BY time DESC LIMIT ?",
            (name, alias, version, since, until, limit))]


def mark_rolled_back(db: Database, retrain_id: str, reason: str, now: int) -> bool:
    """The retrain whose version was rolled back says so (False when there is no such retrain)."""
    with db.write() as conn:
        return conn.execute("UPDATE retrains SET status = 'rolled_back', reason = ?, updated_at = ? WHERE id = ?",
                            (reason, now, retrain_id)).rowcount > 0

