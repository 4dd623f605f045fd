"""MLflow's scoring server protocol, so MLflow's clients and load tools work unchanged:
`POST /invocations` (`dataframe_split`, `dataframe_records`, `instances`, `inputs`, or CSV) answering
`{"predictions": [...]}`; `GET /ping` and `GET /health` (200 once the model is loaded); `GET /version`."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from .. import __version__
from ..errors import DomainError
from ..responses import JSONBytes
from .errors import mlflow_error
from .protocol import body_reader, media_type, predict, replica_of
from .service import NotReady

router = APIRouter()


@router.post("/invocations")
async def invocations(request: Request) -> Response:
    replica = replica_of(request)
    read = body_reader(await request.body(), media_type(request), replica.config.max_predict_rows)
    if read is None:
        return JSONBytes({"error_code": "BAD_REQUEST", "message": "Content type must be one of "
                          "application/json or text/csv"}, status_code=415)
    try:
        served = await predict(replica, read)
    except (DomainError, NotReady) as error:
        return mlflow_error(error)
    return JSONBytes({"predictions": served.output.predictions})


@router.get("/ping")
@router.get("/health")
def ping(request: Request) -> Response:
    """200 once a model is loaded (MLflow answers a newline), 503 before."""
    loaded = replica_of(request).follower.current is not None
    return Response("\n", status_code=200 if loaded else 503, media_type="application/json")


@router.get("/version")
def version() -> PlainTextResponse:
    return PlainTextResponse(__version__)
