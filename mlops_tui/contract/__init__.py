"""The one contract of the native API, imported by both sides: the backend declares its routes
with these models and the client parses answers into them.

Only the standard library and pydantic may be imported here (never FastAPI, httpx, Textual,
pandas, numpy or `backend`), so the backend can import it without pulling in the console.

- `requests`: request bodies and the text rules they share with the backend's checks
- `responses`: response models, including the error body `{"detail", "field", "code"}`
- `status`: the run and job status words
- `tags`: the `mlops.*` tag keys the system writes on runs
"""
from __future__ import annotations

from . import tags
from .clock import now_ms
from .requests import (
    KEY_PATTERN,
    MAX_KEY,
    MAX_NAME,
    MAX_PARAM_VALUE,
    MAX_PIPELINE_CHARS,
    MAX_TAG_VALUE,
    ExperimentCreate,
    ExperimentUpdate,
    Int64,
    InvalidText,
    JobCreate,
    LogBatch,
    MetricPointIn,
    RunCreate,
    RunSearch,
    RunUpdate,
    SeriesBatch,
    Strict,
    check_unicode,
    not_unicode_message,
)
from .responses import (
    ArtifactFile,
    ColumnShift,
    DataSchema,
    Dataset,
    DatasetDiff,
    DatasetVersion,
    DatasetVersionSummary,
    DtypeChange,
    ErrorBody,
    Experiment,
    ExperimentKeys,
    Health,
    Heartbeat,
    Job,
    JobLog,
    MetricHistory,
    MetricPoint,
    MetricStats,
    Run,
    RunPage,
)
from .status import JOB_ACTIVE, JOB_ENDED, JOB_RETRYABLE, RUN_ENDED, JobStatus, RunStatus

__all__ = [
    "JOB_ACTIVE", "JOB_ENDED", "JOB_RETRYABLE", "KEY_PATTERN", "MAX_KEY", "MAX_NAME", "MAX_PARAM_VALUE",
    "MAX_PIPELINE_CHARS", "MAX_TAG_VALUE", "RUN_ENDED", "ArtifactFile", "ColumnShift", "DataSchema", "Dataset",
    "DatasetDiff", "DatasetVersion", "DatasetVersionSummary", "DtypeChange", "ErrorBody", "Experiment",
    "ExperimentCreate", "ExperimentKeys", "ExperimentUpdate", "Health", "Heartbeat", "Int64", "InvalidText",
    "Job", "JobCreate", "JobLog", "JobStatus", "LogBatch", "MetricHistory", "MetricPoint", "MetricPointIn",
    "MetricStats", "Run", "RunCreate", "RunPage", "RunSearch", "RunStatus", "RunUpdate", "SeriesBatch", "Strict",
    "check_unicode", "not_unicode_message", "now_ms", "tags",
]
