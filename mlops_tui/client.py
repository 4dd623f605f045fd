"""The typed client: the only way the CLI, the TUI and the SDK reach the backend.

`Client` is synchronous, `AsyncClient` asynchronous; both send the same `api.Call`s and raise
`MlopsError` carrying the server's message and the field at fault.
"""
from __future__ import annotations

import getpass
import os
import time
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from . import api
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
from .contract.atomic import atomic_file
from .contract.auth import Role, Token, TokenCreated, TokenList, WhoAmI
from .contract.defaults import DEFAULT_URL
from .contract.imports import ModelImport, ModelImportAnswer, RunImport, RunImportAnswer
from .contract.monitoring import FeedbackAck, HealthList, MonitorStatus, Prediction, RecordAck, RecordBatch
from .contract.registry import (
    USER_HEADER,
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
from .contract.retrain import Lifecycle, Retrain, RetrainAnswer, RetrainList, ShadowComparison
from .credentials import configured_token

T = TypeVar("T")


class MlopsError(Exception):
    """An error from the backend (with `status` and `field`) or from reaching it (`status` None)."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    @property
    def unreachable(self) -> bool:
        return self.status is None


RETRY_STATUSES = (502, 503, 504)
"""Answers a retrying client waits through (a proxy in front of a restarting backend)."""
FIRST_RETRY_DELAY, MAX_RETRY_DELAY = 0.2, 5.0


class BadUrl(ValueError):
    """The backend URL (`--url` or `MLOPS_URL`) is not a valid http(s) URL."""


def resolve_url(url: str | None = None) -> str:
    """The backend URL to use: `url`, else `MLOPS_URL`, else the default; `BadUrl` when malformed."""
    text = (url or os.environ.get("MLOPS_URL") or DEFAULT_URL).rstrip("/")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise BadUrl(f"backend URL {text!r} (--url or MLOPS_URL) is not valid: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadUrl(f"backend URL {text!r} (--url or MLOPS_URL) must look like http://HOST:PORT")
    return text


def _headers(token: str | None, user: str | None = None) -> dict[str, str]:
    token = token if token is not None else configured_token()
    return {**api.CLIENT_HEADERS, USER_HEADER: user or current_user(),
            **({"Authorization": f"Bearer {token}"} if token else {})}


def current_user() -> str:
    """Who the registry records as acting: `MLOPS_USER`, else the OS user this process runs as."""
    found = os.environ.get("MLOPS_USER")
    if found:
        return found
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"uid-{os.getuid()}"


def _request_args(call: api.Call[Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"params": call.params or None}
    if call.json is not None:
        args["content"] = orjson.dumps(call.json)
        args["headers"] = {"Content-Type": "application/json"}
    elif call.content is not None:
        args["content"] = call.content
    if call.headers:
        args["headers"] = {**args.get("headers", {}), **call.headers}
    return args


def _parse(call: api.Call[T], response: httpx.Response) -> T:
    """The answer as the call's model; anything but a 2xx (a redirect included) is an `MlopsError`."""
    if response.status_code >= 400:
        try:
            body = response.json()
            message, field = str(body.get("detail", response.text)), body.get("field")
        except (ValueError, AttributeError):
            message, field = response.text or response.reason_phrase, None
        raise MlopsError(message, response.status_code, field)
    if not 200 <= response.status_code < 300:
        raise MlopsError(f"unexpected answer {response.status_code} {response.reason_phrase} to "
                         f"{call.method} {call.path}", response.status_code)
    if call.raw:
        return call.parse(response.content)
    return call.parse(orjson.loads(response.content) if response.content else None)


def _unreachable(url: str, error: Exception) -> MlopsError:
    return MlopsError(f"cannot reach the backend at {url}: {error}")


class _Retryable(Exception):
    """A failure a retrying client may wait through; carries the error raised when it gives up."""

    def __init__(self, error: MlopsError) -> None:
        super().__init__(error.message)
        self.error = error


def _never_sent(error: httpx.TransportError) -> bool:
    """The request did not reach the server (refused, no route, no free connection): any call may
    be sent again without doing anything twice."""
    return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class Client:
    """Synchronous client. `Client(url=None)` uses `MLOPS_URL` or the default address.

    With `retry_seconds > 0` a call that cannot reach the backend (or gets 502/503/504) is sent again
    with backoff (0.2 s doubling to 5 s) until it succeeds or that many seconds have passed since
    the first failure: a backend restart is waited through. Only calls that are safe to repeat are
    retried once they may have reached the server (`api.Call.retry_safe`); a refused connection is
    retried for every call."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, retry_seconds: float = 0.0,
                 user: str | None = None) -> None:
        self.url = resolve_url(url)
        self.retry_seconds = retry_seconds
        self._http = httpx.Client(base_url=self.url, headers=_headers(token, user), timeout=timeout,
                                  transport=transport)

    def send(self, call: api.Call[T]) -> T:
        deadline: float | None = None
        delay = FIRST_RETRY_DELAY
        while True:
            try:
                return self._send_once(call)
            except _Retryable as retryable:
                now = time.monotonic()
                deadline = now + self.retry_seconds if deadline is None else deadline
                if now >= deadline:
                    raise retryable.error from None
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, MAX_RETRY_DELAY)

    def _send_once(self, call: api.Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **_request_args(call))
        except httpx.TransportError as error:
            failure = _unreachable(self.url, error)
            if self.retry_seconds > 0 and (_never_sent(error) or call.retry_safe):
                raise _Retryable(failure) from None
            raise failure from None
        if self.retry_seconds > 0 and call.retry_safe and response.status_code in RETRY_STATUSES:
            try:
                _parse(call, response)
            except MlopsError as error:
                raise _Retryable(error) from None
        return _parse(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> Health:
        return self.send(api.health())

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        return self.send(api.list_experiments(include_deleted))

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        return self.send(api.create_experiment(name, tags))

    def get_experiment(self, ref: str) -> Experiment:
        return self.send(api.get_experiment(ref))

    def delete_experiment(self, ref: str) -> Experiment:
        return self.send(api.delete_experiment(ref))

    def experiment_keys(self, ref: str) -> ExperimentKeys:
        return self.send(api.experiment_keys(ref))

    def create_run(self, experiment: str | None = None, name: str | None = None,
                   tags: dict[str, str] | None = None, parent_id: str | None = None) -> Run:
        return self.send(api.create_run(experiment, name, tags, parent_id))

    def get_run(self, run_id: str) -> Run:
        return self.send(api.get_run(run_id))

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   name: str | None = None) -> Run:
        return self.send(api.update_run(run_id, status, end_time, name))

    def delete_run(self, run_id: str) -> None:
        self.send(api.delete_run(run_id))

    def log_batch(self, run_id: str, params: dict[str, Any] | None = None,
                  metrics: list[dict[str, Any]] | None = None, tags: dict[str, str] | None = None,
                  series: list[dict[str, Any]] | None = None, batch_id: str | None = None) -> dict[str, Any]:
        """Store a batch; retried (with `retry_seconds`) under one `batch_id`, so it is stored once."""
        return self.send(api.log_batch(run_id, params, metrics, tags, series, batch_id))

    def heartbeat(self, run_id: str) -> dict[str, Any]:
        """One attempt, never retried: a missed heartbeat is harmless, the next one follows."""
        try:
            return self._send_once(api.run_heartbeat(run_id))
        except _Retryable as retryable:
            raise retryable.error from None

    def search_runs(self, experiment: str | list[str] | None = None, filter: str | None = None,
                    order_by: list[str] | str | None = None, limit: int = 100,
                    page_token: str | None = None) -> RunPage:
        return self.send(api.search_runs(experiment, filter, order_by, limit, page_token))

    def count_runs(self, experiment: str | list[str] | None = None, filter: str | None = None) -> int:
        return self.send(api.count_runs(experiment, filter))

    def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        return self.send(api.metric_history(run_id, key, max_points))

    def run_children(self, run_id: str) -> list[Run]:
        return self.send(api.run_children(run_id))

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]:
        return self.send(api.list_artifacts(run_id, path))

    def upload_artifact(self, run_id: str, path: str, content: bytes) -> dict[str, Any]:
        return self.send(api.upload_artifact(run_id, path, content))

    def download_artifact(self, run_id: str, path: str) -> bytes:
        return self.send(api.download_artifact(run_id, path))

    def save_backup(self, target: Path) -> dict[str, int | None]:
        """Stream a backup of the server's database into `target` (written whole or not at all):
        `{"bytes", "schema_version"}`."""
        call = api.server_backup()
        try:
            with self._http.stream(call.method, call.path) as response:
                if response.status_code != 200:
                    response.read()
                    _parse(call, response)
                with atomic_file(target, ".backup-") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                schema = response.headers.get("X-Mlops-Schema-Version", "")
        except httpx.TransportError as error:
            raise _unreachable(self.url, error) from None
        return {"bytes": target.stat().st_size, "schema_version": int(schema) if schema.isdigit() else None}

    def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                   scheduler: str | None = None) -> Job:
        return self.send(api.submit_job(pipeline, dataset, executor, scheduler))

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[Job]:
        return self.send(api.list_jobs(status, limit))

    def get_job(self, job_id: str) -> Job:
        return self.send(api.get_job(job_id))

    def job_logs(self, job_id: str, offset: int = 0, tail: int | None = None) -> JobLog:
        return self.send(api.job_logs(job_id, offset, tail))

    def cancel_job(self, job_id: str) -> Job:
        return self.send(api.cancel_job(job_id))

    def retry_job(self, job_id: str) -> Job:
        return self.send(api.retry_job(job_id))

    def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion:
        return self.send(api.add_dataset_version(name, filename, content))

    def list_datasets(self) -> list[Dataset]:
        return self.send(api.list_datasets())

    def get_dataset(self, name: str) -> Dataset:
        return self.send(api.get_dataset(name))

    def get_dataset_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        return self.send(api.get_dataset_version(name, version))

    def diff_datasets(self, name: str, a: int, b: int) -> DatasetDiff:
        return self.send(api.diff_datasets(name, a, b))

    def dataset_version_runs(self, name: str, version: int | str = "latest") -> list[Run]:
        return self.send(api.dataset_version_runs(name, version))

    def infer_data_schema(self, filename: str, content: bytes) -> DataSchema:
        return self.send(api.infer_data_schema(filename, content))

    # --- the model registry ---

    def list_models(self) -> ModelList:
        return self.send(api.list_models())

    def get_model(self, name: str) -> ModelDetail:
        return self.send(api.get_model(name))

    def register_version(self, name: str, run_id: str, description: str = "",
                         tags: dict[str, str] | None = None) -> ModelVersion:
        return self.send(api.register_version(name, run_id, description, tags))

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.send(api.get_version(name, version))

    def get_alias(self, name: str, alias: str, known_version: int | None = None,
                  wait_seconds: float | None = None) -> ModelVersion:
        return self.send(api.get_alias(name, alias, known_version, wait_seconds))

    def archive_version(self, name: str, version: int, reason: str = "") -> ModelVersion:
        return self.send(api.archive_version(name, version, reason))

    def delete_version(self, name: str, version: int) -> ModelVersion:
        return self.send(api.delete_version(name, version))

    def check_gates(self, name: str, version: int, alias: str) -> GateReport:
        return self.send(api.check_gates(name, version, alias))

    def promote(self, name: str, version: int, alias: str, expected_version: int | None = api._UNSET,
                reason: str = "", force: bool = False) -> PromoteResult:
        return self.send(api.promote(name, version, alias, expected_version, reason, force))

    def rollback(self, name: str, alias: str, reason: str = "") -> PromoteResult:
        return self.send(api.rollback(name, alias, reason))

    def model_policy(self, name: str, version: int | None = None) -> Policy:
        return self.send(api.model_policy(name, version))

    def model_events(self, name: str, at: int | None = None, alias: str | None = None) -> EventList:
        return self.send(api.model_events(name, at, alias))

    def verify_model(self, name: str) -> ChainCheck:
        return self.send(api.verify_model(name))

    def list_requests(self, name: str, status: str | None = None) -> RequestList:
        return self.send(api.list_requests(name, status))

    def approve_request(self, name: str, request_id: str, reason: str = "") -> ApprovalRequest:
        return self.send(api.approve_request(name, request_id, reason))

    def reject_request(self, name: str, request_id: str, reason: str = "") -> ApprovalRequest:
        return self.send(api.reject_request(name, request_id, reason))

    # serving and monitoring

    def predict(self, name: str, ref: int | str, payload: dict[str, Any], proba: bool = False) -> Prediction:
        return self.send(api.predict(name, ref, payload, proba))

    def predict_csv(self, name: str, ref: int | str, content: bytes, proba: bool = False) -> Prediction:
        return self.send(api.predict_csv(name, ref, content, proba))

    def download_model(self, name: str, version: int) -> bytes:
        return self.send(api.download_model(name, version))

    def send_feedback(self, name: str, labels: list[dict[str, Any]]) -> FeedbackAck:
        return self.send(api.send_feedback(name, labels))

    def monitor(self, name: str, alias: str | None = None, window: str | None = None,
                at: int | None = None) -> MonitorStatus:
        return self.send(api.monitor(name, alias, window, at))

    def monitoring_health(self) -> HealthList:
        return self.send(api.monitoring_health())

    def send_records(self, batch: RecordBatch) -> RecordAck:
        return self.send(api.send_records(batch))

    def prometheus_metrics(self) -> bytes:
        return self.send(api.prometheus_metrics())

    # alerts, webhooks and continuous training

    def list_alerts(self, status: str | None = None, model: str | None = None, limit: int = 200) -> AlertList:
        return self.send(api.list_alerts(status, model, limit))

    def alert_summary(self) -> AlertSummary:
        return self.send(api.alert_summary())

    def get_alert(self, alert_id: str) -> Alert:
        return self.send(api.get_alert(alert_id))

    def ack_alert(self, alert_id: str, note: str = "") -> Alert:
        return self.send(api.ack_alert(alert_id, note))

    def resolve_alert(self, alert_id: str, note: str) -> Alert:
        return self.send(api.resolve_alert(alert_id, note))

    def list_deliveries(self, model: str | None = None, status: str | None = None,
                              limit: int = 100) -> DeliveryList:
        return self.send(api.list_deliveries(model, status, limit))

    def webhook_test(self) -> WebhookTestAnswer:
        return self.send(api.webhook_test())

    def model_lifecycle(self, name: str) -> Lifecycle:
        return self.send(api.model_lifecycle(name))

    def retrain(self, name: str, dry_run: bool = False, force: bool = False) -> RetrainAnswer:
        return self.send(api.retrain(name, dry_run, force))

    def list_retrains(self, name: str, limit: int = 50) -> RetrainList:
        return self.send(api.list_retrains(name, limit))

    def get_retrain(self, name: str, retrain_id: str) -> Retrain:
        return self.send(api.get_retrain(name, retrain_id))

    def shadow(self, name: str, alias: str = "production") -> ShadowComparison:
        return self.send(api.shadow(name, alias))

    def import_runs(self, batch: RunImport) -> RunImportAnswer:
        return self.send(api.import_runs(batch))

    def import_models(self, batch: ModelImport) -> ModelImportAnswer:
        return self.send(api.import_models(batch))

    # users and roles
    def whoami(self) -> WhoAmI:
        return self.send(api.whoami())

    def list_tokens(self) -> TokenList:
        return self.send(api.list_tokens())

    def create_token(self, name: str, role: Role) -> TokenCreated:
        return self.send(api.create_token(name, role))

    def revoke_token(self, token_id: str) -> Token:
        return self.send(api.revoke_token(token_id))


class AsyncClient:
    """Asynchronous client with the same methods as `Client`, for the TUI's workers."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, user: str | None = None) -> None:
        self.url = resolve_url(url)
        self._http = httpx.AsyncClient(base_url=self.url, headers=_headers(token, user), timeout=timeout,
                                       transport=transport)

    async def send(self, call: api.Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **_request_args(call))
        except httpx.TransportError as error:
            raise _unreachable(self.url, error) from None
        return _parse(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health(self) -> Health:
        return await self.send(api.health())

    async def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        return await self.send(api.list_experiments(include_deleted))

    async def get_experiment(self, ref: str) -> Experiment:
        return await self.send(api.get_experiment(ref))

    async def experiment_keys(self, ref: str) -> ExperimentKeys:
        return await self.send(api.experiment_keys(ref))

    async def get_run(self, run_id: str) -> Run:
        return await self.send(api.get_run(run_id))

    async def search_runs(self, experiment: str | list[str] | None = None, filter: str | None = None,
                          order_by: list[str] | str | None = None, limit: int = 100,
                          page_token: str | None = None) -> RunPage:
        return await self.send(api.search_runs(experiment, filter, order_by, limit, page_token))

    async def count_runs(self, experiment: str | list[str] | None = None, filter: str | None = None) -> int:
        return await self.send(api.count_runs(experiment, filter))

    async def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        return await self.send(api.metric_history(run_id, key, max_points))

    async def run_children(self, run_id: str) -> list[Run]:
        return await self.send(api.run_children(run_id))

    async def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]:
        return await self.send(api.list_artifacts(run_id, path))

    async def download_artifact(self, run_id: str, path: str, byte_range: str | None = None) -> bytes:
        return await self.send(api.download_artifact(run_id, path, byte_range))

    async def list_datasets(self) -> list[Dataset]:
        return await self.send(api.list_datasets())

    async def get_dataset(self, name: str) -> Dataset:
        return await self.send(api.get_dataset(name))

    async def get_dataset_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        return await self.send(api.get_dataset_version(name, version))

    async def diff_datasets(self, name: str, a: int, b: int) -> DatasetDiff:
        return await self.send(api.diff_datasets(name, a, b))

    async def dataset_version_runs(self, name: str, version: int | str = "latest") -> list[Run]:
        return await self.send(api.dataset_version_runs(name, version))

    async def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                         scheduler: str | None = None) -> Job:
        return await self.send(api.submit_job(pipeline, dataset, executor, scheduler))

    async def list_jobs(self, status: str | None = None, limit: int = 100) -> list[Job]:
        return await self.send(api.list_jobs(status, limit))

    async def get_job(self, job_id: str) -> Job:
        return await self.send(api.get_job(job_id))

    async def job_logs(self, job_id: str, offset: int = 0, tail: int | None = None) -> JobLog:
        return await self.send(api.job_logs(job_id, offset, tail))

    async def cancel_job(self, job_id: str) -> Job:
        return await self.send(api.cancel_job(job_id))

    async def retry_job(self, job_id: str) -> Job:
        return await self.send(api.retry_job(job_id))

    async def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion:
        return await self.send(api.add_dataset_version(name, filename, content))

    # --- the model registry ---

    async def list_models(self) -> ModelList:
        return await self.send(api.list_models())

    async def get_model(self, name: str) -> ModelDetail:
        return await self.send(api.get_model(name))

    async def register_version(self, name: str, run_id: str, description: str = "",
                               tags: dict[str, str] | None = None) -> ModelVersion:
        return await self.send(api.register_version(name, run_id, description, tags))

    async def get_version(self, name: str, version: int) -> ModelVersion:
        return await self.send(api.get_version(name, version))

    async def get_alias(self, name: str, alias: str, known_version: int | None = None,
                        wait_seconds: float | None = None) -> ModelVersion:
        return await self.send(api.get_alias(name, alias, known_version, wait_seconds))

    async def archive_version(self, name: str, version: int, reason: str = "") -> ModelVersion:
        return await self.send(api.archive_version(name, version, reason))

    async def delete_version(self, name: str, version: int) -> ModelVersion:
        return await self.send(api.delete_version(name, version))

    async def check_gates(self, name: str, version: int, alias: str) -> GateReport:
        return await self.send(api.check_gates(name, version, alias))

    async def promote(self, name: str, version: int, alias: str, expected_version: int | None = api._UNSET,
                      reason: str = "", force: bool = False) -> PromoteResult:
        return await self.send(api.promote(name, version, alias, expected_version, reason, force))

    async def rollback(self, name: str, alias: str, reason: str = "") -> PromoteResult:
        return await self.send(api.rollback(name, alias, reason))

    async def model_policy(self, name: str, version: int | None = None) -> Policy:
        return await self.send(api.model_policy(name, version))

    async def model_events(self, name: str, at: int | None = None, alias: str | None = None) -> EventList:
        return await self.send(api.model_events(name, at, alias))

    async def verify_model(self, name: str) -> ChainCheck:
        return await self.send(api.verify_model(name))

    async def list_requests(self, name: str, status: str | None = None) -> RequestList:
        return await self.send(api.list_requests(name, status))

    async def approve_request(self, name: str, request_id: str, reason: str = "") -> ApprovalRequest:
        return await self.send(api.approve_request(name, request_id, reason))

    async def reject_request(self, name: str, request_id: str, reason: str = "") -> ApprovalRequest:
        return await self.send(api.reject_request(name, request_id, reason))

    # serving and monitoring

    async def predict(self, name: str, ref: int | str, payload: dict[str, Any], proba: bool = False) -> Prediction:
        return await self.send(api.predict(name, ref, payload, proba))

    async def send_feedback(self, name: str, labels: list[dict[str, Any]]) -> FeedbackAck:
        return await self.send(api.send_feedback(name, labels))

    async def monitor(self, name: str, alias: str | None = None, window: str | None = None,
                      at: int | None = None) -> MonitorStatus:
        return await self.send(api.monitor(name, alias, window, at))

    async def monitoring_health(self) -> HealthList:
        return await self.send(api.monitoring_health())

    # alerts, webhooks and continuous training

    async def list_alerts(self, status: str | None = None, model: str | None = None, limit: int = 200) -> AlertList:
        return await self.send(api.list_alerts(status, model, limit))

    async def alert_summary(self) -> AlertSummary:
        return await self.send(api.alert_summary())

    async def get_alert(self, alert_id: str) -> Alert:
        return await self.send(api.get_alert(alert_id))

    async def ack_alert(self, alert_id: str, note: str = "") -> Alert:
        return await self.send(api.ack_alert(alert_id, note))

    async def resolve_alert(self, alert_id: str, note: str) -> Alert:
        return await self.send(api.resolve_alert(alert_id, note))

    async def list_deliveries(self, model: str | None = None, status: str | None = None,
                                    limit: int = 100) -> DeliveryList:
        return await self.send(api.list_deliveries(model, status, limit))

    async def webhook_test(self) -> WebhookTestAnswer:
        return await self.send(api.webhook_test())

    async def model_lifecycle(self, name: str) -> Lifecycle:
        return await self.send(api.model_lifecycle(name))

    async def retrain(self, name: str, dry_run: bool = False, force: bool = False) -> RetrainAnswer:
        return await self.send(api.retrain(name, dry_run, force))

    async def list_retrains(self, name: str, limit: int = 50) -> RetrainList:
        return await self.send(api.list_retrains(name, limit))

    async def get_retrain(self, name: str, retrain_id: str) -> Retrain:
        return await self.send(api.get_retrain(name, retrain_id))

    async def shadow(self, name: str, alias: str = "production") -> ShadowComparison:
        return await self.send(api.shadow(name, alias))

    # users and roles
    async def whoami(self) -> WhoAmI:
        return await self.send(api.whoami())
