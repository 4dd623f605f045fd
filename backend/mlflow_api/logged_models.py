"""MLflow 3's logged models API (`service.proto`: CreateLoggedModel ... LogOutputs), the calls
`mlflow.<flavor>.log_model` makes: create the model (PENDING), record it as the run's output, upload its
files through the artifact proxy, finalize it (READY); and the search `runs:/<run>/<name>` resolves with.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from ..access import GuardedRoute
from ..deps import DB
from ..responses import JSONBytes
from ..services import logged_models
from ..store.logged_models import LoggedModelRow
from . import shapes
from .protocol import Int64, Message, answer, message

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=GuardedRoute)


class KeyValue(Message):
    key: str
    value: str = ""


class CreateLoggedModel(Message):
    experiment_id: str
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class GetLoggedModel(Message):
    allow_deleted: bool = False


class FinalizeLoggedModel(Message):
    status: str | Int64


class SetLoggedModelTags(Message):
    tags: list[KeyValue] = []


class LogLoggedModelParams(Message):
    params: list[KeyValue] = []


class OrderBy(Message):
    field_name: str
    ascending: bool = True


class SearchLoggedModels(Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    max_results: Int64 | None = None
    order_by: list[OrderBy] = []
    page_token: str | None = None


class ModelOutput(Message):
    model_id: str
    step: Int64 = 0


class LogOutputs(Message):
    run_id: str
    models: list[ModelOutput] = []


def logged_model_json(model: LoggedModelRow) -> dict[str, Any]:
    """MLflow's `LoggedModel`: its info (status as `LOGGED_MODEL_<STATUS>`) and data (params; no metrics)."""
    info: dict[str, Any] = {
        "model_id": model["id"],
        "experiment_id": model["experiment_id"],
        "name": model["name"],
        "creation_timestamp_ms": model["created_at"],
        "last_updated_timestamp_ms": model["updated_at"],
        "artifact_uri": f"{shapes.ARTIFACT_SCHEME}/{logged_models.folder_of(model)}",
        "status": f"LOGGED_MODEL_{model['status']}",
        "tags": shapes.key_values(model["tags"]),
    }
    for field in ("model_type", "source_run_id", "status_message"):
        if model[field]:  # type: ignore[literal-required]
            info[field] = model[field]  # type: ignore[literal-required]
    return {"info": info, "data": {"params": shapes.key_values(model["params"])}}


def _pairs(items: list[KeyValue]) -> dict[str, str]:
    return {item.key: item.value for item in items}


@router.api_route("/logged-models", methods=["POST"])
def create_logged_model(db: DB, m: Annotated[CreateLoggedModel, message(CreateLoggedModel)]) -> JSONBytes:
    created = logged_models.create(db, m.experiment_id, name=m.name, model_type=m.model_type,
                                   source_run_id=m.source_run_id, params=_pairs(m.params), tags=_pairs(m.tags))
    return answer({"model": logged_model_json(created)})


@router.api_route("/logged-models/search", methods=["POST", "GET"])
def search_logged_models(db: DB, m: Annotated[SearchLoggedModels, message(SearchLoggedModels)]) -> JSONBytes:
    found, token = logged_models.search(db, m.experiment_ids, m.filter,
                                        [(order.field_name, order.ascending) for order in m.order_by],
                                        m.max_results, m.page_token)
    body: dict[str, Any] = {"models": [logged_model_json(model) for model in found]}
    if token:
        body["next_page_token"] = token
    return answer(body)


@router.api_route("/logged-models/{model_id}", methods=["GET"])
def get_logged_model(model_id: str, db: DB, m: Annotated[GetLoggedModel, message(GetLoggedModel)]) -> JSONBytes:
    return answer({"model": logged_model_json(logged_models.get(db, model_id, m.allow_deleted))})


@router.api_route("/logged-models/{model_id}", methods=["PATCH"])
def finalize_logged_model(model_id: str, db: DB,
                          m: Annotated[FinalizeLoggedModel, message(FinalizeLoggedModel)]) -> JSONBytes:
    return answer({"model": logged_model_json(logged_models.finalize(db, model_id, m.status))})


@router.api_route("/logged-models/{model_id}", methods=["DELETE"])
def delete_logged_model(model_id: str, db: DB) -> JSONBytes:
    logged_models.delete(db, model_id)
    return answer({})


@router.api_route("/logged-models/{model_id}/tags", methods=["PATCH"])
def set_logged_model_tags(model_id: str, db: DB,
                          m: Annotated[SetLoggedModelTags, message(SetLoggedModelTags)]) -> JSONBytes:
    return answer({"model": logged_model_json(logged_models.set_tags(db, model_id, _pairs(m.tags)))})


@router.api_route("/logged-models/{model_id}/tags/{tag_key:path}", methods=["DELETE"])
def delete_logged_model_tag(model_id: str, tag_key: str, db: DB) -> JSONBytes:
    logged_models.delete_tag(db, model_id, tag_key)
    return answer({})


@router.api_route("/logged-models/{model_id}/params", methods=["POST"])
def log_logged_model_params(model_id: str, db: DB,
                            m: Annotated[LogLoggedModelParams, message(LogLoggedModelParams)]) -> JSONBytes:
    logged_models.log_params(db, model_id, _pairs(m.params))
    return answer({})


@router.api_route("/runs/outputs", methods=["POST"])
def log_outputs(db: DB, m: Annotated[LogOutputs, message(LogOutputs)]) -> JSONBytes:
    logged_models.log_outputs(db, m.run_id, [(model.model_id, model.step) for model in m.models])
    return answer({})

