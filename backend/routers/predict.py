"""Predictions: `/api/v1/models/{name}/aliases/{alias}/predict` and `.../versions/{version}/predict`, and
the model file replicas download. The predict routes read their own body (orjson, no pydantic on the hot
path) and predict in the threadpool; the answer is the contract's `Prediction`, rendered by orjson."""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from mlops_tui.contract.clock import now_ms
from mlops_tui.contract.monitoring import (
    CSV_MEDIA_TYPE,
    IGNORED_COLUMNS_HEADER,
    MODEL_VERSION_HEADER,
    SHA256_HEADER,
    Prediction,
)

from ..openapi import ContractRoute, errors
from ..services.serving import Served, Serving
from ..serving.records import Request as Arrived
from .models import AliasName, ModelName, VersionNumber

router = APIRouter(prefix="/api/v1/models", tags=["serving"], route_class=ContractRoute)

_ROWS = {"type": "array", "items": {"anyOf": [{"type": "object"}, {"type": "array"}]}}
SCORING_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "description": "MLflow's scoring JSON: exactly one of these keys.",
        "properties": {
            "dataframe_split": {"type": "object", "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}}}},
            "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "instances": _ROWS,
            "inputs": {"anyOf": [_ROWS, {"type": "object"}]}}}},
    CSV_MEDIA_TYPE: {"schema": {"type": "string", "description": "A header row, then one row per prediction."}},
}}}
PROBA = Query(False, description="Add each row's class probabilities (classifiers only; 422 naming `proba` "
                                 "for a regressor).")
PREDICT_ERRORS = errors(404, 409, 413, 422)
PREDICT_DOC = ("Rows are checked against the version's signature: a missing column, a wrong type or an "
               "unparseable value is 422 naming the row and the column; extra columns are ignored and named in "
               f"`{IGNORED_COLUMNS_HEADER}`; more rows than MLOPS_MAX_PREDICT_ROWS is 413. 409 when the "
               f"model file changed since registration. `{MODEL_VERSION_HEADER}` names the version that answered.")


@router.post("/{name}/aliases/{alias}/predict", response_model=Prediction, responses=PREDICT_ERRORS,
             openapi_extra=SCORING_BODY, description="Predict with the version the alias points at now. "
             + PREDICT_DOC)
async def predict_alias(name: ModelName, alias: AliasName, request: Request, proba: bool = PROBA) -> Response:
    return await _predict(request, name, alias, proba)


@router.post("/{name}/versions/{version}/predict", response_model=Prediction, responses=PREDICT_ERRORS,
             openapi_extra=SCORING_BODY, description="Predict with this version. " + PREDICT_DOC)
async def predict_version(name: ModelName, version: VersionNumber, request: Request,
                          proba: bool = PROBA) -> Response:
    return await _predict(request, name, version, proba)


async def _predict(request: Request, name: str, ref: int | str, proba: bool) -> Response:
    arrived = Arrived(name, ref if isinstance(ref, str) else None, now_ms(), time.perf_counter())
    serving: Serving = request.app.state.serving
    # the version is chosen before the body is read: a promotion meanwhile does not change this request's
    version = ref if isinstance(ref, int) else serving.known_alias(name, ref)
    if version is None:
        version = await run_in_threadpool(serving.resolve, arrived, ref)
    body = await request.body()
    csv = request.headers.get("content-type", "").split(";")[0].strip().lower() == CSV_MEDIA_TYPE
    served = await run_in_threadpool(serving.predict, arrived, version, body, csv, proba)
    return Response(orjson.dumps(_answer(served)), media_type="application/json",
                    headers=_headers(name, served))


def _answer(served: Served) -> dict[str, Any]:
    answer: dict[str, Any] = {"predictions": served.output.predictions, "model_version": served.version,
                              "request_ids": served.request_ids}
    if served.output.probabilities is not None:
        answer.update(probabilities=served.output.probabilities, classes=served.output.classes)
    return answer


HEADER_SAFE = " -_.~!$&'()*+;=:@/[]"
"""Characters of a column name sent as they are in a header; the others (a comma, non-ASCII) percent-encoded."""


def _headers(name: str, served: Served) -> dict[str, str]:
    headers = {MODEL_VERSION_HEADER: f"{name}/{served.version}"}
    if served.ignored:
        headers[IGNORED_COLUMNS_HEADER] = ",".join(quote(column, safe=HEADER_SAFE, errors="backslashreplace")
                                                   for column in served.ignored)
    return headers


@router.get("/{name}/versions/{version}/model", response_class=Response, responses={
    200: {"description": f"The model file (skops) as registered; `{SHA256_HEADER}` is its sha256.",
          "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    **errors(404, 409, 422)})
def download_model(name: ModelName, version: VersionNumber, request: Request) -> Response:
    """The version's model file, for a replica (`mlops serve`) to load; 409 when its bytes no longer match
    the sha256 it was registered with (never sent)."""
    serving: Serving = request.app.state.serving
    data, sha256 = serving.model_file(name, version)
    return Response(data, media_type="application/octet-stream", headers={
        SHA256_HEADER: sha256, "Content-Disposition": f'attachment; filename="{name}-{version}.skops"'})
