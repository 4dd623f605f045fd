"""Metric histories: the full series, or a shape-keeping downsample for charts.

Downsampling splits the step range into buckets and keeps, per bucket, the first, the lowest,
the highest and the last point (min/max per bucket: peaks and dips survive). It runs in SQL, so a
1,000,000-point series never crosses into Python whole.
"""
from __future__ import annotations

from typing import Any

from ..db import Database
from ..errors import Invalid, NotFound


def keys(db: Database, run_id: str) -> list[str]:
    with db.read() as conn:
        return [k for (k,) in conn.execute("SELECT key FROM series WHERE run_id = ? ORDER BY key", (run_id,))]


def history(db: Database, run_id: str, key: str, max_points: int | None = None) -> list[tuple[int, float, int]]:
    """Points as (step, value, timestamp), ordered by step then timestamp."""
    if max_points is not None and max_points < 4:
        raise Invalid("max_points must be at least 4", "max_points")
    with db.read() as conn:
        found = conn.execute(
            "SELECT id, count FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if found is None:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise NotFound(f"run {run_id!r} not found", "run_id")
            raise NotFound(f"metric {key!r} not found on run {run_id!r}", "key")
        series_id, count = found
        if max_points is None or count <= max_points:
            return conn.execute(
                "SELECT step, value, timestamp FROM points WHERE series_id = ? ORDER BY step, timestamp",
                (series_id,),
            ).fetchall()
        return _downsample(conn, series_id, max_points)


def _downsample(conn: Any, series_id: int, max_points: int) -> list[tuple[int, float, int]]:
    low, high = conn.execute(
        "SELECT min(step), max(step) FROM points WHERE series_id = ?", (series_id,)
    ).fetchone()
    buckets = max(1, max_points // 4)
    width = (high - low + 1) / buckets
    # One pass: per bucket the first/last step and the lowest/highest value with their steps.
    # SQLite returns the row's other columns alongside a lone min() or max() (bare columns),
    # so each extreme is found with its own step in one grouped scan.
    picked: dict[tuple[int, int], tuple[int, float, int]] = {}
    statements = (
        "SELECT CAST((step - ?) / ? AS INTEGER) AS b, step, value, timestamp, min(value) "
        "FROM points WHERE series_id = ? GROUP BY b",
        "SELECT CAST((step - ?) / ? AS INTEGER) AS b, step, value, timestamp, max(value) "
        "FROM points WHERE series_id = ? GROUP BY b",
        "SELECT CAST((step - ?) / ? AS INTEGER) AS b, step, value, timestamp, min(step) "
        "FROM points WHERE series_id = ? GROUP BY b",
        "SELECT CAST((step - ?) / ? AS INTEGER) AS b, step, value, timestamp, max(step) "
        "FROM points WHERE series_id = ? GROUP BY b",
    )
    for statement in statements:
        for _, step, value, timestamp, _extreme in conn.execute(statement, (low, width, series_id)):
            picked[(step, timestamp)] = (step, value, timestamp)
    ordered = sorted(picked.values())
    return ordered[:max_points] if len(ordered) > max_points else ordered
