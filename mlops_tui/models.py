"""Typed views of what the backend answers; the client parses every response into these."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Health(Model):
    status: str
    version: str
    schema_version: int
    pid: int


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
    status: str
    start_time: int
    end_time: int | None = None
    lifecycle_stage: str = "active"
    parent_id: str | None = None
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
                for s, v, t in zip(self.steps, self.values, self.timestamps)]


class ArtifactFile(Model):
    path: str
    is_dir: bool
    size: int | None = None


class ExperimentKeys(Model):
    params: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
