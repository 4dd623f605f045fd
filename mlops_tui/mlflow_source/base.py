"""What an MLflow source gives the importer, whichever way it is read (a tracking server's REST API or
its SQLite file): experiments, whole runs, artifact files and the model registry."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..contract import SeriesBatch
from ..contract.imports import ImportedExperiment, ImportedInput, ImportedRun


class SourceError(Exception):
    """The source cannot be read: a bad URI, an unreadable file, not an MLflow store, a server that
    does not answer. The message says which and why."""


@dataclass(frozen=True)
class ArtifactFile:
    path: str
    """Relative to the run's artifact root, '/'-separated."""
    size: int | None


@dataclass
class SourceVersion:
    version: int
    source: str
    run_id: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    storage_location: str = ""
    """Where the version's files are (a local path or URI the source's server can serve)."""
    user_id: str = ""
    creation_time: int = 0
    status: str = "READY"


@dataclass
class SourceModel:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    versions: list[SourceVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)
    creation_time: int = 0


class Source(Protocol):
    """An MLflow tracking store being read (never written)."""

    description: str
    skipped_points: int
    """Points left out because this store cannot hold them (NaN: MLflow keeps them, JSON cannot say them)."""

    def experiments(self) -> list[ImportedExperiment]: ...

    def run_count(self) -> int: ...

    def runs(self) -> Iterator[ImportedRun]:
        """Every run (deleted ones too) with all its params, tags, metric points and inputs."""
        ...

    def run_artifact_uri(self, run_id: str) -> str:
        """The run's artifact root as the source names it (known once the run was read)."""
        ...

    def files_at(self, uri: str) -> list[ArtifactFile] | None:
        """Every file under the folder an artifact URI names, or None when this source cannot read it."""
        ...

    def read_at(self, uri: str, path: str) -> bytes: ...

    def models(self) -> list[SourceModel]: ...

    def close(self) -> None: ...


class Points:
    """Metric points gathered per key, NaN left out (and counted)."""

    def __init__(self) -> None:
        self.columns: dict[str, tuple[list[int], list[float], list[int]]] = {}
        self.skipped = 0

    def add(self, key: str, step: int, value: float, timestamp: int) -> None:
        if not math.isfinite(value):
            self.skipped += 1
            return
        steps, values, stamps = self.columns.setdefault(key, ([], [], []))
        steps.append(int(step))
        values.append(float(value))
        stamps.append(int(timestamp))

    def series(self) -> list[SeriesBatch]:
        return [SeriesBatch.model_construct(key=key, steps=steps, values=values, timestamps=stamps)
                for key, (steps, values, stamps) in self.columns.items()]


def dataset_input(name: str, digest: str, source_type: str | None, source: str | None, schema: str | None,
                  profile: str | None, tags: dict[str, str]) -> ImportedInput:
    return ImportedInput.model_construct(
        name=name, digest=digest, source_type=source_type or "", source=source or "", dataset_schema=schema,
        profile=profile, context=tags.get(CONTEXT_TAG), tags=tags)


CONTEXT_TAG = "mlflow.data.context"
RUN_NAME_TAG = "mlflow.runName"


def imported_run(run_id: str, experiment: str, name: str | None, user_id: str | None, status: str | None,
                 start_time: int | None, end_time: int | None, stage: str | None, params: dict[str, str],
                 tags: dict[str, str], points: Points, inputs: list[ImportedInput]) -> ImportedRun:
    """A run as the import batch carries it; a run with no name takes its `mlflow.runName` tag or its id."""
    return ImportedRun.model_construct(
        id=run_id, experiment=experiment, name=name or tags.get(RUN_NAME_TAG) or run_id[:8], user_id=user_id,
        status=status or "FINISHED", start_time=start_time or 0, end_time=end_time,
        lifecycle_stage="deleted" if stage == "deleted" else "active", parent_id=None, params=params, tags=tags,
        series=points.series(), inputs=inputs)
