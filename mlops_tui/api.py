"""The requests the client can make, built without doing any I/O.

Each function returns a `Call`: method, path, body and how to parse the answer. `Client` sends
them synchronously and `AsyncClient` asynchronously, so both speak exactly the same API.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .contract import (
    ArtifactFile,
    DataSchema,
    Dataset,
    DatasetDiff,
    DatasetVersion,
    Experiment,
    ExperimentKeys,
    Health,
    Job,
    JobLog,
    MetricHistory,
    Run,
    RunPage,
)
from .contract.alerts import Alert, AlertList, AlertSummary, DeliveryList, WebhookTestAnswer
from .contract.auth import Role, Token, TokenCreated, TokenList, TokenRequest, WhoAmI
from .contract.imports import ModelImport, ModelImportAnswer, RunImport, RunImportAnswer
from .contract.monitoring import (
    CSV_MEDIA_TYPE,
    FeedbackAck,
    HealthList,
    MonitorStatus,
    Prediction,
    RecordAck,
    RecordBatch,
)
from .contract.registry import (
    ApprovalRequest,
    ChainCheck,
    EventList,
    GateReport,
    ModelDetail,
    ModelList,
    ModelVersion,
    Policy,
    PromoteResult,
    RequestList,
)
from .contract.requests import IDEMPOTENCY_HEADER
from .contract.retrain import Lifecycle, Retrain, RetrainAnswer, RetrainList, ShadowComparison

T = TypeVar("T")
CLIENT_HEADERS = {"X-Mlops-Client": "mlops-tui"}
"""Sent on every request: the backend refuses an empty POST or a raw upload without it (or the
token), because a web page can't send such a header to it without asking first."""

@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    raw: bool = False
    idempotent: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    """Extra request headers (e.g. `Range` for part of an artifact)."""
    """A POST that does nothing more when sent twice (search, a batch of de-duplicated points)."""

    @property
    def retry_safe(self) -> bool:
        """Sending it again after a lost answer changes nothing: every GET/PUT/PATCH/DELETE, and
        the POSTs marked idempotent."""
        return self.method != "POST" or self.idempotent

