"""The pipeline file: every section and key, validated on load. Unknown keys are an error naming them.

A pipeline is snapshotted (the parsed config as JSON) and hashed into every run it produces.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_tui.contract.alerts import AlertRule, NotifyConfig
from mlops_tui.contract.fields import dotted_path
from mlops_tui.contract.monitoring import WINDOW_RULE
from mlops_tui.contract.registry import MODEL_NAME_RULE
from mlops_tui.contract.retrain import RetrainPolicy

from ..errors import Invalid


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(Section):
    """How rows are split into train and holdout."""

    test_size: float = Field(0.2, gt=0, lt=1, description="Share of rows held out for the final evaluation.")
    seed: int = Field(0, description="Random seed for the split (and for the search).")
    stratify: bool = Field(True, description="Keep class shares in both parts (classification only).")
    time_column: str | None = Field(None, description="Time-ordered split: the latest rows are held out.")


class DataConfig(Section):
    """Where the data comes from and what to predict."""

    path: str | None = Field(None, description="A CSV or Parquet file; the CLI registers it as a dataset version.")
    dataset: str | None = Field(None, description="A registered dataset: `name` (latest) or `name@version`.")
    target: str = Field(description="The column to predict.")
    split: SplitConfig = Field(default_factory=SplitConfig)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.path is None) == (self.dataset is None):
            raise ValueError("give exactly one of data.path or data.dataset")
        return self


class ColumnRule(Section):
    """Rules for one column."""

    dtype: Literal["int", "float", "number", "string", "bool", "category", "datetime"] | None = None
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | float | bool] | None = Field(None, description="Allowed values (categories).")
    max_null_share: float | None = Field(None, ge=0, le=1, description="Largest share of missing values.")


class ValidationConfig(Section):
    """Checks run on the data before training; any failure fails the job."""

    required_columns: list[str] = Field(default_factory=list)
    min_rows: int | None = Field(None, ge=0)
    max_duplicate_share: float | None = Field(None, ge=0, le=1, description="Largest share of duplicated rows.")
    max_null_share: float | None = Field(None, ge=0, le=1, description="Default for every column.")
    columns: dict[str, ColumnRule] = Field(default_factory=dict)


class DerivedColumn(Section):
    """A new column from a safe expression over existing ones, e.g. `log(charges + 1) / tenure`."""

    name: str
    expr: str


class FeaturesConfig(Section):
    """Feature engineering, built as a scikit-learn ColumnTransformer saved inside the model."""

    numeric: list[str] | None = Field(
        None, description="Numeric columns; default: every numeric column but the target.")
    categorical: list[str] | None = Field(None, description="Categorical columns; default: every text column.")
    drop: list[str] = Field(default_factory=list, description="Columns never used.")
    derived: list[DerivedColumn] = Field(default_factory=list)
    impute_numeric: Literal["mean", "median", "most_frequent", "constant", "none"] = "median"
    impute_categorical: Literal["most_frequent", "constant", "none"] = "most_frequent"
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"
    encode: Literal["onehot", "ordinal"] = "onehot"


class SearchConfig(Section):
    """How candidates are drawn from the parameter space."""

    kind: Literal["grid", "random"] = "grid"
    n_iter: int = Field(10, ge=1, le=10_000, description="Candidates drawn by a random search.")


class ModelConfig(Section):
    """One estimator (by scikit-learn class name, from an allowlist) and its parameter space."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict, description="A value, or a list of values to search.")
    search: SearchConfig = Field(default_factory=SearchConfig)
    cv: int = Field(3, ge=0, le=20, description="Cross-validation folds on the train part (0: none).")


class EvaluateConfig(Section):
    """Metrics computed for every candidate, and the one that picks the best."""

    metrics: list[str] | None = Field(None, description="Default: every metric of the task.")
    primary: str | None = Field(None, description="Default: roc_auc (binary), accuracy, or rmse.")
    direction: Literal["maximize", "minimize"] | None = Field(None, description="Default: from the metric.")
    pos_label: bool | int | str | None = Field(
        None, description="Positive class of a binary task for f1, precision and recall; default: the last "
                          "sorted label (1, True, or the alphabetically last).")


class RegisterConfig(Section):
    """Register the best model under a name when the job succeeds (its next version)."""

    name: str

    @field_validator("name")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not re.match(MODEL_NAME_RULE, value):
            raise ValueError("not a model name (letters, digits, '.', '_', '-'; at most 128; starts with a letter "
                             "or digit)")
        return value


class MonitorConfig(Section):
    """`[monitor]`: how the live monitor judges drift for this model's versions (kept with each version)."""

    window: str = Field("1h", pattern=WINDOW_RULE,
                        description="Default window of `mlops monitor status`: `15m`, `1h`, `7d`, or `5000r` (rows).")
    min_rows: int = Field(200, ge=1, le=10_000_000,
                          description="Fewer rows in the window than this: a feature's status is `too_few`.")
    psi_warn: float | None = Field(None, gt=0, le=100, description="PSI from which a feature warns (default: "
                                   "calibrated at registration for the window's size, at least 0.1).")
    psi_drift: float | None = Field(None, gt=0, le=100, description="PSI from which a feature drifts (default: "
                                    "calibrated at registration for the window's size, at least 0.25).")
    features: list[str] | None = Field(None, min_length=1, max_length=2000,
                                       description="The input features watched (default: all the model reads).")
    alerts: list[AlertRule] = Field(default_factory=list, max_length=100,
                                    description="`[[monitor.alerts]]`: rules the backend checks on a timer.")

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        if self.psi_warn is not None and self.psi_drift is not None and self.psi_warn > self.psi_drift:
            raise ValueError(f"psi_warn ({self.psi_warn}) is above psi_drift ({self.psi_drift})")
        names = [rule.name for rule in self.alerts]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"alert rule names must be unique: {', '.join(repeated)} repeated")
        return self


