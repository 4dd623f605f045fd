"""Request bodies of the native API and the text rules they share with the backend's checks."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, StrictBool, WithJsonSchema, model_validator
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from .clock import now_ms
from .status import RunStatus

MAX_NAME = 250
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PIPELINE_CHARS = 1_000_000
"""A pipeline file is a page of TOML; a larger one is refused (422) before it is parsed."""
MAX_SAFE_INT = 2**53 - 1
"""The largest integer a double holds exactly (JavaScript's Number.MAX_SAFE_INTEGER)."""
MAX_PAGE = 5000
"""Runs per page of a search."""
KEY_PATTERN = r"^[\w\-. /:]+$"
"""Param, metric and tag keys: letters, digits, '_', '-', '.', ' ', ':' and '/'."""
_SEGMENT = r"(?!\.\.?(?:/|$))[\w\-. :]+"
KEY_RULE = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
"""KEY_PATTERN, and '/' separates names that are never '.', '..' or empty: the whole rule, as
`/openapi.json` states it (the backend's `check_key` enforces it with messages naming the key)."""
DATASET_NAME_RULE = r"^\s*[^\s@/\\\x00-\x1f](?:[^@/\\\x00-\x1f]{0,248}[^\s@/\\\x00-\x1f])?\s*$"
"""A dataset's name: a name without '@', '/', '\\' or control characters."""
VERSION_RULE = r"^(?:latest|0*[1-9][0-9]{0,8})$"
"""A dataset version in a path: `latest` or a number from 1."""
FILENAME_RULE = r"^[^\x00]{0,240}[^\x00/\\\s]\.(?:[cC][sS][vV]|[pP][aA][rR][qQ][uU][eE][tT])$"
"""An uploaded file's name: its extension gives the format."""
NAME_RULE = rf"^\s*\S(?:[\s\S]{{0,{MAX_NAME - 2}}}\S)?\s*$"
"""A name: 1-250 characters once surrounding spaces are removed (the backend's `check_name`)."""


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


def key_names(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of a dict keyed by param/tag keys (and, given, what its values must be)."""
    schema: dict[str, Any] = {"propertyNames": {"maxLength": MAX_KEY, "pattern": KEY_RULE}}
    return schema | ({"additionalProperties": values} if values is not None else {})


def _integral(value: float) -> int:
    if not value.is_integer():
        raise PydanticCustomError("whole_number", "Input should be a whole number, not a fraction")
    return int(value)


class WholeNumber:
    """An integer field as JSON Schema means one: 3 and 3.0 are accepted, text ("3"), booleans and
    fractions are not (pydantic's lax int takes all of them, its strict int refuses 3.0). Checked in
    pydantic-core, with no Python call per value: `/batch` validates thousands of these."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        bounds = "" if self.low is None or self.high is None else f" from {self.low} to {self.high}"
        return core_schema.union_schema(
            [core_schema.int_schema(strict=True, ge=self.low, le=self.high),
             core_schema.no_info_after_validator_function(
                 _integral, core_schema.float_schema(strict=True, ge=self.low, le=self.high))],
            custom_error_type="whole_number", custom_error_message=f"Input should be a whole number{bounds}")


Whole = Annotated[int, WholeNumber(), WithJsonSchema({"type": "integer"})]
SafeInt = Annotated[int, WholeNumber(-MAX_SAFE_INT, MAX_SAFE_INT),
                    WithJsonSchema({"type": "integer", "minimum": -MAX_SAFE_INT, "maximum": MAX_SAFE_INT})]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A finite number: integers too, but never text or a boolean."""
"""Steps and times: integers every JSON reader holds exactly, ±(2**53 - 1) (SQLite stores them as 64-bit).
Beyond that a JSON tool reading numbers as doubles (JavaScript, JSON Schema validators) could not tell
an accepted value from a refused one."""
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN),
                WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": KEY_RULE})]
"""A param, metric or tag key."""
Name = Annotated[str, WithJsonSchema({"type": "string", "minLength": 1, "pattern": NAME_RULE,
                                      "description": "1-250 characters once surrounding spaces are removed."})]
"""An experiment or run name: documented here, checked by the backend (`check_name`)."""
Tags = Annotated[dict[str, str], Field(json_schema_extra=key_names(
    {"type": "string", "maxLength": MAX_TAG_VALUE}))]
Status = Annotated[str, WithJsonSchema({"type": "string", "enum": list(RunStatus)})]


class ExperimentCreate(Strict):
    name: Name = Field(description="Unique name, 1-250 characters.")
    tags: dict[str, str] = Field(default_factory=dict, json_schema_extra=key_names())


class ExperimentUpdate(Strict):
    name: Name


class RunCreate(Strict):
    experiment_id: str | None = Field(None, description="Experiment id; or give `experiment`.")
    experiment: Name | None = Field(None, description="Experiment name, created when missing.")
    name: Name | None = None
    tags: Tags = Field(default_factory=dict)
    start_time: SafeInt | None = Field(None, description="Epoch milliseconds; default now.")
    parent_id: str | None = None


class RunUpdate(Strict):
    status: Status | None = Field(None, description=", ".join(RunStatus) + ".")
    end_time: SafeInt | None = None
    name: Name | None = None


class MetricPointIn(Strict):
    """One metric point as logged (the answer's points are `MetricPoint`)."""

    key: Key
    value: Number = Field(description="A finite number: NaN and infinities are refused with 422.")
    step: SafeInt = 0
    timestamp: SafeInt = Field(default_factory=now_ms, description="Epoch milliseconds; default now.")


class SeriesBatch(Strict):
    """Points of one metric as columns: the compact form the SDK sends."""

    key: Key
    steps: list[SafeInt]
    values: list[Number] = Field(
        description="Finite numbers: NaN and infinities are refused with 422.")
    timestamps: list[SafeInt] | None = Field(None, description="Epoch milliseconds; default now for every point.")

    @model_validator(mode="after")
    def _same_lengths(self) -> SeriesBatch:
        if len(self.steps) != len(self.values) or (self.timestamps is not None
                                                   and len(self.timestamps) != len(self.values)):
            raise ValueError("steps, values and timestamps must have the same length")
        return self


class LogBatch(Strict):
    """Params, metric points and tags for one run. Points come as `metrics` (one object per point)
    and/or `series` (columns per metric); at most 10,000 points in all."""

    params: dict[str, Any] = Field(default_factory=dict, description="Values: text, numbers or booleans.",
                                   json_schema_extra=key_names({"anyOf": [
                                       {"type": "string", "maxLength": MAX_PARAM_VALUE}, {"type": "number"},
                                       {"type": "boolean"}]}))
    metrics: list[MetricPointIn] = Field(default_factory=list, description="One object per point.")
    series: list[SeriesBatch] = Field(default_factory=list, description="Columns per metric (compact).")
    tags: Tags = Field(default_factory=dict)

    def point_count(self) -> int:
        return len(self.metrics) + sum(len(s.values) for s in self.series)


class RunSearch(Strict):
    experiment: str | list[str] | None = Field(None, description="Experiment name(s) or id(s); all when empty.")
    filter: str | None = Field(None, description="e.g. metrics.acc > 0.9 and params.model = 'rf'")
    order_by: str | list[str] | None = Field(None, description="e.g. ['metrics.acc DESC']")
    limit: Whole = Field(100, description="1-5000 runs per page.",
                         json_schema_extra={"minimum": 1, "maximum": MAX_PAGE})
    page_token: str | None = None
    include_deleted: StrictBool = False


class RunCountQuery(RunSearch):
    """`POST /api/v1/runs/count` takes a search's body and counts every match: paging is ignored."""

    limit: Whole = Field(100, description="Ignored: every match is counted.")


class JobCreate(Strict):
    pipeline: str = Field(max_length=MAX_PIPELINE_CHARS, description="The pipeline file's TOML text.")
    dataset: str | None = Field(None, description="Dataset version (`name@N`) standing in for data.path.")
    executor: Literal["local", "dask"] | None = Field(None, description="Overrides [executor].kind.")
    scheduler: str | None = Field(None, description="Dask scheduler address; overrides [executor].scheduler.")


IDEMPOTENCY_HEADER = "Idempotency-Key"
"""The header a client names a batch with (`POST /api/v1/runs/{run_id}/batch`): sent again with the same
batch after a lost answer, the batch is stored once."""
MAX_IDEMPOTENCY_KEY = 128
"""Its longest value; its characters are those of a key (`KEY_PATTERN`)."""