def _list_of(name: str, model: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    return lambda body: [model(item) for item in body[name]]

def _ignore(body: Any) -> None:
    return None

def _dict(body: Any) -> dict[str, Any]:
    return dict(body)

def _segment(value: str) -> str:
    return quote(value, safe="")

def health() -> Call[Health]:
    return Call("GET", "/healthz", Health.model_validate)

def list_experiments(include_deleted: bool = False) -> Call[list[Experiment]]:
    return Call("GET", "/api/v1/experiments", _list_of("experiments", Experiment.model_validate),
                params={"include_deleted": include_deleted})

def create_experiment(name: str, tags: dict[str, str] | None = None) -> Call[Experiment]:
    return Call("POST", "/api/v1/experiments", Experiment.model_validate, json={"name": name, "tags": tags or {}})

def get_experiment(ref: str) -> Call[Experiment]:
    return Call("GET", f"/api/v1/experiments/{_segment(ref)}", Experiment.model_validate)

def delete_experiment(ref: str) -> Call[Experiment]:
    return Call("DELETE", f"/api/v1/experiments/{_segment(ref)}", Experiment.model_validate)

def experiment_keys(ref: str) -> Call[ExperimentKeys]:
    return Call("GET", f"/api/v1/experiments/{_segment(ref)}/keys", ExperimentKeys.model_validate)

def create_run(experiment: str | None = None, name: str | None = None, tags: dict[str, str] | None = None,
               parent_id: str | None = None, experiment_id: str | None = None,
               start_time: int | None = None) -> Call[Run]:
    """`start_time` (epoch ms) when the run started earlier than now (an import, a test's fixed data)."""
    body = {"experiment": experiment, "experiment_id": experiment_id, "name": name, "tags": tags or {},
            "parent_id": parent_id, **({"start_time": start_time} if start_time is not None else {})}
    return Call("POST", "/api/v1/runs", Run.model_validate, json=body)

def get_run(run_id: str) -> Call[Run]:
    return Call("GET", f"/api/v1/runs/{_segment(run_id)}", Run.model_validate)

def update_run(run_id: str, status: str | None = None, end_time: int | None = None,
               name: str | None = None) -> Call[Run]:
    body = {k: v for k, v in {"status": status, "end_time": end_time, "name": name}.items() if v is not None}
    return Call("PATCH", f"/api/v1/runs/{_segment(run_id)}", Run.model_validate, json=body)

def delete_run(run_id: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/runs/{_segment(run_id)}", _ignore)

def log_batch(run_id: str, params: dict[str, Any] | None = None, metrics: list[dict[str, Any]] | None = None,
              tags: dict[str, str] | None = None, series: list[dict[str, Any]] | None = None,
              batch_id: str | None = None) -> Call[dict[str, Any]]:
    """`metrics` holds one object per point; `series` the compact form, columns per metric. `batch_id`
    (default: a new UUID) names the batch: sent again, the same call stores its points once."""
    body = {"params": params or {}, "metrics": metrics or [], "series": series or [], "tags": tags or {}}
    return Call("POST", f"/api/v1/runs/{_segment(run_id)}/batch", _dict, json=body, idempotent=True,
                headers={IDEMPOTENCY_HEADER: batch_id or uuid.uuid4().hex})

def run_heartbeat(run_id: str) -> Call[dict[str, Any]]:
    """The run's script is alive; the answer has the run's `status`."""
    return Call("POST", f"/api/v1/runs/{_segment(run_id)}/heartbeat", _dict, json={}, idempotent=True)

def search_runs(experiment: str | list[str] | None = None, filter: str | None = None,
                order_by: list[str] | str | None = None, limit: int = 100,
                page_token: str | None = None) -> Call[RunPage]:
    body = {"experiment": experiment, "filter": filter, "order_by": order_by, "limit": limit,
            "page_token": page_token}
    return Call("POST", "/api/v1/runs/search", RunPage.model_validate, json=body, idempotent=True)

def count_runs(experiment: str | list[str] | None = None, filter: str | None = None) -> Call[int]:
    return Call("POST", "/api/v1/runs/count", lambda body: int(body["count"]),
                json={"experiment": experiment, "filter": filter}, idempotent=True)

def metric_history(run_id: str, key: str, max_points: int | None = None) -> Call[MetricHistory]:
    params: dict[str, Any] = {"format": "columns", **({"max_points": max_points} if max_points is not None else {})}
    return Call("GET", f"/api/v1/runs/{_segment(run_id)}/metrics/{quote(key, safe='/')}",
                MetricHistory.from_wire, params=params)

def run_children(run_id: str) -> Call[list[Run]]:
    return Call("GET", f"/api/v1/runs/{_segment(run_id)}/children", _list_of("runs", Run.model_validate))

def list_artifacts(run_id: str, path: str = "") -> Call[list[ArtifactFile]]:
    return Call("GET", f"/api/v1/runs/{_segment(run_id)}/artifacts", _list_of("files", ArtifactFile.model_validate),
                params={"path": path})

def upload_artifact(run_id: str, path: str, content: bytes) -> Call[dict[str, Any]]:
    return Call("PUT", f"/api/v1/runs/{_segment(run_id)}/artifacts/{quote(path, safe='/')}", _dict,
                content=content)

def download_artifact(run_id: str, path: str, byte_range: str | None = None) -> Call[bytes]:
    """The file's bytes; `byte_range` (`0-65535`, `-65536` for the last bytes) asks for part of it."""
    return Call("GET", f"/api/v1/runs/{_segment(run_id)}/artifacts/{quote(path, safe='/')}",
                lambda body: body, raw=True, headers={"Range": f"bytes={byte_range}"} if byte_range else {})


def submit_job(pipeline: str, dataset: str | None = None, executor: str | None = None,
               scheduler: str | None = None) -> Call[Job]:
    body = {"pipeline": pipeline, "dataset": dataset, "executor": executor, "scheduler": scheduler}
    return Call("POST", "/api/v1/jobs", Job.model_validate, json=body)


def list_jobs(status: str | None = None, limit: int = 100) -> Call[list[Job]]:
    params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
    return Call("GET", "/api/v1/jobs", _list_of("jobs", Job.model_validate), params=params)


def get_job(job_id: str) -> Call[Job]:
    return Call("GET", f"/api/v1/jobs/{_segment(job_id)}", Job.model_validate)


def job_logs(job_id: str, offset: int = 0, tail: int | None = None) -> Call[JobLog]:
    params: dict[str, Any] = {"offset": offset, **({"tail": tail} if tail else {})}
    return Call("GET", f"/api/v1/jobs/{_segment(job_id)}/logs", JobLog.model_validate, params=params)


def cancel_job(job_id: str) -> Call[Job]:
    return Call("POST", f"/api/v1/jobs/{_segment(job_id)}/cancel", Job.model_validate)


def retry_job(job_id: str) -> Call[Job]:
    return Call("POST", f"/api/v1/jobs/{_segment(job_id)}/retry", Job.model_validate)


def _version_segment(version: int | str) -> str:
    return _segment(str(version))


def add_dataset_version(name: str, filename: str, content: bytes) -> Call[DatasetVersion]:
    """Upload a CSV/Parquet file's bytes; the same bytes again answer the existing version."""
    return Call("POST", f"/api/v1/datasets/{_segment(name)}/versions", DatasetVersion.model_validate,
                params={"filename": filename}, content=content)


def list_datasets() -> Call[list[Dataset]]:
    return Call("GET", "/api/v1/datasets", _list_of("datasets", Dataset.model_validate))


def get_dataset(name: str) -> Call[Dataset]:
    return Call("GET", f"/api/v1/datasets/{_segment(name)}", Dataset.model_validate)


def get_dataset_version(name: str, version: int | str = "latest") -> Call[DatasetVersion]:
    return Call("GET", f"/api/v1/datasets/{_segment(name)}/versions/{_version_segment(version)}",
                DatasetVersion.model_validate)


def diff_datasets(name: str, a: int, b: int) -> Call[DatasetDiff]:
    return Call("GET", f"/api/v1/datasets/{_segment(name)}/diff", DatasetDiff.model_validate,
                params={"a": a, "b": b})


def dataset_version_runs(name: str, version: int | str = "latest") -> Call[list[Run]]:
    return Call("GET", f"/api/v1/datasets/{_segment(name)}/versions/{_version_segment(version)}/runs",
                _list_of("runs", Run.model_validate))


def infer_data_schema(filename: str, content: bytes) -> Call[DataSchema]:
    """Proposed `[validation]` rules for a file; nothing is stored."""
    return Call("POST", "/api/v1/data/schema", DataSchema.model_validate, params={"filename": filename},
                content=content)


# --- the model registry -------------------------------------------------------------------------

def _models(name: str, *rest: str) -> str:
    return "/".join(["/api/v1/models", _segment(name), *rest])


def list_models() -> Call[ModelList]:
    return Call("GET", "/api/v1/models", ModelList.model_validate)


def get_model(name: str) -> Call[ModelDetail]:
    return Call("GET", _models(name), ModelDetail.model_validate)


def register_version(name: str, run_id: str, description: str = "",
                     tags: dict[str, str] | None = None) -> Call[ModelVersion]:
    """Register the run's `model/model.skops` as the model's next version (the model is created
    with its first version)."""
    return Call("POST", _models(name, "versions"), ModelVersion.model_validate,
                json={"run_id": run_id, "description": description, "tags": tags or {}})


def get_version(name: str, version: int) -> Call[ModelVersion]:
    return Call("GET", _models(name, "versions", str(version)), ModelVersion.model_validate)


def get_alias(name: str, alias: str, known_version: int | None = None,
              wait_seconds: float | None = None) -> Call[ModelVersion]:
    """The version `alias` points at (404 when it points nowhere). With `known_version` and
    `wait_seconds`, a long poll: the answer comes when the alias points elsewhere, or after the wait."""
    params: dict[str, Any] = {}
    if known_version is not None and wait_seconds is not None:
        params = {"known_version": known_version, "wait_seconds": wait_seconds}
    return Call("GET", _models(name, "aliases", _segment(alias)), ModelVersion.model_validate, params=params)


def archive_version(name: str, version: int, reason: str = "") -> Call[ModelVersion]:
    return Call("POST", _models(name, "versions", str(version), "archive"), ModelVersion.model_validate,
                json={"reason": reason})


def delete_version(name: str, version: int) -> Call[ModelVersion]:
    return Call("DELETE", _models(name, "versions", str(version)), ModelVersion.model_validate)


def check_gates(name: str, version: int, alias: str) -> Call[GateReport]:
    """The gate report of moving `alias` to `version`, computed now; nothing moves."""
    return Call("POST", _models(name, "gates"), GateReport.model_validate,
                json={"version": version, "alias": alias}, idempotent=True)


_UNSET: Any = object()


def promote(name: str, version: int, alias: str, expected_version: int | None = _UNSET, reason: str = "",
            force: bool = False) -> Call[PromoteResult]:
    """Move `alias` to `version` if the gates pass. `expected_version` (None: the alias points
    nowhere) makes the move compare-and-set: a move that came first is answered 409."""
    body: dict[str, Any] = {"version": version, "alias": alias, "reason": reason, "force": force}
    if expected_version is not _UNSET:
        body["expected_version"] = expected_version
    return Call("POST", _models(name, "promote"), PromoteResult.model_validate, json=body)


def rollback(name: str, alias: str, reason: str = "") -> Call[PromoteResult]:
    """Move `alias` back to the version it held before its last move."""
    return Call("POST", _models(name, "rollback"), PromoteResult.model_validate,
                json={"alias": alias, "reason": reason})


def model_policy(name: str, version: int | None = None) -> Call[Policy]:
    params = {"version": version} if version is not None else {}
    return Call("GET", _models(name, "policy"), Policy.model_validate, params=params)


def model_events(name: str, at: int | None = None, alias: str | None = None) -> Call[EventList]:
    """The model's audit trail, oldest first; `at` (epoch ms) keeps the events up to then and says
    which version each alias held at that moment."""
    params: dict[str, Any] = {k: v for k, v in {"at": at, "alias": alias}.items() if v is not None}
    return Call("GET", _models(name, "events"), EventList.model_validate, params=params)


def verify_model(name: str) -> Call[ChainCheck]:
    return Call("GET", _models(name, "verify"), ChainCheck.model_validate)


def list_requests(name: str, status: str | None = None) -> Call[RequestList]:
    params = {"status": status} if status else {}
    return Call("GET", _models(name, "requests"), RequestList.model_validate, params=params)


def approve_request(name: str, request_id: str, reason: str = "") -> Call[ApprovalRequest]:
    return Call("POST", _models(name, "requests", _segment(request_id), "approve"),
                ApprovalRequest.model_validate, json={"reason": reason})


def reject_request(name: str, request_id: str, reason: str = "") -> Call[ApprovalRequest]:
    return Call("POST", _models(name, "requests", _segment(request_id), "reject"),
                ApprovalRequest.model_validate, json={"reason": reason})


# --- serving and monitoring -------------------------------------------------------------------

def _model_target(name: str, ref: int | str) -> str:
    """`.../aliases/{alias}` for an alias (a str), `.../versions/{n}` for a version (an int)."""
    if isinstance(ref, int):
        return _models(name, "versions", str(ref))
    return _models(name, "aliases", _segment(ref))


def predict(name: str, ref: int | str, payload: dict[str, Any], proba: bool = False) -> Call[Prediction]:
    """Predict the rows of `payload` (MLflow's scoring JSON: `dataframe_split`, `dataframe_records` or
    `instances`) with version `ref` (an int) or the version alias `ref` (a str) points at."""
    return Call("POST", _model_target(name, ref) + "/predict", Prediction.model_validate, json=payload,
                params={"proba": "true"} if proba else {})


def predict_csv(name: str, ref: int | str, content: bytes, proba: bool = False) -> Call[Prediction]:
    """Predict the rows of a CSV file (a header row, then one row per prediction)."""
    return Call("POST", _model_target(name, ref) + "/predict", Prediction.model_validate, content=content,
                headers={"Content-Type": CSV_MEDIA_TYPE}, params={"proba": "true"} if proba else {})


def download_model(name: str, version: int) -> Call[bytes]:
    """The version's model file (skops), as registered; the answer's `X-Mlops-Sha256` is its hash."""
    return Call("GET", _models(name, "versions", str(version), "model"), lambda body: body, raw=True)


def send_feedback(name: str, labels: list[dict[str, Any]]) -> Call[FeedbackAck]:
    """True labels for predicted rows: `[{"request_id", "label"}]`."""
    return Call("POST", _models(name, "feedback"), FeedbackAck.model_validate, json={"labels": labels},
                idempotent=True)


def monitor(name: str, alias: str | None = None, window: str | None = None,
            at: int | None = None) -> Call[MonitorStatus]:
    """The model's live health over `window` (`15m`, `1h`, `5000r`; the model's default when None), as it
    was at `at` (epoch ms; now when None)."""
    params = {k: v for k, v in {"alias": alias, "window": window, "at": at}.items() if v is not None}
    return Call("GET", _models(name, "monitor"), MonitorStatus.model_validate, params=params)


def monitoring_health() -> Call[HealthList]:
    """Every aliased model's traffic, latency, errors and drifting features over the last minutes."""
    return Call("GET", "/api/v1/monitoring/health", HealthList.model_validate)


def send_records(batch: RecordBatch) -> Call[RecordAck]:
    """A replica's measurements since its last batch."""
    return Call("POST", "/api/v1/monitoring/records", RecordAck.model_validate,
                json=batch.model_dump(mode="json", exclude_none=True))


def prometheus_metrics() -> Call[bytes]:
    """`GET /metrics`: Prometheus' text exposition format."""
    return Call("GET", "/metrics", lambda body: body, raw=True)


# --- alerts, webhooks and continuous training ---------------------------------------------------------


def _present(**params: Any) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def list_alerts(status: str | None = None, model: str | None = None, limit: int = 200) -> Call[AlertList]:
    """Alerts, open first; `status` is open, acknowledged, resolved or active (open or acknowledged)."""
    return Call("GET", "/api/v1/alerts", AlertList.model_validate,
                params=_present(status=status, model=model, limit=limit))


def alert_summary() -> Call[AlertSummary]:
    return Call("GET", "/api/v1/alerts/summary", AlertSummary.model_validate)


def get_alert(alert_id: str) -> Call[Alert]:
    return Call("GET", f"/api/v1/alerts/{_segment(alert_id)}", Alert.model_validate)


def ack_alert(alert_id: str, note: str = "") -> Call[Alert]:
    """Acknowledge as the `X-Mlops-User` (acknowledging twice changes nothing)."""
    return Call("POST", f"/api/v1/alerts/{_segment(alert_id)}/ack", Alert.model_validate, json={"note": note},
                idempotent=True)


def resolve_alert(alert_id: str, note: str) -> Call[Alert]:
    """Resolve by hand, with a note."""
    return Call("POST", f"/api/v1/alerts/{_segment(alert_id)}/resolve", Alert.model_validate,
                json={"note": note}, idempotent=True)


def list_deliveries(model: str | None = None, status: str | None = None, limit: int = 100) -> Call[DeliveryList]:
    """The webhook delivery log, newest first."""
    return Call("GET", "/api/v1/webhooks/deliveries", DeliveryList.model_validate,
                params=_present(model=model, status=status, limit=limit))


def webhook_test() -> Call[WebhookTestAnswer]:
    """Queue a `webhook.test` event for the server's webhook (409 when none is configured)."""
    return Call("POST", "/api/v1/webhooks/test", WebhookTestAnswer.model_validate)


def model_lifecycle(name: str) -> Call[Lifecycle]:
    """The model's alert rules, retrain policy, webhook and continuous-training state."""
    return Call("GET", _models(name, "lifecycle"), Lifecycle.model_validate)


def retrain(name: str, dry_run: bool = False, force: bool = False) -> Call[RetrainAnswer]:
    """Fire the model's retrain policy by hand (a dry run starts nothing)."""
    return Call("POST", _models(name, "retrain"), RetrainAnswer.model_validate,
                json={"dry_run": dry_run, "force": force}, idempotent=dry_run)


def list_retrains(name: str, limit: int = 50) -> Call[RetrainList]:
    """The model's retrains (triggers and outcomes), newest first."""
    return Call("GET", _models(name, "retrains"), RetrainList.model_validate, params={"limit": limit})


def get_retrain(name: str, retrain_id: str) -> Call[Retrain]:
    """One retrain as it stands now."""
    return Call("GET", _models(name, "retrains", _segment(retrain_id)), Retrain.model_validate)


def shadow(name: str, alias: str = "production") -> Call[ShadowComparison]:
    """The champion and the shadow side by side on the same live requests (404 when none runs)."""
    return Call("GET", _models(name, "shadow"), ShadowComparison.model_validate, params={"alias": alias})


def import_runs(batch: RunImport) -> Call[RunImportAnswer]:
    """Upsert a batch of whole runs from another tracker; sending it again adds nothing."""
    return Call("POST", "/api/v1/import/runs", RunImportAnswer.model_validate, json=batch.model_dump(mode="json"),
                idempotent=True)


def import_models(batch: ModelImport) -> Call[ModelImportAnswer]:
    """Registered models, versions (kept under their numbers) and aliases; sending it again adds nothing."""
    return Call("POST", "/api/v1/import/models", ModelImportAnswer.model_validate,
                json=batch.model_dump(mode="json"), idempotent=True)


def whoami() -> Call[WhoAmI]:
    """Who the client acts as, and with which role."""
    return Call("GET", "/api/v1/auth/whoami", WhoAmI.model_validate)


def list_tokens() -> Call[TokenList]:
    return Call("GET", "/api/v1/auth/tokens", TokenList.model_validate)


def create_token(name: str, role: Role) -> Call[TokenCreated]:
    """A new token: the answer carries its secret, shown this once."""
    return Call("POST", "/api/v1/auth/tokens", TokenCreated.model_validate,
                json=TokenRequest(name=name, role=role).model_dump(mode="json"))


def revoke_token(token_id: str) -> Call[Token]:
    return Call("DELETE", f"/api/v1/auth/tokens/{quote(token_id, safe='')}", Token.model_validate, idempotent=True)


def server_backup() -> Call[bytes]:
    """A consistent copy of the server's database (SQLite), taken now; `Client.save_backup` streams it to a file."""
    return Call("GET", "/api/v1/server/backup", bytes, raw=True)
