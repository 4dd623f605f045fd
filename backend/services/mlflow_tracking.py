"""What MLflow's tracking API needs beyond the native tracking service: MLflow's batch limits and
value rules, its run and experiment searches (pages up to 50,000), datasets logged as run inputs, and
metric histories in MLflow's shape. Everything is stored through the same store as native logging,
so a run logged either way is the same run."""
from __future__ import annotations

import json
import math
from typing import Any, Literal

from mlops_tui.contract import MAX_NAME, MAX_PARAM_VALUE, MAX_TAG_VALUE

from ..db import Database
from ..errors import Invalid, NotFound
from ..store import experiments, inputs, metrics, runs
from ..store.inputs import InputRow
from ..store.rows import ExperimentRow, RunRow
from ..validation import check_key, check_text
from . import experiment_search, tracking

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
"""MLflow's own limits on one log-batch request (`mlflow.utils.validation`)."""
DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS_THRESHOLD = 50000
"""MLflow's default and largest page of a run or experiment search."""
MAX_DATASET_FIELDS = {"name": 500, "digest": 36, "source_type": 36, "source": 65535, "schema": 1048575,
                      "profile": 16384}
"""MLflow's limits on a logged dataset's fields (`mlflow.utils.validation`)."""
PARENT_TAG = "mlflow.parentRunId"
LOGGED_MODELS_TAG = "mlflow.log-model.history"

View = Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
Point = tuple[str, float, int, int]
"""A metric point as MLflow logs it: (key, value, timestamp, step)."""

# --- experiments -------------------------------------------------------------------------------


def search_experiments(db: Database, view: View, filter_text: str | None, order_by: list[str] | None,
                       max_results: int, page_token: str | None) -> tuple[list[ExperimentRow], str | None]:
    """A page of the experiments matching MLflow's experiment filter, in its order, and the next token."""
    rows = tracking.list_experiments(db, include_deleted=view != "ACTIVE_ONLY")
    if view == "DELETED_ONLY":
        rows = [row for row in rows if row["lifecycle_stage"] == "deleted"]
    return experiment_search.search(rows, filter_text, order_by, max_results, page_token)


def set_experiment_tag(db: Database, experiment_id: str, key: str, value: str) -> None:
    experiments.set_tag(db, experiment_id, check_key(key, "key"), check_text(value, MAX_TAG_VALUE, "value"))


def delete_experiment_tag(db: Database, experiment_id: str, key: str) -> None:
    experiments.delete_tag(db, experiment_id, key)


# --- runs --------------------------------------------------------------------------------------


def create_run(db: Database, experiment_id: str | None, user_id: str | None, run_name: str | None,
               start_time: int | None, tags: dict[str, str]) -> RunRow:
    """A run as MLflow creates it: the `mlflow.parentRunId` tag names its parent (the native
    `parent_id`); the store names it after the `mlflow.runName` tag when `run_name` is not given."""
    user = check_text(user_id, MAX_NAME, "user_id") if user_id else None
    return tracking.create_run(db, experiment_id or "0", None, run_name or None, tags, start_time,
                               tags.get(PARENT_TAG), user_id=user)


def search_runs(db: Database, experiment_ids: list[str], filter_text: str | None, view: View,
                max_results: int, order_by: list[str] | None, page_token: str | None
                ) -> tuple[list[RunRow], str | None]:
    """A page of up to 50,000 runs (MLflow's limit), read from the native search a page of at most
    `tracking.MAX_RESULTS` at a time, and the token of the next page (the native tokens' format)."""
    _check_max_results(max_results)
    experiment_ids = [e for e in experiment_ids if _experiment_exists(db, e)]  # MLflow: no runs, no error
    if not experiment_ids:
        return [], None
    start = offset = tracking.decode_token(page_token)
    found: list[RunRow] = []
    more = True
    while more and len(found) < max_results:
        limit = min(tracking.MAX_RESULTS, max_results - len(found))
        try:
            page = tracking.search_runs(db, experiment_ids, filter_text, order_by, limit,
                                        tracking.encode_token(offset) if offset else None, view == "ALL",
                                        view == "DELETED_ONLY")
        except Invalid as error:  # MLflow's errors carry no field: say which one in the message
            if error.field and error.field not in error.message:
                raise Invalid(f"Invalid {error.field}: {error.message}", error.field) from None
            raise
        found += page["runs"]
        offset += limit
        more = page["next_page_token"] is not None
    return found, tracking.encode_token(start + max_results) if more else None


def _experiment_exists(db: Database, experiment_id: str) -> bool:
    if experiments.as_id(experiment_id) is None:
        return False
    try:
        experiments.resolve_id(db, experiment_id)
    except NotFound:
        return False
    return True


def _check_max_results(max_results: int) -> None:
    if not 1 <= max_results <= MAX_RESULTS_THRESHOLD:
        raise Invalid(f"Invalid value {max_results} for parameter 'max_results': it must be between 1 and "
                      f"{MAX_RESULTS_THRESHOLD}", "max_results")


