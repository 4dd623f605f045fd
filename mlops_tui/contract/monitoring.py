"""Serving and monitoring's contract: predictions, the records every prediction leaves, feedback
labels, and a model's live health (traffic, latency, drift, performance), as the backend declares
them, the replica (`mlops serve`) ships them and the client parses them.

A prediction request names a version (`NAME/3`) or an alias (`NAME@production`); every predicted row
gets a request id, the key feedback labels are sent back with.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .requests import MAX_SAFE_INT, Number, Strict, WholeNumber

IGNORED_COLUMNS_HEADER = "X-Mlops-Ignored-Columns"
"""Set on a prediction answer when the request sent columns the model does not read: their names,
comma-separated (the columns are ignored, not an error)."""
MODEL_VERSION_HEADER = "X-Mlops-Model-Version"
"""Set on every prediction answer: the version that answered (`NAME/3`)."""
SHA256_HEADER = "X-Mlops-Sha256"
"""Set on a model file download: the sha256 the version was registered with."""
CSV_MEDIA_TYPE = "text/csv"
WINDOW_RULE = r"^[1-9][0-9]{0,5}(s|m|h|d|r)$"
"""A monitoring window: `15m`, `1h`, `7d`, or the last N requests' rows: `5000r`."""
MAX_FEEDBACK = 10_000
"""Labels one feedback request may carry."""
MAX_RECORDS = 10_000
"""Records one batch from a replica may carry."""


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


Count = Annotated[int, WholeNumber(0, MAX_SAFE_INT), WithJsonSchema({"type": "integer", "minimum": 0,
                                                                      "maximum": MAX_SAFE_INT})]
"""A count or a time a replica sends: a whole number (never text or a boolean), 0 to 2**53 - 1."""


# --- predictions -----------------------------------------------------------------------------------


class Prediction(Model):
    """`POST .../predict` answers this: one prediction per input row, in order."""

    predictions: list[Any]
    model_version: int
    request_ids: list[str]
    """One per row: send it back with the row's true label (`POST .../feedback`)."""
    probabilities: list[list[float]] | None = None
    """With `?proba=true` on a classifier: per row, the probability of each class of `classes`."""
    classes: list[Any] | None = None


# --- what every prediction leaves ---------------------------------------------------------------


class RecordStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    """The request was refused (bad input, too large) or the model failed."""


class PredictionRecord(Strict):
    """One predicted row (or one failed request), as the recorder stores it and a replica ships it.

    `inputs` and `output` are kept for a sampled share of rows (the monitor's sample setting);
    without them the record still counts in traffic, errors and latency."""

    request_id: str = Field(min_length=1, max_length=64)
    time: Count = Field(description="Epoch ms when the request arrived.")
    name: str = Field(min_length=1, max_length=128)
    version: Count = Field(description="0 when the request failed before a version was chosen.")
    alias: str | None = Field(None, max_length=64)
    latency_ms: Number = Field(ge=0, description="The whole request's time to answer, shared by its rows.")
    rows: Count = Field(1, description="Rows in the request this record belongs to (its first row counts it).")
    first: bool = Field(True, strict=True,
                        description="The first record of its request: requests and latency count once.")
    status: RecordStatus = RecordStatus.OK
    error: str | None = Field(None, max_length=500)
    inputs: dict[str, Any] | None = Field(None, description="The row's input columns (sampled).")
    output: Any = Field(None, description="The prediction (sampled).")
    probabilities: list[Number] | None = Field(None, description="Class probabilities, when served (sampled).")


class RecordBatch(Strict):
    """`POST /api/v1/monitoring/records`: what a replica measured since its last batch."""

    source: str = Field(min_length=1, max_length=200, description="The replica: `host:port` or a name.")
    records: list[PredictionRecord] = Field(max_length=MAX_RECORDS)
    dropped: Count = Field(0, description="Records the replica dropped (its buffer was full) since its last batch.")


