"""The rows the store returns, as typed dictionaries: plain JSON-ready dicts that mypy can check."""
from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class ExperimentRow(TypedDict):
    id: str
    name: str
    created_at: int
    lifecycle_stage: str
    tags: dict[str, str]
    run_count: NotRequired[int]
    last_run_time: NotRequired[int | None]


class MetricStats(TypedDict):
    value: float
    step: int
    timestamp: int
    min: float
    max: float
    count: int


class RunRow(TypedDict):
    id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    parent_id: str | None
    user_id: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    child_count: int
    metric_stats: NotRequired[dict[str, MetricStats]]


class JobRow(TypedDict):
    id: str
    kind: str
    status: str
    name: str
    config_hash: str
    experiment_id: str | None
    run_id: str | None
    dataset: str | None
    executor: str
    scheduler: str | None
    created_at: int
    started_at: int | None
    ended_at: int | None
    pid: int | None
    progress_done: int
    progress_total: int
    error: str | None
    error_kind: str | None
    retry_of: str | None
    cancel_requested: bool
    config: NotRequired[dict[str, Any]]
    config_toml: NotRequired[str | None]
    report: NotRequired[dict[str, Any] | None]


class DatasetVersion(TypedDict):
    name: str
    version: int
    ref: str
    sha256: str
    format: str
    filename: str | None
    size_bytes: int
    rows: int
    schema: dict[str, str]
    created_at: int
    stats: NotRequired[dict[str, Any]]


class DatasetSummary(TypedDict):
    name: str
    description: str | None
    created_at: int
    version_count: int
    latest_version: int | None
    latest_rows: int | None
    updated_at: int | None


class DatasetDetail(DatasetSummary):
    versions: list[DatasetVersion]


class VersionRow(TypedDict):
    """A registered model version (`model_versions`), JSON columns decoded."""
    name: str
    version: int
    status: str
    run_id: str
    best_run_id: str | None
    job_id: str | None
    dataset: str | None
    pipeline_hash: str | None
    primary_metric: str | None
    primary_value: float | None
    metrics: dict[str, float]
    model_path: str
    """Relative to the run's artifact root."""
    sha256: str
    size_bytes: int
    signature: dict[str, Any]
    created_at: int
    created_by: str
    description: str
    tags: dict[str, str]
    experiment_id: NotRequired[str]
    """The source run's experiment (to find its artifact root), when the store joined it."""
    reference: NotRequired[dict[str, Any] | None]
    pipeline: NotRequired[dict[str, Any] | None]
    """The pipeline file (as parsed JSON) that trained it: split, primary metric, `[promote]` policy."""
    model_format: NotRequired[str]
    """`skops` (native) or `mlflow` (an MLmodel folder, never loaded; `model_path` is then relative to the
    home's artifact root)."""
    source: NotRequired[str | None]
    logged_model_id: NotRequired[str | None]


class RequestRow(TypedDict):
    """An approval request (`approval_requests`), JSON columns decoded; shaped as the contract's
    `ApprovalRequest`."""
    id: str
    model: str
    alias: str
    version: int
    expected_version: int | None
    requester: str
    reason: str
    forced: bool
    status: str
    approvals_needed: int
    approvers: list[str]
    decided_by: str | None
    decision_reason: str
    created_at: int
    expires_at: int
    decided_at: int | None
    report: dict[str, Any] | None
