"""Tracking: experiments, runs, what is logged to them, search, metric histories and heartbeats.

The store keeps the SQL; this module checks what it is given (names, keys, values, batch limits) and
turns request bodies into the store's plain values.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from mlops_tui.contract import MAX_PAGE, MAX_PARAM_VALUE, MAX_TAG_VALUE, LogBatch

from ..clock import now_ms
from ..db import Database
from ..errors import Invalid, TooLarge
from ..settings import Settings
from ..store import experiments, metrics, runs, search
from ..store.rows import ExperimentRow, RunRow
from ..validation import check_key, check_name, check_text

MAX_RESULTS = MAX_PAGE
"""Runs per search page at most."""

# --- experiments -------------------------------------------------------------------------------


def list_experiments(db: Database, include_deleted: bool = False) -> list[ExperimentRow]:
    return experiments.list_all(db, include_deleted)


def create_experiment(db: Database, name: str, tags: dict[str, str]) -> ExperimentRow:
    for key in tags:
        check_key(key, f"tags.{key}")
    return experiments.create(db, check_name(name, "name"), tags)


def get_experiment(db: Database, ref: str) -> ExperimentRow:
    """An experiment by id or by name."""
    return experiments.get(db, ref)


def rename_experiment(db: Database, ref: str, name: str) -> ExperimentRow:
    return experiments.rename(db, ref, check_name(name, "name"))


def delete_experiment(db: Database, ref: str) -> ExperimentRow:
    """Soft delete: the experiment and its runs are hidden, and can be restored."""
    return experiments.delete(db, ref)


def restore_experiment(db: Database, ref: str) -> ExperimentRow:
    return experiments.restore(db, ref)


def experiment_keys(db: Database, ref: str) -> dict[str, Any]:
    """Param, metric and tag keys used by the experiment's latest 1,000 runs, with how many runs have each."""
    return search.keys_in_use(db, experiments.get(db, ref)["id"])


# --- runs --------------------------------------------------------------------------------------


def create_run(db: Database, experiment_id: str | None, experiment: str | None, name: str | None,
               tags: dict[str, str], start_time: int | None, parent_id: str | None,
               user_id: str | None = None) -> RunRow:
    """A run in the experiment given by id, or by name (created when missing), or in Default."""
    if experiment_id is not None:
        experiment_id = experiments.resolve_id(db, experiment_id)
    elif experiment is not None:
        experiment_id = experiments.get_or_create(db, check_name(experiment, "experiment"))["id"]
    else:
        experiment_id = "0"
    name = check_name(name, "name") if name is not None else None
    return runs.create(db, experiment_id, name, _checked_tags(tags), start_time, parent_id, user_id=user_id)


def _experiment_ids(db: Database, experiment: str | list[str] | None) -> list[str] | None:
    refs = [experiment] if isinstance(experiment, str) else experiment
    return [experiments.resolve_id(db, ref) for ref in refs] if refs else None


def search_runs(db: Database, experiment: str | list[str] | None, filter_text: str | None,
                order_by: str | list[str] | None, limit: int, page_token: str | None,
                include_deleted: bool, deleted_only: bool = False) -> dict[str, Any]:
    """`{"runs": [...], "next_page_token": ...}`: a page of runs matching the filter, in order."""
    experiment_ids = _experiment_ids(db, experiment)
    if not 1 <= limit <= MAX_RESULTS:
        raise Invalid(f"limit must be between 1 and {MAX_RESULTS}", "limit")
    offset = decode_token(page_token)
    order = [order_by] if isinstance(order_by, str) else order_by
    found, more = search.search(db, experiment_ids, filter_text, order, limit, offset, include_deleted, deleted_only)
    return {"runs": found, "next_page_token": encode_token(offset + limit) if more else None}


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a page token (one this server issued) stands for; Invalid naming `page_token` otherwise."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise Invalid("page_token is not a token this server issued", "page_token") from None
    if not isinstance(offset, int) or not 0 <= offset <= 10**9:
        raise Invalid("page_token is not a token this server issued", "page_token")
    return offset


