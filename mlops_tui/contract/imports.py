"""Moving in from another tracker (`mlops import mlflow`): whole runs sent in batches and upserted.

A batch names its experiments (matched by name, created when missing) and carries whole runs: their
own ids (MLflow's run ids are 32-hex uuids like this store's), times as the source had them (0 kept),
params, tags, every metric point and dataset inputs. Sending a batch again changes nothing: runs are
matched by id, points by (step, timestamp, value), inputs by (name, digest), so an import that was
interrupted simply runs again.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from .registry import ALIAS_RULE, MODEL_NAME_RULE
from .requests import (
    KEY_RULE,
    MAX_KEY,
    MAX_NAME,
    MAX_PAGE,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    InvalidText,
    Name,
    SafeInt,
    SeriesBatch,
    Status,
    Strict,
    Tags,
    WholeNumber,
    check_unicode,
)
from .responses import Model
from .status import RunStatus

MAX_IMPORT_RUNS = 1000
"""Runs per import batch at most."""
MAX_IMPORT_POINTS = 200_000
"""Metric points per import batch at most (a longer history is sent over several batches)."""
RUN_ID_RULE = r"^[0-9a-f]{32}$"

Stage = Literal["active", "deleted"]


class ImportedExperiment(Strict):
    name: Name
    tags: Tags = Field(default_factory=dict)
    lifecycle_stage: Stage = "active"
    created_at: SafeInt | None = Field(None, description="Epoch ms; default now. Kept only when created.")


class ImportedInput(Strict):
    """A dataset the run used (MLflow's log-inputs)."""

    name: str = Field(min_length=1, max_length=500)
    digest: str = Field(min_length=1, max_length=64)
    source_type: str = ""
    source: str = ""
    dataset_schema: str | None = None
    profile: str | None = None
    context: str | None = Field(None, description="The `mlflow.data.context` input tag (training, eval...).")
    tags: dict[str, str] = Field(default_factory=dict)


class ImportedRun(Strict):
    id: str = Field(pattern=RUN_ID_RULE, description="The source's run id, kept: 32 lowercase hex digits.")
    experiment: Name = Field(description="The experiment's name (one of the batch's, or already here).")
    name: Name
    user_id: str | None = None
    status: Status = "FINISHED"
    start_time: SafeInt = 0
    end_time: SafeInt | None = None
    lifecycle_stage: Stage = "active"
    parent_id: str | None = Field(None, pattern=RUN_ID_RULE)
    params: dict[str, str] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)
    series: list[SeriesBatch] = Field(default_factory=list, description="Metric points as columns per key.")
    inputs: list[ImportedInput] = Field(default_factory=list)

    def point_count(self) -> int:
        return sum(len(s.values) for s in self.series)


class RunImport(Strict):
    """At most `MAX_IMPORT_RUNS` runs and `MAX_IMPORT_POINTS` metric points, stored in one transaction."""

    experiments: list[ImportedExperiment] = Field(default_factory=list, max_length=MAX_PAGE)
    runs: list[ImportedRun] = Field(default_factory=list, max_length=MAX_IMPORT_RUNS)


class ImportRefusal(Model):
    """Something of the batch that was not imported as sent, and why (the rest was)."""

    run_id: str | None = None
    experiment: str | None = None
    model: str | None = None
    version: int | None = None
    field: str
    message: str
    left_out: bool = False
    """True: the whole run was left out (not stored); false: the run was stored without this item."""


class RunImportAnswer(Model):
    """What the batch added: new experiments, new runs (`runs_existing` were already here and were
    brought up to date), new metric points, params, inputs; and what was refused."""

    experiments_new: int = 0
    runs_new: int = 0
    runs_existing: int = 0
    points_new: int = 0
    params_new: int = 0
    inputs_new: int = 0
    refused: list[ImportRefusal] = Field(default_factory=list)


VersionNumber = Annotated[int, WholeNumber(1, 10**9), WithJsonSchema({"type": "integer", "minimum": 1,
                                                                      "maximum": 10**9})]
MAX_IMPORT_MODELS = 100
"""Registered models per import batch at most."""