class RecordAck(Model):
    accepted: int
    dropped_total: int
    """Records every replica has reported dropped, since the backend started."""


# --- feedback ---------------------------------------------------------------------------------------


class Label(Strict):
    request_id: str = Field(min_length=1, max_length=64)
    label: Any = Field(description="The true value: a class for a classifier, a number for a regressor.")


class Feedback(Strict):
    """`POST /api/v1/models/{name}/feedback`: true labels for predicted rows, by request id."""

    labels: list[Label] = Field(min_length=1, max_length=MAX_FEEDBACK)


class FeedbackAck(Model):
    accepted: int
    unknown: list[str]
    """Request ids that name no recorded prediction of this model (not stored)."""


# --- a model's live health ------------------------------------------------------------------------


class DriftStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    DRIFT = "drift"
    TOO_FEW = "too_few"
    """Fewer rows in the window than the minimum for a verdict."""


class FeatureDrift(Model):
    """One input feature (or `prediction`) over the window, against the version's training reference."""

    feature: str
    kind: Literal["numeric", "categorical"]
    rows: int
    psi: float | None
    p_value: float | None
    """Kolmogorov–Smirnov (numeric) or chi-square (categorical): shown, not decided on alone."""
    test: str | None = None
    """`ks` or `chi2`."""
    distance: float | None = None
    """Wasserstein (numeric, in reference standard deviations) or Jensen–Shannon (categorical)."""
    status: DriftStatus
    warn_at: float | None = None
    """The PSI above which the status is `warn` / `drift` (calibrated at registration or set in `[monitor]`)."""
    drift_at: float | None = None


class Distribution(Model):
    """Shares of training (`reference`) and of the window (`current`) over the same bins or classes."""

    labels: list[str]
    reference: list[float]
    current: list[float]


class LatencyQuantiles(Model):
    p50: float | None
    p95: float | None
    p99: float | None


class MinutePoint(Model):
    """One minute of traffic: the sparklines' points."""

    minute: int
    """Epoch ms of the minute's start."""
    requests: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None


class Performance(Model):
    """Live performance over the window: `actual` from feedback labels (on `labeled` rows), `estimated`
    from the served probabilities before labels arrive (classifiers served with `?proba=true`)."""

    task: Literal["classification", "regression"] | None
    labeled: int
    actual: dict[str, float]
    """accuracy, f1, roc_auc (classifiers; roc_auc where probabilities were served); rmse, mae (regressors)."""
    estimated: dict[str, float]
    """accuracy and roc_auc estimated from calibrated probabilities (no labels needed)."""
    estimated_rows: int = 0
    training: dict[str, float] = Field(default_factory=dict)
    """The same metrics on the version's holdout at training, for comparison."""


class MonitorStatus(Model):
    """`GET /api/v1/models/{name}/monitor?alias=&window=` and `mlops monitor status --json`."""

    model: str
    alias: str | None
    version: int | None
    """The version the alias points at now (traffic of every version the alias served is counted)."""
    window: str
    since: int
    """Epoch ms: the window's start."""
    requests: int
    errors: int
    rows: int
    requests_per_second: float
    latency_ms: LatencyQuantiles
    drift: list[FeatureDrift]
    """Worst first."""
    prediction_drift: FeatureDrift | None = None
    prediction_distribution: Distribution | None = None
    performance: Performance
    series: list[MinutePoint] = Field(default_factory=list)
    """The last hour, one point per minute (minutes without traffic included, as zeros)."""
    dropped: int = 0
    """Records replicas dropped (buffer full) since the backend started."""
    sampled_rows: int = 0
    """Rows of the window with inputs kept (what drift was computed on)."""


class ModelHealth(Model):
    """One line of the overview: a model alias's traffic over the last few minutes."""

    model: str
    alias: str
    version: int
    requests_per_second: float
    p95_ms: float | None
    error_rate: float
    drifting: int
    """Features whose status is `drift`."""


class HealthList(Model):
    models: list[ModelHealth]
