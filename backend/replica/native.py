"""The native predict route, as the backend serves it: `POST /api/v1/models/{name}/aliases/{alias}/predict`
(MLflow's scoring JSON or CSV, `?proba=true`) answering the contract's `Prediction`."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlops_tui.contract.monitoring import IGNORED_COLUMNS_HEADER, MODEL_VERSION_HEADER

from ..errors import DomainError, NotFound
from ..responses import JSONBytes
from .errors import native_error
from .protocol import body_reader, media_type, predict, replica_of
from .service import NotReady

router = APIRouter()


@router.post("/api/v1/models/{name}/aliases/{alias}/predict")
async def predict_alias(name: str, alias: str, request: Request, proba: bool = False) -> Response:
    replica = replica_of(request)
    config = replica.config
    if name != config.name or alias != config.alias:
        field = "name" if name != config.name else "alias"
        return native_error(NotFound(f"this replica serves {config.name}@{config.alias} only", field))
    read = body_reader(await request.body(), media_type(request), config.max_predict_rows)
    if read is None:
        return JSONBytes({"detail": "send application/json (MLflow's scoring formats) or text/csv",
                          "field": "content-type", "code": "unsupported_media_type"}, status_code=415)
    try:
        served = await predict(replica, read, proba)
    except (DomainError, NotReady) as error:
        return native_error(error)
    answer: dict[str, Any] = {"predictions": served.output.predictions, "model_version": served.model.version,
                              "request_ids": served.request_ids}
    if served.output.probabilities is not None:
        answer.update(probabilities=served.output.probabilities, classes=served.output.classes)
    headers = {MODEL_VERSION_HEADER: served.model.label}
    if served.ignored:
        headers[IGNORED_COLUMNS_HEADER] = ",".join(quote(column, safe=" _-.") for column in served.ignored)
    return JSONBytes(answer, headers=headers)
