"""Monitoring: `/api/v1/monitoring` (what replicas ship back)."""
from __future__ import annotations

from fastapi import APIRouter

from mlops_tui.contract.monitoring import RecordAck, RecordBatch

from ..deps import PredictionRecorder
from ..openapi import ContractRoute, errors

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"], route_class=ContractRoute)


@router.post("/records", response_model=RecordAck, responses=errors(413, 422))
def receive_records(batch: RecordBatch, recorder: PredictionRecorder) -> RecordAck:
    """A replica's records since its last batch (`mlops serve` ships them), queued for the recorder like
    the backend's own; `dropped` (records the replica's full buffer lost) is added to the dropped count."""
    accepted = recorder.submit(batch.records, batch.source, batch.dropped)
    return RecordAck(accepted=accepted, dropped_total=recorder.dropped_total)