def count_runs(db: Database, experiment: str | list[str] | None, filter_text: str | None) -> int:
    return search.count(db, _experiment_ids(db, experiment), filter_text)


def get_run(db: Database, run_id: str) -> RunRow:
    """The run with its params, tags, latest metrics and per-metric min/max/count."""
    return runs.get(db, run_id)


def update_run(db: Database, run_id: str, status: str | None, end_time: int | None, name: str | None) -> RunRow:
    return runs.update(db, run_id, status, end_time, check_name(name, "name") if name is not None else None)


def delete_run(db: Database, run_id: str) -> None:
    runs.delete(db, run_id)


def restore_run(db: Database, run_id: str) -> None:
    runs.restore(db, run_id)


def run_children(db: Database, run_id: str) -> list[RunRow]:
    runs.get(db, run_id)
    return runs.list_children(db, run_id)


def delete_tag(db: Database, run_id: str, key: str) -> None:
    runs.delete_tag(db, run_id, key)


def heartbeat(db: Database, run_id: str) -> dict[str, Any]:
    """The run's process is alive: `{"run_id", "status", "heartbeat_at"}`."""
    return runs.heartbeat(db, run_id)


# --- logging -----------------------------------------------------------------------------------


def log_batch(db: Database, settings: Settings, run_id: str, body: LogBatch,
              batch: tuple[str, str] | None = None) -> dict[str, int]:
    """Params, metric points and tags stored together or not at all: `{"params", "metrics", "tags"}` counts.

    `batch` (the client's idempotency key and the body's digest): a batch already stored under that key is
    answered with the same counts and stores nothing more."""
    points = body.point_count()
    if points > settings.max_batch_metrics:
        raise TooLarge(f"at most {settings.max_batch_metrics} metric points per batch", "metrics")
    if len(body.params) > settings.max_batch_params:
        raise TooLarge(f"at most {settings.max_batch_params} params per batch", "params")
    if len(body.tags) > settings.max_batch_tags:
        raise TooLarge(f"at most {settings.max_batch_tags} tags per batch", "tags")
    params = {
        check_key(k, f"params.{k}"): check_text(_param_text(v, f"params.{k}"), MAX_PARAM_VALUE, f"params.{k}")
        for k, v in body.params.items()
    }
    runs.log_batch(db, run_id, params, _series_columns(body), _checked_tags(body.tags), batch)
    return {"params": len(params), "metrics": points, "tags": len(body.tags)}


def _series_columns(body: LogBatch) -> dict[str, runs.Columns]:
    """Both point forms as columns per key: (steps, values, timestamps)."""
    now = now_ms()
    columns: dict[str, runs.Columns] = {}
    for index, point in enumerate(body.metrics):
        if point.key not in columns:
            check_key(point.key, f"metrics[{index}].key")
        steps, values, stamps = columns.setdefault(point.key, ([], [], []))
        steps.append(point.step)
        values.append(point.value)
        stamps.append(point.timestamp)
    for index, batch in enumerate(body.series):
        check_key(batch.key, f"series[{index}].key")
        steps, values, stamps = columns.setdefault(batch.key, ([], [], []))
        steps += batch.steps
        values += batch.values
        stamps += batch.timestamps if batch.timestamps is not None else [now] * len(batch.values)
    return columns


def _param_text(value: object, field: str) -> str:
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    raise Invalid(f"{field} must be text, a number or a boolean", field)


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    return {check_key(k, f"tags.{k}"): check_text(v, MAX_TAG_VALUE, f"tags.{k}") for k, v in tags.items()}


# --- metric histories --------------------------------------------------------------------------


def metric_keys(db: Database, run_id: str) -> list[str]:
    runs.get(db, run_id, with_metric_stats=False)
    return metrics.keys(db, run_id)


def metric_history_json(db: Database, run_id: str, key: str, max_points: int | None, columns: bool) -> bytes:
    """The series as JSON bytes, downsampled to at most `max_points` (see `backend.store.metrics`)."""
    return metrics.history_json(db, run_id, key, max_points, columns)
