"""Monitoring: replicas' records, feedback labels, a model's live health, the overview's health
lines, and `GET /metrics` for Prometheus. Plain `def` routes: they read SQLite in the threadpool."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from mlops_tui.contract.monitoring import (
    WINDOW_RULE,
    Feedback,
    FeedbackAck,
    HealthList,
    MonitorStatus,
    RecordAck,
    RecordBatch,
)
from mlops_tui.contract.registry import ALIAS_RULE, MODEL_NAME_RULE

from ..deps import DB, PredictionRecorder
from ..openapi import ContractRoute, errors
from ..services import monitoring

router = APIRouter(tags=["monitoring"], route_class=ContractRoute)

ModelName = Annotated[str, Path(json_schema_extra={"pattern": MODEL_NAME_RULE})]
MAX_EPOCH_MS = 32_503_680_000_000
"""The year 3000: a later `at` is a mistake, not a moment."""
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.post("/api/v1/monitoring/records", response_model=RecordAck, responses=errors(413, 422))
def receive_records(body: RecordBatch, recorder: PredictionRecorder) -> RecordAck:
    """A replica's measurements since its last batch, stored like the backend's own (off the request path);
    a request id already stored is counted once."""
    return monitoring.receive_records(recorder, body)


@router.post("/api/v1/models/{name}/feedback", response_model=FeedbackAck, responses=errors(404, 422))
def send_feedback(name: ModelName, body: Feedback, db: DB, recorder: PredictionRecorder) -> FeedbackAck:
    """True labels by request id (a label sent again replaces the first); ids that name no recorded
    prediction of this model are listed in `unknown` and not stored."""
    return monitoring.send_feedback(db, recorder, name, body)


@router.get("/api/v1/models/{name}/monitor", response_model=MonitorStatus, responses=errors(404, 422))
def monitor(name: ModelName, db: DB, recorder: PredictionRecorder,
            alias: str | None = Query(None, json_schema_extra={"pattern": ALIAS_RULE},
                                      description="Default: production, else the model's only alias."),
            window: str | None = Query(None, json_schema_extra={"pattern": WINDOW_RULE},
                                       description="15m, 1h, 7d, or 5000r (the last 5000 rows); default 15m."),
            at: int | None = Query(None, ge=0, le=MAX_EPOCH_MS,
                                   description="Epoch ms: the status as it was then (the window ends there); "
                                               "default now.")
            ) -> MonitorStatus:
    """The alias's traffic, latency, drift and performance over the window, and its last hour per minute
    (ending at `at` when given: the console shows an alert's moment so)."""
    return monitoring.monitor_status(db, recorder, name, alias, window, at=at)


@router.get("/api/v1/monitoring/health", response_model=HealthList)
def health(db: DB) -> HealthList:
    """Every model alias over the last 5 minutes: requests/s, p95 latency, error rate, drifting features."""
    return monitoring.health(db)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"description": "Prometheus' text exposition format.",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(db: DB, recorder: PredictionRecorder) -> PlainTextResponse:
    """Prediction requests, errors and latency per model, version and alias; jobs by status; ingest counters."""
    return PlainTextResponse(monitoring.metrics_text(db, recorder), media_type=PROMETHEUS_TEXT)
