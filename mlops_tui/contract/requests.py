"""Request bodies of the native API and the text rules they share with the backend's checks."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .clock import now_ms
from .status import RunStatus

MAX_NAME = 250
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PIPELINE_CHARS = 1_000_000
"""A pipeline file is a page of TOML; a larger one is refused (422) before it is parsed."""
KEY_PATTERN = r"^[\w\-. /:]+$"
"""Param, metric and tag keys: letters, digits, '_', '-', '.', ' ', ':' and '/'."""


class InvalidText(Exception):
    """A value no request may hold (answered 422 naming `field`). Raised from validators as itself,
    not as a ValueError, so pydantic does not fold it into a generic validation error."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def not_unicode_message(field: str) -> str:
    return f"{field} is not valid Unicode text (it holds a lone surrogate)"


def check_unicode(value: Any, field: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as JSON's "\\ud800") anywhere in
    `value`: strings, dict keys and values, list items. SQLite and the JSON encoder cannot store it."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidText(not_unicode_message(field), field) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(key, field)
            check_unicode(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_unicode(item, f"{field}[{index}]")


class Strict(BaseModel):
    """Every request body: unknown fields are refused, and so is text that is not valid Unicode
    (checked here, once for every body, as a 422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid_unicode(self) -> Self:
        for name in type(self).model_fields:
            check_unicode(getattr(self, name), name)
        return self


Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer SQLite can store."""
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN)]
"""A param, metric or tag key."""


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
    status: str | None = Field(None, description=", ".join(RunStatus) + ".")
    end_time: Int64 | None = None
    name: str | None = None


class MetricPointIn(Strict):
    """One metric point as logged (the answer's points are `MetricPoint`)."""

    key: Key
    value: float = Field(allow_inf_nan=False, description="A finite number: NaN and infinities are refused with 422.")
    step: Int64 = 0
    timestamp: Int64 = Field(default_factory=now_ms, description="Epoch milliseconds; default now.")


class SeriesBatch(Strict):
    """Points of one metric as columns: the compact form the SDK sends."""

    key: Key
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
    metrics: list[MetricPointIn] = Field(default_factory=list, description="One object per point.")
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


class JobCreate(Strict):
    pipeline: str = Field(max_length=MAX_PIPELINE_CHARS, description="The pipeline file's TOML text.")
    dataset: str | None = Field(None, description="Dataset version (`name@N`) standing in for data.path.")
    executor: Literal["local", "dask"] | None = Field(None, description="Overrides [executor].kind.")
    scheduler: str | None = Field(None, description="Dask scheduler address; overrides [executor].scheduler.")
