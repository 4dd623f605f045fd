"""Run search: the filter language, ordering and paging, answered a page at a time."""
from __future__ import annotations

from typing import Any, cast

from ..db import Database
from ..filters import ATTRIBUTES, NOT_NULL_ATTRIBUTES, OrderKey, filter_sql, parse_order_by
from .common import placeholders, rows
from .rows import RunRow
from .runs import RUN_COLUMNS, attach_details

SQLITE_SAFE_ORDER_TERMS = 64


def _order_sql(order: list[OrderKey], joins: list[str], args: list[object]) -> str:
    """ORDER BY terms: at most 3 per key plus 1 (SQLite 3.40 crashes on a join ordered by 64 or more
    terms, so `MAX_ORDER_KEYS` keeps the count far below that; see `filters.MAX_ORDER_KEYS`)."""
    parts: list[str] = []
    for index, key in enumerate(order):
        direction = "DESC" if key.descending else "ASC"
        if key.entity == "attributes":
            column = ATTRIBUTES[key.key]
            if key.key in NOT_NULL_ATTRIBUTES:  # no NULL test: the (experiment, start_time) index orders
                parts.append(f"{column} {direction}")
                continue
        else:
            table = {"metrics": "series", "params": "params", "tags": "tags"}[key.entity]
            alias = f"o{index}"
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.run_id = r.id AND {alias}.key = ?")
            args.append(key.key)
            column = f"{alias}.value"
            if key.entity in ("params", "tags"):  # numbers sort as numbers, before text; missing last
                parts.append(f"(CASE WHEN {column} IS NULL THEN 2 WHEN {column} GLOB '*[^0-9.eE+-]*' "
                             f"OR {column} = '' THEN 1 ELSE 0 END) ASC")
                parts.append(f"CAST({column} AS REAL) {direction}")
                parts.append(f"{column} {direction}")
                continue
        parts.append(f"({column} IS NULL) ASC")  # missing values last, whatever the direction
        parts.append(f"{column} {direction}")
    # Ties fall back to the index's own order (start time, then rowid): stable for paging, and it lets
    # the default order walk the (experiment, state, start_time) index with no sort.
    if not any(key.entity == "attributes" and key.key == "start_time" for key in order):
        parts.append("r.start_time DESC")
    assert len(parts) < SQLITE_SAFE_ORDER_TERMS
    return ", ".join(parts)


def _where(experiment_ids: list[str] | None, filter_text: str | None,
           include_deleted: bool) -> tuple[str, list[object]]:
    """The filter plus the experiment and deleted-run scope, as one condition on runs `r`."""
    where, args = filter_sql(filter_text)
    conditions = [where]
    if experiment_ids is not None:
        conditions.append(f"r.experiment_id IN ({placeholders(len(experiment_ids))})")
        args += [int(e) for e in experiment_ids]
    if not include_deleted:
        conditions.append("r.lifecycle_stage = 'active'")
    return " AND ".join(conditions), args


def search(
    db: Database,
    experiment_ids: list[str] | None,
    filter_text: str | None,
    order_by: list[str] | None,
    limit: int,
    offset: int = 0,
    include_deleted: bool = False,
) -> tuple[list[RunRow], bool]:
    """A page of `limit` runs from `offset` in order, and whether more follow."""
    where, where_args = _where(experiment_ids, filter_text, include_deleted)
    joins: list[str] = []
    join_args: list[object] = []
    order = _order_sql(parse_order_by(order_by), joins, join_args)
    sql = f"SELECT {RUN_COLUMNS} FROM runs r {' '.join(joins)} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    args = join_args + where_args + [limit + 1, offset]
    with db.read() as conn:
        found = rows(conn.execute(sql, args))
        more = len(found) > limit
        found = found[:limit]
        attach_details(conn, found)
    return cast(list[RunRow], found), more


def count(db: Database, experiment_ids: list[str] | None, filter_text: str | None) -> int:
    where, args = _where(experiment_ids, filter_text, include_deleted=False)
    with db.read() as conn:
        return int(conn.execute(f"SELECT count(*) FROM runs r WHERE {where}", args).fetchone()[0])


def keys_in_use(db: Database, experiment_id: str, sample: int = 1000) -> dict[str, Any]:
    """Param, metric and tag keys seen in the experiment's latest `sample` runs (for column pickers),
    with `counts`: how many of those runs have each key, and `runs`: how many runs were looked at."""
    with db.read() as conn:
        recent = "SELECT id FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active' " \
                 "ORDER BY start_time DESC LIMIT ?"
        result: dict[str, Any] = {"counts": {}}
        for name, table in (("params", "params"), ("metrics", "series"), ("tags", "tags")):
            counts = {k: n for k, n in conn.execute(
                f"SELECT key, count(*) FROM {table} WHERE run_id IN ({recent}) GROUP BY key ORDER BY key",
                (int(experiment_id), sample))}
            result[name] = list(counts)
            result["counts"][name] = counts
        result["runs"] = int(conn.execute(f"SELECT count(*) FROM ({recent})", (int(experiment_id), sample))
                             .fetchone()[0])
    return result
