"""MLflow's experiment search (`SearchExperimentsUtils`), on the registry's in-memory search language
(`registry_search`): a team has tens to hundreds of experiments, so the filter runs over the listed rows.

What MLflow accepts: `name` and `experiment_id` with =, !=, LIKE, ILIKE (`experiment_id` also IN and
NOT IN); `creation_time` and `last_update_time` with numeric comparisons; `tags.<key>` with =, !=,
LIKE, ILIKE, IS NULL, IS NOT NULL; any of the four attributes in order_by. LIKE is case-sensitive and
ILIKE is not; `tags.k != 'v'` matches only experiments that have the tag. The default order is
`creation_time DESC, experiment_id ASC`, and every order ends on the experiment id so pages never shuffle.
"""
from __future__ import annotations

from typing import Any

from ..store.rows import ExperimentRow
from . import registry_search
from .registry_search import Grammar

EXPERIMENTS = Grammar(
    strings=frozenset({"name", "experiment_id"}), lists=frozenset({"experiment_id"}),
    numbers=frozenset({"creation_time", "last_update_time"}),
    order_keys={"name": "name", "experiment_id": "number", "creation_time": "creation_time",
                "last_update_time": "last_update_time"},
    tiebreak=(("number", False),), tag_nulls=True)
DEFAULT_ORDER = ["creation_time DESC", "experiment_id ASC"]
MAX_RESULTS = 50000


def _item(row: ExperimentRow) -> dict[str, Any]:
    """The fields the search language names (this store keeps no update time: it is the creation time)."""
    return {"row": row, "name": row["name"], "experiment_id": row["id"], "number": int(row["id"]),
            "creation_time": row["created_at"], "last_update_time": row["created_at"], "tags": row["tags"]}


def search(rows: list[ExperimentRow], filter_text: str | None, order_by: list[str] | None, max_results: int,
           page_token: str | None) -> tuple[list[ExperimentRow], str | None]:
    """A page of the experiments matching the filter, in MLflow's order, and the next page's token."""
    conditions = registry_search.parse_filter(filter_text, EXPERIMENTS)
    keys = registry_search.parse_order_by(order_by or DEFAULT_ORDER, EXPERIMENTS)
    found = registry_search.ordered([i for i in map(_item, rows) if registry_search.matches(i, conditions)], keys)
    chunk, token = registry_search.page(found, max_results, MAX_RESULTS, page_token)
    return [item["row"] for item in chunk], token
