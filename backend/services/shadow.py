"""Shadow deployments: a `staging` version also runs on the live requests of `production`, off the
request's critical path, and is compared with the champion on the same rows.

The retrain controller calls `start` when a retrain's policy asks for a shadow period, `judge` each
round while it waits, and `stop` when the shadow is promoted or rejected.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..db import Database


@dataclass(frozen=True)
class Verdict:
    state: str
    """`waiting` (period or rows not reached yet), `ok` (no regression), `regressed`."""
    reason: str = ""


def start(db: Database, name: str, version: int, alias: str = "production", shadow_alias: str = "staging",
          retrain_id: str | None = None) -> None:
    """Run `version` in shadow of `name@alias` from now on."""
    del db, name, version, alias, shadow_alias, retrain_id  # the shadow part fills this in


def stop(db: Database, name: str, alias: str = "production") -> None:
    """Stop shadowing `name@alias` (nothing when no shadow runs)."""
    del db, name, alias


def judge(db: Database, name: str, version: int, since: int, min_rows: int, max_regression: float,
          alias: str = "production") -> Verdict:
    """The shadow of `name@alias` by `version` since `since` (epoch ms): regressed against the champion
    by more than `max_regression` (accuracy or error rate) on the same rows, or not (after `min_rows`)."""
    del db, name, version, since, min_rows, max_regression, alias
    return Verdict("ok", "no shadow comparison is recorded yet")