class ImportedVersion(Strict):
    """A registered model version, kept under its own number. Its files are already here: `source` names
    them as this backend resolves MLflow sources (`runs:/<run_id>/<path>`, `mlflow-artifacts:/<path>`)."""

    version: VersionNumber
    source: str = Field(min_length=1, max_length=1000)
    run_id: str = Field("", max_length=32)
    description: str = Field("", max_length=5000)
    tags: Tags = Field(default_factory=dict)


class ImportedModel(Strict):
    name: str = Field(pattern=MODEL_NAME_RULE)
    description: str = Field("", max_length=5000)
    tags: Tags = Field(default_factory=dict)
    versions: list[ImportedVersion] = Field(default_factory=list, max_length=10_000)
    aliases: dict[Annotated[str, Field(pattern=ALIAS_RULE)], VersionNumber] = Field(
        default_factory=dict, description="alias -> version number",
        json_schema_extra={"propertyNames": {"pattern": ALIAS_RULE}})


class ModelImport(Strict):
    """Models are matched by name, versions by (name, number); aliases are set where they are not set
    here yet. Sending it again adds nothing."""

    models: list[ImportedModel] = Field(default_factory=list, max_length=MAX_IMPORT_MODELS)


class ModelImportAnswer(Model):
    models_new: int = 0
    versions_new: int = 0
    aliases_new: int = 0
    refused: list[ImportRefusal] = Field(default_factory=list)


_KEY = re.compile(KEY_RULE)


def run_problem(run: ImportedRun) -> ImportRefusal | None:
    """Why this store cannot take the run as it is (a key, a name or a value outside its rules), or None.
    The importer leaves such a run out and reports it, instead of sending a batch the backend refuses."""
    problems = [("experiment", run.experiment if 0 < len(run.experiment.strip()) <= MAX_NAME else None),
                ("name", run.name if 0 < len(run.name.strip()) <= MAX_NAME else None)]
    for field, text in problems:
        if text is None:
            return ImportRefusal(run_id=run.id, field=field, message=f"{field} must be 1-{MAX_NAME} characters",
                                 left_out=True)
    keyed = [("params", run.params, MAX_PARAM_VALUE), ("tags", run.tags, MAX_TAG_VALUE),
             ("metrics", {s.key: "" for s in run.series}, 0)]
    for entity, values, longest in keyed:
        for key, value in values.items():
            if len(key) > MAX_KEY or not _KEY.match(key):
                return ImportRefusal(run_id=run.id, field=f"{entity}.{key}", left_out=True,
                                     message=f"{entity[:-1]} key {key!r} breaks this store's key rule {KEY_RULE}")
            if len(value) > longest > 0:
                return ImportRefusal(run_id=run.id, field=f"{entity}.{key}", left_out=True,
                                     message=f"value is longer than {longest} characters")
    if run.status not in tuple(RunStatus):
        return ImportRefusal(run_id=run.id, field="status", message=f"unknown status {run.status!r}", left_out=True)
    if any(not math.isfinite(v) for s in run.series for v in s.values):
        return ImportRefusal(run_id=run.id, field="metrics", message="a metric value is not finite", left_out=True)
    try:
        check_unicode(run.model_dump(), "run")
    except InvalidText as error:
        return ImportRefusal(run_id=run.id, field=error.field, message=error.message, left_out=True)
    return None


def model_problems(name: str, aliases: dict[str, int]) -> list[ImportRefusal]:
    """What of a registered model this registry cannot take by its name (its name, alias names): the
    importer leaves those out and reports them."""
    if not re.match(MODEL_NAME_RULE, name):
        return [ImportRefusal(model=name, field="name", left_out=True,
                              message=f"{name!r} is not a model name here ({MODEL_NAME_RULE}); model left out")]
    return [ImportRefusal(model=name, version=version, field=f"aliases.{alias}",
                          message=f"{alias!r} is not an alias name here ({ALIAS_RULE}); alias left out")
            for alias, version in aliases.items() if not re.match(ALIAS_RULE, alias)]
