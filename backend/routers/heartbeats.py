"""Run heartbeats: `POST /api/v1/runs/{run_id}/heartbeat`, sent by the SDK while a script runs."""
from __future__ import annotations

from fastapi import APIRouter

from mlops_tui.contract import Heartbeat

from ..deps import DB
from ..openapi import ContractRoute, errors
from ..services import tracking

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=ContractRoute)


@router.post("/{run_id}/heartbeat", response_model=Heartbeat, responses=errors(404, 409))
def heartbeat(run_id: str, db: DB) -> Heartbeat:
    """The run's process is alive: `{"run_id", "status", "heartbeat_at"}`. A run that sent heartbeats
    and then none for `MLOPS_HEARTBEAT_TIMEOUT` seconds is marked FAILED by the server."""
    return Heartbeat(**tracking.heartbeat(db, run_id))
