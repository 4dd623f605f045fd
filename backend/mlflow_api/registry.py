"""MLflow's model registry API (`model_registry.proto`'s ModelRegistryService): registered models,
model versions, tags and aliases, on the native registry (`services.registry`, through
`services.mlflow_registry`): one registry, whichever API wrote it.

Who acts (recorded in the audit trail): the `X-Mlops-User` header when sent, else `mlflow:<user>` from
the client's basic-auth user (`MLFLOW_TRACKING_USERNAME`), else `mlflow:anonymous`. Stages are
MLflow 2's and deprecated in MLflow 3: `transition-stage` is refused, pointing at aliases."""
from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from mlops_tui.contract.registry import USER_HEADER

from ..access import GuardedRoute
from ..deps import DB, AppSettings, named_actor, token_holder
from ..responses import JSONBytes
from ..services import mlflow_registry as service
from ..services import registry
from ..store.rows import VersionRow
from . import registry_shapes as shapes
from .protocol import Int64, Message, MlflowError, Tag, answer, message, tag_map

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=GuardedRoute)


def mlflow_actor(request: Request) -> str:
    holder = token_holder(request)
    if holder is not None:
        return holder
    header = request.headers.get(USER_HEADER)
    if header is not None and header.strip():
        return named_actor(header)
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    user = ""
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(encoded, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
    return named_actor(f"mlflow:{user.strip() or 'anonymous'}")


Actor = Annotated[str, Depends(mlflow_actor)]


class ModelName(Message):
    name: str


class VersionRef(ModelName):
    version: Int64


class CreateRegisteredModel(ModelName):
    tags: list[Tag] = []
    description: str = ""


class RenameRegisteredModel(ModelName):
    new_name: str


class UpdateRegisteredModel(ModelName):
    description: str | None = None


class SearchRegisteredModels(Message):
    filter: str | None = None
    max_results: Int64 = 100
    order_by: list[str] = []
    page_token: str | None = None


class GetLatestVersions(ModelName):
    stages: list[str] = []


class SetRegisteredModelTag(ModelName):
    key: str
    value: str = ""


class DeleteRegisteredModelTag(ModelName):
    key: str


class CreateModelVersion(ModelName):
    source: str
    run_id: str | None = None
    tags: list[Tag] = []
    run_link: str | None = None
    description: str = ""
    model_id: str | None = None


class UpdateModelVersion(VersionRef):
    description: str | None = None


class SearchModelVersions(SearchRegisteredModels):
    max_results: Int64 = 10_000


class SetModelVersionTag(VersionRef):
    key: str
    value: str = ""


class DeleteModelVersionTag(VersionRef):
    key: str


class TransitionModelVersionStage(VersionRef):
    stage: str = ""


class SetRegisteredModelAlias(ModelName):
    alias: str
    version: Int64


class AliasRef(ModelName):
    alias: str


def _model(db: DB, name: str) -> JSONBytes:
    return answer({"registered_model": shapes.registered_model_json(service.get_model(db, name))})


def _version(db: DB, found: VersionRow) -> JSONBytes:
    aliases = service.version_aliases(db).get((found["name"], found["version"]), [])
    return answer({"model_version": shapes.model_version_json(found, aliases)})


# --- registered models -------------------------------------------------------------------------


@router.post("/registered-models/create")
def create_registered_model(db: DB, m: Annotated[CreateRegisteredModel, message(CreateRegisteredModel)]) -> JSONBytes:
    service.create_model(db, m.name, m.description, tag_map(m.tags))
    return _model(db, m.name)


@router.get("/registered-models/get")
def get_registered_model(db: DB, m: Annotated[ModelName, message(ModelName)]) -> JSONBytes:
    return _model(db, m.name)


@router.get("/registered-models/search")
def search_registered_models(db: DB, m: Annotated[SearchRegisteredModels, message(SearchRegisteredModels)]
                             ) -> JSONBytes:
    found, token = service.search_models(db, m.filter, m.order_by, m.max_results, m.page_token)
    body: dict[str, object] = {"registered_models": [shapes.registered_model_json(model) for model in found]}
    if token:
        body["next_page_token"] = token
    return answer(body)


@router.post("/registered-models/rename")
def rename_registered_model(db: DB, m: Annotated[RenameRegisteredModel, message(RenameRegisteredModel)]) -> JSONBytes:
    service.rename_model(db, m.name, m.new_name)
    return _model(db, m.new_name)


@router.patch("/registered-models/update")
def update_registered_model(db: DB, m: Annotated[UpdateRegisteredModel, message(UpdateRegisteredModel)]) -> JSONBytes:
    service.update_model(db, m.name, description=m.description)
    return _model(db, m.name)


@router.delete("/registered-models/delete")
def delete_registered_model(db: DB, actor: Actor, m: Annotated[ModelName, message(ModelName)]) -> JSONBytes:
    service.delete_model(db, m.name, actor)
    return answer({})


@router.post("/registered-models/set-tag")
def set_registered_model_tag(db: DB, m: Annotated[SetRegisteredModelTag, message(SetRegisteredModelTag)]) -> JSONBytes:
    service.update_model(db, m.name, set_tags={m.key: m.value})
    return answer({})


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(db: DB, m: Annotated[DeleteRegisteredModelTag, message(DeleteRegisteredModelTag)]
                                ) -> JSONBytes:
    service.update_model(db, m.name, delete_tag=m.key)
    return answer({})


@router.api_route("/registered-models/get-latest-versions", methods=["GET", "POST"])
def get_latest_versions(db: DB, m: Annotated[GetLatestVersions, message(GetLatestVersions)]) -> JSONBytes:
    """The latest version in each stage (`None`, `Archived`), or in the stages asked for."""
    model = shapes.registered_model_json(service.get_model(db, m.name))
    stages = {stage.lower() for stage in m.stages}
    return answer({"model_versions": [version for version in model["latest_versions"]
                                      if not stages or version["current_stage"].lower() in stages]})


# --- aliases -----------------------------------------------------------------------------------


@router.post("/registered-models/alias")
def set_registered_model_alias(db: DB, settings: AppSettings, actor: Actor,
                               m: Annotated[SetRegisteredModelAlias, message(SetRegisteredModelAlias)]) -> JSONBytes:
    service.set_alias(db, settings, m.name, m.alias, m.version, actor)
    return answer({})


@router.delete("/registered-models/alias")
def delete_registered_model_alias(db: DB, settings: AppSettings, actor: Actor,
                                  m: Annotated[AliasRef, message(AliasRef)]) -> JSONBytes:
    service.delete_alias(db, settings, m.name, m.alias, actor)
    return answer({})


@router.get("/registered-models/alias")
def get_model_version_by_alias(db: DB, m: Annotated[AliasRef, message(AliasRef)]) -> JSONBytes:
    version = registry.alias_version(db, m.name, m.alias)
    if version is None:
        raise MlflowError(f"Registered model alias {m.alias} not found.", "INVALID_PARAMETER_VALUE")
    return _version(db, service.get_version(db, m.name, version))


# --- model versions ----------------------------------------------------------------------------


@router.post("/model-versions/create")
def create_model_version(db: DB, settings: AppSettings, actor: Actor,
                         m: Annotated[CreateModelVersion, message(CreateModelVersion)]) -> JSONBytes:
    created = service.create_version(db, settings, m.name, m.source, actor, run_id=m.run_id or "",
                                     model_id=m.model_id, description=m.description, tags=tag_map(m.tags))
    return _version(db, created)


@router.get("/model-versions/get")
def get_model_version(db: DB, m: Annotated[VersionRef, message(VersionRef)]) -> JSONBytes:
    return _version(db, service.get_version(db, m.name, m.version))


@router.get("/model-versions/search")
def search_model_versions(db: DB, m: Annotated[SearchModelVersions, message(SearchModelVersions)]) -> JSONBytes:
    found, token = service.search_versions(db, m.filter, m.order_by, m.max_results, m.page_token)
    held = service.version_aliases(db)
    body: dict[str, object] = {"model_versions": [
        shapes.model_version_json(version, held.get((version["name"], version["version"]), []))  # type: ignore[arg-type]
        for version in found]}
    if token:
        body["next_page_token"] = token
    return answer(body)


@router.patch("/model-versions/update")
def update_model_version(db: DB, m: Annotated[UpdateModelVersion, message(UpdateModelVersion)]) -> JSONBytes:
    return _version(db, service.update_version(db, m.name, m.version, description=m.description))


@router.delete("/model-versions/delete")
def delete_model_version(db: DB, actor: Actor, m: Annotated[VersionRef, message(VersionRef)]) -> JSONBytes:
    registry.delete(db, m.name, m.version, actor)
    return answer({})


@router.get("/model-versions/get-download-uri")
def get_model_version_download_uri(db: DB, m: Annotated[VersionRef, message(VersionRef)]) -> JSONBytes:
    return answer({"artifact_uri": shapes.files_uri(service.get_version(db, m.name, m.version))})


@router.post("/model-versions/set-tag")
def set_model_version_tag(db: DB, m: Annotated[SetModelVersionTag, message(SetModelVersionTag)]) -> JSONBytes:
    service.update_version(db, m.name, m.version, set_tags={m.key: m.value})
    return answer({})


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(db: DB, m: Annotated[DeleteModelVersionTag, message(DeleteModelVersionTag)]) -> JSONBytes:
    service.update_version(db, m.name, m.version, delete_tag=m.key)
    return answer({})


@router.post("/model-versions/transition-stage")
def transition_model_version_stage(m: Annotated[TransitionModelVersionStage, message(TransitionModelVersionStage)]
                                   ) -> JSONBytes:
    raise MlflowError(f"stages are not supported (deprecated since MLflow 2.9): point an alias at "
                      f"{m.name}/{m.version} instead (`client.set_registered_model_alias(name, alias, version)`), "
                      "or archive it natively (`mlops models archive`)")