def with_details(db: Database, rows: list[RunRow]) -> dict[str, list[InputRow]]:
    """Give a page of runs the latest step and timestamp of each metric (MLflow's run data carries
    them) and return their dataset inputs by run id: two queries for the page, none per run."""
    missing = [row["id"] for row in rows if "metric_stats" not in row]
    if missing:
        stats = metrics.metric_stats_of(db, missing)
        for row in rows:
            if "metric_stats" not in row:
                row["metric_stats"] = stats.get(row["id"], {})
    return inputs.of_runs(db, [row["id"] for row in rows])


# --- logging -----------------------------------------------------------------------------------


def log_batch(db: Database, run_id: str, points: list[Point], params: list[tuple[str, str]],
              tags: list[tuple[str, str]]) -> None:
    """Params, metric points and tags under MLflow's rules, stored together or not at all."""
    for field, count, limit in (("metrics", len(points), MAX_METRICS_PER_BATCH),
                                ("params", len(params), MAX_PARAMS_PER_BATCH),
                                ("tags", len(tags), MAX_TAGS_PER_BATCH)):
        if count > limit:
            raise Invalid(f"A batch logging request can contain at most {limit} {field}. Got {count} {field}. "
                          f"Please split up {field} across multiple requests and try again.", field)
    runs.log_batch(db, run_id, _params(params), _columns(points), _tags(tags))


def _params(params: list[tuple[str, str]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for index, (key, value) in enumerate(params):
        field = f"params[{index}]"
        check_key(key, f"{field}.key")
        if checked.get(key, value) != value:
            raise Invalid(f"Duplicate parameter keys have been submitted: {key!r} with values "
                          f"{checked[key]!r} and {value!r}", f"{field}.value")
        checked[key] = check_text(value, MAX_PARAM_VALUE, f"{field}.value")
    return checked


def _tags(tags: list[tuple[str, str]]) -> dict[str, str]:
    return {check_key(key, f"tags[{index}].key"): check_text(value, MAX_TAG_VALUE, f"tags[{index}].value")
            for index, (key, value) in enumerate(tags)}


def _columns(points: list[Point]) -> dict[str, runs.Columns]:
    """Points as columns per key; NaN and infinities are refused (the store keeps finite numbers)."""
    columns: dict[str, runs.Columns] = {}
    for index, (key, value, timestamp, step) in enumerate(points):
        if key not in columns:
            check_key(key, f"metrics[{index}].key")
        if not math.isfinite(value):
            raise Invalid(f"metric {key!r}: {value} is not supported; this backend stores finite numbers only",
                          f"metrics[{index}].value")
        steps, values, stamps = columns.setdefault(key, ([], [], []))
        steps.append(step)
        values.append(value)
        stamps.append(timestamp)
    return columns


def log_inputs(db: Database, run_id: str, datasets: list[InputRow]) -> None:
    for index, dataset in enumerate(datasets):
        for field, limit in MAX_DATASET_FIELDS.items():
            value: Any = dataset[field]  # type: ignore[literal-required]
            if value is not None and len(value) > limit:
                path = f"datasets[{index}].dataset.{field}"
                raise Invalid(f"{path} is longer than {limit} characters", path)
        for key, value in dataset["tags"].items():
            check_text(key, 255, f"datasets[{index}].tags.key")
            check_text(value, 500, f"datasets[{index}].tags.value")
    inputs.log(db, run_id, datasets)


def record_logged_model(db: Database, run_id: str, model_json: str) -> None:
    """MLflow 2's `runs/log-model`: the model's metadata appended to the run's
    `mlflow.log-model.history` tag (a JSON list), as MLflow's stores keep it."""
    try:
        model = json.loads(model_json)
    except ValueError:
        raise Invalid("model_json is not valid JSON", "model_json") from None
    history = runs.get(db, run_id, with_metric_stats=False)["tags"].get(LOGGED_MODELS_TAG)
    value = json.dumps([*json.loads(history), model] if history else [model])
    runs.log_batch(db, run_id, tags={LOGGED_MODELS_TAG: check_text(value, MAX_TAG_VALUE, "model_json")})


# --- metric histories --------------------------------------------------------------------------


def metric_history_json(db: Database, run_id: str, key: str, max_results: int | None,
                        page_token: str | None) -> bytes:
    """`{"metrics": [{"key", "value", "timestamp", "step"}...], "next_page_token"?}` as JSON bytes, by step."""
    if max_results is not None and max_results < 1:
        raise Invalid("max_results must be at least 1", "max_results")
    points, more = metrics.mlflow_history_json(db, run_id, key, max_results, tracking.decode_token(page_token))
    tail = b""
    if more:
        assert max_results is not None
        token = tracking.encode_token(tracking.decode_token(page_token) + max_results)
        tail = b',"next_page_token":"' + token.encode() + b'"'
    return b'{"metrics":' + points + tail + b"}"
