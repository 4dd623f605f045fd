"""Response models of the native API: the backend declares them on its routes (so `/openapi.json`
describes every answer) and the client parses every answer into them."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .status import JOB_ENDED, JobStatus, RunStatus


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldProblem(Model):
    field: str
    message: str


class ErrorBody(Model):
    """Every error answer (4xx): a message naming the field at fault, and a `code` word (`not_found`,
    `conflict`, `invalid`, `too_large`, ...). A request that fails validation also lists its first
    problems in `errors`."""

    detail: str
    field: str | None
    code: str
    errors: list[FieldProblem] | None = None


class Health(Model):
    status: str
    version: str
    schema_version: int
    pid: int | None = None
    """The server's process id (not told to a caller without a token when auth is on)."""
    home: str | None = None
    """The server's home folder (older servers do not say; nor is it told to a caller without a token)."""


class Experiment(Model):
    id: str
    name: str
    created_at: int
    lifecycle_stage: str
    run_count: int = 0
    last_run_time: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class MetricStats(Model):
    value: float
    step: int
    timestamp: int
    min: float
    max: float
    count: int


class Run(Model):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    lifecycle_stage: str = "active"
    parent_id: str | None = None
    user_id: str | None = None
    """Who started the run, as an MLflow client reports it (`None` for native runs)."""
    child_count: int = 0
    """How many (active) runs name this one as their parent."""
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    metric_stats: dict[str, MetricStats] = Field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


class RunPage(Model):
    runs: list[Run]
    next_page_token: str | None = None


class MetricPoint(Model):
    step: int
    value: float
    timestamp: int


class MetricHistory(Model):
    """A metric's series held as columns (cheap for 100,000 points, ready for charts)."""

    key: str
    steps: list[int] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)
    timestamps: list[int] = Field(default_factory=list)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> MetricHistory:
        """Parse either answer format: columns (what the client asks for) or points."""
        if "steps" in body:
            return cls.model_construct(key=body["key"], steps=body["steps"], values=body["values"],
                                       timestamps=body["timestamps"])
        points = body["points"]
        return cls.model_construct(
            key=body["key"],
            steps=[p["step"] for p in points],
            values=[p["value"] for p in points],
            timestamps=[p["timestamp"] for p in points],
        )

    @property
    def points(self) -> list[MetricPoint]:
        return [MetricPoint.model_construct(step=s, value=v, timestamp=t)
                for s, v, t in zip(self.steps, self.values, self.timestamps, strict=False)]


class ArtifactFile(Model):
    path: str
    is_dir: bool
    size: int | None = None


class ExperimentKeys(Model):
    params: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    """`{"params"|"metrics"|"tags": {key: runs having it}}` over the `runs` runs looked at."""
    runs: int = 0

    def count(self, entity: str, key: str) -> int:
        return self.counts.get(entity, {}).get(key, 0)


class Job(Model):
    """A training job; `report` (in `get_job`) holds the outcome: best candidate, validation problems."""

    id: str
    kind: str = "train"
    status: JobStatus
    name: str
    config_hash: str
    experiment_id: str | None = None
    run_id: str | None = None
    dataset: str | None = None
    executor: str = "local"
    scheduler: str | None = None
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    progress_done: int = 0
    progress_total: int = 0
    error: str | None = None
    error_kind: str | None = None
    retry_of: str | None = None
    pid: int | None = None
    cancel_requested: bool = False
    report: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    config_toml: str | None = None
    """The pipeline file's text as submitted (in `get_job`)."""

    @property
    def finished(self) -> bool:
        return self.status in JOB_ENDED


class JobLog(Model):
    text: str
    offset: int
    status: JobStatus | None = None


class DatasetVersion(Model):
    """A content-addressed dataset version. `columns` (JSON "schema") maps column -> dtype;
    `stats` (per column) comes with a single version, not with listings."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    name: str
    version: int
    ref: str
    sha256: str
    format: str
    filename: str | None = None
    size_bytes: int
    rows: int
    columns: dict[str, str] = Field(default_factory=dict, alias="schema")
    stats: dict[str, dict[str, Any]] | None = None
    created_at: int
    created: bool | None = None
    """On upload: False when these bytes were already this dataset's version."""


class Dataset(Model):
    name: str
    description: str | None = None
    created_at: int
    version_count: int = 0
    latest_version: int | None = None
    latest_rows: int | None = None
    updated_at: int | None = None
    versions: list[DatasetVersion] = Field(default_factory=list)


class DatasetVersionSummary(Model):
    ref: str
    version: int
    sha256: str
    rows: int
    created_at: int


class DtypeChange(Model):
    column: str
    a: str
    b: str


class ColumnShift(Model):
    """One shared column between two versions: PSI (None when not comparable) and what moved."""

    column: str
    kind: str
    psi: float | None = None
    ks_pvalue: float | None = None
    """Two-sample Kolmogorov-Smirnov p-value of a numeric column (None without both stored files)."""
    shifted: bool = False
    verdict: str = ""
    """shifted, stable, too few rows, or not comparable."""
    mean_a: float | None = None
    mean_b: float | None = None
    mean_change: float | None = None
    mean_shift_std: float | None = None
    std_a: float | None = None
    std_b: float | None = None
    std_ratio: float | None = None
    unique_a: int | None = None
    unique_b: int | None = None
    new_values: list[str] = Field(default_factory=list)
    null_share_a: float | None = None
    null_share_b: float | None = None


class DatasetDiff(Model):
    name: str
    a: DatasetVersionSummary
    b: DatasetVersionSummary
    rows_a: int
    rows_b: int
    rows_change: int
    added_columns: list[str] = Field(default_factory=list)
    removed_columns: list[str] = Field(default_factory=list)
    dtype_changes: list[DtypeChange] = Field(default_factory=list)
    columns: list[ColumnShift] = Field(default_factory=list)
    shifted_columns: list[str] = Field(default_factory=list)
    threshold: float = 0.2
    min_rows: int = 500
    judged: bool = True
    """False when a version has fewer than `min_rows` rows: no column is called shifted."""
    verdict: str = ""
    same_content: bool = False


class DataSchema(Model):
    """Proposed `[validation]` rules for a file: as a dict and as TOML text."""

    validation: dict[str, Any]
    toml: str


class Heartbeat(Model):
    """The answer to a run's heartbeat."""

    run_id: str
    status: RunStatus
    heartbeat_at: int = Field(description="Milliseconds since the epoch.")


class MetricPoints(Model):
    """A metric's series as one object per point: `GET /api/v1/runs/{run_id}/metrics/{key}`."""

    key: str
    points: list[MetricPoint]


class ExperimentList(Model):
    experiments: list[Experiment]


class RunList(Model):
    runs: list[Run]


class RunCount(Model):
    count: int


class VersionRuns(Model):
    """The runs that trained on one dataset version (`ref` is `name@N`)."""

    ref: str
    runs: list[Run]


class JobList(Model):
    jobs: list[Job]


class DatasetList(Model):
    datasets: list[Dataset]


class ArtifactList(Model):
    files: list[ArtifactFile]


class ArtifactWritten(Model):
    path: str
    size: int


class MetricKeys(Model):
    keys: list[str]


class BatchLogged(Model):
    """How many params, metric points and tags one batch stored."""

    params: int
    metrics: int
    tags: int


class Deleted(Model):
    deleted: str


class Restored(Model):
    restored: str
