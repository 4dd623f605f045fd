"""An MLflow tracking store's SQLite file, read read-only (`mode=ro`): MLflow's own schema
(`experiments`, `runs`, `params`, `tags`, `metrics`, `inputs`/`datasets`/`input_tags`, the registry's
`registered_models`, `model_versions`, their tags and aliases). Artifacts are read from each run's
`artifact_uri` when it is a local folder (a path or a `file:` URI) this machine can read."""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from ..contract.imports import ImportedExperiment, ImportedInput, ImportedRun
from .base import ArtifactFile, Points, SourceError, SourceModel, SourceVersion, dataset_input, imported_run

REQUIRED_TABLES = {"experiments", "runs", "params", "tags", "metrics"}
CHUNK = 200
"""Runs read together: one query per table per chunk."""


def sqlite_path(uri: str) -> Path:
    """`sqlite:///path/mlflow.db` (or `sqlite:////abs/path`) or a plain path, as a path."""
    if uri.startswith("sqlite:"):
        parsed = urlparse(uri)
        if parsed.netloc:
            raise SourceError(f"{uri}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return Path(unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path))
    return Path(uri)


def local_folder(uri: str | None, proxied: Path | None = None) -> Path | None:
    """The local folder an artifact URI names (a path or `file:` URI; an `mlflow-artifacts:` URI under
    `proxied`, the server's `--artifacts-destination`, when given), or None for any other scheme."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "mlflow-artifacts" and proxied is not None:
        relative = PurePosixPath(unquote(parsed.path).lstrip("/"))
        return None if ".." in relative.parts else proxied / relative
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def files_under(root: Path) -> list[ArtifactFile]:
    """Every regular file under `root` (links left out: only what is really inside is copied)."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in sorted(dirs) if not Path(folder, d).is_symlink()]
        for name in sorted(names):
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found.append(ArtifactFile(path.relative_to(root).as_posix(), path.stat().st_size))
    return found


class SqliteSource:
    """An MLflow SQLite store, opened read-only."""

    def __init__(self, uri: str, artifacts_dir: Path | None = None) -> None:
        path = sqlite_path(uri)
        self.artifacts_dir = artifacts_dir
        """Where the server kept `mlflow-artifacts:` files (its `--artifacts-destination`), when known."""
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        self.description = str(path)
        self.skipped_points = 0
        try:
            self.conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
            tables = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
        except sqlite3.Error as error:
            raise SourceError(f"{path}: not a readable SQLite database ({error})") from None
        if not REQUIRED_TABLES <= tables or "run_uuid" not in columns:
            raise SourceError(f"{path}: not an MLflow tracking database (no MLflow runs/experiments tables)")
        self.tables = tables
        self._artifact_uris: dict[str, str] = {}

    def close(self) -> None:
        self.conn.close()

    def experiments(self) -> list[ImportedExperiment]:
        tags: dict[int, dict[str, str]] = {}
        for experiment_id, key, value in self.conn.execute("SELECT experiment_id, key, value FROM experiment_tags"):
            tags.setdefault(experiment_id, {})[key] = value or ""
        return [ImportedExperiment.model_construct(
                    name=name, tags=tags.get(experiment_id, {}), created_at=created,
                    lifecycle_stage="deleted" if stage == "deleted" else "active")
                for experiment_id, name, stage, created in self.conn.execute(
                    "SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
                    "ORDER BY experiment_id")]

    def run_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def runs(self) -> Iterator[ImportedRun]:
        ordered = self.conn.execute(
            "SELECT r.run_uuid, e.name, r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, "
            "r.artifact_uri FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
            "ORDER BY r.start_time, r.run_uuid").fetchall()
        for start in range(0, len(ordered), CHUNK):
            yield from self._chunk(ordered[start:start + CHUNK])

    def _chunk(self, chunk: list[tuple[object, ...]]) -> Iterator[ImportedRun]:
        ids = [str(row[0]) for row in chunk]
        marks = ", ".join("?" * len(ids))
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for run_id, key, value in self.conn.execute(f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN "
                                                    f"({marks})", ids):
            params[run_id][key] = value or ""
        for run_id, key, value in self.conn.execute(f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN "
                                                    f"({marks})", ids):
            tags[run_id][key] = value or ""
        points = {i: Points() for i in ids}
        for run_id, key, step, value, stamp, is_nan in self.conn.execute(
                f"SELECT run_uuid, key, step, value, timestamp, is_nan FROM metrics WHERE run_uuid IN ({marks}) "
                "ORDER BY run_uuid, key, step, timestamp", ids):
            points[run_id].add(key, step, float("nan") if is_nan else value, stamp)
        inputs = self._inputs(ids, marks)
        for run_id, experiment, name, user, status, start, end, stage, artifact_uri in chunk:
            run_id = str(run_id)
            self.skipped_points += points[run_id].skipped
            self._artifact_uris[run_id] = str(artifact_uri or "")
            yield imported_run(run_id, str(experiment), _text(name), _text(user), _text(status), _int(start),
                               _int(end), _text(stage), params[run_id], tags[run_id], points[run_id],
                               inputs.get(run_id, []))

    def _inputs(self, ids: list[str], marks: str) -> dict[str, list[ImportedInput]]:
        if not {"inputs", "datasets"} <= self.tables:
            return {}
        tags: dict[str, dict[str, str]] = {}
        if "input_tags" in self.tables:
            for input_id, name, value in self.conn.execute(
                    "SELECT t.input_uuid, t.name, t.value FROM input_tags t "
                    "JOIN inputs i ON i.input_uuid = t.input_uuid "
                    f"WHERE i.destination_type = 'RUN' AND i.destination_id IN ({marks})", ids):
                tags.setdefault(input_id, {})[name] = value
        found: dict[str, list[ImportedInput]] = {}
        for input_id, run_id, name, digest, source_type, source, schema, profile in self.conn.execute(
                "SELECT i.input_uuid, i.destination_id, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
                "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id "
                f"WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id IN ({marks})",
                ids):
            found.setdefault(run_id, []).append(
                dataset_input(name, digest, source_type, source, schema, profile, tags.get(input_id, {})))
        return found

    def run_artifact_uri(self, run_id: str) -> str:
        return self._artifact_uris.get(run_id, "")

    def files_at(self, uri: str) -> list[ArtifactFile] | None:
        root = local_folder(uri, self.artifacts_dir)
        if root is None:
            return None
        return files_under(root) if root.is_dir() else []  # MLflow makes a run's folder with its first file

    def read_at(self, uri: str, path: str) -> bytes:
        root = local_folder(uri, self.artifacts_dir)
        assert root is not None
        return (root / path).read_bytes()

    def models(self) -> list[SourceModel]:
        if not {"registered_models", "model_versions"} <= self.tables:
            return []
        models = {name: SourceModel(name, description or "", creation_time=created or 0)
                  for name, description, created in self.conn.execute(
                      "SELECT name, description, creation_time FROM registered_models ORDER BY name")}
        for name, key, value in self._rows("registered_model_tags", "SELECT name, key, value FROM "
                                           "registered_model_tags"):
            if name in models:
                models[name].tags[key] = value or ""
        versions: dict[tuple[str, int], SourceVersion] = {}
        for name, version, source, run_id, description, location, user, created, status in self.conn.execute(
                "SELECT name, version, source, run_id, description, storage_location, user_id, creation_time, status "
                "FROM model_versions WHERE current_stage != 'Deleted_Internal' ORDER BY name, version"):
            if name in models:
                found = SourceVersion(int(version), source or "", run_id or "", description or "", {},
                                      location or "", user or "", created or 0, status or "READY")
                versions[(name, int(version))] = found
                models[name].versions.append(found)
        for name, version, key, value in self._rows("model_version_tags", "SELECT name, version, key, value FROM "
                                                    "model_version_tags"):
            if (name, int(version)) in versions:
                versions[(name, int(version))].tags[key] = value or ""
        for name, alias, version in self._rows("registered_model_aliases", "SELECT name, alias, version FROM "
                                               "registered_model_aliases"):
            if name in models:
                models[name].aliases[alias] = int(version)
        return list(models.values())

    def _rows(self, table: str, sql: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql).fetchall() if table in self.tables else []


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
