"""MLflow 3's logged models: what `mlflow.<flavor>.log_model` creates before it uploads the model's
files, then marks READY (or FAILED), and what `runs:/<run>/<name>` and `models:/<model id>` URIs resolve
to. The files are at `<artifacts>/<experiment>/models/<id>/artifacts/`, written through the artifact
proxy (`artifact_proxy`); the backend stores and serves them and never loads them (they are pickles).
"""
from __future__ import annotations

import uuid
from typing import Any

from mlops_tui.contract import MAX_PAGE, MAX_PARAM_VALUE, MAX_TAG_VALUE

from ..clock import now_ms
from ..db import Database
from ..errors import Invalid
from ..store import logged_models as store
from ..store.logged_models import FAILED, PENDING, READY, LoggedModelRow
from ..validation import check_key, check_name, check_text
from . import logged_model_search
from .tracking import decode_token, encode_token

STATUS_NAMES = {"LOGGED_MODEL_PENDING": PENDING, "LOGGED_MODEL_READY": READY, "LOGGED_MODEL_UPLOAD_FAILED": FAILED}
"""MLflow's `LoggedModelStatus` names (and numbers, 1..3) as stored."""
STATUS_NUMBERS = {1: PENDING, 2: READY, 3: FAILED}
DEFAULT_RESULTS = 100
ARTIFACTS_FOLDER = "artifacts"


def folder_of(model: LoggedModelRow) -> str:
    """The model's files, relative to the artifact root (what its `artifact_uri` points at)."""
    return f"{model['experiment_id']}/models/{model['id']}/{ARTIFACTS_FOLDER}"


def status_of(value: str | int | None) -> str:
    """A stored status from MLflow's enum name or number; `Invalid` naming `status` otherwise."""
    found = STATUS_NUMBERS.get(value) if isinstance(value, int) else STATUS_NAMES.get(str(value))
    if found is None:
        raise Invalid(f"status must be one of {', '.join(STATUS_NAMES)}, not {value!r}", "status")
    return found


def _checked(pairs: dict[str, str], limit: int, field: str) -> dict[str, str]:
    for key, value in pairs.items():
        check_key(key, f"{field}.{key}")
        check_text(value, limit, f"{field}.{key}")
    return pairs


def create(db: Database, experiment_id: str, *, name: str | None, model_type: str | None,
           source_run_id: str | None, params: dict[str, str], tags: dict[str, str]) -> LoggedModelRow:
    model_id = f"m-{uuid.uuid4().hex}"
    return store.create(db, model_id, experiment_id, check_name(name, "name") if name else f"model-{model_id[2:10]}",
                        source_run_id=source_run_id or None, model_type=model_type or None,
                        tags=_checked(tags, MAX_TAG_VALUE, "tags"), params=_checked(params, MAX_PARAM_VALUE, "params"),
                        now=now_ms())


def get(db: Database, model_id: str, allow_deleted: bool = False) -> LoggedModelRow:
    return store.get(db, model_id, allow_deleted)


def finalize(db: Database, model_id: str, status: str | int | None) -> LoggedModelRow:
    return store.update(db, model_id, now_ms(), status=status_of(status))


def set_tags(db: Database, model_id: str, tags: dict[str, str]) -> LoggedModelRow:
    return store.update(db, model_id, now_ms(), set_tags=_checked(tags, MAX_TAG_VALUE, "tags"))


def delete_tag(db: Database, model_id: str, key: str) -> LoggedModelRow:
    return store.update(db, model_id, now_ms(), delete_tag=key)


def log_params(db: Database, model_id: str, params: dict[str, str]) -> LoggedModelRow:
    return store.update(db, model_id, now_ms(), set_params=_checked(params, MAX_PARAM_VALUE, "params"))


def delete(db: Database, model_id: str) -> None:
    store.delete(db, model_id, now_ms())


def search(db: Database, experiment_ids: list[str], filter_text: str | None, order_by: list[tuple[str, bool]],
           max_results: int | None, page_token: str | None) -> tuple[list[LoggedModelRow], str | None]:
    """A page of the experiments' active models that match, and the token of the next page."""
    limit = DEFAULT_RESULTS if max_results is None else max_results
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"max_results must be between 1 and {MAX_PAGE}", "max_results")
    if not experiment_ids:
        raise Invalid("experiment_ids must name at least one experiment", "experiment_ids")
    offset = decode_token(page_token)
    found = logged_model_search.ordered(
        logged_model_search.matching(store.in_experiments(db, experiment_ids), filter_text), order_by)
    more = len(found) > offset + limit
    return found[offset:offset + limit], encode_token(offset + limit) if more else None


def log_outputs(db: Database, run_id: str, models: list[tuple[str, int]]) -> None:
    store.log_outputs(db, run_id, models)


def outputs_of(db: Database, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each run's `model_outputs` for `runs/get` and `runs/search`."""
    return store.outputs_of(db, run_ids)
