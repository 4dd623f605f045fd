"""What the replica's three protocols share: reading a body by its media type, calling the one predict
function off the event loop, and the replica behind the request."""
from __future__ import annotations

import anyio
from fastapi import Request

from mlops_tui.contract.monitoring import CSV_MEDIA_TYPE

from ..serving import inputs
from .service import Reader, Replica, Served

JSON_MEDIA_TYPE = "application/json"


def replica_of(request: Request) -> Replica:
    return request.app.state.replica  # type: ignore[no-any-return]


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def body_reader(body: bytes, media: str, max_rows: int) -> Reader | None:
    """MLflow's scoring JSON or CSV; None for any other media type."""
    if media == CSV_MEDIA_TYPE:
        return lambda order: inputs.read_csv(body, max_rows)
    if media in (JSON_MEDIA_TYPE, ""):
        return lambda order: inputs.read_json(body, max_rows, order)
    return None


async def predict(replica: Replica, read: Reader, proba: bool = False) -> Served:
    """`Replica.predict` in the threadpool: the event loop keeps answering while a batch predicts."""
    return await anyio.to_thread.run_sync(replica.predict, read, proba)
