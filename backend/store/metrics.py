"""Metric histories: the full series, or a shape-keeping downsample for charts.

Downsampling keeps the first and last point and, for each of `(max_points - 2) / 2` consecutive
chunks, the lowest and the highest point: peaks and dips survive. Long series are downsampled from
`rollups` (the lowest and highest point of each block of 64), so a 1,000,000-point series reads
~16,000 rows, never every point.
Answers are rendered to JSON once and kept in a bounded cache keyed by the series' point count
and latest point, so a chart refreshing a finished run costs no query.
"""
from __future__ import annotations

import math
import sqlite3
from typing import cast
from weakref import WeakKeyDictionary

import orjson
from cachetools import LRUCache

from ..db import Database
from ..errors import Invalid, NotFound
from .common import placeholders
from .rows import MetricStats
from .runs import ROLLUP_BLOCK

Point = tuple[int, float, int]  # (step, value, timestamp)


MAX_CACHE_BYTES = 64 * 1024 * 1024
"""Rendered answers kept per database, least recently used dropped first; one answer larger than a
quarter of this is not kept."""

_caches: WeakKeyDictionary[Database, LRUCache[tuple[object, ...], bytes]] = WeakKeyDictionary()


def _cache(db: Database) -> LRUCache[tuple[object, ...], bytes]:
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = LRUCache(maxsize=MAX_CACHE_BYTES, getsizeof=len)
    return cache


def keys(db: Database, run_id: str) -> list[str]:
    with db.read() as conn:
        return [k for (k,) in conn.execute("SELECT key FROM series WHERE run_id = ? ORDER BY key", (run_id,))]


