"""Retrains and each model's continuous-training state in SQL.

At most one retrain per model is `running` or `shadowing`: the partial unique index `retrains_one_active`
refuses a second, so a trigger by hand racing the timer's can never start two jobs (the loser coalesces).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from mlops_tui.contract.retrain import RETRAIN_ACTIVE, Retrain, RetrainState, RetrainStatus

from ..db import Database
from ..errors import NotFound
from .common import one, placeholders, rows

_ACTIVE = tuple(status.value for status in RETRAIN_ACTIVE)
_STATE_FIELDS = ("paused", "consecutive_rejections", "last_started_at", "last_dataset", "last_labels",
                 "schedule_checked_at")


# --- retrains ------------------------------------------------------------------------------------


def insert(conn: sqlite3.Connection, retrain: Retrain) -> bool:
    """Insert inside the caller's write transaction; False (nothing written) when it is active and the
    model already has an active retrain."""
    fields = _columns(retrain)
    try:
        conn.execute(f"INSERT INTO retrains ({', '.join(fields)}) VALUES ({placeholders(len(fields))})",
                     list(fields.values()))
    except sqlite3.IntegrityError:
        return False
    return True


def save(conn: sqlite3.Connection, retrain: Retrain) -> None:
    """Write every field of an existing retrain (inside the caller's write transaction)."""
    fields = _columns(retrain)
    fields.pop("id")
    conn.execute(f"UPDATE retrains SET {', '.join(f'{key} = ?' for key in fields)} WHERE id = ?",
                 [*fields.values(), retrain.id])


def _columns(retrain: Retrain) -> dict[str, Any]:
    fields = retrain.model_dump(mode="json")
    fields["name"] = fields.pop("model")
    fields["promoted_json"] = json.dumps(fields.pop("promoted_to"))
    report = fields.pop("report")
    fields["report_json"] = json.dumps(report) if report is not None else None
    fields["forced"] = int(fields["forced"])
    return fields


def get(db: Database, name: str, retrain_id: str) -> Retrain:
    with db.read() as conn:
        found = one(conn.execute("SELECT * FROM retrains WHERE id = ? AND name = ?", (retrain_id, name)))
    if found is None:
        raise NotFound(f"model {name!r} has no retrain {retrain_id!r}", "retrain_id")
    return _retrain(found)


def listed(db: Database, name: str, limit: int = 50) -> list[Retrain]:
    """The model's retrains, newest first."""
    with db.read() as conn:
        found = rows(conn.execute("SELECT * FROM retrains WHERE name = ? ORDER BY created_at DESC, rowid DESC "
                                  "LIMIT ?", (name, limit)))
    return [_retrain(row) for row in found]


def active(db: Database, name: str | None = None) -> list[Retrain]:
    """Retrains running or shadowing (of one model, or of all), oldest first."""
    where, args = ("AND name = ?", [name]) if name is not None else ("", [])
    with db.read() as conn:
        found = rows(conn.execute(f"SELECT * FROM retrains WHERE status IN ({placeholders(len(_ACTIVE))}) {where} "
                                  "ORDER BY created_at", [*_ACTIVE, *args]))
    return [_retrain(row) for row in found]


def latest_for(db: Database, name: str, trigger: str, detail: str) -> Retrain | None:
    """The newest retrain of this trigger with this detail (the same alert, cron slot or data version)."""
    with db.read() as conn:
        found = one(conn.execute("SELECT * FROM retrains WHERE name = ? AND trigger = ? AND detail = ? "
                                 "ORDER BY created_at DESC, rowid DESC LIMIT 1", (name, trigger, detail)))
    return _retrain(found) if found else None


def consumed(db: Database, name: str, trigger: str, detail: str, coalesced: bool = True) -> bool:
    """Whether this trigger already fired a retrain that was not held back by a guard: it started one, or
    (unless `coalesced` is False) was folded into one. Then it never fires again."""
    held = [RetrainStatus.SKIPPED.value] + ([] if coalesced else [RetrainStatus.COALESCED.value])
    with db.read() as conn:
        found = conn.execute(f"SELECT 1 FROM retrains WHERE name = ? AND trigger = ? AND detail = ? "
                             f"AND status NOT IN ({placeholders(len(held))}) LIMIT 1",
                             (name, trigger, detail, *held)).fetchone()
    return found is not None


def _retrain(row: dict[str, Any]) -> Retrain:
    row = dict(row)
    row["model"] = row.pop("name")
    row["promoted_to"] = json.loads(row.pop("promoted_json") or "[]")
    row["report"] = json.loads(row.pop("report_json") or "null")
    row["forced"] = bool(row.get("forced"))
    return Retrain.model_validate(row)


# --- state ---------------------------------------------------------------------------------------


def state(db: Database, name: str) -> RetrainState:
    with db.read() as conn:
        found = one(conn.execute("SELECT * FROM retrain_state WHERE name = ?", (name,)))
    if found is None:
        return RetrainState()
    found["paused"] = bool(found["paused"])
    return RetrainState.model_validate(found)


def set_state(conn: sqlite3.Connection, name: str, **fields: Any) -> None:
    """Upsert some of the model's state fields inside the caller's write transaction."""
    unknown = set(fields) - set(_STATE_FIELDS)
    if unknown:
        raise ValueError(f"not retrain state fields: {sorted(unknown)}")
    conn.execute("INSERT OR IGNORE INTO retrain_state (name) VALUES (?)", (name,))
    if fields:
        conn.execute(f"UPDATE retrain_state SET {', '.join(f'{key} = ?' for key in fields)} WHERE name = ?",
                     [*fields.values(), name])


# --- what the guards read ------------------------------------------------------------------------


def labels_since(db: Database, name: str, since: int) -> int:
    """Feedback labels received for the model after `since` (epoch ms)."""
    with db.read() as conn:
        return int(conn.execute("SELECT count(*) FROM feedback WHERE name = ? AND time > ?",
                                (name, since)).fetchone()[0])

