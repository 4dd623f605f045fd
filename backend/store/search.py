"""Run search: the filter language, ordering and paging, answered a page at a time."""
from __future__ import annotations

from typing import Any, cast

from ..db import Database
from ..filters import ATTRIBUTES, KEYED_TABLES, OrderKey, filter_sql, parse_order_by
from .common import placeholders, rows
from .rows import RunRow
from .runs import RUN_COLUMNS, attach_details

SQLITE_SAFE_ORDER_TERMS = 64


def _order_sql(order: list[OrderKey], joins: list[str], args: list[object]) -> str:
    """ORDER BY terms, as MLflow's SQL store orders: each key with its missing values last whatever the
    direction (for metrics: NaN, stored NULL, just before missing), text as text, then `start_time DESC`
    unless it was a key, then the run id, so that runs tied on every key keep one order across pages.
    At most 2 terms per key plus 2: SQLite 3.40 crashes on a join ordered by 64 or more terms, so
    `filters.MAX_ORDER_KEYS` keeps the count far below that."""
    parts: list[str] = []
    for index, key in enumerate(order):
        direction = "DESC" if key.descending else "ASC"
        if key.entity == "attributes":
            attribute = ATTRIBUTES[key.key]
            if attribute.nullable:
                parts.append(f"({attribute.sql} IS NULL) ASC")
            parts.append(f"{attribute.sql} {direction}")  # never NULL: the (experiment, start_time) index orders
            continue
        alias = f"o{index}"
        joins.append(f"LEFT JOIN {KEYED_TABLES[key.entity]} {alias} ON {alias}.run_id = r.id AND {alias}.key = ?")
        args.append(key.key)
        if key.entity == "metrics":
            parts.append(f"(CASE WHEN {alias}.run_id IS NULL THEN 2 WHEN {alias}.value IS NULL THEN 1 ELSE 0 END) ASC")
        else:
            parts.append(f"({alias}.value IS NULL) ASC")
        parts.append(f"{alias}.value {direction}")
    if not any(key.entity == "attributes" and key.key == "start_time" for key in order):
        parts.append("r.start_time DESC")
    parts.append("r.id ASC")
    assert len(parts) < SQLITE_SAFE_ORDER_TERMS
    return ", ".join(parts)


def _where(experiment_ids: list[str] | None, filter_text: str | None,
           include_deleted: bool, deleted_only: bool = False) -> tuple[str, list[object]]:
    """The filter plus the experiment and deleted-run scope, as one condition on runs `r`."""
    where, args = filter_sql(filter_text)
    conditions = [where]
    if experiment_ids is not None:
        conditions.append(f"r.experiment_id IN ({placeholders(len(experiment_ids))})")
        args += [int(e) for e in experiment_ids]
    if deleted_only:  # MLflow's run_view_type DELETED_ONLY
        conditions.append("r.lifecycle_stage = 'deleted'")
    elif not include_deleted:
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
    deleted_only: bool = False,
) -> tuple[list[RunRow], bool]:
    """A page of `limit` runs from `offset` in order, and whether more follow."""
    where, where_args = _where(experiment_ids, filter_text, include_deleted, deleted_only)
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