def _series(conn: sqlite3.Connection, run_id: str, key: str) -> tuple[int, int, int, int] | None:
    """The series' (id, count, latest step, latest timestamp), None when the run has no such metric;
    NotFound when the run does not exist."""
    found = conn.execute(
        "SELECT id, count, step, timestamp FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if found is None and conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise NotFound(f"run {run_id!r} not found", "run_id")
    return cast(tuple[int, int, int, int] | None, found)


def history_json(db: Database, run_id: str, key: str, max_points: int | None = None,
                 columns: bool = False) -> bytes:
    """`{"key": ..., "points": [{"step", "value", "timestamp"}, ...]}` as JSON bytes, ordered by step;
    with `columns`, `{"key", "steps": [...], "values": [...], "timestamps": [...]}` (half the bytes)."""
    if max_points is not None and max_points < 4:
        raise Invalid("max_points must be at least 4", "max_points")
    cache = _cache(db)
    with db.read() as conn:
        found = _series(conn, run_id, key)
        if found is None:
            raise NotFound(f"metric {key!r} not found on run {run_id!r}", "key")
        series_id, count, step, timestamp = found
        full = max_points is None or count <= max_points
        cache_key = (series_id, count, step, timestamp, None if full else max_points, columns)
        rendered = cache.get(cache_key)
        if rendered is None:
            head = b'{"key":' + orjson.dumps(key)
            if full:
                kept = conn.execute("SELECT step, value, timestamp FROM points WHERE series_id = ? "
                                    "ORDER BY step, timestamp", (series_id,)).fetchall()
            else:
                assert max_points is not None
                kept = _downsample(conn, series_id, count, max_points)
            # Python renders the values: SQLite 3.40's JSON keeps 15 significant digits (most doubles
            # would read back rounded); orjson writes the shortest text that reads back exactly.
            rendered = head + b"," + _render(kept, columns)[1:]
            if len(rendered) <= MAX_CACHE_BYTES // 4:
                cache[cache_key] = rendered
    return rendered


def _render(points: list[Point], columns: bool) -> bytes:
    """`{"points": [{"step", "value", "timestamp"}, ...]}` or, with `columns`, `{"steps", "values",
    "timestamps"}`, as JSON bytes."""
    if columns:
        return orjson.dumps({"steps": [p[0] for p in points], "values": [p[1] for p in points],
                             "timestamps": [p[2] for p in points]})
    return orjson.dumps({"points": [{"step": s, "value": v, "timestamp": t} for s, v, t in points]})


def history(db: Database, run_id: str, key: str, max_points: int | None = None) -> list[Point]:
    """The same points as `history_json`, as (step, value, timestamp) tuples."""
    body = orjson.loads(history_json(db, run_id, key, max_points))
    return [(p["step"], p["value"], p["timestamp"]) for p in body["points"]]


def _downsample(conn: sqlite3.Connection, series_id: int, count: int, max_points: int) -> list[Point]:
    chunks = max(1, (max_points - 2) // 2)
    first = conn.execute("SELECT step, value, timestamp FROM points WHERE series_id = ? "
                         "ORDER BY step, timestamp LIMIT 1", (series_id,)).fetchone()
    last = conn.execute("SELECT step, value, timestamp FROM points WHERE series_id = ? "
                        "ORDER BY step DESC, timestamp DESC LIMIT 1", (series_id,)).fetchone()
    if count // ROLLUP_BLOCK >= chunks:
        candidates: list[Point] = []
        for low_step, low, low_t, high_step, high, high_t in conn.execute(
            "SELECT min_step, min_value, min_timestamp, max_step, max_value, max_timestamp FROM rollups "
            "WHERE series_id = ?", (series_id,)
        ):
            candidates += [(low_step, low, low_t), (high_step, high, high_t)]
        candidates.sort()
    else:
        candidates = conn.execute(
            "SELECT step, value, timestamp FROM points WHERE series_id = ? ORDER BY step, timestamp", (series_id,)
        ).fetchall()
    return min_max_chunks(candidates, chunks, first, last)


def min_max_chunks(points: list[Point], chunks: int, first: Point, last: Point) -> list[Point]:
    """The first and last point, and the lowest and highest point of each of `chunks` consecutive
    runs of `points` (ordered by step): at most 2 + 2 * chunks points, global extremes included."""
    size = max(1, math.ceil(len(points) / chunks))
    kept: set[Point] = {tuple(first), tuple(last)}  # type: ignore[arg-type]
    for start in range(0, len(points), size):
        chunk = points[start:start + size]
        kept.add(min(chunk, key=lambda p: p[1]))
        kept.add(max(chunk, key=lambda p: p[1]))
    return sorted(kept)


def mlflow_history_json(db: Database, run_id: str, key: str, limit: int | None, offset: int) -> tuple[bytes, bool]:
    """MLflow's `metrics/get-history` list as JSON bytes: `[{"key", "value", "timestamp", "step"}, ...]`
    ordered by step then timestamp, `limit` points from `offset` (all when None), and whether more
    follow; cached as `history_json` is. A run without the
    metric answers `[]` (as MLflow); a run that does not exist is NotFound."""
    cache = _cache(db)
    with db.read() as conn:
        found = _series(conn, run_id, key)
        if found is None:
            return b"[]", False
        series_id, count, step, timestamp = found
        more = limit is not None and offset + limit < count
        cache_key = (series_id, count, step, timestamp, "mlflow", limit, offset)
        rendered = cache.get(cache_key)
        if rendered is None:
            # Python renders the values: SQLite 3.40's JSON keeps 15 digits, MLflow's values keep all 17
            rendered = orjson.dumps([
                {"key": key, "value": value, "timestamp": stamp, "step": point_step}
                for point_step, value, stamp in conn.execute(
                    "SELECT step, value, timestamp FROM points WHERE series_id = ? "
                    "ORDER BY step, timestamp, value LIMIT ? OFFSET ?",
                    (series_id, -1 if limit is None else limit, offset))])
            if len(rendered) <= MAX_CACHE_BYTES // 4:
                cache[cache_key] = rendered
    return rendered, more


def metric_stats_of(db: Database, run_ids: list[str]) -> dict[str, dict[str, MetricStats]]:
    """Per run, per metric key, the latest point's value, step and timestamp with the min, max and
    count (what `runs.get` attaches as `metric_stats`), for a page of runs: a query per 500 runs."""
    found: dict[str, dict[str, MetricStats]] = {}
    with db.read() as conn:
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start:start + 500]
            for run_id, key, value, step, timestamp, low, high, count in conn.execute(
                "SELECT run_id, key, value, step, timestamp, min_value, max_value, count FROM series "
                f"WHERE run_id IN ({placeholders(len(chunk))})", chunk
            ):
                found.setdefault(run_id, {})[key] = MetricStats(value=value, step=step, timestamp=timestamp,
                                                                min=low, max=high, count=count)
    return found
