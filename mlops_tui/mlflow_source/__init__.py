"""Reading an MLflow tracking store for `mlops import mlflow`: a tracking server's REST API (`rest`) or
its SQLite file (`sqlite`), both giving the same `Source`. Nothing here writes to the source."""
from __future__ import annotations

from pathlib import Path

from .base import ArtifactFile, Source, SourceError, SourceModel, SourceVersion
from .rest import RestSource
from .sqlite import SqliteSource

__all__ = ["ArtifactFile", "Source", "SourceError", "SourceModel", "SourceVersion", "open_source"]


def open_source(uri: str, artifacts_dir: Path | None = None) -> Source:
    """`http(s)://host:port` is a tracking server; `sqlite:///path` or a plain path is its SQLite file
    (`artifacts_dir`: where its server kept `mlflow-artifacts:` files)."""
    if uri.startswith(("http://", "https://")):
        return RestSource(uri)
    if "://" in uri and not uri.startswith("sqlite:"):
        raise SourceError(f"{uri}: give an MLflow server URL (http://HOST:PORT) or its SQLite file "
                          "(sqlite:///path/mlflow.db or a path)")
    return SqliteSource(uri, artifacts_dir)
