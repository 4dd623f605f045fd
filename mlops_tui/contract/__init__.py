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
    DATASET_NAME_RULE,
    FILENAME_RULE,
    KEY_PATTERN,
    KEY_RULE,
    MAX_KEY,
    MAX_NAME,
    MAX_PAGE,
    MAX_PARAM_VALUE,
    MAX_PIPELINE_CHARS,
    MAX_SAFE_INT,
    MAX_TAG_VALUE,
    NAME_RULE,
    VERSION_RULE,
    ExperimentCreate,
    ExperimentUpdate,
    InvalidText,
    JobCreate,
    LogBatch,
    MetricPointIn,
    RunCountQuery,
    RunCreate,
    RunSearch,
    RunUpdate,
    SafeInt,
    SeriesBatch,
    Strict,
    check_unicode,
    not_unicode_message,
)
from .responses import (
    ArtifactFile,
    ArtifactList,
    ArtifactWritten,
    BatchLogged,
    ColumnShift,
    DataSchema,
    Dataset,
    DatasetDiff,
    DatasetList,
    DatasetVersion,
    DatasetVersionSummary,
    Deleted,
    DtypeChange,
    ErrorBody,
    Experiment,
    ExperimentKeys,
    ExperimentList,
    FieldProblem,
    Health,
    Heartbeat,
    Job,
    JobList,
    JobLog,
    MetricHistory,
    MetricKeys,
    MetricPoint,
    MetricPoints,
    MetricStats,
    Restored,
    Run,
    RunCount,
    RunList,
    RunPage,
    VersionRuns,
)
from .status import JOB_ACTIVE, JOB_ENDED, JOB_RETRYABLE, RUN_ENDED, JobStatus, RunStatus

__all__ = [
    "DATASET_NAME_RULE", "FILENAME_RULE", "JOB_ACTIVE", "JOB_ENDED", "JOB_RETRYABLE", "KEY_PATTERN", "KEY_RULE",
    "MAX_KEY", "MAX_NAME", "MAX_PAGE", "MAX_PARAM_VALUE", "MAX_PIPELINE_CHARS", "MAX_SAFE_INT", "MAX_TAG_VALUE",
    "NAME_RULE", "RUN_ENDED", "VERSION_RULE", "ArtifactFile", "ArtifactList", "ArtifactWritten", "BatchLogged",
    "ColumnShift", "DataSchema", "Dataset", "DatasetDiff", "DatasetList", "DatasetVersion", "DatasetVersionSummary",
    "Deleted", "DtypeChange", "ErrorBody", "Experiment", "ExperimentCreate", "ExperimentKeys", "ExperimentList",
    "ExperimentUpdate", "FieldProblem", "Health", "Heartbeat", "InvalidText", "Job", "JobCreate", "JobList",
    "JobLog", "JobStatus", "LogBatch", "MetricHistory", "MetricKeys", "MetricPoint", "MetricPointIn",
    "MetricPoints", "MetricStats", "Restored", "Run", "RunCount", "RunCountQuery", "RunCreate", "RunList",
    "RunPage", "RunSearch", "RunStatus", "RunUpdate", "SafeInt", "SeriesBatch", "Strict", "VersionRuns",
    "check_unicode", "not_unicode_message", "now_ms", "tags",
]