class ExecutorConfig(Section):
    """Where candidates run: local worker processes or a Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    scheduler: str | None = Field(None, description="Dask scheduler address, e.g. tcp://host:8786.")
    n_jobs: int = Field(1, ge=1, le=64, description="Candidates trained at once by the local executor.")
    timeout_seconds: float | None = Field(
        None, gt=0, description="Stop the job after this long (FAILED, kind `timeout`); at most the server's "
                                "MLOPS_JOB_TIMEOUT, which applies when this is not set.")


class PipelineConfig(Section):
    """A whole pipeline file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(description="Names the experiment the runs go to.")
    task: Literal["classification", "regression"]
    data: DataConfig
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    models: list[ModelConfig] = Field(min_length=1)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    register_: RegisterConfig | None = Field(None, alias="register")
    promote: dict[str, Any] | None = Field(None, description="Promotion gates (see backend/pipelines/promote.py).")
    monitor: MonitorConfig | None = Field(None, description="Drift rules of the live monitor (defaults when absent).")
    retrain: RetrainPolicy | None = Field(None, description="Continuous training (see contract/retrain.py).")
    notify: NotifyConfig | None = Field(None, description="A webhook for this model's events.")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

    @model_validator(mode="after")
    def _lifecycle(self) -> PipelineConfig:
        rules = {rule.name for rule in self.monitor.alerts} if self.monitor else set()
        if self.retrain is not None:
            unknown = [name for name in self.retrain.on_drift if name not in rules]
            if unknown:
                raise ValueError(f"retrain.on_drift names no [[monitor.alerts]] rule: {', '.join(unknown)}")
            if (self.retrain.on_drift or self.retrain.schedule or self.retrain.on_new_data) \
                    and self.register_ is None:
                raise ValueError("a [retrain] policy needs a [register] table (the model it retrains)")
        return self

    @field_validator("promote")
    @classmethod
    def _promote(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from . import promote
        promote.parse(value)  # refuse a bad [promote] when the pipeline is submitted
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    def snapshot(self) -> str:
        """The config as canonical JSON: what is stored with the job and its runs."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.snapshot().encode()).hexdigest()[:16]


def describe(error: ValidationError) -> str:
    """One line per problem, naming the key: `models[0].cv: Input should be ...`."""
    lines = []
    for problem in error.errors():
        where = dotted_path(problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown key {where!r}")
        elif problem["type"] == "missing":
            lines.append(f"missing key {where!r}")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


MAX_NESTING = 16
"""Deepest nesting of arrays, inline tables and dotted tables a pipeline file may have."""


_SPECIAL = re.compile(r"""[#"'\[\]{}]""")
_BASIC_END = {'"': re.compile(r'\\.|"', re.S), '"""': re.compile(r'\\.|"""', re.S)}


def bracket_depth(text: str) -> int:
    """The deepest nesting of `[` and `{` in TOML text, strings and comments skipped. Read before
    `tomllib` parses, so a hostile file cannot exhaust its recursion."""
    depth = deepest = index = 0
    while (found := _SPECIAL.search(text, index)) is not None:
        index, char = found.start(), found.group()
        if char == "#":
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
        elif char in "\"'":
            quote = char * 3 if text.startswith(char * 3, index) else char
            index = _string_end(text, index + len(quote), quote)
        else:
            depth = depth + 1 if char in "[{" else max(0, depth - 1)
            deepest = max(deepest, depth)
            index += 1
    return deepest


def _string_end(text: str, start: int, quote: str) -> int:
    """The index just past the string that opened before `start` (the end of the text when unclosed)."""
    if quote[0] == "'":  # literal strings have no escapes
        end = text.find(quote, start)
        return len(text) if end < 0 else end + len(quote)
    pattern = _BASIC_END[quote]
    while (found := pattern.search(text, start)) is not None:
        if found.group() == quote:
            return found.end()
        start = found.end()  # an escape: skip it
    return len(text)


def value_depth(value: Any) -> int:
    """How deeply lists and dicts nest inside `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _too_deep(depth: int | None) -> Invalid:
    levels = f"{depth:,} levels" if depth is not None else "too"
    return Invalid(f"pipeline nests arrays and tables {levels} deep; the limit is {MAX_NESTING} levels", "pipeline")


def parse(text: str) -> PipelineConfig:
    """Parse TOML text into a validated config; raise `Invalid` (field "pipeline") naming the problem."""
    depth = bracket_depth(text)
    if depth > MAX_NESTING:
        raise _too_deep(depth)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise Invalid(f"pipeline is not valid TOML: {error}", "pipeline") from None
    except RecursionError:
        raise _too_deep(None) from None
    depth = value_depth(raw) - 1  # the document itself is no nesting
    if depth > MAX_NESTING:  # dotted keys (`a.b.c = 1`) nest without brackets
        raise _too_deep(depth)
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise Invalid(f"pipeline: {describe(error)}", "pipeline") from None
