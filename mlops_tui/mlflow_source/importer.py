"""Copying an MLflow source into this store through the backend's API (never its database).

Runs go in batches (`POST /api/v1/import/runs`, one transaction each) and then their artifact files
(the native upload, skipping files already there with the same size). Everything is matched, so an
import that stopped half-way (Ctrl-C, a lost connection) is finished by running it again, and a second
import adds only what is new.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..client import Client, MlopsError
from ..contract import SeriesBatch
from ..contract.imports import (
    ImportedModel,
    ImportedRun,
    ImportedVersion,
    ModelImport,
    RunImport,
    RunImportAnswer,
    model_problems,
    run_problem,
)
from .base import ArtifactFile, Source, SourceVersion

BATCH_RUNS = 200
BATCH_POINTS = 100_000
"""A batch is sent when it holds this many runs or points; a longer run is sent in slices of points."""


@dataclass
class Summary:
    """What the source held and what the import added (`*_new`), for the closing line and `--json`."""

    source: str
    dry_run: bool = False
    experiments: int = 0
    experiments_new: int = 0
    runs: int = 0
    runs_new: int = 0
    metric_points: int = 0
    metric_points_new: int = 0
    params_new: int = 0
    inputs_new: int = 0
    points_skipped: int = 0
    """NaN points: MLflow keeps them, this store does not."""
    artifact_files: int = 0
    artifact_files_new: int = 0
    artifact_runs_skipped: int = 0
    """Runs whose artifacts live where this machine cannot read them."""
    models: int = 0
    models_new: int = 0
    versions: int = 0
    versions_new: int = 0
    aliases: int = 0
    aliases_new: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    """Items not imported as they are at the source, and why."""

    def add(self, answer: RunImportAnswer) -> None:
        self.experiments_new += answer.experiments_new
        self.runs_new += answer.runs_new
        self.metric_points_new += answer.points_new
        self.params_new += answer.params_new
        self.inputs_new += answer.inputs_new
        self.refused += [r.model_dump(exclude_none=True) for r in answer.refused]


Progress = Callable[[int], None]
"""Told how many more runs are done."""


def slices(run: ImportedRun, limit: int) -> Iterator[ImportedRun]:
    """The run whole, or (when it holds more than `limit` points) as copies each carrying a slice of its
    points: storing them one after another stores the whole run."""
    if run.point_count() <= limit:
        yield run
        return
    chunk: list[SeriesBatch] = []
    room = limit
    for series in run.series:
        start = 0
        while start < len(series.values):
            end = min(len(series.values), start + room)
            chunk.append(SeriesBatch.model_construct(key=series.key, steps=series.steps[start:end],
                                                     values=series.values[start:end],
                                                     timestamps=(series.timestamps or [])[start:end]))
            room -= end - start
            start = end
            if room == 0:
                yield run.model_copy(update={"series": chunk})
                chunk, room = [], limit
    if chunk:
        yield run.model_copy(update={"series": chunk})


class Importer:
    """Copies `source` into the backend `client` talks to; `summary` says what happened so far (also
    after an interruption)."""

    def __init__(self, source: Source, client: Client | None, dry_run: bool = False) -> None:
        self.source = source
        self.client = client
        self.summary = Summary(source.description, dry_run=dry_run)
        self._experiments: list[Any] = []
        self._imported: set[str] = set()
        """Runs stored here (in this import): a version's files may go in their folders."""

    def run_count(self) -> int:
        self.summary.runs = self.source.run_count()
        return self.summary.runs

    def import_runs(self, progress: Progress) -> None:
        """Experiments and runs with their artifacts, batch by batch."""
        self._experiments = self.source.experiments()
        self.summary.experiments = len(self._experiments)
        batch: list[ImportedRun] = []
        done: list[str] = []
        """Runs whose last slice is in the batch: their artifacts follow it."""
        points = 0
        for run in self.source.runs():
            self.summary.metric_points += run.point_count()
            problem = run_problem(run)
            if problem is not None:
                self.summary.refused.append(problem.model_dump(exclude_none=True))
                progress(1)
                continue
            for part in slices(run, BATCH_POINTS):
                if batch and (len(batch) >= BATCH_RUNS or points + part.point_count() > BATCH_POINTS):
                    self._send(batch, done, progress)
                    batch, done, points = [], [], 0
                batch.append(part)
                points += part.point_count()
            done.append(run.id)
        if batch or self._experiments:
            self._send(batch, done, progress)
        self.summary.points_skipped = self.source.skipped_points

    def _send(self, batch: list[ImportedRun], done: list[str], progress: Progress) -> None:
        if self.client is None:
            for run_id in done:
                self.summary.artifact_files += len(self.source.files_at(self.source.run_artifact_uri(run_id)) or [])
        else:
            experiments, self._experiments = self._experiments, []  # sent with the first batch
            answer = self.client.import_runs(RunImport.model_construct(experiments=experiments, runs=batch))
            self.summary.add(answer)
            refused = {r.run_id for r in answer.refused if r.left_out}
            for run_id in done:
                if run_id not in refused:
                    self._imported.add(run_id)
                    self._copy_run_artifacts(run_id)
        progress(len(done))

    def _copy_run_artifacts(self, run_id: str) -> None:
        files = self.source.files_at(self.source.run_artifact_uri(run_id))
        if files is None:
            self.summary.artifact_runs_skipped += 1
            return
        self.summary.artifact_files += len(files)
        self.summary.artifact_files_new += self._upload(run_id, self.source.run_artifact_uri(run_id), files, "")

    def _upload(self, run_id: str, uri: str, files: list[ArtifactFile], under: str) -> int:
        """Copy `files` (at the source's `uri`) into the run's folder here, under `under`; a file already
        there with the same size is left. Answers how many were copied."""
        assert self.client is not None
        if not files:
            return 0
        present = _files_at(self.client, run_id)
        copied = 0
        for file in files:
            target = posixpath.join(under, file.path) if under else file.path
            if file.size is not None and present.get(target) == file.size:
                continue
            try:
                self.client.upload_artifact(run_id, target, self.source.read_at(uri, file.path))
            except MlopsError as error:
                self.summary.refused.append({"run_id": run_id, "field": f"artifacts/{target}",
                                             "message": error.message})
                continue
            copied += 1
        return copied

    # --- registry ------------------------------------------------------------------------------

    def import_models(self) -> None:
        """Registered models, their versions (under their own numbers, their files in their run's folder
        here) and aliases, one model per request."""
        models = self.source.models()
        self.summary.models = len(models)
        self.summary.versions = sum(len(m.versions) for m in models)
        self.summary.aliases = sum(len(m.aliases) for m in models)
        if self.client is None:
            return
        for model in models:
            problems = model_problems(model.name, model.aliases)
            self.summary.refused += [p.model_dump(exclude_none=True) for p in problems]
            if any(p.left_out for p in problems):
                continue
            left_out = {p.field.removeprefix("aliases.") for p in problems}
            aliases = {a: v for a, v in model.aliases.items() if a not in left_out}
            versions = []
            for version in model.versions:
                source = self._version_source(model.name, version)
                if source is not None:
                    versions.append(ImportedVersion.model_construct(
                        version=version.version, source=source, run_id=version.run_id,
                        description=version.description, tags=version.tags))
            imported = ImportedModel.model_construct(name=model.name, description=model.description,
                                                     tags=model.tags, versions=versions, aliases=aliases)
            try:
                answer = self.client.import_models(ModelImport.model_construct(models=[imported]))
            except MlopsError as error:
                if error.status is None or error.status >= 500:
                    raise
                self.summary.refused.append({"model": model.name, "field": error.field or "model",
                                             "message": error.message, "left_out": True})
                continue
            self.summary.models_new += answer.models_new
            self.summary.versions_new += answer.versions_new
            self.summary.aliases_new += answer.aliases_new
            self.summary.refused += [r.model_dump(exclude_none=True) for r in answer.refused]

    def _version_source(self, name: str, version: SourceVersion) -> str | None:
        """The version's `source` as this backend resolves it: `runs:/<run>/<path>`, the files being in the
        run's folder here (copied there when MLflow kept them elsewhere, e.g. a logged model's folder)."""
        def refuse(message: str) -> None:
            self.summary.refused.append({"model": name, "version": version.version, "field": "source",
                                         "message": message})

        if version.source.startswith("runs:/"):
            return version.source
        run_id = version.run_id
        if run_id not in self._imported:
            refuse(f"its run {run_id or '(none)'} is not imported, so its files have nowhere to go here")
            return None
        uri = version.storage_location or version.source
        root = self.source.run_artifact_uri(run_id).rstrip("/")
        if root and uri.startswith(root + "/"):
            return f"runs:/{run_id}/{uri[len(root) + 1:].strip('/')}"
        files = self.source.files_at(uri)
        if not files:
            refuse(f"its files ({uri}) cannot be read from here")
            return None
        under = f"{MODEL_FILES}/{name}/{version.version}"
        self.summary.artifact_files += len(files)
        self.summary.artifact_files_new += self._upload(run_id, uri, files, under)
        return f"runs:/{run_id}/{under}"


MODEL_FILES = "registered-models"
"""Where in its run's folder a version's files go when MLflow kept them outside the run's artifacts."""


def _files_at(client: Client, run_id: str) -> dict[str, int | None]:
    """Every file already in the run's artifact folder here, with its size."""
    found: dict[str, int | None] = {}
    pending = [""]
    while pending:
        for entry in client.list_artifacts(run_id, pending.pop()):
            if entry.is_dir:
                pending.append(entry.path)
            else:
                found[entry.path] = entry.size
    return found
