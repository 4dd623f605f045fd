"""Request bodies of the native API (responses are plain JSON documents described in the routes)."""
from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .clock import now_ms
from .validation import KEY_PATTERN, check_unicode


class Strict(BaseModel):
    """Every request body: unknown fields are refused, and so is text that is not valid Unicode
    (checked here, once for every body, as a 422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid_unicode(self) -> Self:
        for name in type(self).model_fields:
            check_unicode(getattr(self, name), name)
        return self


class ExperimentCreate(Strict):
    name: str = Field(description="Unique name, 1-250 characters.")
    tags: dict[str, str] = Field(default_factory=dict)


class ExperimentUpdate(Strict):
    name: str


class RunCreate(Strict):
    experiment_id: str | None = Field(None, description="Experiment id; or give `experiment`.")
    experiment: str | None = Field(None, description="Experiment name, created when missing.")
    name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    start_time: Int64 | None = Field(None, description="Epoch milliseconds; default now.")
    parent_id: str | None = None


class RunUpdate(Strict):
    status: str | None = Field(None, description="RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
    end_time: Int64 | None = None
    name: str | None = None


Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer SQLite can store."""


class MetricPoint(Strict):
    key: str = Field(min_length=1, max_length=250, pattern=KEY_PATTERN)
    value: float = Field(allow_inf_nan=False, description="A finite number: NaN and infinities are refused with 422.")
    step: Int64 = 0
    timestamp: Int64 = Field(default_factory=now_ms, description="Epoch milliseconds; default now.")


class SeriesBatch(Strict):
    """Points of one metric as columns: the compact form the SDK sends."""

    key: str = Field(min_length=1, max_length=250, pattern=KEY_PATTERN)
    steps: list[Int64]
    values: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        description="Finite numbers: NaN and infinities are refused with 422.")
    timestamps: list[Int64] | None = Field(None, description="Epoch milliseconds; default now for every point.")

    @model_validator(mode="after")
    def _same_lengths(self) -> SeriesBatch:
        if len(self.steps) != len(self.values) or (self.timestamps is not None
                                                   and len(self.timestamps) != len(self.values)):
            raise ValueError("steps, values and timestamps must have the same length")
        return self


class LogBatch(Strict):
    """Params, metric points and tags for one run. Points come as `metrics` (one object per point)
    and/or `series` (columns per metric); at most 10,000 points in all."""

    params: dict[str, Any] = Field(default_factory=dict, description="Values: text, numbers or booleans.")
    metrics: list[MetricPoint] = Field(default_factory=list, description="One object per point.")
    series: list[SeriesBatch] = Field(default_factory=list, description="Columns per metric (compact).")
    tags: dict[str, str] = Field(default_factory=dict)

    def point_count(self) -> int:
        return len(self.metrics) + sum(len(s.values) for s in self.series)


class RunSearch(Strict):
    experiment: str | list[str] | None = Field(None, description="Experiment name(s) or id(s); all when empty.")
    filter: str | None = Field(None, description="e.g. metrics.acc > 0.9 and params.model = 'rf'")
    order_by: str | list[str] | None = Field(None, description="e.g. ['metrics.acc DESC']")
    limit: int = Field(100, description="1-5000 runs per page.")
    page_token: str | None = None
    include_deleted: bool = False


class Heartbeat(BaseModel):
    """The answer to a run's heartbeat."""

    run_id: str
    status: str
    heartbeat_at: int = Field(description="Milliseconds since the epoch.")
