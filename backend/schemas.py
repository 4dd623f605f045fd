"""Request bodies of the native API (responses are plain JSON documents described in the routes)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    start_time: int | None = Field(None, description="Epoch milliseconds; default now.")
    parent_id: str | None = None


class RunUpdate(Strict):
    status: str | None = Field(None, description="RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
    end_time: int | None = None
    name: str | None = None


class MetricPoint(Strict):
    key: str
    value: float = Field(description="A finite number: NaN and infinities are refused with 422.")
    step: int = 0
    timestamp: int | None = Field(None, description="Epoch milliseconds; default now.")


class LogBatch(Strict):
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    metrics: list[MetricPoint] = Field(default_factory=list, description="Up to 10,000 points.")
    tags: dict[str, str] = Field(default_factory=dict)


class RunSearch(Strict):
    experiment: str | list[str] | None = Field(None, description="Experiment name(s) or id(s); all when empty.")
    filter: str | None = Field(None, description="e.g. metrics.acc > 0.9 and params.model = 'rf'")
    order_by: str | list[str] | None = Field(None, description="e.g. ['metrics.acc DESC']")
    limit: int = Field(100, description="1-5000 runs per page.")
    page_token: str | None = None
    include_deleted: bool = False
